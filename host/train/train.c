/* train.c: the epoch loop (see train.h). Per step: upload the batch, forward, loss into this
 * step's slot of the epoch's stats buffer, backward, one optimizer launch. The host reads the stats
 * buffer only for the progress display, a few times a second at most, and at the end of the epoch. */
#include "cltrain/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/data.h"
#include "cltrain/model.h"
#include "cltrain/schedule.h"

/* How often the loop reads the stats buffer without a display: a NaN stops the run this soon. */
#define TRAIN_CHECK_EVERY 32

const char *train_status_name(train_status s)
{
    switch (s) {
    case TRAIN_FINISHED:
        return "finished";
    case TRAIN_FAILED:
        return "failed";
    case TRAIN_STOPPED:
        return "stopped";
    case TRAIN_INTERRUPTED:
        return "killed";
    }
    return "?";
}

/* What one epoch over a split left in the stats buffer, summed over its batches. */
typedef struct {
    double loss_sum; /* sum of per-batch mean loss x batch size */
    double correct;
    long count;
    long bad_step; /* first step whose loss was not finite, or -1 */
} split_totals;

typedef struct {
    device_ctx *d;
    const config *c;
    const train_hooks *h;
    const data_dataset *ds;
    data_dataset *own_ds; /* what it opened itself, without hooks' datasets */
    data_loader *train, *val;
    model *m;
    cl_mem x, y, stats;
    long stats_slots;
    int batch;
    size_t image_floats;
    ops_optim_params opt;
    uint64_t seed;
} trainer;

static int upload_batch(trainer *t, const float *images, const int32_t *labels, int n)
{
    /* Blocking writes: the loader reuses its buffers after the next call. The queue is in order, so
     * the write also waits for the previous step, which costs nothing on a CPU device. */
    if (device_write(t->d, t->x, 0, (size_t)n * t->image_floats * sizeof(float), images) != 0) return -1;
    return device_write(t->d, t->y, 0, (size_t)n * sizeof(int32_t), labels);
}

static void add_stats(const float *st, const int *sizes, long from, long to, split_totals *tot)
{
    for (long i = from; i < to; i++) {
        if (!isfinite(st[2 * i]) && tot->bad_step < 0) tot->bad_step = i;
        tot->loss_sum += (double)st[2 * i] * sizes[i];
        tot->correct += st[2 * i + 1];
        tot->count += sizes[i];
    }
}

