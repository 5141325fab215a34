/* wandb.c: the wandb client's settings (from the environment) and runs. A run's network work all
 * happens on one sender thread: UpsertBucket, then file_stream posts of the queued history,
 * summary and console lines, heartbeats while idle, and the final {"complete": true}. The training
 * thread only appends to in-memory queues under a mutex, so a slow or dead server never blocks it;
 * the rows are already on disk (runlog) before they are queued here. */
#include "wandb_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BASE_URL "https://api.wandb.ai"
#define MAX_LINES_PER_POST 1000
#define PATH_LEN 4096

static const char upsert_bucket_query[] =
    "mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, "
    "$groupName: String, $displayName: String, $notes: String, $config: JSONString, $host: String, "
    "$program: String, $jobType: String, $sweep: String, $tags: [String!]) {\n"
    "  upsertBucket(input: {id: $id, name: $name, groupName: $groupName, modelName: $project, "
    "entityName: $entity, displayName: $displayName, notes: $notes, config: $config, host: $host, "
    "jobProgram: $program, jobType: $jobType, sweep: $sweep, tags: $tags}) {\n"
    "    bucket { id name displayName sweepName project { name entity { name } } historyLineCount }\n"
    "    inserted\n"
    "  }\n"
    "}\n";

static const char upsert_sweep_query[] =
    "mutation UpsertSweep($id: ID, $config: String, $description: String, $entityName: String, "
    "$projectName: String, $displayName: String, $state: String) {\n"
    "  upsertSweep(input: {id: $id, config: $config, description: $description, entityName: $entityName, "
    "projectName: $projectName, displayName: $displayName, state: $state}) {\n"
    "    sweep { name project { name entity { name } } }\n"
    "  }\n"
    "}\n";

/* ---- settings ---------------------------------------------------------------------------- */

const char *wandb_mode_name(wandb_mode m)
{
    return m == WANDB_ONLINE ? "online" : m == WANDB_OFFLINE ? "offline" : "disabled";
}

static void copy_env(char *out, size_t len, const char *name)
{
    const char *v = getenv(name);
    snprintf(out, len, "%s", v ? v : "");
}

/* API key: WANDB_API_KEY, then netrc ($NETRC, else ~/.netrc) for the base URL's host. 1 found,
 * 0 not found, -1 error. */
static int find_api_key(wandb_settings *s, char *err, size_t errlen)
{
    const char *env = getenv("WANDB_API_KEY");
    if (env && *env) {
        if (strlen(env) >= sizeof s->api_key) {
            snprintf(err, errlen, "WANDB_API_KEY is longer than %zu characters.", sizeof s->api_key - 1);
            return -1;
        }
        snprintf(s->api_key, sizeof s->api_key, "%s", env);
        return 1;
    }
    char path[PATH_LEN], host[WANDB_STR_LEN];
    const char *netrc = getenv("NETRC"), *home = getenv("HOME");
    if (netrc && *netrc)
        snprintf(path, sizeof path, "%s", netrc);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.netrc", home);
    else
        return 0;
    if (wandb_url_host(s->base_url, host, sizeof host) != 0) return 0;
    return wandb_netrc_lookup(path, host, s->api_key, sizeof s->api_key, err, errlen);
}

