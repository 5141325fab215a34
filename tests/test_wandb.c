/* test_wandb.c: the wandb client against tests/fake_wandb.py (a fake server on loopback that
 * records every request): the upsert carries the wrapped config and the auth header, history lines
 * arrive in order at offsets 0..n-1, the summary at offset 0, then complete with the exit code;
 * failures are retried or not as WANDB.md says without losing or duplicating a line; "stopped"
 * reaches the trainer; offline and disabled send nothing; keys come from netrc; a dead server never
 * holds the caller longer than the finish timeout. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cltrain/runlog.h"
#include "cltrain/wandb.h"
#include "fake_server.h"
#include "testutil.h"

#define KEY "test-key-0123456789"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cltrain-wandb-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = tu_alloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* ---- the fake server --------------------------------------------------------------------------- */

/* The server lives in tests/support/fake_server.c; these bind it to this suite's folder and key. */
typedef tu_fake fake;

static void fake_start(fake *f, const char *const *extra)
{
    tu_fake_start(f, tmpdir, KEY, extra);
}

static void fake_stop(fake *f)
{
    tu_fake_stop(f);
}

static cJSON *fake_record(const fake *f)
{
    return tu_fake_record(f);
}

static cJSON *requests_of(cJSON *rec)
{
    cJSON *r = cJSON_GetObjectItemCaseSensitive(rec, "requests");
    ck_assert(cJSON_IsArray(r));
    return r;
}

static int count_requests(cJSON *rec, const char *path_part, int status)
{
    int n = 0;
    cJSON *q;
    cJSON_ArrayForEach(q, requests_of(rec))
    {
        const char *path = cJSON_GetObjectItemCaseSensitive(q, "path")->valuestring;
        int st = cJSON_GetObjectItemCaseSensitive(q, "status")->valueint;
        if (strstr(path, path_part) && (status == 0 || st == status)) n++;
    }
    return n;
}

/* ---- settings and helpers ---------------------------------------------------------------------- */

static void clear_env(void)
{
    const char *names[] = {
        "WANDB_MODE",      "WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY",
        "WANDB_RUN_GROUP", "WANDB_TAGS",    "WANDB_NAME",     "WANDB_NOTES",   "WANDB_JOB_TYPE",
        "WANDB_SWEEP_ID",  "WANDB_RUN_ID",  "WANDB_DISABLED", "NETRC"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
    /* never read the developer's own ~/.netrc */
    char netrc[300];
    snprintf(netrc, sizeof netrc, "%s/no-such-netrc", tmpdir);
    setenv("NETRC", netrc, 1);
}

/* Settings pointing at the fake, with timing short enough for a test. */
static void test_settings(wandb_settings *s, const fake *f)
{
    char err[512], base[80];
    snprintf(base, sizeof base, "%s/", f->base); /* the trailing / must go */
    setenv("WANDB_BASE_URL", base, 1);
    setenv("WANDB_API_KEY", KEY, 1);
    setenv("WANDB_PROJECT", "cltrain-test", 1);
    ck_assert_msg(wandb_settings_from_env(s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s->mode, WANDB_ONLINE);
    ck_assert_str_eq(s->base_url, f->base);
    s->flush_interval_s = 0.05;
    s->backoff_base_s = 0.02;
    s->backoff_max_s = 0.1;
    s->finish_timeout_s = 10;
    s->request_deadline_s = 10;
    s->messages = tmpfile();
    ck_assert_ptr_nonnull(s->messages);
}

static int message_lines(FILE *m, char *last, size_t len)
{
    char line[2048];
    int n = 0;
    fflush(m);
    rewind(m);
    if (len) last[0] = '\0';
    while (fgets(line, sizeof line, m)) {
        n++;
        if (len) snprintf(last, len, "%s", line);
    }
    return n;
}

static void base64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static const char *config_json = "{\"learning_rate\": 0.01, \"activation\": \"relu\", \"batch_norm\": true, "
                                 "\"num_filters\": 32, \"nested\": {\"a\": [1, 2]}}";

/* Logs n epochs through a runlog (so the rows are the real ones, NaN included) into the wandb run;
 * fills lines[] with copies of the local rows. */
static void log_epochs(runlog *rl, wandb_run *run, int n, char **lines, double pause)
{
    for (int i = 0; i < n; i++) {
        runlog_epoch e = {i + 1, 1.0 / (i + 1), 0.5, i == 1 ? NAN : 1.1 / (i + 1), 0.4, 1e-3, 1000 + i};
        ck_assert_msg(runlog_log_epoch(rl, &e) == 0, "%s", runlog_error(rl));
        double t = now_s();
        ck_assert_int_eq(wandb_run_history(run, runlog_last_row(rl)), 0);
        ck_assert_int_eq(wandb_run_summary(run, runlog_summary_line(rl)), 0);
        ck_assert(now_s() - t < 0.5); /* queueing never waits for the network (loose: the CPU is shared) */
        lines[i] = strdup(runlog_last_row(rl));
        if (pause > 0) sleep_s(pause);
    }
}

/* Checks every file_stream request in the record: each history chunk starts at the number of lines
 * acknowledged before it (so lines arrive in order, 0..n-1, and a re-send repeats the same offsets)
 * and carries exactly the local rows; summaries go whole at offset 0. Returns the number of history
 * lines acknowledged. */
static int check_history_stream(cJSON *rec, char **lines, int n, const char *run_path)
{
    int acked = 0;
    cJSON *q;
    cJSON_ArrayForEach(q, requests_of(rec))
    {
        const char *path = cJSON_GetObjectItemCaseSensitive(q, "path")->valuestring;
        if (!strstr(path, "/file_stream")) continue;
        ck_assert_str_eq(path, run_path);
        int status = cJSON_GetObjectItemCaseSensitive(q, "status")->valueint;
        cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(q, "body"), "files");
        cJSON *hist = cJSON_GetObjectItemCaseSensitive(files, "wandb-history.jsonl");
        cJSON *sum = cJSON_GetObjectItemCaseSensitive(files, "wandb-summary.json");
        if (sum) {
            ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(sum, "offset")->valueint, 0);
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sum, "content")), 1);
        }
        if (!hist) continue;
        int offset = cJSON_GetObjectItemCaseSensitive(hist, "offset")->valueint;
        ck_assert_int_eq(offset, acked);
        cJSON *content = cJSON_GetObjectItemCaseSensitive(hist, "content");
        int k = 0;
        cJSON *line;
        cJSON_ArrayForEach(line, content)
        {
            ck_assert_int_lt(offset + k, n);
            ck_assert_str_eq(line->valuestring, lines[offset + k]);
            k++;
        }
        ck_assert_int_gt(k, 0);
        if (status == 200) acked = offset + k;
    }
    return acked;
}

