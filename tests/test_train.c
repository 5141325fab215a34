/* test_train.c: training end to end through the binary on Fashion-MNIST: it learns (2000 images,
 * 2 epochs, at least 70% validation accuracy), the run directory's files, the same config twice
 * gives the same numbers, divergence ends the run as failed, Ctrl-C saves and exits 130, --init
 * names a tensor that does not fit, eval and summary. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *DATA = "/usr/share/datasets/fashion-mnist";

static int have_data(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", DATA);
    if (access(p, R_OK) == 0) return 1;
    fprintf(stderr, "test_train: skipped: %s is missing (apt-get install dataset-fashion-mnist)\n", DATA);
    return 0;
}

static char work[128];

static void setup_work(void)
{
    snprintf(work, sizeof work, "/tmp/cltrain-train-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work));
}

/* The one run directory under out/ (the test gives each run its own output folder). */
static void run_dir(const char *out, char *dir, size_t len)
{
    DIR *d = opendir(out);
    ck_assert_msg(d != NULL, "no output folder %s", out);
    struct dirent *e;
    dir[0] = '\0';
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(dir, len, "%s/%s", out, e->d_name);
    closedir(d);
    ck_assert_msg(dir[0], "no run directory in %s", out);
}

static void write_config(const char *path, const char *extra)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "dataset:\n  type: idx\n  path: %s\n  image_size: 32\n  val_split: 0.2\n  limit: 2000\n"
            "num_filters: 8\nfilter_strategy: double\nbatch_norm: true\nactivation: relu\ndense_neurons: 64\n"
            "dropout: 0.2\nlearning_rate: 0.002\nbatch_size: 32\nepochs: 2\nseed: 7\n%s",
            DATA, extra);
    fclose(f);
}

/* Trains a config into work/<name>/ and returns the exit code; dir gets the run directory. */
static int train(const char *name, const char *extra, const char *const *more, char *dir, size_t len)
{
    char cfg[256], out[256], log[256];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", work, name);
    snprintf(out, sizeof out, "%s/%s", work, name);
    snprintf(log, sizeof log, "%s/%s.log", work, name);
    write_config(cfg, extra);
    const char *args[16] = {"train", cfg, "--output", out};
    int n = 4;
    for (int i = 0; more && more[i]; i++) args[n++] = more[i];
    args[n] = NULL;
    int rc = tu_wait_cli(tu_start_cli(log, args));
    if (dir) run_dir(out, dir, len);
    return rc;
}

static cJSON *history_row(const char *dir, int row)
{
    char p[600];
    snprintf(p, sizeof p, "%s/history.jsonl", dir);
    char *t = tu_read_text(p);
    ck_assert_msg(t != NULL, "no %s", p);
    char *line = t;
    for (int i = 0; i < row && line; i++) {
        line = strchr(line, '\n');
        if (line) line++;
    }
    ck_assert_msg(line && *line, "history.jsonl has no row %d", row);
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    cJSON *j = cJSON_Parse(line);
    ck_assert_msg(j != NULL, "row %d is not JSON: %s", row, line);
    free(t);
    return j;
}

START_TEST(learns_fashion_mnist_and_repeats_exactly)
{
    if (!have_data()) return;
    setup_work();
    char a[512], b[512];
    ck_assert_int_eq(train("a", "", NULL, a, sizeof a), 0);
    const char *files[] = {"config.yaml", "history.jsonl", "summary.json", "log.txt", "model.safetensors"};
    for (int i = 0; i < 5; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", a, files[i]);
        ck_assert_msg(access(p, R_OK) == 0, "the run left no %s", files[i]);
    }
    cJSON *last = history_row(a, 1);
    double val = cJSON_GetObjectItem(last, "val_accuracy")->valuedouble;
    ck_assert_msg(val >= 0.70, "validation accuracy %.4f after 2 epochs on 2000 images", val);
    const char *keys[] = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                          "images_per_sec", "_step", "_runtime", "_timestamp"};
    for (int i = 0; i < 10; i++) ck_assert_msg(cJSON_GetObjectItem(last, keys[i]) != NULL, "no %s", keys[i]);

    /* the same config, seed and device: the same numbers */
    ck_assert_int_eq(train("b", "", NULL, b, sizeof b), 0);
    for (int row = 0; row < 2; row++) {
        cJSON *x = history_row(a, row), *y = history_row(b, row);
        const char *same[] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"};
        for (int i = 0; i < 5; i++)
            ck_assert_msg(cJSON_GetObjectItem(x, same[i])->valuedouble == cJSON_GetObjectItem(y, same[i])->valuedouble,
                          "epoch %d %s differs between two identical runs", row + 1, same[i]);
        cJSON_Delete(x);
        cJSON_Delete(y);
    }
    /* the saved config repeats the run */
    char cfg[600], out[256], log[256], c[512];
    snprintf(cfg, sizeof cfg, "%s/config.yaml", a);
    snprintf(out, sizeof out, "%s/again", work);
    snprintf(log, sizeof log, "%s/again.log", work);
    ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"train", cfg, "--output", out, NULL})), 0);
    run_dir(out, c, sizeof c);
    cJSON *z = history_row(c, 1);
    ck_assert(cJSON_GetObjectItem(z, "val_loss")->valuedouble == cJSON_GetObjectItem(last, "val_loss")->valuedouble);
    cJSON_Delete(z);
    cJSON_Delete(last);

    /* eval rebuilds the model from the checkpoint alone */
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", a);
    snprintf(log, sizeof log, "%s/eval.log", work);
    ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"eval", ckpt, NULL})), 0);
    char *text = tu_read_text(log);
    double acc = 0;
    char *at = strstr(text, "test accuracy: ");
    ck_assert_msg(at != NULL, "%s", text);
    acc = atof(at + strlen("test accuracy: "));
    ck_assert_msg(acc >= 0.65 && acc <= 1.0, "test accuracy %.4f", acc);
    ck_assert_msg(strstr(text, "test images: 10000") != NULL, "%s", text);
    free(text);
    tu_remove_tree(work);
}
END_TEST