int wandb_settings_from_env(wandb_settings *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->flush_interval_s = 2;
    s->heartbeat_s = 30;
    s->backoff_base_s = 2;
    s->backoff_max_s = 60;
    s->finish_timeout_s = 60;
    s->request_deadline_s = 60;
    s->graphql_timeout_s = 30;
    s->filestream_timeout_s = 180;

    const char *base = getenv("WANDB_BASE_URL");
    if (!base || !*base) base = DEFAULT_BASE_URL;
    if (strlen(base) >= sizeof s->base_url) {
        snprintf(err, errlen, "WANDB_BASE_URL is longer than %zu characters.", sizeof s->base_url - 1);
        return -1;
    }
    snprintf(s->base_url, sizeof s->base_url, "%s", base);
    size_t n = strlen(s->base_url);
    while (n > 0 && s->base_url[n - 1] == '/')
        s->base_url[--n] = '\0';
    char host[WANDB_STR_LEN];
    if (wandb_url_host(s->base_url, host, sizeof host) != 0) {
        snprintf(err, errlen, "WANDB_BASE_URL \"%.200s\" is not an http:// or https:// URL.", base);
        return -1;
    }

    copy_env(s->project, sizeof s->project, "WANDB_PROJECT");
    copy_env(s->entity, sizeof s->entity, "WANDB_ENTITY");
    copy_env(s->group, sizeof s->group, "WANDB_RUN_GROUP");
    copy_env(s->name, sizeof s->name, "WANDB_NAME");
    copy_env(s->notes, sizeof s->notes, "WANDB_NOTES");
    copy_env(s->job_type, sizeof s->job_type, "WANDB_JOB_TYPE");
    copy_env(s->tags, sizeof s->tags, "WANDB_TAGS");
    copy_env(s->sweep_id, sizeof s->sweep_id, "WANDB_SWEEP_ID");

    const char *mode = getenv("WANDB_MODE");
    const char *disabled = getenv("WANDB_DISABLED");
    if (mode && *mode) {
        if (strcmp(mode, "online") == 0 || strcmp(mode, "run") == 0) {
            s->mode = WANDB_ONLINE;
        } else if (strcmp(mode, "offline") == 0 || strcmp(mode, "dryrun") == 0) {
            s->mode = WANDB_OFFLINE;
            return 0;
        } else if (strcmp(mode, "disabled") == 0) {
            s->mode = WANDB_DISABLED;
            return 0;
        } else {
            snprintf(err, errlen, "WANDB_MODE \"%.64s\" is not one of online, offline, disabled, dryrun.",
                     mode);
            return -1;
        }
    } else if (disabled && (strcmp(disabled, "true") == 0 || strcmp(disabled, "1") == 0)) {
        s->mode = WANDB_DISABLED;
        return 0;
    }
    int found = find_api_key(s, err, errlen);
    if (found < 0) return -1;
    if (found) {
        s->mode = WANDB_ONLINE;
    } else if (mode && *mode) {
        snprintf(err, errlen,
                 "WANDB_MODE=online but no API key was found for %s: set WANDB_API_KEY or add a netrc "
                 "entry for machine %s.",
                 s->base_url, host);
        return -1;
    } else {
        s->mode = WANDB_OFFLINE;
        snprintf(s->notice, sizeof s->notice,
                 "wandb: no API key for %s (WANDB_API_KEY or netrc machine %s); logging offline to the run "
                 "directory only.",
                 s->base_url, host);
    }
    return 0;
}

/* ---- clocks and small helpers -------------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static struct timespec mono_abs(double t)
{
    struct timespec ts;
    if (t < 0) t = 0;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

typedef struct {
    char **items;
    size_t n, cap;
} strlist;

static int strlist_push(strlist *l, const char *text)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(text);
    if (!copy) return -1;
    l->items[l->n++] = copy;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- runs ------------------------------------------------------------------------------------ */

struct wandb_run {
    wandb_settings s;
    char run_id[64];
    char dir[PATH_LEN]; /* "" = no wandb.json */
    char *config;       /* the wrapped config as JSON text (the JSONString UpsertBucket takes) */

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; wakes the sender (new rows, finish, abort) and finish */

    /* under mu */
    strlist hist, out;
    size_t hist_acked, out_acked;
    long hist_base; /* historyLineCount from UpsertBucket: where this run's lines start */
    char *summary;
    unsigned summary_ver, summary_acked_ver;
    int finishing, exitcode, done, synced, failed, finished_called;
    char error[1024];      /* why syncing stopped for good */
    char last_error[1024]; /* the latest retryable failure */
    char entity[WANDB_STR_LEN], project[WANDB_STR_LEN], url[3 * WANDB_STR_LEN];

    atomic_int abort;
    atomic_int stopped;
    uint64_t rng;
};

static FILE *messages(const wandb_run *r)
{
    return r->s.messages ? r->s.messages : stderr;
}

