/* common.c: what the subcommands share: devices, configs, Ctrl-C, the terminal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The one mutable global: a signal handler can only talk to the program through one. */
volatile sig_atomic_t cli_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    if (cli_interrupted) _exit(130);
    cli_interrupted = 1;
    static const char msg[] = "\ncltrain: interrupted; finishing the step and saving (Ctrl-C again to quit now)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

void cli_catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_use_bar(void)
{
    const char *ci = getenv("CI");
    return isatty(STDERR_FILENO) && !(ci && *ci && strcmp(ci, "false") != 0);
}

device_ctx *cli_open_device(const char *spec)
{
    char err[CT_ERR_LEN];
    device_info *all;
    int n, sel[64], nsel;
    if (device_list(&all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return NULL;
    }
    if (device_select(spec, all, n, sel, 64, &nsel, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        free(all);
        return NULL;
    }
    device_ctx *d = device_open(&all[sel[0]], err, sizeof err);
    free(all);
    if (!d) fprintf(stderr, "cltrain: %s\n", err);
    return d;
}

int cli_load_config(config *c, const char *path, char **sets, int nsets)
{
    char err[CT_ERR_LEN];
    config_init(c);
    if (path && config_load_yaml(c, path, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    for (int i = 0; i < nsets; i++)
        if (config_set_assignment(c, sets[i], err, sizeof err) != 0) {
            fprintf(stderr, "cltrain: --set %s: %s\n", sets[i], err);
            return 2;
        }
    if (config_validate(c, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    return 0;
}