/* The lines the fake server holds for run/file at the end. */
static cJSON *server_file(cJSON *rec, const char *run, const char *file)
{
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(rec, "files");
    cJSON *f = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(runs, run), file);
    ck_assert_msg(cJSON_IsArray(f), "the server holds no %s for %s", file, run);
    return f;
}

static cJSON *wandb_json(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/wandb.json", dir);
    char *text = read_text(path);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* ---- tests ------------------------------------------------------------------------------------- */

START_TEST(test_run_streams)
{
    make_tmpdir();
    clear_env();
    fake f;
    fake_start(&f, NULL);
    wandb_settings s;
    setenv("WANDB_TAGS", "cnn, fashion ,", 1);
    setenv("WANDB_RUN_GROUP", "sweep-7", 1);
    setenv("WANDB_NAME", "trial 3", 1);
    setenv("WANDB_SWEEP_ID", "sw42", 1);
    test_settings(&s, &f);
    char dir[400], err[512], id[64];
    snprintf(dir, sizeof dir, "%s/runs/s/run", tmpdir);
    uint64_t seed = 7;
    ck_assert_int_eq(runlog_new_id(id, sizeof id, &seed, 0, err, sizeof err), 0);
    runlog *rl = runlog_create(dir, err, sizeof err);
    ck_assert_msg(rl != NULL, "%s", err);
    wandb_run *run = wandb_run_start(&s, id, config_json, dir, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    ck_assert_int_eq(wandb_run_stop_requested(run), 0);
    char *lines[8];
    log_epochs(rl, run, 5, lines, 0.03);
    ck_assert_int_eq(wandb_run_output(run, "epoch 5: val_accuracy 0.4", 0), 0);
    ck_assert_int_eq(wandb_run_output(run, "warning: lr is high", 1), 0);
    ck_assert_int_eq(wandb_run_finish(run, 0), 0);
    ck_assert_str_eq(wandb_run_error(run), "");
    char url[300], got[300];
    snprintf(url, sizeof url, "%s/fake-entity/cltrain-test/runs/%s", f.base, id);
    wandb_run_url(run, got, sizeof got);
    ck_assert_str_eq(got, url);
    fake_stop(&f);

    cJSON *rec = fake_record(&f);
    cJSON *reqs = requests_of(rec);
    /* 1. UpsertBucket: auth, wrapped config, tags, group, sweep */
    cJSON *first = cJSON_GetArrayItem(reqs, 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(first, "path")->valuestring, "/graphql");
    char auth[128], b64[96];
    base64("api:" KEY, b64);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(first, "auth")->valuestring, auth);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(first, "body");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(body, "operationName")->valuestring, "UpsertBucket");
    cJSON *vars = cJSON_GetObjectItemCaseSensitive(body, "variables");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "name")->valuestring, id);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "project")->valuestring, "cltrain-test");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "groupName")->valuestring, "sweep-7");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "displayName")->valuestring, "trial 3");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "sweep")->valuestring, "sw42");
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(vars, "tags");
    ck_assert_int_eq(cJSON_GetArraySize(tags), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(tags, 0)->valuestring, "cnn");
    ck_assert_str_eq(cJSON_GetArrayItem(tags, 1)->valuestring, "fashion");
    cJSON *cfg_text = cJSON_GetObjectItemCaseSensitive(vars, "config");
    ck_assert(cJSON_IsString(cfg_text)); /* a JSON string, not an object */
    cJSON *cfg = cJSON_Parse(cfg_text->valuestring);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(cJSON_GetArraySize(cfg), 5);
    cJSON *item;
    cJSON_ArrayForEach(item, cfg)
    {
        ck_assert_msg(cJSON_IsObject(item) && cJSON_GetArraySize(item) == 1 &&
                          cJSON_GetObjectItemCaseSensitive(item, "value"),
                      "config key %s is not wrapped as {\"value\": v}", item->string);
    }
    ck_assert(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "learning_rate"), "value")
            ->valuedouble == 0.01);
    ck_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "activation"), "value")
            ->valuestring,
        "relu");
    ck_assert(cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "batch_norm"), "value")));
    cJSON *nested =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "nested"), "value");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(nested, "a")), 2);
    cJSON_Delete(cfg);

    /* 2. file_stream: history in order, 0..4, the local rows exactly (NaN bare inside the string) */
    char run_path[300], run_key[200];
    snprintf(run_path, sizeof run_path, "/files/fake-entity/cltrain-test/%s/file_stream", id);
    snprintf(run_key, sizeof run_key, "fake-entity/cltrain-test/%s", id);
    ck_assert_int_eq(check_history_stream(rec, lines, 5, run_path), 5);
    ck_assert(strstr(lines[1], "\"val_loss\": NaN") != NULL);
    cJSON *hist = server_file(rec, run_key, "wandb-history.jsonl");
    ck_assert_int_eq(cJSON_GetArraySize(hist), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(cJSON_GetArrayItem(hist, i)->valuestring, lines[i]);
    cJSON *sum = server_file(rec, run_key, "wandb-summary.json");
    ck_assert_int_eq(cJSON_GetArraySize(sum), 1);
    ck_assert_str_eq(cJSON_GetArrayItem(sum, 0)->valuestring, runlog_summary_line(rl));
    cJSON *out = server_file(rec, run_key, "output.log");
    ck_assert_int_eq(cJSON_GetArraySize(out), 2);
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^(ERROR )?[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} "
                             "(epoch 5: val_accuracy 0\\.4|warning: lr is high)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    for (int i = 0; i < 2; i++) {
        const char *l = cJSON_GetArrayItem(out, i)->valuestring;
        ck_assert_msg(regexec(&re, l, 0, NULL, 0) == 0, "output line: %s", l);
        ck_assert_int_eq(strncmp(l, "ERROR ", 6) == 0, i == 1); /* only the stderr line */
    }
    regfree(&re);

    /* 3. complete, last, with the exit code */
    cJSON *last = cJSON_GetArrayItem(reqs, cJSON_GetArraySize(reqs) - 1);
    cJSON *lb = cJSON_GetObjectItemCaseSensitive(last, "body");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lb, "complete")));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(lb, "exitcode")->valueint, 0);
    ck_assert_int_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "complete"), run_key)
            ->valueint,
        0);
    ck_assert_int_eq(count_requests(rec, "/", 0), count_requests(rec, "/", 200)); /* nothing failed */

    cJSON *wj = wandb_json(dir);
    ck_assert_ptr_nonnull(wj);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(wj, "synced")));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(wj, "url")->valuestring, url);
    cJSON_Delete(wj);
    ck_assert_int_eq(message_lines(s.messages, NULL, 0), 0);

    cJSON_Delete(rec);
    for (int i = 0; i < 5; i++)
        free(lines[i]);
    wandb_run_destroy(run);
    runlog_destroy(rl);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