static char *wrap_config(const char *config_json, char *err, size_t errlen)
{
    cJSON *in = cJSON_Parse(config_json ? config_json : "{}");
    if (!cJSON_IsObject(in)) {
        snprintf(err, errlen, "wandb: the run config is not a JSON object.");
        cJSON_Delete(in);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON *item;
    int ok = out != NULL;
    cJSON_ArrayForEach(item, in)
    {
        cJSON *wrapped = cJSON_CreateObject();
        cJSON *value = cJSON_Duplicate(item, 1);
        if (!wrapped || !value || !cJSON_AddItemToObject(wrapped, "value", value)) {
            cJSON_Delete(wrapped);
            cJSON_Delete(value);
            ok = 0;
            break;
        }
        if (!cJSON_AddItemToObject(out, item->string, wrapped)) {
            cJSON_Delete(wrapped);
            ok = 0;
            break;
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(out) : NULL;
    if (!text) snprintf(err, errlen, "wandb: out of memory wrapping the run config.");
    cJSON_Delete(in);
    cJSON_Delete(out);
    return text;
}

/* wandb.json in the run directory: what a person (or a later sync) needs to know about this run's
 * trip to the server. Replaced with tmp + rename. Failure here is reported, not fatal. */
static void write_status(wandb_run *r)
{
    if (!r->dir[0]) return;
    cJSON *j = cJSON_CreateObject();
    if (!j) return;
    cJSON_AddStringToObject(j, "mode", wandb_mode_name(r->s.mode));
    cJSON_AddStringToObject(j, "run_id", r->run_id);
    cJSON_AddStringToObject(j, "base_url", r->s.base_url);
    cJSON_AddStringToObject(j, "entity", r->entity[0] ? r->entity : r->s.entity);
    cJSON_AddStringToObject(j, "project", r->project[0] ? r->project : r->s.project);
    if (r->url[0]) cJSON_AddStringToObject(j, "url", r->url);
    cJSON_AddStringToObject(j, "state", r->finished_called ? "finished" : "running");
    cJSON_AddBoolToObject(j, "synced", r->synced);
    if (r->error[0]) cJSON_AddStringToObject(j, "error", r->error);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return;
    char path[PATH_LEN + 16], tmp[PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/wandb.json", r->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%s\n", text) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(messages(r), "wandb: cannot write %s: %s.\n", path, strerror(errno));
        unlink(tmp);
    }
    free(text);
}

/* Marks syncing as failed for good, with one line to the user. */
static void fail_for_good(wandb_run *r, const char *why)
{
    pthread_mutex_lock(&r->mu);
    int first = !r->failed;
    if (first) {
        r->failed = 1;
        snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1, why); /* a long reason is cut */
    }
    pthread_mutex_unlock(&r->mu);
    if (first)
        fprintf(messages(r), "%s The run goes on with local files only%s%s.\n", why, r->dir[0] ? " in " : "",
                r->dir);
}

/* The sender's sleep between retries: returns 1 (give up) once the run is aborted. */
static int run_wait(void *ctx, double seconds)
{
    wandb_run *r = ctx;
    double until = mono_now() + seconds;
    pthread_mutex_lock(&r->mu);
    while (!atomic_load(&r->abort) && mono_now() < until) {
        struct timespec ts = mono_abs(until);
        pthread_cond_timedwait(&r->cond, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return atomic_load(&r->abort) ? 1 : 0;
}

static const char *json_string_at(const cJSON *j, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (c) x = cJSON_GetObjectItemCaseSensitive(x, c);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static void add_if_set(cJSON *o, const char *key, const char *value)
{
    if (value && *value) cJSON_AddStringToObject(o, key, value);
}

/* UpsertBucket: creates the run on the server; 0 on success (entity, project, url, hist_base set). */
static int upsert_bucket(wandb_run *r, CURL *c)
{
    char err[1024], hostname[256] = "";
    gethostname(hostname, sizeof hostname - 1);
    cJSON *vars = cJSON_CreateObject();
    if (!vars) {
        fail_for_good(r, "wandb: out of memory building UpsertBucket.");
        return -1;
    }
    add_if_set(vars, "name", r->run_id);
    add_if_set(vars, "project", r->s.project);
    add_if_set(vars, "entity", r->s.entity);
    add_if_set(vars, "groupName", r->s.group);
    add_if_set(vars, "displayName", r->s.name);
    add_if_set(vars, "notes", r->s.notes);
    add_if_set(vars, "config", r->config);
    add_if_set(vars, "host", hostname);
    add_if_set(vars, "program", "cltrain");
    add_if_set(vars, "jobType", r->s.job_type);
    add_if_set(vars, "sweep", r->s.sweep_id);
    if (r->s.tags[0]) {
        cJSON *tags = cJSON_AddArrayToObject(vars, "tags");
        char copy[WANDB_TEXT_LEN], *save = NULL;
        snprintf(copy, sizeof copy, "%s", r->s.tags);
        for (char *t = strtok_r(copy, ",", &save); t && tags; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            size_t n = strlen(t);
            while (n > 0 && t[n - 1] == ' ')
                t[--n] = '\0';
            if (n) cJSON_AddItemToArray(tags, cJSON_CreateString(t));
        }
    }
    cJSON *data = NULL;
    int rc = wandb_graphql(c, &r->s, upsert_bucket_query, "UpsertBucket", vars, &r->abort, run_wait, r,
                           &r->rng, &data, err, sizeof err);
    cJSON_Delete(vars);
    if (rc != 0) {
        if (atomic_load(&r->abort)) {
            pthread_mutex_lock(&r->mu);
            snprintf(r->last_error, sizeof r->last_error, "%s", err);
            pthread_mutex_unlock(&r->mu);
        } else {
            fail_for_good(r, err);
        }
        return -1;
    }
    const cJSON *bucket =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "upsertBucket"), "bucket");
    const char *project = json_string_at(bucket, "project", "name", NULL);
    const char *entity = json_string_at(bucket, "project", "entity", "name");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(bucket, "historyLineCount");
    if (!project || !entity) {
        cJSON_Delete(data);
        snprintf(err, sizeof err, "wandb: UpsertBucket's answer from %s names no project and entity.",
                 r->s.base_url);
        fail_for_good(r, err);
        return -1;
    }
    char app[WANDB_STR_LEN];
    wandb_app_url(r->s.base_url, app, sizeof app);
    pthread_mutex_lock(&r->mu);
    snprintf(r->project, sizeof r->project, "%s", project);
    snprintf(r->entity, sizeof r->entity, "%s", entity);
    snprintf(r->url, sizeof r->url, "%s/%s/%s/runs/%s", app, entity, project, r->run_id);
    r->hist_base = cJSON_IsNumber(lines) && lines->valuedouble > 0 ? (long)lines->valuedouble : 0;
    pthread_mutex_unlock(&r->mu);
    cJSON_Delete(data);
    return 0;
}

enum { POST_DATA, POST_HEARTBEAT, POST_COMPLETE };

/* Adds {"offset": N, "content": [lines...]} for FILE to files. */
static int add_chunk(cJSON *files, const char *name, long offset, char **lines, size_t n)
{
    cJSON *chunk = cJSON_AddObjectToObject(files, name);
    if (!chunk || !cJSON_AddNumberToObject(chunk, "offset", (double)offset)) return -1;
    cJSON *content = cJSON_AddArrayToObject(chunk, "content");
    if (!content) return -1;
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(lines[i]);
        if (!s || !cJSON_AddItemToArray(content, s)) {
            cJSON_Delete(s);
            return -1;
        }
    }
    return 0;
}

static void *sender_main(void *arg)
{
    wandb_run *r = arg;
    CURL *c = curl_easy_init();
    char *fs_url = NULL;
    if (!c) {
        fail_for_good(r, "wandb: libcurl could not start a session.");
        goto done;
    }
    if (upsert_bucket(r, c) != 0) goto done;

    {
        char *e = curl_easy_escape(c, r->entity, 0), *p = curl_easy_escape(c, r->project, 0),
             *id = curl_easy_escape(c, r->run_id, 0);
        size_t len =
            strlen(r->s.base_url) + (e ? strlen(e) : 0) + (p ? strlen(p) : 0) + (id ? strlen(id) : 0) + 32;
        fs_url = e && p && id ? malloc(len) : NULL;
        if (fs_url) snprintf(fs_url, len, "%s/files/%s/%s/%s/file_stream", r->s.base_url, e, p, id);
        curl_free(e);
        curl_free(p);
        curl_free(id);
        if (!fs_url) {
            fail_for_good(r, "wandb: out of memory building the file_stream URL.");
            goto done;
        }
    }

    double last_post = mono_now();
    int attempt = 0;
    for (;;) {
        int kind;
        size_t hist_from, hist_to, out_from, out_to;
        unsigned summary_ver;
        long hist_base;
        cJSON *body = cJSON_CreateObject();
        if (!body) {
            fail_for_good(r, "wandb: out of memory building a file_stream request.");
            goto done;
        }
        pthread_mutex_lock(&r->mu);
        for (;;) {
            if (atomic_load(&r->abort)) {
                pthread_mutex_unlock(&r->mu);
                cJSON_Delete(body);
                goto done;
            }
            int pending = r->hist.n > r->hist_acked || r->out.n > r->out_acked ||
                          r->summary_ver != r->summary_acked_ver;
            double now = mono_now();
            if (pending && (r->finishing || now >= last_post + r->s.flush_interval_s)) {
                kind = POST_DATA;
                break;
            }
            if (!pending && r->finishing) {
                kind = POST_COMPLETE;
                break;
            }
            if (now >= last_post + r->s.heartbeat_s) {
                kind = POST_HEARTBEAT;
                break;
            }
            struct timespec ts = mono_abs(last_post + (pending ? r->s.flush_interval_s : r->s.heartbeat_s));
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
        }
        /* the request: everything not yet acknowledged, from its acknowledged offset */
        hist_from = r->hist_acked;
        hist_to = r->hist.n - hist_from > MAX_LINES_PER_POST ? hist_from + MAX_LINES_PER_POST : r->hist.n;
        out_from = r->out_acked;
        out_to = r->out.n - out_from > MAX_LINES_PER_POST ? out_from + MAX_LINES_PER_POST : r->out.n;
        summary_ver = r->summary_ver;
        hist_base = r->hist_base;
        int ok = 1;
        if (kind == POST_COMPLETE) {
            ok = cJSON_AddBoolToObject(body, "complete", 1) &&
                 cJSON_AddNumberToObject(body, "exitcode", r->exitcode);
        } else if (kind == POST_DATA) {
            cJSON *files = cJSON_AddObjectToObject(body, "files");
            ok = files != NULL;
            if (ok && hist_to > hist_from)
                ok = add_chunk(files, "wandb-history.jsonl", hist_base + (long)hist_from,
                               r->hist.items + hist_from, hist_to - hist_from) == 0;
            if (ok && summary_ver != r->summary_acked_ver && r->summary)
                ok = add_chunk(files, "wandb-summary.json", 0, &r->summary, 1) == 0;
            if (ok && out_to > out_from)
                ok = add_chunk(files, "output.log", (long)out_from, r->out.items + out_from,
                               out_to - out_from) == 0;
        }
        pthread_mutex_unlock(&r->mu);
        char *text = ok ? cJSON_PrintUnformatted(body) : NULL;
        cJSON_Delete(body);
        if (!text) {
            fail_for_good(r, "wandb: out of memory building a file_stream request.");
            goto done;
        }

        wandb_http_result res;
        wandb_http_post(c, fs_url, r->s.api_key, text, r->s.filestream_timeout_s, &r->abort, &res);
        free(text);
        last_post = mono_now();
        int verdict = wandb_http_classify(&res);
        if (verdict == 0) {
            cJSON *answer = res.body ? cJSON_Parse(res.body) : NULL;
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "stopped")))
                atomic_store(&r->stopped, 1);
            cJSON_Delete(answer);
            wandb_http_result_free(&res);
            attempt = 0;
            pthread_mutex_lock(&r->mu);
            r->hist_acked = hist_to;
            r->out_acked = out_to;
            r->summary_acked_ver = summary_ver;
            if (kind == POST_COMPLETE) r->synced = 1;
            pthread_mutex_unlock(&r->mu);
            if (kind == POST_COMPLETE) goto done;
            continue;
        }
        char why[1024];
        wandb_http_describe(&res, fs_url, why, sizeof why);
        double retry_after = res.retry_after;
        wandb_http_result_free(&res);
        if (verdict < 0) {
            char sentence[1200];
            snprintf(sentence, sizeof sentence, "wandb: file_stream failed, not retried: %s.", why);
            fail_for_good(r, sentence);
            goto done;
        }
        pthread_mutex_lock(&r->mu);
        snprintf(r->last_error, sizeof r->last_error, "%s", why);
        pthread_mutex_unlock(&r->mu);
        if (run_wait(r, wandb_backoff(&r->s, attempt++, retry_after, &r->rng)) != 0) goto done;
    }
