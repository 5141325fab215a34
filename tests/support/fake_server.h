/* fake_server.h: starting and reading tests/fake_wandb.py, the fake wandb server on loopback that
 * the wandb suites talk to (test_wandb, test_sweep_run). */
#ifndef CLTRAIN_FAKE_SERVER_H
#define CLTRAIN_FAKE_SERVER_H

#include <cjson/cJSON.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char log[300];
    char base[64]; /* "http://127.0.0.1:<port>": what WANDB_BASE_URL takes */
} tu_fake;

/* Starts the server accepting API key `key`, recording into dir/requests.json, with extra arguments
 * (NULL-terminated, may be NULL), and waits until it listens. */
void tu_fake_start(tu_fake *f, const char *dir, const char *key, const char *const *extra);
void tu_fake_stop(tu_fake *f);
/* The server's record: {"requests": [...], "files": {...}, "complete": {...}} (cJSON_Delete it). */
cJSON *tu_fake_record(const tu_fake *f);

#endif
