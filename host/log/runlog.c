/* runlog.c: the local run directory (see runlog.h). Local first: each history row reaches the disk
 * (fflush + fsync) before the caller hands it to the network, and summary.json is replaced with
 * tmp + rename so a crash leaves either the old or the new file, never half of one. */
#include "cltrain/runlog.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUNLOG_PATH_LEN 4096
#define RUNLOG_ERR_LEN 512

typedef struct {
    char *key;
    int is_string;
    double number;
    char *string;
} summary_entry;

struct runlog {
    char dir[RUNLOG_PATH_LEN];
    FILE *history;
    FILE *log;
    struct timespec start; /* CLOCK_MONOTONIC at create: _runtime */
    long step;             /* next _step; continues an existing history.jsonl */
    char *last_row;
    char *summary_text;
    summary_entry *summary;
    int nsummary, capsummary;
    char error[RUNLOG_ERR_LEN];
};

static int fail(runlog *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(runlog *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return -1;
}

void runlog_format_number(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
    } else if (isinf(v)) {
        snprintf(out, outlen, v > 0 ? "Infinity" : "-Infinity");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, outlen, "%.0f", v);
    } else {
        /* the shortest of %.15g..%.17g that reads back as the same double */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, outlen, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

/* Appends "key": to a growing buffer; every row here is small, so a fixed bound per piece is fine
 * and the buffer grows as needed. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *b, const char *text)
{
    size_t n = strlen(text);
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

/* A JSON string literal (quoted, escaped) through cJSON, so escaping rules exist once. */
static void sb_add_json_string(strbuf *b, const char *text)
{
    cJSON *s = cJSON_CreateString(text);
    char *printed = s ? cJSON_PrintUnformatted(s) : NULL;
    if (printed)
        sb_add(b, printed);
    else
        b->failed = 1;
    free(printed);
    cJSON_Delete(s);
}

static void sb_add_number_field(strbuf *b, const char *key, double v, int first)
{
    char num[40];
    if (!first) sb_add(b, ", ");
    sb_add_json_string(b, key);
    sb_add(b, ": ");
    runlog_format_number(v, num, sizeof num);
    sb_add(b, num);
}

static int make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[RUNLOG_PATH_LEN];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "The run directory path \"%.64s...\" is too long.", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "Cannot create the run directory %s: %s.", buf, strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "The run directory %s exists but is not a directory.", path);
        return -1;
    }
    return 0;
}

int runlog_new_id(char *out, size_t outlen, const uint64_t *seed, int honour_env, char *err, size_t errlen)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    const char *env = honour_env ? getenv("WANDB_RUN_ID") : NULL;
    if (outlen < 64) {
        snprintf(err, errlen, "runlog_new_id needs a 64-byte buffer.");
        return -1;
    }
    if (env && *env) {
        size_t n = strlen(env);
        int ok = n < 64;
        for (size_t i = 0; ok && i < n; i++)
            ok = (env[i] >= 'a' && env[i] <= 'z') || (env[i] >= 'A' && env[i] <= 'Z') ||
                 (env[i] >= '0' && env[i] <= '9') || env[i] == '_' || env[i] == '-';
        if (!ok) {
            snprintf(err, errlen,
                     "WANDB_RUN_ID \"%.64s\" is not a valid run id (1 to 63 of A-Z a-z 0-9 _ -).", env);
            return -1;
        }
        memcpy(out, env, n + 1);
        return 0;
    }
    uint64_t s;
    if (seed) {
        s = *seed;
    } else if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
        snprintf(err, errlen, "Cannot read the system random source for a run id: %s.", strerror(errno));
        return -1;
    }
    for (int i = 0; i < RUNLOG_ID_LEN; i++) {
        /* splitmix64: each character from a well-mixed word, so nearby seeds give unrelated ids */
        s += 0x9E3779B97F4A7C15ULL;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        out[i] = alphabet[z % (sizeof alphabet - 1)];
    }
    out[RUNLOG_ID_LEN] = '\0';
    return 0;
}

