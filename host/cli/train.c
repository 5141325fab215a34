/* train.c: `cltrain train [--device SPEC] CONFIG.yaml [--set key=value]... [--init FILE.safetensors]
 * [--output DIR]`: one run, into DIR/<run-id>/ (runs/train/ by default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cltrain/data.h"
#include "cltrain/model.h"
#include "cltrain/runlog.h"
#include "cltrain/train.h"
#include "cltrain/wandb.h"

static const char USAGE[] =
    "usage: cltrain train [--device SPEC] CONFIG.yaml [--set key=value]... [--init FILE.safetensors]\n"
    "                     [--output DIR]\n"
    "Trains one model; writes DIR/<run-id>/ (default runs/train/): config.yaml, history.jsonl,\n"
    "summary.json, log.txt, model.safetensors. `cltrain train DIR/<run-id>/config.yaml` repeats a run.\n";

int cli_train(int argc, char **argv)
{
    const char *spec = "0", *path = NULL, *init = NULL, *output = "runs/train";
    char **sets = calloc((size_t)argc, sizeof *sets);
    int nsets = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            free(sets);
            return 0;
        }
        int has = i + 1 < argc;
        if (!strcmp(a, "--device") && has)
            spec = argv[++i];
        else if (!strcmp(a, "--set") && has)
            sets[nsets++] = argv[++i];
        else if (!strcmp(a, "--init") && has)
            init = argv[++i];
        else if (!strcmp(a, "--output") && has)
            output = argv[++i];
        else if (a[0] != '-' && !path)
            path = a;
        else {
            fprintf(stderr, "cltrain train: unexpected argument \"%s\"\n%s", a, USAGE);
            free(sets);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "cltrain train: no config file given\n%s", USAGE);
        free(sets);
        return 2;
    }
    config c;
    int rc = cli_load_config(&c, path, sets, nsets);
    free(sets);
    if (rc != 0) return rc;
    /* refuse a config that cannot work before any device work: the plan needs only the config */
    char err[CT_ERR_LEN];
    model_plan plan;
    if (model_plan_build(&c, 1, (int)config_int(&c, CFG_IMAGE_SIZE), 10, 1, &plan, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s: %s\n", path, err);
        return 2;
    }
    device_ctx *d = cli_open_device(spec);
    if (!d) return 2;

    char id[64], dir[1024];
    wandb_settings ws;
    if (runlog_new_id(id, sizeof id, NULL, 1, err, sizeof err) != 0 || wandb_settings_from_env(&ws, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        device_close(d);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/%s", output, id);
    runlog *log = runlog_create(dir, err, sizeof err);
    if (!log || runlog_save_config(log, &c, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        runlog_destroy(log);
        device_close(d);
        return 1;
    }
    if (ws.notice[0]) fprintf(stderr, "cltrain: %s\n", ws.notice);
    cJSON *json = config_to_json(&c);
    char *cfg_json = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    wandb_run *wb = wandb_run_start(&ws, id, cfg_json, dir, err, sizeof err);
    progress disp;
    progress_init(&disp, stderr, cli_use_bar(), "", NULL);
    fprintf(stderr, "cltrain: run %s on device %d (%s) -> %s\n", id, d->info.index, d->info.name, dir);
    cli_catch_interrupt();
    train_hooks hooks = {.log = log, .wandb = wb, .display = &disp, .init_path = init, .interrupted = &cli_interrupted};
    train_result r;
    int started = train_run(d, &c, &hooks, &r);
    if (started != 0) {
        fprintf(stderr, "cltrain: %s\n", r.reason);
        rc = 2;
    } else {
        fprintf(stderr, "cltrain: run %s %s%s%s after %d epochs in %.1f s", id, train_status_name(r.status),
                r.reason[0] ? ": " : "", r.reason, r.epochs_done, r.seconds);
        if (r.best_epoch > 0) fprintf(stderr, "; best val_accuracy %.4f at epoch %d", r.best_val_accuracy, r.best_epoch);
        fprintf(stderr, "\ncltrain: checkpoint %s/model.safetensors\n", dir);
        rc = r.status == TRAIN_FAILED ? 1 : r.status == TRAIN_INTERRUPTED ? 130 : 0;
    }
    if (wb) {
        wandb_run_finish(wb, rc);
        wandb_run_destroy(wb);
    }
    free(cfg_json);
    runlog_destroy(log);
    device_close(d);
    return rc;
}
