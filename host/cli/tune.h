/* tune.h: `cltrain tune`, which measures CLBlast SGEMM parameters on a device and stores the
 * fastest for every later process (see include/cltrain/tune.h). */
#ifndef CLTRAIN_CLI_TUNE_H
#define CLTRAIN_CLI_TUNE_H

/* argv[0] is "tune". Returns 0 done, 1 the tuning run failed, 2 bad usage or device. */
int cli_tune(int argc, char **argv);

#endif
