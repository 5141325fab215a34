/* runlog.h: the local run directory, runs/<sweep>/<run-id>/. Everything a run produces is written
 * here first, before anything goes over the network, so a network failure never loses a metric:
 *   history.jsonl   one JSON object per epoch, appended and flushed to disk (fflush + fsync)
 *   summary.json    the latest value of each key plus status, stop reason and best metric,
 *                   rewritten atomically (tmp + rename) so a reader never sees half a file
 *   log.txt         timestamped human-readable lines
 *   config.yaml     the flat config (written through config_save_yaml)
 *   model.safetensors (named here, written by the model module)
 * History and summary rows are the same text wandb receives; NaN and infinities are written bare
 * (NaN, Infinity, -Infinity) as wandb writes them, which cJSON cannot print, so rows are formatted
 * here. A runlog belongs to one thread at a time. */
#ifndef CLTRAIN_RUNLOG_H
#define CLTRAIN_RUNLOG_H

#include <stddef.h>
#include <stdint.h>
#include "cltrain/config.h"

#define RUNLOG_ID_LEN 8

typedef struct runlog runlog;

/* One epoch's metrics: the fields of one history row (the runlog adds _step, _runtime, _timestamp). */
typedef struct {
    int epoch;
    double train_loss, train_accuracy;
    double val_loss, val_accuracy;
    double lr;
    double images_per_sec;
} runlog_epoch;

/* A new run id: RUNLOG_ID_LEN chars of [a-z0-9]. With honour_env and WANDB_RUN_ID set, that id is
 * used instead (checked: 1..63 chars of [A-Za-z0-9_-]). With seed non-NULL the id is drawn from it
 * (the same seed gives the same id); otherwise from the system's random source. out must hold at
 * least 64 bytes. Returns 0, or -1 with one sentence in err. */
int runlog_new_id(char *out, size_t outlen, const uint64_t *seed, int honour_env, char *err, size_t errlen);

/* Makes `dir` (parents too; an existing directory is reused, its history appended to) and opens its
 * files. _runtime counts from this call. Returns NULL with one sentence in err on failure. */
runlog *runlog_create(const char *dir, char *err, size_t errlen);

/* Closes the files (summary.json is already on disk). NULL is allowed. */
void runlog_destroy(runlog *r);

const char *runlog_dir(const runlog *r);

/* "<dir>/<name>" into out; -1 when it does not fit. */
int runlog_path(const runlog *r, const char *name, char *out, size_t outlen);

/* Where the trainer saves its weights: "<dir>/model.safetensors". */
int runlog_model_path(const runlog *r, char *out, size_t outlen);

/* Writes "<dir>/config.yaml" with config_save_yaml. */
int runlog_save_config(runlog *r, const config *c, char *err, size_t errlen);

/* Appends one history row (fflush + fsync before returning), updates the summary's metrics and
 * rewrites summary.json. Returns 0, or -1 with runlog_error() set. */
int runlog_log_epoch(runlog *r, const runlog_epoch *e);

/* The row runlog_log_epoch last wrote (no newline), or NULL before the first; valid until the next
 * call. This is the line the wandb client sends as wandb-history.jsonl. */
const char *runlog_last_row(const runlog *r);

/* The whole summary as one JSON line (what summary.json holds and wandb-summary.json receives);
 * valid until the summary next changes. */
const char *runlog_summary_line(const runlog *r);

/* Summary entries beyond the metrics; each rewrites summary.json. A key set twice keeps its first
 * position and its latest value. */
int runlog_summary_number(runlog *r, const char *key, double value);
int runlog_summary_string(runlog *r, const char *key, const char *value);

/* status: "running" (set at create), "finished", "failed", "stopped", ...; reason may be NULL. */
int runlog_set_status(runlog *r, const char *status, const char *reason);

/* The best value of the metric the run is judged by, and the epoch it came from. */
int runlog_set_best(runlog *r, const char *metric, double value, int epoch);

/* One line "<local ISO time> <text>" appended to log.txt and flushed. */
int runlog_printf(runlog *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last failure's sentence (empty when none). */
const char *runlog_error(const runlog *r);

/* Formats a double as wandb writes it: shortest text that reads back exactly, integers without a
 * fraction, NaN / Infinity / -Infinity bare. out needs 32 bytes. */
void runlog_format_number(double v, char *out, size_t outlen);

#endif