/* 500 twice on file_stream (and 503 once on the upsert): retried, re-sent from the same offsets,
 * nothing lost or doubled on the server. */
START_TEST(test_retry_server_errors)
{
    make_tmpdir();
    clear_env();
    fake f;
    const char *args[] = {"--fail", "file_stream:500:2", "--fail", "graphql:503:1", NULL};
    fake_start(&f, args);
    wandb_settings s;
    test_settings(&s, &f);
    char dir[400], err[512];
    snprintf(dir, sizeof dir, "%s/run", tmpdir);
    runlog *rl = runlog_create(dir, err, sizeof err);
    ck_assert_msg(rl != NULL, "%s", err);
    wandb_run *run = wandb_run_start(&s, "retry001", config_json, dir, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    char *lines[8];
    log_epochs(rl, run, 4, lines, 0.02);
    ck_assert_int_eq(wandb_run_finish(run, 3), 0);
    fake_stop(&f);

    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(count_requests(rec, "/graphql", 503), 1);
    ck_assert_int_eq(count_requests(rec, "/graphql", 200), 1);
    ck_assert_int_eq(count_requests(rec, "/file_stream", 500), 2);
    /* the first answered history chunk starts at 0: the failed ones were sent again from there */
    ck_assert_int_eq(
        check_history_stream(rec, lines, 4, "/files/fake-entity/cltrain-test/retry001/file_stream"), 4);
    cJSON *hist = server_file(rec, "fake-entity/cltrain-test/retry001", "wandb-history.jsonl");
    ck_assert_int_eq(cJSON_GetArraySize(hist), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(cJSON_GetArrayItem(hist, i)->valuestring, lines[i]);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "complete"),
                                                      "fake-entity/cltrain-test/retry001")
                         ->valueint,
                     3);
    ck_assert_int_eq(message_lines(s.messages, NULL, 0), 0);
    cJSON_Delete(rec);
    for (int i = 0; i < 4; i++)
        free(lines[i]);
    wandb_run_destroy(run);
    runlog_destroy(rl);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

