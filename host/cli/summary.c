/* summary.c: `cltrain summary CONFIG.yaml [--set key=value]...`: the model's layers with their output
 * shapes, parameters and multiply-adds, and the totals, as PyTorch would count them. Channels and
 * classes come from the config's data set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cltrain/data.h"
#include "cltrain/model.h"

static const char USAGE[] = "usage: cltrain summary CONFIG.yaml [--set key=value]...\n";

int cli_summary(int argc, char **argv)
{
    const char *path = NULL;
    char **sets = calloc((size_t)argc, sizeof *sets);
    int nsets = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            free(sets);
            return 0;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc)
            sets[nsets++] = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "cltrain summary: unexpected argument \"%s\"\n%s", argv[i], USAGE);
            free(sets);
            return 2;
        }
    }
    config c;
    int rc = cli_load_config(&c, path, sets, nsets);
    free(sets);
    if (rc != 0) return rc;
    if (!path) {
        fprintf(stderr, "cltrain summary: no config file given\n%s", USAGE);
        return 2;
    }
    char err[CT_ERR_LEN];
    /* the data decides channels and classes; finding them needs no device */
    int in_c, classes;
    if (data_probe_from_config(&c, &in_c, &classes, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    model_plan p;
    if (model_plan_build(&c, in_c, (int)config_int(&c, CFG_IMAGE_SIZE), classes, 1, &p, err, sizeof err) !=
        0) {
        fprintf(stderr, "cltrain: %s: %s\n", path, err);
        return 2;
    }
    model_plan_print(&p, stdout);
    return 0;
}
