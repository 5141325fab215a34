/* bench_train.c: training throughput of the study's CNN on one device, on synthetic batches (the
 * data loader is not what is measured), and the time from launch to the end of the first step.
 *
 *   bench_train [--device N] [--channels C] [--size S] [--batch B] [--steps K] [--filters F]
 *               [--dense D] [--optimizer adam] [--activation relu] [--no-bn]
 *
 * Prints one JSON object: images_per_sec (median over timed windows), step_ms, first_step_s (from
 * process start, kernel builds included), train_flops_per_image (3 x the forward multiply-adds
 * x 2), peak_rss_mib. perf/compare runs it beside PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cltrain/model.h"
#include "cltrain/progress.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double process_start_seconds_ago(void)
{
    /* CLOCK_PROCESS_CPUTIME_ID is not wall time; use /proc/self/stat's start time instead */
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    for (int field = 2; p && *p; p++)
        if (*p == ' ' && ++field == 22) {
            start = strtoull(p + 1, NULL, 10);
            break;
        }
    double hz = 100.0;
    f = fopen("/proc/uptime", "r");
    double up = 0;
    if (f) {
        if (fscanf(f, "%lf", &up) != 1) up = 0;
        fclose(f);
    }
    return up > 0 ? up - start / hz : 0;
}

int main(int argc, char **argv)
{
    double t_launch = progress_now() - process_start_seconds_ago();
    int dev = 0, channels = 1, size = 32, batch = 64, steps = 30, filters = 32, dense = 128, bn = 1;
    const char *optimizer = "adam", *activation = "relu";
    for (int i = 1; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--device") && has)
            dev = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--channels") && has)
            channels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && has)
            size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && has)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && has)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--filters") && has)
            filters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dense") && has)
            dense = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--optimizer") && has)
            optimizer = argv[++i];
        else if (!strcmp(argv[i], "--activation") && has)
            activation = argv[++i];
        else if (!strcmp(argv[i], "--no-bn"))
            bn = 0;
        else {
            fprintf(stderr, "bench_train: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (steps < 4) steps = 4;
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0 || dev < 0 || dev >= n) {
        fprintf(stderr, "bench_train: %s\n", dev < 0 || dev >= n ? "no such device" : err);
        return 2;
    }
    device_ctx *d = device_open(&all[dev], err, sizeof err);
    free(all);
    if (!d) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 1;
    }
    config c;
    config_init(&c);
    char v[32];
    snprintf(v, sizeof v, "%d", filters);
    config_set(&c, "num_filters", v, 0, err, sizeof err);
    snprintf(v, sizeof v, "%d", dense);
    config_set(&c, "dense_neurons", v, 0, err, sizeof err);
    config_set(&c, "batch_norm", bn ? "true" : "false", 0, err, sizeof err);
    config_set(&c, "dropout", "0", 0, err, sizeof err);
    if (config_set(&c, "activation", activation, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 2;
    }
    model *m = model_create(d, &c, channels, size, 10, batch, err, sizeof err);
    if (!m || model_init(m, "torch", 1) != 0) {
        fprintf(stderr, "bench_train: %s\n", m ? d->error : err);
        return 1;
    }
    size_t per = (size_t)channels * size * size;
    float *x = malloc((size_t)batch * per * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)batch * per; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int i = 0; i < batch; i++)
        y[i] = i % 10;
    cl_mem bx = device_alloc(d, (size_t)batch * per * sizeof(float), "x");
    cl_mem by = device_alloc(d, (size_t)batch * sizeof(int32_t), "y");
    cl_mem stats = device_alloc(d, 2 * sizeof(float), "stats");
    ops_optimizer kind;
    ops_optimizer_parse(optimizer, &kind);
    ops_optim_params opt = ops_optim_defaults(kind, 1e-3f);
    double *times = malloc((size_t)steps * sizeof(double));
    double first_step = 0;
    for (int s = 0; s < steps; s++) {
        double t0 = progress_now();
        float st[2];
        /* each step uploads its batch as training does */
        if (device_write(d, bx, 0, (size_t)batch * per * sizeof(float), x) != 0 ||
            device_write(d, by, 0, (size_t)batch * sizeof(int32_t), y) != 0 ||
            model_forward(m, bx, batch, 1, 1, (uint64_t)s) != 0 ||
            model_loss(m, by, stats, 0, batch, 1) != 0 || model_backward(m, bx, batch, 1, (uint64_t)s) != 0 ||
            model_update(m, &opt) != 0 || device_read(d, stats, 0, sizeof st, st) != 0) {
            fprintf(stderr, "bench_train: %s\n", d->error);
            return 1;
        }
        times[s] = progress_now() - t0;
        if (s == 0) first_step = progress_now() - t_launch;
    }
    /* the first two steps build kernels and tune CLBlast: median of the rest */
    int timed = steps - 2;
    qsort(times + 2, (size_t)timed, sizeof(double), cmp_double);
    double med = times[2 + timed / 2];
    const model_plan *p = model_get_plan(m);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "{\"device\": \"%s\", \"channels\": %d, \"size\": %d, \"batch\": %d, \"filters\": %d, \"steps\": %d, "
        "\"images_per_sec\": %.2f, \"step_ms\": %.3f, \"first_step_s\": %.3f, \"train_flops_per_image\": "
        "%.6g, "
        "\"params\": %lld, \"peak_rss_mib\": %.1f}\n",
        d->info.name, channels, size, batch, filters, steps, batch / med, 1e3 * med, first_step,
        6.0 * (double)p->total_macs, p->total_params, ru.ru_maxrss / 1024.0);
    free(times);
    free(x);
    free(y);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    clReleaseMemObject(stats);
    model_destroy(m);
    device_close(d);
    return 0;
}
