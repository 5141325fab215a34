/* bench_ops.c: each op's forward and backward time on the study's shapes, and CLBlast's SGEMM
 * GFLOP/s, on one device.
 *
 *   bench_ops [--device N] [--channels C] [--size S] [--batch B] [--filters F] [--reps R]
 *
 * Defaults: 3 x 64 x 64 input, batch 32, 32 filters (the study's layer at a size a CPU measures in
 * seconds; --size 224 is the study's own). Each line is one op on one block's shape: the median of
 * R timed runs after a warm-up that pays for kernel builds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "cltrain/ops.h"
#include "cltrain/progress.h"

typedef struct {
    device_ctx *d;
    int reps;
} bench;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs fn reps+1 times (the first is a warm-up), finishing the queue each time; median seconds. */
#define TIME(b, result, call)                                                                                         \
    do {                                                                                                              \
        double t_[64];                                                                                                \
        int n_ = (b)->reps < 64 ? (b)->reps : 64;                                                                     \
        for (int r_ = -1; r_ < n_; r_++) {                                                                            \
            double t0_ = progress_now();                                                                              \
            if ((call) != 0) {                                                                                        \
                fprintf(stderr, "bench_ops: %s\n", (b)->d->error);                                                    \
                exit(1);                                                                                              \
            }                                                                                                         \
            clFinish((b)->d->queue);                                                                                  \
            if (r_ >= 0) t_[r_] = progress_now() - t0_;                                                               \
        }                                                                                                             \
        qsort(t_, (size_t)n_, sizeof(double), cmp_double);                                                            \
        (result) = t_[n_ / 2];                                                                                        \
    } while (0)

static cl_mem filled(device_ctx *d, size_t n, float v)
{
    cl_mem m = device_alloc(d, n * sizeof(float), "a benchmark tensor");
    if (!m || device_fill(d, m, v, 0, n) != 0) {
        fprintf(stderr, "bench_ops: %s\n", d->error);
        exit(1);
    }
    return m;
}

static void sgemm(bench *b, int n)
{
    device_ctx *d = b->d;
    size_t nn = (size_t)n * n;
    cl_mem a = filled(d, nn, 0.5f), bb = filled(d, nn, 0.25f), c = filled(d, nn, 0.0f);
    double t;
    TIME(b, t,
         (CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n, 1.0f, a, 0, n, bb, 0, n,
                       0.0f, c, 0, n, &d->queue, NULL) == CLBlastSuccess
              ? 0
              : device_fail(d, "SGEMM failed")));
    printf("%-34s %10.3f ms %8.1f GFLOP/s\n", "sgemm", 1e3 * t, 2.0 * n * nn / t / 1e9);
    clReleaseMemObject(a);
    clReleaseMemObject(bb);
    clReleaseMemObject(c);
}