int runlog_path(const runlog *r, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", r->dir, name);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int runlog_model_path(const runlog *r, char *out, size_t outlen)
{
    return runlog_path(r, "model.safetensors", out, outlen);
}

static long count_lines(FILE *f)
{
    long n = 0;
    int c, last = '\n';
    rewind(f);
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++; /* a last row cut short by a crash still took its step */
    fseek(f, 0, SEEK_END);
    return n;
}

static FILE *open_append(runlog *r, const char *name, char *err, size_t errlen)
{
    char path[RUNLOG_PATH_LEN];
    if (runlog_path(r, name, path, sizeof path) != 0) {
        snprintf(err, errlen, "The path of %s in %s is too long.", name, r->dir);
        return NULL;
    }
    FILE *f = fopen(path, "a+");
    if (!f) snprintf(err, errlen, "Cannot open %s: %s.", path, strerror(errno));
    return f;
}

static int write_summary(runlog *r);
static int summary_put(runlog *r, const char *key, int is_string, double number, const char *string);

runlog *runlog_create(const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        snprintf(err, errlen, "The run directory path is empty.");
        return NULL;
    }
    runlog *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "Out of memory creating the run log for %s.", dir);
        return NULL;
    }
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t n = strlen(r->dir);
    while (n > 1 && r->dir[n - 1] == '/')
        r->dir[--n] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    if (make_dirs(r->dir, err, errlen) != 0) goto fail;
    r->history = open_append(r, "history.jsonl", err, errlen);
    if (!r->history) goto fail;
    r->step = count_lines(r->history);
    r->log = open_append(r, "log.txt", err, errlen);
    if (!r->log) goto fail;
    if (summary_put(r, "status", 1, 0, "running") != 0 || write_summary(r) != 0) {
        snprintf(err, errlen, "%s", r->error);
        goto fail;
    }
    return r;
fail:
    runlog_destroy(r);
    return NULL;
}

void runlog_destroy(runlog *r)
{
    if (!r) return;
    if (r->history) fclose(r->history);
    if (r->log) fclose(r->log);
    for (int i = 0; i < r->nsummary; i++) {
        free(r->summary[i].key);
        free(r->summary[i].string);
    }
    free(r->summary);
    free(r->summary_text);
    free(r->last_row);
    free(r);
}

const char *runlog_dir(const runlog *r)
{
    return r->dir;
}

const char *runlog_error(const runlog *r)
{
    return r->error;
}

const char *runlog_last_row(const runlog *r)
{
    return r->last_row;
}

const char *runlog_summary_line(const runlog *r)
{
    return r->summary_text;
}

static int summary_put(runlog *r, const char *key, int is_string, double number, const char *string)
{
    summary_entry *e = NULL;
    for (int i = 0; i < r->nsummary; i++)
        if (strcmp(r->summary[i].key, key) == 0) e = &r->summary[i];
    if (!e) {
        if (r->nsummary == r->capsummary) {
            int cap = r->capsummary ? 2 * r->capsummary : 32;
            summary_entry *s = realloc(r->summary, (size_t)cap * sizeof *s);
            if (!s) return fail(r, "Out of memory growing the summary of %s.", r->dir);
            r->summary = s;
            r->capsummary = cap;
        }
        e = &r->summary[r->nsummary];
        memset(e, 0, sizeof *e);
        e->key = strdup(key);
        if (!e->key) return fail(r, "Out of memory growing the summary of %s.", r->dir);
        r->nsummary++;
    }
    char *copy = NULL;
    if (is_string && !(copy = strdup(string ? string : "")))
        return fail(r, "Out of memory setting %s in the summary of %s.", key, r->dir);
    free(e->string);
    e->string = copy;
    e->is_string = is_string;
    e->number = number;
    return 0;
}