/* Runs one epoch over a loader; training when `train` is nonzero. Reports through the display. */
static int run_split(trainer *t, data_loader *l, int train, int epoch, split_totals *tot, char *err,
                     size_t errlen)
{
    memset(tot, 0, sizeof *tot);
    tot->bad_step = -1;
    long nb = data_loader_batches(l);
    if (data_loader_start_epoch(l, epoch) != 0) {
        snprintf(err, errlen, "the data loader could not start epoch %d", epoch + 1);
        return -1;
    }
    int *sizes = calloc((size_t)nb + 1, sizeof(int));
    float *st = calloc(2 * ((size_t)nb + 1), sizeof(float));
    if (!sizes || !st) {
        free(sizes);
        free(st);
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    progress *disp = train ? t->h->display : NULL;
    if (disp) progress_epoch_start(disp);
    double start = progress_now();
    long b = 0, read_upto = 0;
    int rc = 0;
    float *images;
    int32_t *labels;
    int n;
    int epochs = (int)config_int(t->c, CFG_EPOCHS);
    while (data_loader_next(l, &images, &labels, &n) == 0 && n > 0) {
        uint64_t step = (uint64_t)epoch * (uint64_t)nb + (uint64_t)b;
        sizes[b] = n;
        if (upload_batch(t, images, labels, n) != 0 ||
            model_forward(t->m, t->x, n, train, t->seed, step) != 0 ||
            model_loss(t->m, t->y, t->stats, (int)b, n, train) != 0 ||
            (train &&
             (model_backward(t->m, t->x, n, t->seed, step) != 0 || model_update(t->m, &t->opt) != 0))) {
            snprintf(err, errlen, "%s", t->d->error);
            rc = -1;
            break;
        }
        b++;
        int interrupted = train && t->h->interrupted && *t->h->interrupted;
        /* reading the stats waits for the queue: only every few steps, or when the bar is due */
        int check = train && (b % TRAIN_CHECK_EVERY == 0 ||
                              (disp && disp->bar && progress_now() - disp->last_draw >= 0.125));
        if (check || interrupted) {
            if (device_read(t->d, t->stats, 2 * read_upto * sizeof(float),
                            2 * (b - read_upto) * sizeof(float), st + 2 * read_upto) != 0) {
                snprintf(err, errlen, "%s", t->d->error);
                rc = -1;
                break;
            }
            add_stats(st, sizes, read_upto, b, tot);
            read_upto = b;
            if (tot->bad_step >= 0) break;
            double secs = progress_now() - start;
            if (disp)
                progress_batch(disp, epoch, epochs, b, nb, tot->loss_sum / tot->count,
                               tot->correct / tot->count, secs > 0 ? tot->count / secs : 0);
        }
        if (interrupted) break;
    }
    if (rc == 0 && read_upto < b) {
        if (device_read(t->d, t->stats, 2 * read_upto * sizeof(float), 2 * (b - read_upto) * sizeof(float),
                        st + 2 * read_upto) != 0) {
            snprintf(err, errlen, "%s", t->d->error);
            rc = -1;
        } else {
            add_stats(st, sizes, read_upto, b, tot);
        }
    }
    if (rc == 0 && tot->bad_step >= 0 && !train) tot->bad_step = -1; /* judged by val_loss itself */
    free(sizes);
    free(st);
    return rc;
}

static int setup(trainer *t, char *err, size_t errlen)
{
    const config *c = t->c;
    t->seed = (uint64_t)config_int(c, CFG_SEED);
    t->batch = (int)config_int(c, CFG_BATCH_SIZE);
    if (t->h->datasets)
        t->ds = data_share_open(t->h->datasets, c, err, errlen);
    else
        t->ds = t->own_ds = data_open_from_config(c, err, errlen);
    if (!t->ds) return -1;
    const data_images *im = data_split_images(t->ds, DATA_TRAIN);
    int size = t->ds->options.image_size;
    t->image_floats = (size_t)im->channels * size * size;
    long ntrain;
    data_split_index(t->ds, DATA_TRAIN, &ntrain);
    if (ntrain == 0) {
        snprintf(err, errlen, "the training split is empty (limit %lld, val_split %g)",
                 config_int(c, CFG_LIMIT), config_float(c, CFG_VAL_SPLIT));
        return -1;
    }
    data_loader_options lo;
    data_loader_options_from_config(c, DATA_TRAIN, 2, &lo);
    if (!(t->train = data_loader_create(t->ds, DATA_TRAIN, &lo, err, errlen))) return -1;
    long nval;
    data_split_index(t->ds, DATA_VAL, &nval);
    if (nval > 0) {
        data_loader_options_from_config(c, DATA_VAL, 1, &lo);
        if (!(t->val = data_loader_create(t->ds, DATA_VAL, &lo, err, errlen))) return -1;
    }
    if (!(t->m = model_create(t->d, c, im->channels, size, t->ds->classes, t->batch, err, errlen))) return -1;
    if (t->h->init_path) {
        if (model_load(t->m, t->h->init_path, err, errlen) != 0) return -1;
    } else if (model_init(t->m, config_str(c, CFG_INIT), t->seed) != 0) {
        snprintf(err, errlen, "%s", t->d->error);
        return -1;
    }
    ops_optimizer kind;
    if (ops_optimizer_parse(config_str(c, CFG_OPTIMIZER), &kind) != 0) {
        snprintf(err, errlen, "optimizer \"%s\" is unknown", config_str(c, CFG_OPTIMIZER));
        return -1;
    }
    t->opt = ops_optim_defaults(kind, (float)config_float(c, CFG_LEARNING_RATE));
    t->opt.weight_decay = (float)config_float(c, CFG_WEIGHT_DECAY);
    if (kind == OPS_SGD || kind == OPS_RMSPROP) t->opt.momentum = (float)config_float(c, CFG_MOMENTUM);
    t->opt.nesterov = config_bool(c, CFG_NESTEROV);
    t->stats_slots = data_loader_batches(t->train);
    if (t->val && data_loader_batches(t->val) > t->stats_slots) t->stats_slots = data_loader_batches(t->val);
    if (!(t->x = device_alloc(t->d, (size_t)t->batch * t->image_floats * sizeof(float), "the input batch")) ||
        !(t->y = device_alloc(t->d, (size_t)t->batch * sizeof(int32_t), "the labels")) ||
        !(t->stats =
              device_alloc(t->d, 2 * (size_t)(t->stats_slots + 1) * sizeof(float), "the batch statistics"))) {
        snprintf(err, errlen, "%s", t->d->error);
        return -1;
    }
    return 0;
}

static void teardown(trainer *t)
{
    if (t->x) clReleaseMemObject(t->x);
    if (t->y) clReleaseMemObject(t->y);
    if (t->stats) clReleaseMemObject(t->stats);
    model_destroy(t->m);
    data_loader_destroy(t->train);
    data_loader_destroy(t->val);
    if (t->h->datasets) data_share_close(t->h->datasets, t->ds);
    data_close(t->own_ds);
}

static void log_line(trainer *t, const char *fmt, const char *text)
{
    runlog_printf(t->h->log, fmt, text);
    if (t->h->wandb) wandb_run_output(t->h->wandb, text, 0);
}

static void finish(trainer *t, train_result *r)
{
    runlog *log = t->h->log;
    char path[1100], err[CT_ERR_LEN];
    if (t->m && runlog_model_path(log, path, sizeof path) == 0 &&
        model_save(t->m, t->c, path, err, sizeof err) != 0) {
        runlog_printf(log, "saving the checkpoint failed: %s", err);
        if (r->status == TRAIN_FINISHED) {
            r->status = TRAIN_FAILED;
            snprintf(r->reason, sizeof r->reason, "%s", err);
        }
    }
    runlog_set_status(log, train_status_name(r->status), r->reason[0] ? r->reason : NULL);
    char line[CT_ERR_LEN + 64];
    snprintf(line, sizeof line, "%s%s%s", train_status_name(r->status), r->reason[0] ? ": " : "", r->reason);
    log_line(t, "run %s", line);
    if (t->h->wandb) wandb_run_summary(t->h->wandb, runlog_summary_line(log));
}

int train_run(device_ctx *d, const config *c, const train_hooks *h, train_result *r)
{
    memset(r, 0, sizeof *r);
    r->best_epoch = -1;
    trainer t = {.d = d, .c = c, .h = h};
    double start = progress_now();
    if (setup(&t, r->reason, sizeof r->reason) != 0) {
        r->status = TRAIN_FAILED;
        runlog_set_status(h->log, "failed", r->reason);
        teardown(&t);
        return -1;
    }
    long ntrain, nval = 0;
    data_split_index(t.ds, DATA_TRAIN, &ntrain);
    if (t.val) data_split_index(t.ds, DATA_VAL, &nval);
    runlog_printf(h->log,
                  "training on device %d (%s): %lld parameters, %ld training and %ld validation images",
                  d->info.index, d->info.name, model_get_plan(t.m)->total_params, ntrain, nval);
    int epochs = (int)config_int(c, CFG_EPOCHS);
    r->status = TRAIN_FINISHED;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double lr = schedule_lr(c, epoch);
        t.opt.lr = (float)lr;
        double e0 = progress_now();
        split_totals tr, va = {0};
        if (run_split(&t, t.train, 1, epoch, &tr, r->reason, sizeof r->reason) != 0) {
            r->status = TRAIN_FAILED;
            break;
        }
        double secs = progress_now() - e0;
        if (tr.bad_step >= 0) {
            r->status = TRAIN_FAILED;
            snprintf(r->reason, sizeof r->reason, "diverged at epoch %d step %ld (loss is not finite)",
                     epoch + 1, tr.bad_step + 1);
            break;
        }
        if (h->interrupted && *h->interrupted) {
            r->status = TRAIN_INTERRUPTED;
            snprintf(r->reason, sizeof r->reason, "interrupted during epoch %d", epoch + 1);
            break;
        }
        if (t.val && run_split(&t, t.val, 0, epoch, &va, r->reason, sizeof r->reason) != 0) {
            r->status = TRAIN_FAILED;
            break;
        }
        runlog_epoch e = {.epoch = epoch + 1,
                          .train_loss = tr.loss_sum / tr.count,
                          .train_accuracy = tr.correct / tr.count,
                          .val_loss = va.count ? va.loss_sum / va.count : NAN,
                          .val_accuracy = va.count ? va.correct / va.count : NAN,
                          .lr = lr,
                          .images_per_sec = secs > 0 ? tr.count / secs : 0};
        r->last = e;
        r->epochs_done = epoch + 1;
        if (va.count && (r->best_epoch < 0 || e.val_accuracy > r->best_val_accuracy)) {
            r->best_val_accuracy = e.val_accuracy;
            r->best_epoch = epoch + 1;
            runlog_set_best(h->log, "val_accuracy", e.val_accuracy, epoch + 1);
        }
        if (runlog_log_epoch(h->log, &e) != 0) {
            r->status = TRAIN_FAILED;
            snprintf(r->reason, sizeof r->reason, "%s", runlog_error(h->log));
            break;
        }
        char line[256];
        snprintf(line, sizeof line,
                 "epoch %d/%d: train_loss %.4f train_accuracy %.4f val_loss %.4f val_accuracy %.4f lr %.3g "
                 "%.0f images/s",
                 epoch + 1, epochs, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.lr,
                 e.images_per_sec);
        if (h->display) progress_line(h->display, "%s", line);
        log_line(&t, "%s", line);
        if (h->wandb) {
            wandb_run_history(h->wandb, runlog_last_row(h->log));
            wandb_run_summary(h->wandb, runlog_summary_line(h->log));
            if (wandb_run_stop_requested(h->wandb)) {
                r->status = TRAIN_STOPPED;
                snprintf(r->reason, sizeof r->reason, "stopped from the wandb UI after epoch %d", epoch + 1);
                break;
            }
        }
        if (!isfinite(e.val_loss) && va.count) {
            r->status = TRAIN_FAILED;
            snprintf(r->reason, sizeof r->reason, "diverged at epoch %d (validation loss is not finite)",
                     epoch + 1);
            break;
        }
        /* every epoch goes to on_epoch (the sweep records its metric); a stop after the last is moot */
        if (h->on_epoch && h->on_epoch(h->ctx, &e, r->reason, sizeof r->reason) && epoch + 1 < epochs) {
            r->status = TRAIN_STOPPED;
            break;
        }
        r->reason[0] = '\0';
    }
    r->seconds = progress_now() - start;
    finish(&t, r);
    teardown(&t);
    return 0;
}
