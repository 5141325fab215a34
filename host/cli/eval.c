/* eval.c: `cltrain eval [--device SPEC] CHECKPOINT [--data PATH]`: test loss, accuracy and
 * per-class accuracy of a checkpoint, with the model rebuilt from the checkpoint alone. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cltrain/train.h"

static const char USAGE[] =
    "usage: cltrain eval [--device SPEC] CHECKPOINT.safetensors [--data PATH]\n"
    "Evaluates a checkpoint on the test split of the data it was trained on (or of PATH).\n";

int cli_eval(int argc, char **argv)
{
    const char *spec = "0", *path = NULL, *data = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--device") && has)
            spec = argv[++i];
        else if (!strcmp(a, "--data") && has)
            data = argv[++i];
        else if (a[0] != '-' && !path)
            path = a;
        else {
            fprintf(stderr, "cltrain eval: unexpected argument \"%s\"\n%s", a, USAGE);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "cltrain eval: no checkpoint given\n%s", USAGE);
        return 2;
    }
    device_ctx *d = cli_open_device(spec);
    if (!d) return 2;
    static train_eval_result r; /* large: keep it off the stack */
    char err[CT_ERR_LEN];
    int rc = train_evaluate_checkpoint(d, path, data, &r, err, sizeof err);
    device_close(d);
    if (rc != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    printf("test images: %ld\ntest loss: %.4f\ntest accuracy: %.4f\nper class:\n", r.count, r.loss, r.accuracy);
    for (int k = 0; k < r.classes && k < 256; k++)
        if (r.class_count[k]) printf("  %-14s %.4f  (%ld images)\n", r.class_names[k], r.class_accuracy[k], r.class_count[k]);
    return 0;
}