done:
    free(fs_url);
    if (c) curl_easy_cleanup(c);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

wandb_run *wandb_run_start(const wandb_settings *s, const char *run_id, const char *config_json,
                           const char *dir, char *err, size_t errlen)
{
    if (!s || !run_id || !*run_id || strlen(run_id) >= 64) {
        snprintf(err, errlen, "wandb: a run needs settings and a run id of 1 to 63 characters.");
        return NULL;
    }
    if (dir && strlen(dir) >= PATH_LEN) {
        snprintf(err, errlen, "wandb: the run directory path is too long.");
        return NULL;
    }
    struct stat st;
    if (dir && s->mode != WANDB_DISABLED && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(err, errlen,
                 "wandb: the run directory %s does not exist (create it with runlog_create first).", dir);
        return NULL;
    }
    wandb_run *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "wandb: out of memory starting run %s.", run_id);
        return NULL;
    }
    r->s = *s;
    snprintf(r->run_id, sizeof r->run_id, "%s", run_id);
    if (dir && s->mode != WANDB_DISABLED) snprintf(r->dir, sizeof r->dir, "%s", dir);
    atomic_init(&r->abort, 0);
    atomic_init(&r->stopped, 0);
    r->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)r;
    if (!r->rng) r->rng = 1;

    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(r);
        snprintf(err, errlen, "wandb: cannot create a condition variable.");
        return NULL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int crc = pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (crc != 0 || pthread_mutex_init(&r->mu, NULL) != 0) {
        if (crc == 0) pthread_cond_destroy(&r->cond);
        free(r);
        snprintf(err, errlen, "wandb: cannot create the sender's locks.");
        return NULL;
    }
    if (s->mode == WANDB_ONLINE) {
        r->config = wrap_config(config_json, err, errlen);
        if (!r->config) {
            wandb_run_destroy(r);
            return NULL;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "wandb: libcurl failed to initialise.");
            wandb_run_destroy(r);
            return NULL;
        }
        write_status(r); /* before the sender exists: it writes the fields read here */
        if (pthread_create(&r->thread, NULL, sender_main, r) != 0) {
            curl_global_cleanup();
            snprintf(err, errlen, "wandb: cannot start the sender thread for run %s.", run_id);
            wandb_run_destroy(r);
            return NULL;
        }
        r->thread_started = 1;
    } else {
        write_status(r);
    }
    return r;
}

