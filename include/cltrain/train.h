/* train.h: one run from a flat config on one device: the data, the model, the epoch loop with its
 * learning-rate schedule, per-epoch metrics into the run directory (and wandb), divergence,
 * interruption and early stopping, and the final checkpoint. Also evaluation of a checkpoint.
 *
 * A step enqueues its work and reads nothing back; the loss and accuracy of each batch land in a
 * device buffer that the loop reads a few times an epoch (for the progress bar and to catch a NaN
 * early) and once at its end. */
#ifndef CLTRAIN_TRAIN_H
#define CLTRAIN_TRAIN_H

#include <signal.h>
#include <stddef.h>

#include "cltrain/config.h"
#include "cltrain/data.h"
#include "cltrain/device.h"
#include "cltrain/progress.h"
#include "cltrain/runlog.h"
#include "cltrain/wandb.h"

typedef enum {
    TRAIN_FINISHED,
    TRAIN_FAILED,      /* divergence, device or data error: reason says which */
    TRAIN_STOPPED,     /* stopped early by on_epoch (hyperband) or by the wandb UI */
    TRAIN_INTERRUPTED, /* Ctrl-C: the step finished, checkpoint and logs written */
} train_status;

const char *train_status_name(train_status s); /* "finished", "failed", "stopped", "killed" */

typedef struct {
    runlog *log;           /* required: the run directory */
    wandb_run *wandb;      /* optional */
    data_share *datasets;  /* optional: take the data set from here (a sweep's trials share it) */
    progress *display;     /* optional: NULL trains silently */
    const char *init_path; /* optional: start from this checkpoint (--init) */
    volatile sig_atomic_t *interrupted; /* optional: set by a SIGINT handler */
    /* optional: called after each epoch's metrics are logged; nonzero stops the run (TRAIN_STOPPED)
     * with the reason the callback wrote (it may leave it empty). */
    int (*on_epoch)(void *ctx, const runlog_epoch *e, char *reason, size_t reason_len);
    void *ctx;
} train_hooks;

typedef struct {
    train_status status;
    char reason[CT_ERR_LEN];
    int epochs_done;
    runlog_epoch last;
    double best_val_accuracy;
    int best_epoch;
    double seconds;
} train_result;

/* Trains the config's model on the device. Returns 0 when the run could start (its outcome, also
 * a failure during training, is in r), -1 when it could not (bad config or data: r->reason). */
int train_run(device_ctx *d, const config *c, const train_hooks *h, train_result *r);

typedef struct {
    double loss, accuracy;
    int classes;
    long count;
    double class_accuracy[256];
    long class_count[256];
    char class_names[256][32];
} train_eval_result;

/* Rebuilds the model from a checkpoint alone and evaluates it on the test split of the data it was
 * trained on, or of the data set in data_path when that is not NULL. */
int train_evaluate_checkpoint(device_ctx *d, const char *checkpoint, const char *data_path,
                              train_eval_result *out, char *err, size_t errlen);

#endif