int main(int argc, char **argv)
{
    int dev = 0, C = 3, S = 64, N = 32, F = 32, reps = 5;
    for (int i = 1; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--device") && has) dev = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--channels") && has) C = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && has) S = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && has) N = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--filters") && has) F = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && has) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ops [--device N] [--channels C] [--size S] [--batch B] [--filters F] [--reps R]\n");
            return 2;
        }
    }
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0 || dev < 0 || dev >= n) {
        fprintf(stderr, "bench_ops: %s\n", dev < 0 || dev >= n ? "no such device" : err);
        return 2;
    }
    device_ctx *d = device_open(&all[dev], err, sizeof err);
    free(all);
    if (!d) {
        fprintf(stderr, "bench_ops: %s\n", err);
        return 1;
    }
    bench b = {d, reps < 1 ? 1 : reps};
    printf("device %s; batch %d, input %dx%dx%d, %d filters, median of %d\n", d->info.name, N, C, S, S, F, b.reps);
    sgemm(&b, 1024);
    int c = C, s = S;
    for (int blk = 0; blk < 5 && s >= 2; blk++) {
        size_t nx = (size_t)N * c * s * s, ny = (size_t)N * F * s * s, np = (size_t)N * F * (s / 2) * (s / 2);
        cl_mem x = filled(d, nx, 0.3f), w = filled(d, (size_t)F * c * 9, 0.01f), bias = filled(d, F, 0.1f);
        cl_mem y = filled(d, ny, 0), y2 = filled(d, ny, 0), dy = filled(d, ny, 0.01f), dx = filled(d, nx, 0);
        cl_mem dw = filled(d, (size_t)F * c * 9, 0), db = filled(d, F, 0), g = filled(d, F, 1), be = filled(d, F, 0);
        cl_mem rm = filled(d, F, 0), rv = filled(d, F, 1), sm = filled(d, F, 0), si = filled(d, F, 1);
        cl_mem p = filled(d, np, 0), dp = filled(d, np, 0.01f);
        double t[10];
        TIME(&b, t[0], ops_conv_forward(d, y, x, w, bias, N, c, s, s, F, 3));
        TIME(&b, t[1], ops_conv_backward(d, blk ? dx : NULL, dw, db, dy, x, w, N, c, s, s, F, 3));
        TIME(&b, t[2], ops_batchnorm_forward_train(d, y2, y, g, be, rm, rv, sm, si, N, F, s * s, 0.1f, 1e-5f));
        TIME(&b, t[3], ops_batchnorm_backward(d, y2, db, be, dy, y, g, sm, si, N, F, s * s));
        TIME(&b, t[4], ops_activation_forward(d, OPS_RELU, y2, y, ny));
        TIME(&b, t[5], ops_activation_backward(d, OPS_RELU, dy, dy, y, ny));
        TIME(&b, t[6], ops_maxpool_forward(d, p, y2, N, F, s, s));
        TIME(&b, t[7], ops_maxpool_backward(d, y, dp, y2, N, F, s, s));
        const char *names[] = {"conv3x3 forward", "conv3x3 backward", "batchnorm forward", "batchnorm backward",
                               "relu forward", "relu backward", "maxpool forward", "maxpool backward"};
        double macs = 9.0 * c * F * s * s * N;
        for (int i = 0; i < 8; i++) {
            char label[64];
            snprintf(label, sizeof label, "block %d %dx%dx%d %s", blk + 1, c, s, s, names[i]);
            if (i < 2)
                printf("%-34s %10.3f ms %8.1f GFLOP/s\n", label, 1e3 * t[i], (i ? 4 : 2) * macs / t[i] / 1e9);
            else
                printf("%-34s %10.3f ms\n", label, 1e3 * t[i]);
        }
        cl_mem all_bufs[] = {x, w, bias, y, y2, dy, dx, dw, db, g, be, rm, rv, sm, si, p, dp};
        for (size_t i = 0; i < sizeof all_bufs / sizeof *all_bufs; i++) clReleaseMemObject(all_bufs[i]);
        c = F;
        s /= 2;
    }
    /* dense 128 and the output layer, softmax cross-entropy, dropout and adam over the parameters */
    int flat = F * s * s, D = 128, K = 10;
    cl_mem x = filled(d, (size_t)N * flat, 0.2f), w = filled(d, (size_t)D * flat, 0.01f), bias = filled(d, D, 0);
    cl_mem y = filled(d, (size_t)N * D, 0), dy = filled(d, (size_t)N * D, 0.01f), dx = filled(d, (size_t)N * flat, 0);
    cl_mem dw = filled(d, (size_t)D * flat, 0), db = filled(d, D, 0), logits = filled(d, (size_t)N * K, 0.1f);
    cl_mem labels = filled(d, N, 0), stats = filled(d, 2, 0), dl = filled(d, (size_t)N * K, 0);
    double t[6];
    TIME(&b, t[0], ops_dense_forward(d, y, x, w, bias, N, flat, D));
    TIME(&b, t[1], ops_dense_backward(d, dx, dw, db, dy, x, w, N, flat, D));
    TIME(&b, t[2], ops_softmax_xent(d, dl, stats, 0, logits, labels, N, K));
    TIME(&b, t[3], ops_dropout_forward(d, y, y, (size_t)N * D, 0.3f, 1, 0, 1));
    size_t np = 1000000;
    cl_mem params = filled(d, np, 0.1f), grads = filled(d, np, 0.01f), state = filled(d, 2 * np, 0);
    ops_optim_params op = ops_optim_defaults(OPS_ADAM, 1e-3f);
    ops_optim_host_state hs = {0};
    TIME(&b, t[4], ops_optim_step(d, &op, &hs, params, grads, state, np));
    printf("%-34s %10.3f ms\n%-34s %10.3f ms\n%-34s %10.3f ms\n%-34s %10.3f ms\n%-34s %10.3f ms\n",
           "dense forward", 1e3 * t[0], "dense backward", 1e3 * t[1], "softmax cross-entropy", 1e3 * t[2],
           "dropout forward", 1e3 * t[3], "adam step (1M parameters)", 1e3 * t[4]);
    cl_mem rest[] = {x, w, bias, y, dy, dx, dw, db, logits, labels, stats, dl, params, grads, state};
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) clReleaseMemObject(rest[i]);
    device_close(d);
    return 0;
}
