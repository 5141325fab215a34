/* wandb.h: the Weights & Biases client (the wire facts are in WANDB.md): settings from the
 * environment, a run (UpsertBucket, then file_stream from a sender thread) and UpsertSweep.
 *
 * Local first: the caller writes every row to its run directory (runlog.h) before handing it here,
 * and nothing here blocks training. Rows are queued in memory; one sender thread posts them, at
 * most one request in flight, re-sending from the last acknowledged line offset after a failure
 * (the server overwrites a line sent twice at the same offset, so re-sending is idempotent).
 * Network errors, 429 and 5xx (not 501) are retried with backoff; other 4xx stop syncing with one
 * error line, and the run continues with local files only. wandb_run_finish waits a bounded time,
 * then gives up with one warning line, and the run directory's wandb.json says the run was not
 * synced. */
#ifndef CLTRAIN_WANDB_H
#define CLTRAIN_WANDB_H

#include <stddef.h>
#include <stdio.h>

typedef enum { WANDB_DISABLED, WANDB_OFFLINE, WANDB_ONLINE } wandb_mode;

#define WANDB_STR_LEN 256
#define WANDB_TEXT_LEN 2048

typedef struct {
    wandb_mode mode;
    char base_url[WANDB_STR_LEN]; /* WANDB_BASE_URL without the trailing '/' */
    char api_key[WANDB_STR_LEN];  /* WANDB_API_KEY, else netrc's password for the base URL's host */
    char project[WANDB_STR_LEN];  /* WANDB_PROJECT ("" lets the server choose) */
    char entity[WANDB_STR_LEN];   /* WANDB_ENTITY ("" = the key's default entity) */
    char group[WANDB_STR_LEN];    /* WANDB_RUN_GROUP */
    char name[WANDB_STR_LEN];     /* WANDB_NAME: display name */
    char notes[WANDB_TEXT_LEN];   /* WANDB_NOTES */
    char job_type[WANDB_STR_LEN]; /* WANDB_JOB_TYPE */
    char tags[WANDB_TEXT_LEN];    /* WANDB_TAGS: comma list */
    char sweep_id[WANDB_STR_LEN]; /* WANDB_SWEEP_ID: runs join this sweep */
    /* one line for the user when the mode was chosen for them (no key found: offline), else "" */
    char notice[WANDB_TEXT_LEN];

    /* timing: the defaults follow the SDK; tests shorten them */
    double flush_interval_s;   /* batch rows this long before posting (2) */
    double heartbeat_s;        /* post {} after this long without a request (30) */
    double backoff_base_s;     /* retry wait min(backoff_max_s, base * 2^attempt) * (1 + 0.25 rand) (2) */
    double backoff_max_s;      /* (60) */
    double finish_timeout_s;   /* wandb_run_finish gives up after this long (60) */
    double request_deadline_s; /* synchronous calls (UpsertSweep) give up after this long (60) */
    long graphql_timeout_s;    /* per request (30) */
    long filestream_timeout_s; /* per request (180) */
    FILE *messages;            /* where notices, errors and warnings go (NULL: stderr) */
} wandb_settings;

/* Fills s from the environment (WANDB_MODE online|offline|disabled|dryrun, WANDB_BASE_URL,
 * WANDB_API_KEY, $NETRC or ~/.netrc, WANDB_PROJECT, ENTITY, RUN_GROUP, TAGS, NAME, NOTES,
 * JOB_TYPE, SWEEP_ID) with the default timing. Without WANDB_MODE the mode is online when a key is
 * found, otherwise offline with one line in s->notice. WANDB_MODE=online without a key, an unknown
 * WANDB_MODE, a bad base URL or an unreadable netrc are errors (-1, one sentence in err). */
int wandb_settings_from_env(wandb_settings *s, char *err, size_t errlen);

const char *wandb_mode_name(wandb_mode m);

/* "host" or "host:port" of an http(s) URL (the netrc machine name); -1 when url is not one. */
int wandb_url_host(const char *url, char *out, size_t outlen);

/* The password of netrc entry `machine` (or of `default` when no entry matches) in the file at
 * path. Returns 1 when found, 0 when not (or the file does not exist), -1 with err when the file
 * cannot be read or a token is cut short. */
int wandb_netrc_lookup(const char *path, const char *machine, char *password, size_t passlen, char *err,
                       size_t errlen);

typedef struct wandb_run wandb_run;

/* Starts a run. run_id: the run's name (runlog_new_id). config_json: a flat JSON object text of the
 * run's config (config_to_json), sent with every top-level key wrapped as {"value": v}; NULL = {}.
 * dir: the run directory, where wandb.json records mode, URL and whether the run was synced (NULL:
 * not recorded). Online, the sender thread does UpsertBucket and then streams; this call does no
 * network I/O. Offline and disabled runs accept every call and send nothing. Returns NULL with err
 * only for bad arguments or out of memory. */
wandb_run *wandb_run_start(const wandb_settings *s, const char *run_id, const char *config_json,
                           const char *dir, char *err, size_t errlen);

/* Queues one wandb-history.jsonl line (a JSON object, no newline; runlog_last_row). */
int wandb_run_history(wandb_run *r, const char *json_line);

/* Replaces the summary (a JSON object line; runlog_summary_line); sent whole at offset 0. */
int wandb_run_summary(wandb_run *r, const char *json_line);

/* Queues one console line for output.log, time-stamped now (UTC); is_stderr prefixes "ERROR ". */
int wandb_run_output(wandb_run *r, const char *text, int is_stderr);

/* 1 once a file_stream response said "stopped": true (the user stopped the run): stop training. */
int wandb_run_stop_requested(wandb_run *r);

/* Sends what is queued, then {"complete": true, "exitcode": exitcode}, waiting at most
 * finish_timeout_s; then stops the sender and updates wandb.json. Returns 0 when everything was
 * acknowledged, 1 when offline or disabled, -1 when syncing failed or gave up (one line already
 * went to the messages stream; wandb_run_error says why). Call once. */
int wandb_run_finish(wandb_run *r, int exitcode);

/* Stops the sender if still running (without waiting for the network) and frees. NULL allowed. */
void wandb_run_destroy(wandb_run *r);

/* Copies the run's page, "<app>/<entity>/<project>/runs/<id>", once UpsertBucket answered; else "". */
void wandb_run_url(wandb_run *r, char *out, size_t outlen);

/* Why syncing failed ("" when it did not). */
const char *wandb_run_error(wandb_run *r);

/* UpsertSweep: registers a sweep (config_yaml: the sweep file's text) and writes its id into
 * sweep_id; existing_id non-NULL updates that sweep. Synchronous, retried up to request_deadline_s.
 * Returns 0, 1 when not online (nothing sent, sweep_id ""), or -1 with one sentence in err. */
int wandb_upsert_sweep(const wandb_settings *s, const char *config_yaml, const char *display_name,
                       const char *existing_id, char *sweep_id, size_t idlen, char *err, size_t errlen);

#endif