/* A 429 with Retry-After: 0 is retried at once, even when the computed backoff would be long. */
START_TEST(test_retry_after)
{
    make_tmpdir();
    clear_env();
    fake f;
    const char *args[] = {"--fail", "file_stream:429:2", "--retry-after", "0", NULL};
    fake_start(&f, args);
    wandb_settings s;
    test_settings(&s, &f);
    s.backoff_base_s = 20;
    s.backoff_max_s = 20;
    char err[512];
    wandb_run *run = wandb_run_start(&s, "ra000001", NULL, NULL, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    ck_assert_int_eq(wandb_run_history(run, "{\"a\": 1, \"_step\": 0}"), 0);
    double t = now_s();
    ck_assert_int_eq(wandb_run_finish(run, 0), 0);
    ck_assert_msg(now_s() - t < 5, "finish took %.1f s: Retry-After was not used", now_s() - t);
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(count_requests(rec, "/file_stream", 429), 2);
    ck_assert_int_eq(
        cJSON_GetArraySize(server_file(rec, "fake-entity/cltrain-test/ra000001", "wandb-history.jsonl")), 1);
    cJSON_Delete(rec);
    wandb_run_destroy(run);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

/* A wrong key: the upsert's 401 is not retried; one clear line; the run directory says not synced. */
START_TEST(test_unauthorized)
{
    make_tmpdir();
    clear_env();
    fake f;
    fake_start(&f, NULL);
    wandb_settings s;
    test_settings(&s, &f);
    snprintf(s.api_key, sizeof s.api_key, "wrong-key");
    char dir[400], err[512], msg[2048];
    snprintf(dir, sizeof dir, "%s/run", tmpdir);
    ck_assert_ptr_null(wandb_run_start(&s, "auth0001", config_json, dir, err, sizeof err)); /* no such dir */
    ck_assert_msg(strstr(err, dir), "%s", err);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    wandb_run *run = wandb_run_start(&s, "auth0001", config_json, dir, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wandb_run_history(run, "{\"_step\": 0}"), 0);
    ck_assert_int_eq(wandb_run_finish(run, 0), -1);
    ck_assert_msg(strstr(wandb_run_error(run), "401") != NULL, "%s", wandb_run_error(run));
    ck_assert_int_eq(message_lines(s.messages, msg, sizeof msg), 1);
    ck_assert_msg(strstr(msg, "HTTP 401") && strstr(msg, "WANDB_API_KEY") && strstr(msg, dir), "%s", msg);
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(cJSON_GetArraySize(requests_of(rec)), 1);
    ck_assert_int_eq(count_requests(rec, "/graphql", 401), 1);
    cJSON_Delete(rec);
    cJSON *wj = wandb_json(dir);
    ck_assert_ptr_nonnull(wj);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(wj, "synced")));
    ck_assert(strstr(cJSON_GetObjectItemCaseSensitive(wj, "error")->valuestring, "401") != NULL);
    cJSON_Delete(wj);
    wandb_run_destroy(run);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

/* Every status the SDK does not retry, on file_stream: exactly one attempt, then local only. */
START_TEST(test_not_retried_statuses)
{
    make_tmpdir();
    clear_env();
    const char *statuses[] = {"400", "403", "404", "409", "410", "413", "422", "501"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        char spec[64], id[16];
        snprintf(spec, sizeof spec, "file_stream:%s:100", statuses[i]);
        snprintf(id, sizeof id, "nr%06zu", i);
        const char *args[] = {"--fail", spec, NULL};
        fake f;
        fake_start(&f, args);
        wandb_settings s;
        test_settings(&s, &f);
        char err[512], msg[2048];
        wandb_run *run = wandb_run_start(&s, id, NULL, NULL, err, sizeof err);
        ck_assert_msg(run != NULL, "%s", err);
        ck_assert_int_eq(wandb_run_history(run, "{\"_step\": 0}"), 0);
        ck_assert_int_eq(wandb_run_finish(run, 0), -1);
        ck_assert_int_eq(message_lines(s.messages, msg, sizeof msg), 1);
        ck_assert_msg(strstr(msg, statuses[i]) != NULL, "%s", msg);
        fake_stop(&f);
        cJSON *rec = fake_record(&f);
        ck_assert_msg(count_requests(rec, "/file_stream", 0) == 1, "HTTP %s was retried", statuses[i]);
        cJSON_Delete(rec);
        wandb_run_destroy(run);
        fclose(s.messages);
    }
    remove_tmpdir();
}
END_TEST

/* GraphQL "errors" in a 200 answer is a failure (not retried), with the server's message. */
START_TEST(test_graphql_errors)
{
    make_tmpdir();
    clear_env();
    fake f;
    const char *args[] = {"--graphql-error", "project cltrain-test not found", NULL};
    fake_start(&f, args);
    wandb_settings s;
    test_settings(&s, &f);
    char err[512], msg[2048];
    wandb_run *run = wandb_run_start(&s, "gqlerr01", config_json, NULL, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    ck_assert_int_eq(wandb_run_finish(run, 0), -1);
    ck_assert_int_eq(message_lines(s.messages, msg, sizeof msg), 1);
    ck_assert_msg(strstr(msg, "project cltrain-test not found"), "%s", msg);
    char id[64];
    ck_assert_int_eq(wandb_upsert_sweep(&s, "method: grid\n", NULL, NULL, id, sizeof id, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "not found"), "%s", err);
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(cJSON_GetArraySize(requests_of(rec)), 2);
    cJSON_Delete(rec);
    wandb_run_destroy(run);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

START_TEST(test_stopped_flag)
{
    make_tmpdir();
    clear_env();
    fake f;
    const char *args[] = {"--stop-after", "2", NULL};
    fake_start(&f, args);
    wandb_settings s;
    test_settings(&s, &f);
    char err[512];
    wandb_run *run = wandb_run_start(&s, "stop0001", NULL, NULL, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    ck_assert_int_eq(wandb_run_history(run, "{\"_step\": 0}"), 0);
    sleep_s(0.5); /* one answer without "stopped" */
    ck_assert_int_eq(wandb_run_stop_requested(run), 0);
    ck_assert_int_eq(wandb_run_history(run, "{\"_step\": 1}"), 0);
    double until = now_s() + 5;
    while (!wandb_run_stop_requested(run) && now_s() < until)
        sleep_s(0.02);
    ck_assert_int_eq(wandb_run_stop_requested(run), 1);
    ck_assert_int_eq(wandb_run_finish(run, 0), 0);
    fake_stop(&f);
    wandb_run_destroy(run);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

START_TEST(test_heartbeat)
{
    make_tmpdir();
    clear_env();
    fake f;
    fake_start(&f, NULL);
    wandb_settings s;
    test_settings(&s, &f);
    s.heartbeat_s = 0.2;
    char err[512];
    wandb_run *run = wandb_run_start(&s, "beat0001", NULL, NULL, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    sleep_s(0.9);
    ck_assert_int_eq(wandb_run_finish(run, 0), 0);
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    int beats = 0;
    cJSON *q;
    cJSON_ArrayForEach(q, requests_of(rec))
    {
        cJSON *b = cJSON_GetObjectItemCaseSensitive(q, "body");
        if (strstr(cJSON_GetObjectItemCaseSensitive(q, "path")->valuestring, "file_stream") &&
            cJSON_IsObject(b) && cJSON_GetArraySize(b) == 0)
            beats++;
    }
    ck_assert_msg(beats >= 2 && beats <= 6, "%d heartbeats in 0.9 s at 0.2 s", beats);
    cJSON_Delete(rec);
    wandb_run_destroy(run);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

/* A port where nothing listens, and one that accepts connections but never answers: finish gives
 * up after its timeout with one warning, the run directory says not synced, and queueing never
 * blocks meanwhile. */
START_TEST(test_server_down)
{
    make_tmpdir();
    clear_env();
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(sock, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(sock, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(getsockname(sock, (struct sockaddr *)&a, &alen), 0);
    int port = ntohs(a.sin_port);

    for (int hang = 0; hang < 2; hang++) {
        /* hang = 0: bound but not listening (connection refused); 1: listening, never accepting */
        if (hang) ck_assert_int_eq(listen(sock, 8), 0);
        char base[64], dir[400], err[512], msg[2048];
        snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
        setenv("WANDB_BASE_URL", base, 1);
        setenv("WANDB_API_KEY", KEY, 1);
        wandb_settings s;
        ck_assert_msg(wandb_settings_from_env(&s, err, sizeof err) == 0, "%s", err);
        s.flush_interval_s = 0.05;
        s.backoff_base_s = 0.02;
        s.backoff_max_s = 0.2;
        s.finish_timeout_s = 1.0;
        s.messages = tmpfile();
        snprintf(dir, sizeof dir, "%s/run%d", tmpdir, hang);
        runlog *rl = runlog_create(dir, err, sizeof err);
        ck_assert_msg(rl != NULL, "%s", err);
        wandb_run *run = wandb_run_start(&s, "down0001", config_json, dir, err, sizeof err);
        ck_assert_msg(run != NULL, "%s", err);
        char *lines[4];
        log_epochs(rl, run, 3, lines, 0.05);
        double t = now_s();
        ck_assert_int_eq(wandb_run_finish(run, 0), -1);
        double took = now_s() - t;
        ck_assert_msg(took >= 0.9 && took < 4, "finish took %.2f s with a 1 s timeout", took);
        ck_assert_int_eq(message_lines(s.messages, msg, sizeof msg), 1);
        ck_assert_msg(strstr(msg, "not synced") && strstr(msg, dir), "%s", msg);
        cJSON *wj = wandb_json(dir);
        ck_assert_ptr_nonnull(wj);
        ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(wj, "synced")));
        cJSON_Delete(wj);
        /* every metric is still in the run directory */
        char path[600];
        snprintf(path, sizeof path, "%s/history.jsonl", dir);
        char *text = read_text(path);
        ck_assert_ptr_nonnull(text);
        for (int i = 0; i < 3; i++)
            ck_assert(strstr(text, lines[i]) != NULL), free(lines[i]);
        free(text);
        wandb_run_destroy(run);
        runlog_destroy(rl);
        fclose(s.messages);
    }
    close(sock);
    remove_tmpdir();
}
END_TEST

static void check_sends_nothing(const char *mode, wandb_mode expect, int expect_status_file)
{
    make_tmpdir();
    clear_env();
    fake f;
    fake_start(&f, NULL);
    char err[512], dir[400];
    setenv("WANDB_BASE_URL", f.base, 1);
    setenv("WANDB_API_KEY", KEY, 1);
    setenv("WANDB_MODE", mode, 1);
    wandb_settings s;
    ck_assert_msg(wandb_settings_from_env(&s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.mode, expect);
    s.flush_interval_s = 0.01;
    s.heartbeat_s = 0.01;
    snprintf(dir, sizeof dir, "%s/run", tmpdir);
    runlog *rl = runlog_create(dir, err, sizeof err);
    ck_assert_msg(rl != NULL, "%s", err);
    wandb_run *run = wandb_run_start(&s, "quiet001", "not even JSON", dir, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    char *lines[2];
    log_epochs(rl, run, 2, lines, 0.05);
    ck_assert_int_eq(wandb_run_output(run, "hello", 0), 0);
    ck_assert_int_eq(wandb_run_finish(run, 0), 1);
    char id[64];
    ck_assert_int_eq(wandb_upsert_sweep(&s, "method: grid\n", NULL, NULL, id, sizeof id, err, sizeof err), 1);
    ck_assert_str_eq(id, "");
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(cJSON_GetArraySize(requests_of(rec)), 0);
    cJSON_Delete(rec);
    cJSON *wj = wandb_json(dir);
    if (expect_status_file) {
        ck_assert_ptr_nonnull(wj);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(wj, "mode")->valuestring, "offline");
        ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(wj, "synced")));
    } else {
        ck_assert_ptr_null(wj); /* disabled: only the run log's own files */
    }
    cJSON_Delete(wj);
    char path[600];
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    ck_assert_int_eq(access(path, F_OK), 0);
    for (int i = 0; i < 2; i++)
        free(lines[i]);
    wandb_run_destroy(run);
    runlog_destroy(rl);
    remove_tmpdir();
}

START_TEST(test_offline_sends_nothing)
{
    check_sends_nothing("offline", WANDB_OFFLINE, 1);
}
END_TEST

START_TEST(test_dryrun_is_offline)
{
    check_sends_nothing("dryrun", WANDB_OFFLINE, 1);
}
END_TEST

START_TEST(test_disabled_writes_local_only)
{
    check_sends_nothing("disabled", WANDB_DISABLED, 0);
}
END_TEST

START_TEST(test_mode_from_env)
{
    make_tmpdir();
    clear_env();
    wandb_settings s;
    char err[512] = "";
    /* no key anywhere: offline, with one notice line */
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), 0);
    ck_assert_int_eq(s.mode, WANDB_OFFLINE);
    ck_assert_str_eq(s.base_url, "https://api.wandb.ai");
    ck_assert_msg(strstr(s.notice, "offline") && !strchr(s.notice, '\n'), "%s", s.notice);
    ck_assert(s.flush_interval_s == 2 && s.heartbeat_s == 30 && s.backoff_max_s == 60);
    /* a key: online by default, no notice */
    setenv("WANDB_API_KEY", "k", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), 0);
    ck_assert_int_eq(s.mode, WANDB_ONLINE);
    ck_assert_str_eq(s.notice, "");
    ck_assert_str_eq(s.api_key, "k");
    unsetenv("WANDB_API_KEY");
    /* online asked for, no key: an error that says what to do */
    setenv("WANDB_MODE", "online", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "WANDB_API_KEY") && strstr(err, "api.wandb.ai"), "%s", err);
    setenv("WANDB_MODE", "sometimes", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "sometimes"), "%s", err);
    unsetenv("WANDB_MODE");
    setenv("WANDB_DISABLED", "true", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), 0);
    ck_assert_int_eq(s.mode, WANDB_DISABLED);
    unsetenv("WANDB_DISABLED");
    setenv("WANDB_BASE_URL", "ftp://example.org", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "WANDB_BASE_URL"), "%s", err);
    setenv("WANDB_BASE_URL", "https://wandb.example.org:8443//", 1);
    setenv("WANDB_PROJECT", "p", 1);
    setenv("WANDB_ENTITY", "e", 1);
    setenv("WANDB_NOTES", "n", 1);
    setenv("WANDB_JOB_TYPE", "train", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), 0);
    ck_assert_str_eq(s.base_url, "https://wandb.example.org:8443");
    ck_assert_str_eq(s.project, "p");
    ck_assert_str_eq(s.entity, "e");
    ck_assert_str_eq(s.notes, "n");
    ck_assert_str_eq(s.job_type, "train");
    ck_assert_str_eq(wandb_mode_name(WANDB_OFFLINE), "offline");

    /* bad arguments to a run */
    s.mode = WANDB_ONLINE;
    ck_assert_ptr_null(wandb_run_start(&s, "", NULL, NULL, err, sizeof err));
    ck_assert_ptr_null(wandb_run_start(&s, "ok", "[1, 2]", NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "JSON object"), "%s", err);
    ck_assert_ptr_null(wandb_run_start(&s, "ok", "{bad", NULL, err, sizeof err));
    remove_tmpdir();
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_netrc)
{
    make_tmpdir();
    clear_env();
    char host[128], pw[64], err[512], path[400];
    ck_assert_int_eq(wandb_url_host("https://api.wandb.ai", host, sizeof host), 0);
    ck_assert_str_eq(host, "api.wandb.ai");
    ck_assert_int_eq(wandb_url_host("http://127.0.0.1:8080/x/y", host, sizeof host), 0);
    ck_assert_str_eq(host, "127.0.0.1:8080");
    ck_assert_int_eq(wandb_url_host("http://u:p@h.example:9/", host, sizeof host), 0);
    ck_assert_str_eq(host, "h.example:9");
    ck_assert_int_eq(wandb_url_host("api.wandb.ai", host, sizeof host), -1);
    ck_assert_int_eq(wandb_url_host("https://", host, sizeof host), -1);

    snprintf(path, sizeof path, "%s/netrc", tmpdir);
    write_file(path, "machine api.wandb.ai\n  login user\n  password cloudkey\n"
                     "macdef init\nmachine inside.macro password nope\n\n"
                     "machine 127.0.0.1 login user password noport\n"
                     "machine 127.0.0.1:8080 login user password \"local key\"\n"
                     "default login anon password fallback\n");
    ck_assert_int_eq(wandb_netrc_lookup(path, "api.wandb.ai", pw, sizeof pw, err, sizeof err), 1);
    ck_assert_str_eq(pw, "cloudkey");
    ck_assert_int_eq(wandb_netrc_lookup(path, "127.0.0.1:8080", pw, sizeof pw, err, sizeof err), 1);
    ck_assert_str_eq(pw, "local key");
    ck_assert_int_eq(wandb_netrc_lookup(path, "127.0.0.1", pw, sizeof pw, err, sizeof err), 1);
    ck_assert_str_eq(pw, "noport");
    ck_assert_int_eq(wandb_netrc_lookup(path, "inside.macro", pw, sizeof pw, err, sizeof err), 1);
    ck_assert_str_eq(pw, "fallback"); /* a macdef body holds no entries */
    ck_assert_int_eq(wandb_netrc_lookup(path, "127.0.0.1:9", pw, sizeof pw, err, sizeof err), 1);
    ck_assert_str_eq(pw, "fallback");
    ck_assert_int_eq(wandb_netrc_lookup(path, "api.wandb.ai", pw, 4, err, sizeof err), -1); /* too long */
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    ck_assert_int_eq(wandb_netrc_lookup(path, "api.wandb.ai", pw, sizeof pw, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/nodefault", tmpdir);
    write_file(path, "machine other login x password y\nmachine");
    ck_assert_int_eq(wandb_netrc_lookup(path, "api.wandb.ai", pw, sizeof pw, err, sizeof err), 0);
    char *huge = tu_alloc(5000);
    memset(huge, 'x', 4999);
    snprintf(path, sizeof path, "%s/huge", tmpdir);
    write_file(path, huge);
    free(huge);
    ck_assert_int_eq(wandb_netrc_lookup(path, "api.wandb.ai", pw, sizeof pw, err, sizeof err), -1);
    ck_assert_msg(strstr(err, path), "%s", err);

    /* the settings find the key by host:port, and the run authenticates with it */
    fake f;
    const char *args[] = {"--key", "netrc-key-42", NULL};
    fake_start(&f, args);
    char text[512];
    snprintf(path, sizeof path, "%s/netrc2", tmpdir);
    snprintf(text, sizeof text,
             "machine 127.0.0.1 login user password wrong\nmachine 127.0.0.1:%d login user password "
             "netrc-key-42\n",
             f.port);
    write_file(path, text);
    setenv("NETRC", path, 1);
    setenv("WANDB_BASE_URL", f.base, 1);
    wandb_settings s;
    ck_assert_msg(wandb_settings_from_env(&s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.mode, WANDB_ONLINE);
    ck_assert_str_eq(s.api_key, "netrc-key-42");
    s.flush_interval_s = 0.05;
    s.messages = tmpfile();
    wandb_run *run = wandb_run_start(&s, "netrc001", NULL, NULL, err, sizeof err);
    ck_assert_msg(run != NULL, "%s", err);
    ck_assert_int_eq(wandb_run_history(run, "{\"_step\": 0}"), 0);
    ck_assert_int_eq(wandb_run_finish(run, 0), 0);
    wandb_run_destroy(run);
    fclose(s.messages);
    /* WANDB_API_KEY wins over netrc */
    setenv("WANDB_API_KEY", "from-env", 1);
    ck_assert_int_eq(wandb_settings_from_env(&s, err, sizeof err), 0);
    ck_assert_str_eq(s.api_key, "from-env");
    fake_stop(&f);
    remove_tmpdir();
}
END_TEST

START_TEST(test_upsert_sweep)
{
    make_tmpdir();
    clear_env();
    fake f;
    const char *args[] = {"--fail", "graphql:502:1", NULL};
    fake_start(&f, args);
    wandb_settings s;
    test_settings(&s, &f);
    char err[512], id[64];
    const char *yaml = "method: random\nmetric:\n  name: val_accuracy\n  goal: maximize\n";
    ck_assert_msg(wandb_upsert_sweep(&s, yaml, "study", NULL, id, sizeof id, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_str_eq(id, "fakesw01");
    ck_assert_int_eq(wandb_upsert_sweep(&s, yaml, NULL, NULL, id, 4, err, sizeof err), -1); /* does not fit */
    ck_assert_int_eq(wandb_upsert_sweep(&s, NULL, NULL, NULL, id, sizeof id, err, sizeof err), -1);
    fake_stop(&f);
    cJSON *rec = fake_record(&f);
    ck_assert_int_eq(count_requests(rec, "/graphql", 502), 1);
    cJSON *q = cJSON_GetArrayItem(requests_of(rec), 1);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(q, "body");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(body, "operationName")->valuestring, "UpsertSweep");
    cJSON *vars = cJSON_GetObjectItemCaseSensitive(body, "variables");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "config")->valuestring, yaml);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "projectName")->valuestring, "cltrain-test");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(vars, "displayName")->valuestring, "study");
    cJSON_Delete(rec);
    fclose(s.messages);
    remove_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("wandb");
    TCase *tc = tcase_create("wandb");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_run_streams);
    tcase_add_test(tc, test_retry_server_errors);
    tcase_add_test(tc, test_retry_after);
    tcase_add_test(tc, test_unauthorized);
    tcase_add_test(tc, test_not_retried_statuses);
    tcase_add_test(tc, test_graphql_errors);
    tcase_add_test(tc, test_stopped_flag);
    tcase_add_test(tc, test_heartbeat);
    tcase_add_test(tc, test_server_down);
    tcase_add_test(tc, test_offline_sends_nothing);
    tcase_add_test(tc, test_dryrun_is_offline);
    tcase_add_test(tc, test_disabled_writes_local_only);
    tcase_add_test(tc, test_mode_from_env);
    tcase_add_test(tc, test_netrc);
    tcase_add_test(tc, test_upsert_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