START_TEST(divergence_fails_the_run)
{
    if (!have_data()) return;
    setup_work();
    char dir[512];
    /* a learning rate no network survives */
    int rc = train("nan", "optimizer: sgd\nmomentum: 0.99\n",
                   (const char *[]){"--set", "learning_rate=10", "--set", "batch_norm=false", NULL}, dir, sizeof dir);
    ck_assert_int_eq(rc, 1);
    char p[600];
    snprintf(p, sizeof p, "%s/summary.json", dir);
    char *t = tu_read_text(p);
    ck_assert_msg(t && strstr(t, "diverged at epoch") != NULL, "%s", t ? t : "no summary.json");
    free(t);
    tu_remove_tree(work);
}
END_TEST

START_TEST(ctrl_c_saves_and_exits_130)
{
    if (!have_data()) return;
    setup_work();
    char cfg[256], out[256], log[256];
    snprintf(cfg, sizeof cfg, "%s/int.yaml", work);
    snprintf(out, sizeof out, "%s/int", work);
    snprintf(log, sizeof log, "%s/int.log", work);
    write_config(cfg, "");
    pid_t pid = tu_start_cli(log, (const char *[]){"train", cfg, "--output", out, "--set", "epochs=50", NULL});
    /* wait for the first epoch's row, then interrupt */
    char dir[512] = "", p[600];
    for (int i = 0; i < 1200; i++) {
        usleep(100000);
        DIR *d = opendir(out);
        if (!d) continue;
        closedir(d);
        run_dir(out, dir, sizeof dir);
        snprintf(p, sizeof p, "%s/history.jsonl", dir);
        char *t = tu_read_text(p);
        int ready = t && strchr(t, '\n');
        free(t);
        if (ready) break;
    }
    kill(pid, SIGINT);
    ck_assert_int_eq(tu_wait_cli(pid), 130);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/summary.json", dir);
    char *t = tu_read_text(p);
    ck_assert_msg(t && strstr(t, "killed"), "%s", t ? t : "no summary");
    free(t);
    tu_remove_tree(work);
}
END_TEST

START_TEST(init_names_a_tensor_that_does_not_fit)
{
    if (!have_data()) return;
    setup_work();
    char a[512];
    const char *small[] = {"--set", "epochs=1", "--set", "limit=200", NULL};
    ck_assert_int_eq(train("small", "", small, a, sizeof a), 0);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", a);
    /* the same shapes start fine from it */
    ck_assert_int_eq(train("same", "", (const char *[]){"--set", "epochs=1", "--set", "limit=200", "--init", ckpt, NULL},
                           NULL, 0),
                     0);
    ck_assert_int_eq(train("wide", "",
                           (const char *[]){"--set", "epochs=1", "--set", "limit=200", "--set", "num_filters=12",
                                            "--init", ckpt, NULL},
                           NULL, 0),
                     2);
    char log[256];
    snprintf(log, sizeof log, "%s/wide.log", work);
    char *t = tu_read_text(log);
    ck_assert_msg(strstr(t, "blocks.0.conv.weight") != NULL, "%s", t);
    free(t);
    tu_remove_tree(work);
}
END_TEST

START_TEST(summary_prints_totals_and_bad_configs_exit_2)
{
    if (!have_data()) return;
    setup_work();
    char cfg[256], log[256];
    snprintf(cfg, sizeof cfg, "%s/s.yaml", work);
    snprintf(log, sizeof log, "%s/s.log", work);
    write_config(cfg, "");
    ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"summary", cfg, "--set", "num_filters=32", "--set",
                                                              "filter_strategy=same", "--set", "dense_neurons=128", NULL})),
                     0);
    char *t = tu_read_text(log);
    ck_assert_msg(strstr(t, "total: 43146 parameters") != NULL, "%s", t);
    free(t);
    const char *bad[][2] = {{"image_size=16", "image_size"}, {"filter_size=4", "filter_size"},
                            {"activation=swish2", "activation"}, {"learning_rate=-1", "learning_rate"},
                            {"batch_size=0", "batch_size"}, {"optimizer=lamb", "optimizer"}};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"train", cfg, "--set", bad[i][0], NULL})), 2);
        t = tu_read_text(log);
        ck_assert_msg(strstr(t, bad[i][1]) != NULL, "%s: %s", bad[i][0], t);
        free(t);
    }
    ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"train", "/nonexistent/config.yaml", NULL})), 2);
    ck_assert_int_eq(tu_wait_cli(tu_start_cli(log, (const char *[]){"train", cfg, "--device", "99", NULL})), 2);
    t = tu_read_text(log);
    ck_assert_msg(strstr(t, "there is no device 99") != NULL, "%s", t);
    free(t);
    tu_remove_tree(work);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train");
    TCase *t = tcase_create("train");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, summary_prints_totals_and_bad_configs_exit_2);
    tcase_add_test(t, learns_fashion_mnist_and_repeats_exactly);
    tcase_add_test(t, divergence_fails_the_run);
    tcase_add_test(t, ctrl_c_saves_and_exits_130);
    tcase_add_test(t, init_names_a_tensor_that_does_not_fit);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
