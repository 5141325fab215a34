/* sweep.c: `cltrain [sweep] [--device SPEC] SWEEP.yaml [--count N] [--output DIR]`: runs or resumes
 * a sweep (sweep_runner.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cltrain/sweep_runner.h"

static const char USAGE[] =
    "usage: cltrain [sweep] [--device SPEC] SWEEP.yaml [--count N] [--output DIR]\n"
    "Runs a sweep file in wandb's format on the selected devices, one trial per device at a time,\n"
    "into DIR/<sweep name>/ (default: the file's output:, else runs/). Ctrl-C stops it and saves its\n"
    "state; the same command resumes it.\n";

int cli_sweep(int argc, char **argv)
{
    sweep_runner_options o = {.console = stdout, .bars = cli_use_bar(), .interrupted = &cli_interrupted};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--device") && has)
            o.devices = argv[++i];
        else if (!strcmp(a, "--output") && has)
            o.output = argv[++i];
        else if (!strcmp(a, "--count") && has) {
            char *end;
            o.count = strtoll(argv[++i], &end, 10);
            if (*end || o.count < 1) {
                fprintf(stderr, "cltrain: --count %s: give a whole number of trials, at least 1\n", argv[i]);
                return 2;
            }
        } else if (a[0] != '-' && !o.spec_path)
            o.spec_path = a;
        else {
            fprintf(stderr, "cltrain sweep: unexpected argument \"%s\"\n%s", a, USAGE);
            return 2;
        }
    }
    if (!o.spec_path) {
        fprintf(stderr, "cltrain sweep: no sweep file given\n%s", USAGE);
        return 2;
    }
    cli_catch_interrupt();
    char err[CT_ERR_LEN] = "";
    int rc = sweep_runner_run(&o, err, sizeof err);
    if (err[0]) fprintf(stderr, "cltrain: %s\n", err);
    return rc;
}
