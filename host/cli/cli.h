/* cli.h: the subcommands main.c dispatches to, one file each, and what they share (common.c).
 * Each returns the process exit code: 0 success, 1 a run that failed, 2 bad usage or input,
 * 130 interrupted. */
#ifndef CLTRAIN_CLI_H
#define CLTRAIN_CLI_H

#include <signal.h>

#include "cltrain/config.h"
#include "cltrain/device.h"

int cli_devices(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_summary(int argc, char **argv);
int cli_sweep(int argc, char **argv);

/* Resolves a --device SPEC to device indices; prints the sentence and returns 2 on error. */
int cli_select_devices(const char *spec, int *sel, int max_sel, int *nsel);

/* Opens the first device SPEC selects; prints why and returns NULL when it cannot. */
device_ctx *cli_open_device(const char *spec);

/* Loads a config file then applies --set assignments; prints the sentence and returns 2 on error. */
int cli_load_config(config *c, const char *path, char **sets, int nsets);

/* Ctrl-C: the first sets the flag the trainer polls (finish the step, save, exit 130); the second
 * ends the process at once. */
void cli_catch_interrupt(void);
extern volatile sig_atomic_t cli_interrupted;

/* Whether to draw progress bars: stderr is a terminal and CI is not set. */
int cli_use_bar(void);

#endif