static int queue_line(wandb_run *r, strlist *l, const char *line)
{
    if (!r || r->s.mode != WANDB_ONLINE) return 0;
    pthread_mutex_lock(&r->mu);
    int rc = r->failed ? 0 : strlist_push(l, line);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    if (rc != 0)
        fprintf(messages(r), "wandb: out of memory queueing a line; it stays in the run directory.\n");
    return rc;
}

int wandb_run_history(wandb_run *r, const char *json_line)
{
    return r ? queue_line(r, &r->hist, json_line) : 0;
}

int wandb_run_output(wandb_run *r, const char *text, int is_stderr)
{
    if (!r || r->s.mode != WANDB_ONLINE) return 0;
    struct timespec now;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    size_t len = strlen(text) + 64;
    char *line = malloc(len);
    if (!line) return -1;
    snprintf(line, len, "%s%s.%06ld %s", is_stderr ? "ERROR " : "", stamp, now.tv_nsec / 1000, text);
    int rc = queue_line(r, &r->out, line);
    free(line);
    return rc;
}

int wandb_run_summary(wandb_run *r, const char *json_line)
{
    if (!r || r->s.mode != WANDB_ONLINE) return 0;
    char *copy = strdup(json_line);
    if (!copy) return -1;
    pthread_mutex_lock(&r->mu);
    free(r->summary);
    r->summary = copy;
    r->summary_ver++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int wandb_run_stop_requested(wandb_run *r)
{
    return r ? atomic_load(&r->stopped) : 0;
}

void wandb_run_url(wandb_run *r, char *out, size_t outlen)
{
    pthread_mutex_lock(&r->mu);
    snprintf(out, outlen, "%s", r->url);
    pthread_mutex_unlock(&r->mu);
}

const char *wandb_run_error(wandb_run *r)
{
    return r->error;
}

/* Ends the sender: lets it finish until `deadline`, then aborts it (the transfer in flight stops
 * through libcurl's progress callback) and joins. */
static void stop_sender(wandb_run *r, double deadline)
{
    if (!r->thread_started) return;
    pthread_mutex_lock(&r->mu);
    while (!r->done && mono_now() < deadline) {
        struct timespec ts = mono_abs(deadline);
        pthread_cond_timedwait(&r->cond, &r->mu, &ts);
    }
    atomic_store(&r->abort, 1);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->thread_started = 0;
    curl_global_cleanup();
}

int wandb_run_finish(wandb_run *r, int exitcode)
{
    if (!r || r->finished_called) return -1;
    if (r->s.mode != WANDB_ONLINE) {
        r->finished_called = 1;
        write_status(r);
        return 1;
    }
    pthread_mutex_lock(&r->mu);
    r->finishing = 1;
    r->exitcode = exitcode;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    stop_sender(r, mono_now() + r->s.finish_timeout_s);
    r->finished_called = 1;
    int rc = 0;
    if (!r->synced) {
        rc = -1;
        if (!r->failed) {
            /* the server stayed away: give up now rather than hold the trainer; say so once */
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "gave up syncing after %.0f s: %.900s", r->s.finish_timeout_s,
                     r->last_error[0] ? r->last_error : "the server did not answer in time");
            fprintf(messages(r), "wandb: run %s was not synced (%s); everything is in %s.\n", r->run_id,
                    r->error, r->dir[0] ? r->dir : "the run directory");
        }
    }
    write_status(r);
    return rc;
}