/* Rebuilds the summary line and replaces summary.json through a temporary file and rename. */
static int write_summary(runlog *r)
{
    strbuf b = {0};
    sb_add(&b, "{");
    for (int i = 0; i < r->nsummary; i++) {
        const summary_entry *e = &r->summary[i];
        if (e->is_string) {
            if (i) sb_add(&b, ", ");
            sb_add_json_string(&b, e->key);
            sb_add(&b, ": ");
            sb_add_json_string(&b, e->string);
        } else {
            sb_add_number_field(&b, e->key, e->number, i == 0);
        }
    }
    sb_add(&b, "}");
    if (b.failed) {
        free(b.s);
        return fail(r, "Out of memory formatting the summary of %s.", r->dir);
    }
    free(r->summary_text);
    r->summary_text = b.s;

    char path[RUNLOG_PATH_LEN], tmp[RUNLOG_PATH_LEN + 8];
    if (runlog_path(r, "summary.json", path, sizeof path) != 0)
        return fail(r, "The path of summary.json in %s is too long.", r->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fail(r, "Cannot write %s: %s.", tmp, strerror(errno));
    int ok = fprintf(f, "%s\n", r->summary_text) >= 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(tmp);
        return fail(r, "Cannot write %s: %s.", tmp, strerror(saved ? saved : errno));
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        return fail(r, "Cannot replace %s: %s.", path, strerror(saved));
    }
    return 0;
}

int runlog_log_epoch(runlog *r, const runlog_epoch *e)
{
    struct timespec now, wall;
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_REALTIME, &wall);
    double runtime = (double)(now.tv_sec - r->start.tv_sec) + 1e-9 * (double)(now.tv_nsec - r->start.tv_nsec);
    double timestamp = (double)wall.tv_sec + 1e-9 * (double)wall.tv_nsec;
    const char *keys[] = {"epoch", "train_loss",     "train_accuracy", "val_loss", "val_accuracy",
                          "lr",    "images_per_sec", "_step",          "_runtime", "_timestamp"};
    double values[] = {e->epoch, e->train_loss,     e->train_accuracy, e->val_loss, e->val_accuracy,
                       e->lr,    e->images_per_sec, (double)r->step,   runtime,     timestamp};
    int nkeys = (int)(sizeof keys / sizeof keys[0]);

    strbuf b = {0};
    sb_add(&b, "{");
    for (int i = 0; i < nkeys; i++)
        sb_add_number_field(&b, keys[i], values[i], i == 0);
    sb_add(&b, "}");
    if (b.failed) {
        free(b.s);
        return fail(r, "Out of memory formatting a history row of %s.", r->dir);
    }
    free(r->last_row);
    r->last_row = b.s;

    int ok = fprintf(r->history, "%s\n", r->last_row) >= 0;
    ok = fflush(r->history) == 0 && ok;
    ok = fsync(fileno(r->history)) == 0 && ok;
    if (!ok) return fail(r, "Cannot append to %s/history.jsonl: %s.", r->dir, strerror(errno));
    r->step++;

    for (int i = 0; i < nkeys; i++)
        if (summary_put(r, keys[i], 0, values[i], NULL) != 0) return -1;
    return write_summary(r);
}

int runlog_summary_number(runlog *r, const char *key, double value)
{
    if (summary_put(r, key, 0, value, NULL) != 0) return -1;
    return write_summary(r);
}

int runlog_summary_string(runlog *r, const char *key, const char *value)
{
    if (summary_put(r, key, 1, 0, value) != 0) return -1;
    return write_summary(r);
}

int runlog_set_status(runlog *r, const char *status, const char *reason)
{
    if (summary_put(r, "status", 1, 0, status) != 0) return -1;
    if (reason && summary_put(r, "stop_reason", 1, 0, reason) != 0) return -1;
    return write_summary(r);
}

int runlog_set_best(runlog *r, const char *metric, double value, int epoch)
{
    if (summary_put(r, "best_metric", 1, 0, metric) != 0 ||
        summary_put(r, "best_value", 0, value, NULL) != 0 ||
        summary_put(r, "best_epoch", 0, epoch, NULL) != 0)
        return -1;
    return write_summary(r);
}

int runlog_printf(runlog *r, const char *fmt, ...)
{
    struct timespec now;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &now);
    localtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    int ok = fprintf(r->log, "%s.%03ld ", stamp, now.tv_nsec / 1000000) >= 0;
    ok = vfprintf(r->log, fmt, ap) >= 0 && ok;
    va_end(ap);
    ok = fputc('\n', r->log) != EOF && ok;
    ok = fflush(r->log) == 0 && ok;
    if (!ok) return fail(r, "Cannot append to %s/log.txt: %s.", r->dir, strerror(errno));
    return 0;
}
