/* test_sweep_run.c: the sweep runner end to end through the binary, on Fashion-MNIST cut to a few
 * hundred images: two trials at once on two devices, Ctrl-C then resume, the files a sweep leaves,
 * and bad sweep files refused before any trial. */
#include "fake_server.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *DATA = "/usr/share/datasets/fashion-mnist";

static int have_data(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", DATA);
    if (access(p, R_OK) == 0) return 1;
    fprintf(stderr, "test_sweep_run: skipped: %s is missing (apt-get install dataset-fashion-mnist)\n", DATA);
    return 0;
}

static char workdir[128];

static void make_workdir(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/cltrain-sweep-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(workdir));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int run_cli(const char *log, const char *const *args)
{
    return tu_wait_cli(tu_start_cli(log, args));
}

static cJSON *load_state(const char *sweep_dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/state.json", sweep_dir);
    char *t = tu_read_text(p);
    if (!t) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

static const char *trial_str(cJSON *trial, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(trial, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double trial_num(cJSON *trial, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(trial, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void sweep_file(const char *path, const char *name, const char *devices, int epochs, const char *filters)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: %s\nmethod: grid\nmetric:\n  name: val_accuracy\n  goal: maximize\n"
             "dataset:\n  type: idx\n  path: %s\n  limit: 600\n  val_split: 0.2\n"
             "devices: \"%s\"\nwandb:\n  mode: disabled\n"
             "defaults:\n  epochs: %d\n  batch_size: 50\n  dense_neurons: 16\n  dropout: 0.1\n"
             "parameters:\n  num_filters:\n    values: [%s]\n  activation:\n    value: relu\n",
             name, DATA, devices, epochs, filters);
    write_text(path, text);
}

START_TEST(two_devices_run_two_trials_at_once)
{
    if (!have_data()) return;
    device_info *all;
    int n;
    char err[CT_ERR_LEN];
    ck_assert(device_list(&all, &n, err, sizeof err) == 0);
    free(all);
    if (n < 2) {
        fprintf(stderr, "test_sweep_run: two-device test skipped: %d device (POCL_DEVICES=\"pthread pthread\")\n", n);
        return;
    }
    make_workdir();
    char spec[256], out[256], log[256], dir[300];
    snprintf(spec, sizeof spec, "%s/two.yaml", workdir);
    snprintf(out, sizeof out, "%s/runs", workdir);
    snprintf(log, sizeof log, "%s/log.txt", workdir);
    snprintf(dir, sizeof dir, "%s/two", out);
    sweep_file(spec, "two", "0,1", 2, "4, 6");
    int rc = run_cli(log, (const char *[]){"--device", "0,1", spec, "--output", out, NULL});
    char *text = tu_read_text(log);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, text);
    ck_assert_msg(strstr(text, "re-run the best: cltrain train") != NULL, "no leaderboard: %s", text);
    cJSON *st = load_state(dir);
    ck_assert_ptr_nonnull(st);
    cJSON *trials = cJSON_GetObjectItem(st, "trials");
    ck_assert_int_eq(cJSON_GetArraySize(trials), 2);
    cJSON *a = cJSON_GetArrayItem(trials, 0), *b = cJSON_GetArrayItem(trials, 1);
    ck_assert_str_eq(trial_str(a, "status"), "finished");
    ck_assert_str_eq(trial_str(b, "status"), "finished");
    ck_assert_msg(trial_num(a, "device") != trial_num(b, "device"), "both trials ran on one device: %s", text);
    /* the two intervals overlap: they ran at the same time */
    ck_assert_msg(trial_num(a, "start") < trial_num(b, "end") && trial_num(b, "start") < trial_num(a, "end"),
                  "the trials did not overlap");
    /* each trial left its run directory; the sweep its summary */
    char p[512];
    snprintf(p, sizeof p, "%s/%s/history.jsonl", dir, trial_str(a, "id"));
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/%s/model.safetensors", dir, trial_str(b, "id"));
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/summary.csv", dir);
    char *csv = tu_read_text(p);
    ck_assert_ptr_nonnull(csv);
    ck_assert(strstr(csv, "num_filters") != NULL);
    free(csv);
    snprintf(p, sizeof p, "%s/sweep.yaml", dir);
    ck_assert_int_eq(access(p, R_OK), 0);
    cJSON_Delete(st);
    free(text);
    tu_remove_tree(workdir);
}
END_TEST

START_TEST(interrupted_sweep_resumes)
{
    if (!have_data()) return;
    make_workdir();
    char spec[256], out[256], log[256], dir[300];
    snprintf(spec, sizeof spec, "%s/resume.yaml", workdir);
    snprintf(out, sizeof out, "%s/runs", workdir);
    snprintf(log, sizeof log, "%s/log1.txt", workdir);
    snprintf(dir, sizeof dir, "%s/resume", out);
    /* thirty short epochs: the Ctrl-C below lands well inside the second trial on any machine */
    sweep_file(spec, "resume", "0", 30, "2, 3, 4");
    pid_t pid = tu_start_cli(log, (const char *[]){"--device", "0", spec, "--output", out, NULL});
    /* wait until the second trial has logged an epoch, then Ctrl-C */
    int interrupted = 0;
    for (int i = 0; i < 1200 && !interrupted; i++) {
        usleep(100000);
        cJSON *st = load_state(dir);
        cJSON *trials = st ? cJSON_GetObjectItem(st, "trials") : NULL;
        cJSON *second = cJSON_GetArrayItem(trials, 1);
        if (second && trial_num(second, "epochs") >= 1 && !strcmp(trial_str(second, "status"), "running")) {
            kill(pid, SIGINT);
            interrupted = 1;
        }
        cJSON_Delete(st);
    }
    ck_assert_msg(interrupted, "the sweep never reached its second trial");
    int rc = tu_wait_cli(pid);
    char *text = tu_read_text(log);
    ck_assert_msg(rc == 130, "exit %d after Ctrl-C: %s", rc, text);
    free(text);
    cJSON *st = load_state(dir);
    cJSON *trials = cJSON_GetObjectItem(st, "trials");
    ck_assert_int_eq(cJSON_GetArraySize(trials), 2);
    ck_assert_str_eq(trial_str(cJSON_GetArrayItem(trials, 0), "status"), "finished");
    ck_assert_str_eq(trial_str(cJSON_GetArrayItem(trials, 1), "status"), "killed");
    char first_id[64], killed_id[64];
    snprintf(first_id, sizeof first_id, "%s", trial_str(cJSON_GetArrayItem(trials, 0), "id"));
    snprintf(killed_id, sizeof killed_id, "%s", trial_str(cJSON_GetArrayItem(trials, 1), "id"));
    cJSON_Delete(st);
    /* the killed trial saved its checkpoint and logs */
    char p[512];
    snprintf(p, sizeof p, "%s/%s/model.safetensors", dir, killed_id);
    ck_assert_int_eq(access(p, R_OK), 0);

    snprintf(log, sizeof log, "%s/log2.txt", workdir);
    rc = run_cli(log, (const char *[]){"--device", "0", spec, "--output", out, NULL});
    text = tu_read_text(log);
    ck_assert_msg(rc == 0, "exit %d on resume: %s", rc, text);
    ck_assert_msg(strstr(text, "1 trials kept, 1 to run again") != NULL, "%s", text);
    free(text);
    st = load_state(dir);
    trials = cJSON_GetObjectItem(st, "trials");
    ck_assert_int_eq(cJSON_GetArraySize(trials), 3);
    for (int i = 0; i < 3; i++) ck_assert_str_eq(trial_str(cJSON_GetArrayItem(trials, i), "status"), "finished");
    ck_assert_str_eq(trial_str(cJSON_GetArrayItem(trials, 0), "id"), first_id);
    ck_assert_str_ne(trial_str(cJSON_GetArrayItem(trials, 1), "id"), killed_id);
    /* the grid's three points, each once */
    int seen[5] = {0};
    for (int i = 0; i < 3; i++) {
        cJSON *params = cJSON_GetObjectItem(cJSON_GetArrayItem(trials, i), "parameters");
        seen[atoi(cJSON_GetObjectItem(params, "num_filters")->valuestring)]++;
    }
    ck_assert(seen[2] == 1 && seen[3] == 1 && seen[4] == 1);
    cJSON_Delete(st);
    tu_remove_tree(workdir);
}
END_TEST

START_TEST(bad_sweep_files_exit_2_before_any_trial)
{
    make_workdir();
    struct {
        const char *text, *expect;
    } cases[] = {
        {"", "empty"},
        {"method: grid\nparameters:\n  batch_size:\n    values: [0, 32]\n", "batch_size"},
        {"method: bayes\nmetric:\n  name: val_f1\nparameters:\n  num_filters:\n    values: [2, 3]\n", "val_f1"},
        {"method: random\nparameters:\n  activation:\n    values: [relu, swish2]\n", "activation"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char spec[256], out[256], log[256];
        snprintf(spec, sizeof spec, "%s/bad%zu.yaml", workdir, i);
        snprintf(out, sizeof out, "%s/runs%zu", workdir, i);
        snprintf(log, sizeof log, "%s/bad%zu.log", workdir, i);
        write_text(spec, cases[i].text);
        int rc = run_cli(log, (const char *[]){spec, "--output", out, NULL});
        char *text = tu_read_text(log);
        ck_assert_msg(rc == 2, "case %zu: exit %d: %s", i, rc, text);
        ck_assert_msg(strstr(text, cases[i].expect) != NULL, "case %zu: %s", i, text);
        ck_assert_msg(strstr(text, "start:") == NULL, "case %zu started a trial: %s", i, text);
        free(text);
    }
    tu_remove_tree(workdir);
}
END_TEST

/* A trial that cannot run fails with its reason and the sweep goes on; hyperband stops a trial that
 * falls behind at a band, recording the band. */
START_TEST(failed_and_stopped_trials_are_recorded)
{
    if (!have_data()) return;
    make_workdir();
    char spec[256], out[256], log[256], dir[300];
    snprintf(spec, sizeof spec, "%s/mixed.yaml", workdir);
    snprintf(out, sizeof out, "%s/runs", workdir);
    snprintf(log, sizeof log, "%s/log.txt", workdir);
    snprintf(dir, sizeof dir, "%s/mixed", out);
    write_text(spec, "name: mixed\nmethod: grid\nmetric:\n  name: val_accuracy\n  goal: maximize\n"
                     "early_terminate:\n  type: hyperband\n  min_iter: 1\n  eta: 2\n"
                     "dataset:\n  type: idx\n  path: /usr/share/datasets/fashion-mnist\n  limit: 600\n  val_split: 0.2\n"
                     "wandb:\n  mode: disabled\n"
                     "defaults:\n  epochs: 3\n  batch_size: 50\n  dense_neurons: 16\n  num_filters: 4\n"
                     "parameters:\n  learning_rate:\n    values: [0.003, 0.002, 0.000001]\n"
                     "  image_size:\n    values: [16, 32]\n");
    int rc = run_cli(log, (const char *[]){"--device", "0", spec, "--output", out, NULL});
    char *text = tu_read_text(log);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, text);
    free(text);
    cJSON *st = load_state(dir);
    cJSON *trials = cJSON_GetObjectItem(st, "trials");
    /* grid order: image_size varies fastest (names sorted: image_size, learning_rate) */
    ck_assert_int_eq(cJSON_GetArraySize(trials), 6);
    int failed = 0, stopped = 0;
    for (int i = 0; i < 6; i++) {
        cJSON *t = cJSON_GetArrayItem(trials, i);
        cJSON *params = cJSON_GetObjectItem(t, "parameters");
        int size = atoi(cJSON_GetObjectItem(params, "image_size")->valuestring);
        const char *status = trial_str(t, "status"), *reason = trial_str(t, "reason");
        if (size == 16) {
            ck_assert_msg(!strcmp(status, "failed") && strstr(reason, "image_size"), "trial %d: %s %s", i + 1, status,
                          reason);
            failed++;
        } else if (!strcmp(status, "stopped")) {
            /* only the last trial can be judged behind (a trial equal to the threshold goes on); a
             * learning rate of 1e-6 learns nothing, so it falls behind at band 1 or 2 */
            ck_assert_msg(strstr(reason, "hyperband at band ") != NULL, "%s", reason);
            ck_assert_str_eq(cJSON_GetObjectItem(params, "learning_rate")->valuestring, "1e-06");
            ck_assert_int_lt((int)trial_num(t, "epochs"), 3);
            stopped++;
        } else {
            ck_assert_str_eq(status, "finished");
        }
    }
    ck_assert_int_eq(failed, 3);
    ck_assert_int_eq(stopped, 1);
    cJSON_Delete(st);
    tu_remove_tree(workdir);
}
END_TEST

/* The operation name of a recorded request ("" for file_stream). */
static const char *operation(cJSON *req)
{
    cJSON *body = cJSON_GetObjectItem(req, "body");
    cJSON *op = cJSON_GetObjectItem(body, "operationName");
    return cJSON_IsString(op) ? op->valuestring : "";
}

/* Online, the sweep registers itself once (UpsertSweep), every trial is a run that joins it and
 * streams its history and completion; a resumed sweep updates the same wandb sweep. */
START_TEST(online_sweep_logs_every_trial_to_wandb)
{
    if (!have_data()) return;
    make_workdir();
    tu_fake srv;
    tu_fake_start(&srv, workdir, "sweep-test-key", NULL);
    setenv("WANDB_BASE_URL", srv.base, 1);
    setenv("WANDB_API_KEY", "sweep-test-key", 1);
    setenv("WANDB_MODE", "online", 1);
    char spec[256], out[256], log[256], dir[300];
    snprintf(spec, sizeof spec, "%s/online.yaml", workdir);
    snprintf(out, sizeof out, "%s/runs", workdir);
    snprintf(log, sizeof log, "%s/log.txt", workdir);
    snprintf(dir, sizeof dir, "%s/online", out);
    write_text(spec, "name: online\nmethod: grid\nmetric:\n  name: val_accuracy\n  goal: maximize\n"
                     "dataset:\n  type: idx\n  path: /usr/share/datasets/fashion-mnist\n  limit: 300\n"
                     "wandb:\n  project: cltrain-test\n"
                     "defaults:\n  epochs: 2\n  batch_size: 50\n  dense_neurons: 16\n"
                     "parameters:\n  num_filters:\n    values: [2, 3]\n");
    int rc = run_cli(log, (const char *[]){"--device", "0", spec, "--output", out, NULL});
    char *text = tu_read_text(log);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, text);
    free(text);
    /* once more: nothing left to run, but the sweep is registered again under its id */
    rc = run_cli(log, (const char *[]){"--device", "0", spec, "--output", out, NULL});
    ck_assert_int_eq(rc, 0);
    unsetenv("WANDB_BASE_URL");
    unsetenv("WANDB_API_KEY");
    unsetenv("WANDB_MODE");
    tu_fake_stop(&srv);

    cJSON *rec = tu_fake_record(&srv), *req;
    int sweeps = 0, buckets = 0, resumed_with_id = 0;
    cJSON_ArrayForEach(req, cJSON_GetObjectItem(rec, "requests"))
    {
        cJSON *vars = cJSON_GetObjectItem(cJSON_GetObjectItem(req, "body"), "variables");
        if (!strcmp(operation(req), "UpsertSweep")) {
            sweeps++;
            cJSON *id = cJSON_GetObjectItem(vars, "id");
            resumed_with_id += cJSON_IsString(id) && !strcmp(id->valuestring, "fakesw01");
        } else if (!strcmp(operation(req), "UpsertBucket") && !cJSON_GetObjectItem(vars, "id")) {
            buckets++;
            cJSON *sweep = cJSON_GetObjectItem(vars, "sweep");
            ck_assert_msg(cJSON_IsString(sweep) && !strcmp(sweep->valuestring, "fakesw01"), "a run did not join the sweep");
        }
    }
    ck_assert_int_eq(sweeps, 2);
    ck_assert_int_eq(resumed_with_id, 1);
    ck_assert_int_ge(buckets, 2);
    /* both runs streamed two history rows and completed with exit code 0 */
    cJSON *st = load_state(dir);
    cJSON *trials = cJSON_GetObjectItem(st, "trials");
    ck_assert_int_eq(cJSON_GetArraySize(trials), 2);
    for (int i = 0; i < 2; i++) {
        char run[128];
        snprintf(run, sizeof run, "fake-entity/cltrain-test/%s", trial_str(cJSON_GetArrayItem(trials, i), "id"));
        cJSON *files = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "files"), run);
        ck_assert_msg(files != NULL, "no files from run %s", run);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(files, "wandb-history.jsonl")), 2);
        cJSON *done = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "complete"), run);
        ck_assert_msg(cJSON_IsNumber(done) && done->valueint == 0, "run %s did not complete with 0", run);
    }
    cJSON_Delete(st);
    cJSON_Delete(rec);
    tu_remove_tree(workdir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sweep_run");
    TCase *t = tcase_create("runner");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, bad_sweep_files_exit_2_before_any_trial);
    tcase_add_test(t, two_devices_run_two_trials_at_once);
    tcase_add_test(t, interrupted_sweep_resumes);
    tcase_add_test(t, failed_and_stopped_trials_are_recorded);
    tcase_add_test(t, online_sweep_logs_every_trial_to_wandb);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
