/* cli.h: the subcommands main.c dispatches to, one file each. Each returns the process exit code:
 * 0 success, 1 a run that failed, 2 bad usage or input, 130 interrupted. */
#ifndef CLTRAIN_CLI_H
#define CLTRAIN_CLI_H

int cli_devices(int argc, char **argv);

/* Resolves a --device SPEC to opened-device indices; prints the sentence and returns 2 on error. */
int cli_select_devices(const char *spec, int *sel, int max_sel, int *nsel);

#endif