void wandb_run_destroy(wandb_run *r)
{
    if (!r) return;
    stop_sender(r, mono_now()); /* no waiting: finish is where the network gets its time */
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    strlist_free(&r->hist);
    strlist_free(&r->out);
    free(r->summary);
    free(r->config);
    free(r);
}

/* ---- sweeps ---------------------------------------------------------------------------------- */

typedef struct {
    double deadline;
} sync_wait_ctx;

static int sync_wait(void *ctx, double seconds)
{
    sync_wait_ctx *w = ctx;
    double now = mono_now();
    if (now + seconds > w->deadline) return 1;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

int wandb_upsert_sweep(const wandb_settings *s, const char *config_yaml, const char *display_name,
                       const char *existing_id, char *sweep_id, size_t idlen, char *err, size_t errlen)
{
    if (idlen) sweep_id[0] = '\0';
    if (s->mode != WANDB_ONLINE) return 1;
    if (!config_yaml) {
        snprintf(err, errlen, "wandb: UpsertSweep needs the sweep's YAML text.");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "wandb: libcurl failed to initialise.");
        return -1;
    }
    CURL *c = curl_easy_init();
    cJSON *vars = cJSON_CreateObject();
    int rc = -1;
    if (!c || !vars) {
        snprintf(err, errlen, "wandb: cannot start a libcurl session for UpsertSweep.");
        goto out;
    }
    add_if_set(vars, "id", existing_id);
    add_if_set(vars, "config", config_yaml);
    add_if_set(vars, "entityName", s->entity);
    add_if_set(vars, "projectName", s->project);
    add_if_set(vars, "displayName", display_name);
    sync_wait_ctx w = {mono_now() + s->request_deadline_s};
    uint64_t rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    cJSON *data = NULL;
    if (wandb_graphql(c, s, upsert_sweep_query, "UpsertSweep", vars, NULL, sync_wait, &w, &rng, &data, err,
                      errlen) != 0)
        goto out;
    const char *name =
        json_string_at(cJSON_GetObjectItemCaseSensitive(data, "upsertSweep"), "sweep", "name", NULL);
    if (!name || !*name) {
        snprintf(err, errlen, "wandb: UpsertSweep's answer from %s holds no sweep name.", s->base_url);
    } else if (strlen(name) >= idlen) {
        snprintf(err, errlen, "wandb: the sweep id \"%.64s\" does not fit.", name);
    } else {
        snprintf(sweep_id, idlen, "%s", name);
        rc = 0;
    }
    cJSON_Delete(data);
out:
    cJSON_Delete(vars);
    if (c) curl_easy_cleanup(c);
    curl_global_cleanup();
    return rc;
}
