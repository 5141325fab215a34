/* test_runlog.c: the local run directory: the files appear with the right fields, history appends
 * (also across reopening), NaN/Infinity are written bare, summary.json is replaced atomically, run
 * ids have the right form, and bad paths fail with a sentence. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cltrain/runlog.h"
#include "testutil.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cltrain-runlog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the test's directory (called at the end of each test; a failed test leaves it to look at). */
static void remove_tmpdir(void)
{
    chmod(tmpdir, 0700);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = tu_alloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Splits text into lines (modified in place); returns the count. */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(x), "key %s missing or not a number", key);
    return x->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(x), "key %s missing or not a string", key);
    return x->valuestring;
}

/* cJSON cannot read bare NaN/Infinity; swap them for null to check the rest of a row. */
static cJSON *parse_lenient(const char *line)
{
    char buf[4096];
    size_t o = 0;
    for (const char *p = line; *p && o + 8 < sizeof buf;) {
        if (strncmp(p, "-Infinity", 9) == 0) {
            memcpy(buf + o, "null", 4), o += 4, p += 9;
        } else if (strncmp(p, "Infinity", 8) == 0) {
            memcpy(buf + o, "null", 4), o += 4, p += 8;
        } else if (strncmp(p, "NaN", 3) == 0) {
            memcpy(buf + o, "null", 4), o += 4, p += 3;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    cJSON *j = cJSON_Parse(buf);
    ck_assert_msg(j != NULL, "not JSON: %s", line);
    return j;
}

static runlog_epoch epoch_of(int i)
{
    runlog_epoch e = {.epoch = i + 1,
                      .train_loss = 2.0 / (i + 1),
                      .train_accuracy = 0.1 * (i + 1),
                      .val_loss = 2.5 / (i + 1),
                      .val_accuracy = 0.09 * (i + 1),
                      .lr = 1e-3 * (i + 1),
                      .images_per_sec = 1234.5 + i};
    return e;
}

START_TEST(test_files_and_fields)
{
    make_tmpdir();
    char dir[512], err[512], path[600];
    snprintf(dir, sizeof dir, "%s/runs/sweep-a/abc12345/", tmpdir); /* parents and a trailing / */
    runlog *r = runlog_create(dir, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    dir[strlen(dir) - 1] = '\0';
    ck_assert_str_eq(runlog_dir(r), dir); /* the trailing / is dropped */
    ck_assert_ptr_null(runlog_last_row(r));
    double t0 = (double)time(NULL);
    for (int i = 0; i < 3; i++) {
        runlog_epoch e = epoch_of(i);
        ck_assert_msg(runlog_log_epoch(r, &e) == 0, "%s", runlog_error(r));
        /* flushed to disk before returning: the file already holds i+1 lines */
        snprintf(path, sizeof path, "%s/history.jsonl", runlog_dir(r));
        char *text = read_file(path), *lines[16];
        ck_assert_int_eq(split_lines(text, lines, 16), i + 1);
        ck_assert_str_eq(lines[i], runlog_last_row(r));
        free(text);
    }
    snprintf(path, sizeof path, "%s/history.jsonl", runlog_dir(r));
    char *text = read_file(path), *lines[16];
    ck_assert_int_eq(split_lines(text, lines, 16), 3);
    const char *keys[] = {"epoch", "train_loss",     "train_accuracy", "val_loss", "val_accuracy",
                          "lr",    "images_per_sec", "_step",          "_runtime", "_timestamp"};
    double last_runtime = -1;
    for (int i = 0; i < 3; i++) {
        cJSON *row = cJSON_Parse(lines[i]);
        ck_assert_msg(row != NULL, "row %d is not JSON: %s", i, lines[i]);
        ck_assert_int_eq(cJSON_GetArraySize(row), 10);
        for (int k = 0; k < 10; k++)
            num(row, keys[k]);
        runlog_epoch e = epoch_of(i);
        ck_assert_int_eq((int)num(row, "epoch"), e.epoch);
        ck_assert(num(row, "train_loss") == e.train_loss); /* printed so it reads back exactly */
        ck_assert(num(row, "val_accuracy") == e.val_accuracy);
        ck_assert(num(row, "lr") == e.lr);
        ck_assert(num(row, "images_per_sec") == e.images_per_sec);
        ck_assert_int_eq((int)num(row, "_step"), i);
        ck_assert(num(row, "_runtime") >= last_runtime && num(row, "_runtime") < 60);
        last_runtime = num(row, "_runtime");
        ck_assert(fabs(num(row, "_timestamp") - t0) < 60);
        cJSON_Delete(row);
    }
    free(text);

    /* the summary: latest of each key plus status */
    snprintf(path, sizeof path, "%s/summary.json", runlog_dir(r));
    text = read_file(path);
    cJSON *s = cJSON_Parse(text);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(str(s, "status"), "running");
    ck_assert_int_eq((int)num(s, "epoch"), 3);
    ck_assert(num(s, "val_accuracy") == epoch_of(2).val_accuracy);
    ck_assert_int_eq((int)num(s, "_step"), 2);
    cJSON_Delete(s);
    free(text);
    ck_assert(
        strncmp(
            runlog_summary_line(r),
            "{\"status\": \"running\", \"epoch\": 3, \"train_loss\": 0.6666666666666666, "
            "\"train_accuracy\": 0.30000000000000004, \"val_loss\": 0.8333333333333334, "
            "\"val_accuracy\": 0.27, \"lr\": 0.003, \"images_per_sec\": 1236.5, \"_step\": 2, \"_runtime\": ",
            200) == 0);

    ck_assert_int_eq(runlog_set_status(r, "finished", "early stop: val_loss did not improve"), 0);
    ck_assert_int_eq(runlog_set_best(r, "val_accuracy", 0.27, 3), 0);
    ck_assert_int_eq(runlog_summary_string(r, "device", "pthread-cpu \"quoted\""), 0);
    text = read_file(path);
    s = cJSON_Parse(text);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(str(s, "status"), "finished");
    ck_assert_str_eq(str(s, "stop_reason"), "early stop: val_loss did not improve");
    ck_assert_str_eq(str(s, "best_metric"), "val_accuracy");
    ck_assert(num(s, "best_value") == 0.27);
    ck_assert_int_eq((int)num(s, "best_epoch"), 3);
    ck_assert_str_eq(str(s, "device"), "pthread-cpu \"quoted\"");
    cJSON_Delete(s);
    free(text);
    snprintf(path, sizeof path, "%s/summary.json.tmp", runlog_dir(r));
    ck_assert_int_ne(access(path, F_OK), 0);

    /* the human log */
    ck_assert_int_eq(runlog_printf(r, "epoch %d done, val_accuracy %.3f", 3, 0.27), 0);
    ck_assert_int_eq(runlog_printf(r, "finished"), 0);
    snprintf(path, sizeof path, "%s/log.txt", runlog_dir(r));
    text = read_file(path);
    ck_assert_int_eq(split_lines(text, lines, 16), 2);
    regex_t re;
    ck_assert_int_eq(
        regcomp(&re,
                "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} epoch 3 done, "
                "val_accuracy 0\\.270$",
                REG_EXTENDED | REG_NOSUB),
        0);
    ck_assert_msg(regexec(&re, lines[0], 0, NULL, 0) == 0, "log line: %s", lines[0]);
    regfree(&re);
    free(text);

    ck_assert_int_eq(runlog_model_path(r, path, sizeof path), 0);
    ck_assert(strlen(path) > 18 && strcmp(path + strlen(path) - 18, "/model.safetensors") == 0);
    ck_assert_int_eq(runlog_path(r, "x", path, 4), -1); /* does not fit */
    runlog_destroy(r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_nan_written_bare)
{
    make_tmpdir();
    char err[512], path[600];
    runlog *r = runlog_create(tmpdir, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    runlog_epoch e = epoch_of(0);
    e.train_loss = NAN;
    e.val_loss = INFINITY;
    e.val_accuracy = -INFINITY;
    ck_assert_int_eq(runlog_log_epoch(r, &e), 0);
    const char *row = runlog_last_row(r);
    ck_assert_msg(strstr(row, "\"train_loss\": NaN,") != NULL, "%s", row);
    ck_assert_msg(strstr(row, "\"val_loss\": Infinity,") != NULL, "%s", row);
    ck_assert_msg(strstr(row, "\"val_accuracy\": -Infinity,") != NULL, "%s", row);
    ck_assert_msg(strstr(row, "null") == NULL, "%s", row);
    snprintf(path, sizeof path, "%s/history.jsonl", tmpdir);
    char *text = read_file(path);
    ck_assert(strstr(text, "\"train_loss\": NaN,") != NULL);
    cJSON *j = parse_lenient(text); /* the rest of the row is still JSON */
    ck_assert_int_eq(cJSON_GetArraySize(j), 10);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "train_loss")));
    cJSON_Delete(j);
    free(text);
    ck_assert(strstr(runlog_summary_line(r), "\"train_loss\": NaN") != NULL);
    snprintf(path, sizeof path, "%s/summary.json", tmpdir);
    text = read_file(path);
    ck_assert(strstr(text, "\"val_loss\": Infinity") != NULL);
    free(text);
    runlog_destroy(r);

    char out[40];
    runlog_format_number(NAN, out, sizeof out);
    ck_assert_str_eq(out, "NaN");
    runlog_format_number(-INFINITY, out, sizeof out);
    ck_assert_str_eq(out, "-Infinity");
    runlog_format_number(3, out, sizeof out);
    ck_assert_str_eq(out, "3");
    runlog_format_number(0.1, out, sizeof out);
    ck_assert_str_eq(out, "0.1");
    runlog_format_number(1e-4, out, sizeof out);
    ck_assert_str_eq(out, "0.0001");
    runlog_format_number(1.0 / 3, out, sizeof out);
    ck_assert(strtod(out, NULL) == 1.0 / 3);
    runlog_format_number(1e300, out, sizeof out);
    ck_assert(strtod(out, NULL) == 1e300);
    remove_tmpdir();
}
END_TEST

START_TEST(test_append_across_reopen)
{
    make_tmpdir();
    char err[512], path[600];
    runlog *r = runlog_create(tmpdir, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    for (int i = 0; i < 2; i++) {
        runlog_epoch e = epoch_of(i);
        ck_assert_int_eq(runlog_log_epoch(r, &e), 0);
    }
    runlog_destroy(r);
    r = runlog_create(tmpdir, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    runlog_epoch e = epoch_of(2);
    ck_assert_int_eq(runlog_log_epoch(r, &e), 0);
    runlog_destroy(r);
    snprintf(path, sizeof path, "%s/history.jsonl", tmpdir);
    char *text = read_file(path), *lines[8];
    ck_assert_int_eq(split_lines(text, lines, 8), 3);
    for (int i = 0; i < 3; i++) {
        cJSON *row = cJSON_Parse(lines[i]);
        ck_assert_ptr_nonnull(row);
        ck_assert_int_eq((int)num(row, "_step"), i); /* steps continue, never repeat */
        ck_assert_int_eq((int)num(row, "epoch"), i + 1);
        cJSON_Delete(row);
    }
    free(text);
    remove_tmpdir();
}
END_TEST

START_TEST(test_summary_replaced_atomically)
{
    make_tmpdir();
    char err[512], path[600];
    runlog *r = runlog_create(tmpdir, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/summary.json", tmpdir);
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    /* a reader holding the old file keeps a whole old file: the new one arrives by rename, not by
     * rewriting in place */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    runlog_epoch e = epoch_of(0);
    ck_assert_int_eq(runlog_log_epoch(r, &e), 0);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert(before.st_ino != after.st_ino);
    char old[256] = {0};
    ck_assert(read(fd, old, sizeof old - 1) > 0);
    close(fd);
    ck_assert_str_eq(old, "{\"status\": \"running\"}\n");
    char *text = read_file(path);
    cJSON *s = cJSON_Parse(text);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq((int)num(s, "epoch"), 1);
    cJSON_Delete(s);
    free(text);
    runlog_destroy(r);
    remove_tmpdir();
}
END_TEST

static int id_ok(const char *id)
{
    if (strlen(id) != RUNLOG_ID_LEN) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) return 0;
    return 1;
}

START_TEST(test_run_ids)
{
    char a[64], b[64], c[64], err[256];
    uint64_t s1 = 42, s2 = 43;
    unsetenv("WANDB_RUN_ID");
    ck_assert_int_eq(runlog_new_id(a, sizeof a, &s1, 1, err, sizeof err), 0);
    ck_assert_int_eq(runlog_new_id(b, sizeof b, &s1, 1, err, sizeof err), 0);
    ck_assert_int_eq(runlog_new_id(c, sizeof c, &s2, 1, err, sizeof err), 0);
    ck_assert_msg(id_ok(a) && id_ok(c), "%s %s", a, c);
    ck_assert_str_eq(a, b); /* seeded: reproducible */
    ck_assert_str_ne(a, c); /* a neighbouring seed gives another id */
    ck_assert_int_eq(runlog_new_id(b, sizeof b, NULL, 1, err, sizeof err), 0);
    ck_assert_int_eq(runlog_new_id(c, sizeof c, NULL, 1, err, sizeof err), 0);
    ck_assert(id_ok(b) && id_ok(c));
    ck_assert_str_ne(b, c);

    setenv("WANDB_RUN_ID", "my-run_01", 1);
    ck_assert_int_eq(runlog_new_id(a, sizeof a, &s1, 1, err, sizeof err), 0);
    ck_assert_str_eq(a, "my-run_01");
    ck_assert_int_eq(runlog_new_id(a, sizeof a, &s1, 0, err, sizeof err), 0); /* not honoured */
    ck_assert(id_ok(a));
    setenv("WANDB_RUN_ID", "bad id/with slash", 1);
    ck_assert_int_eq(runlog_new_id(a, sizeof a, &s1, 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "WANDB_RUN_ID") != NULL, "%s", err);
    unsetenv("WANDB_RUN_ID");
    ck_assert_int_eq(runlog_new_id(a, 8, &s1, 1, err, sizeof err), -1); /* buffer too small */
}
END_TEST

START_TEST(test_bad_paths)
{
    make_tmpdir();
    char err[512] = "", path[600];
    ck_assert_ptr_null(runlog_create("", err, sizeof err));
    ck_assert(strlen(err) > 0);
    /* a parent that is a regular file */
    snprintf(path, sizeof path, "%s/file", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/run", tmpdir);
    err[0] = '\0';
    ck_assert_ptr_null(runlog_create(path, err, sizeof err));
    ck_assert_msg(strstr(err, "file") != NULL, "%s", err);
    /* the run directory itself is a file */
    snprintf(path, sizeof path, "%s/file", tmpdir);
    err[0] = '\0';
    ck_assert_ptr_null(runlog_create(path, err, sizeof err));
    ck_assert_msg(strstr(err, "not a directory") != NULL, "%s", err);
    /* an unwritable directory (skipped as root, who may write anywhere) */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/ro", tmpdir);
        ck_assert_int_eq(mkdir(path, 0500), 0);
        snprintf(path, sizeof path, "%s/ro/run", tmpdir);
        ck_assert_ptr_null(runlog_create(path, err, sizeof err));
    }
    runlog_destroy(NULL);
    remove_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runlog");
    TCase *tc = tcase_create("runlog");
    tcase_add_test(tc, test_files_and_fields);
    tcase_add_test(tc, test_nan_written_bare);
    tcase_add_test(tc, test_append_across_reopen);
    tcase_add_test(tc, test_summary_replaced_atomically);
    tcase_add_test(tc, test_run_ids);
    tcase_add_test(tc, test_bad_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
