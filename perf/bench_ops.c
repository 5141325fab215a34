/* bench_ops.c: each op's forward and backward time on the study's shapes, and CLBlast's SGEMM
 * GFLOP/s (1024^3 and the shapes convolution and dense hand it), on one device.
 *
 *   bench_ops [--device N] [--size S] [--batch B] [--channels C] [--filters F] [--strategy S] [--reps R]
 *
 * The network is the study's: 5 blocks of conv3x3 (F filters) -> batch norm -> relu -> 2x2 max pool,
 * dense 128, 10 classes. Defaults: batch 32, 3 x 64 x 64 input, 32 filters, so a CPU (PoCL) finishes
 * in well under a minute; --size 224 (and --batch 64) is the study's own. Each line is the median of
 * R timed runs after a warm-up that pays for kernel builds; every run ends with clFinish. */
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

/* Runs `call` reps+1 times (the first is a warm-up), finishing the queue each time; median seconds
 * into result. A failing call ends the program with the device's sentence. */
#define TIME(b, result, call)                                                                                \
    do {                                                                                                     \
        double t_[64];                                                                                       \
        int n_ = (b)->reps < 64 ? (b)->reps : 64;                                                            \
        for (int r_ = -1; r_ < n_; r_++) {                                                                   \
            double t0_ = progress_now();                                                                     \
            if ((call) != 0 || clFinish((b)->d->queue) != CL_SUCCESS) {                                      \
                fprintf(stderr, "bench_ops: %s\n", (b)->d->error);                                           \
                exit(1);                                                                                     \
            }                                                                                                \
            if (r_ >= 0) t_[r_] = progress_now() - t0_;                                                      \
        }                                                                                                    \
        qsort(t_, (size_t)n_, sizeof(double), cmp_double);                                                   \
        (result) = t_[n_ / 2];                                                                               \
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

static void release(cl_mem *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clReleaseMemObject(m[i]);
}

static void line(const char *label, double t, double flops)
{
    if (flops > 0)
        printf("%-44s %10.3f ms %8.1f GFLOP/s\n", label, 1e3 * t, flops / t / 1e9);
    else
        printf("%-44s %10.3f ms\n", label, 1e3 * t);
}

/* batch GEMMs C_i [m,n] = op(A_i) [m,k] op(B_i) [k,n], row-major, the A_i and B_i consecutive slices
 * of K of one matrix (as conv's split-K weight gradient reads them), the C_i consecutive; batch 1 is
 * a plain CLBlastSgemm. */
static int sgemm_call(device_ctx *d, int ta, int tb, size_t m, size_t n, size_t k, size_t batch, cl_mem a,
                      cl_mem b, cl_mem c)
{
    CLBlastTranspose cta = ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                     ctb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t kk = k * batch, lda = ta ? m : kk, ldb = tb ? kk : n;
    CLBlastStatusCode st = batch == 1
                               ? CLBlastSgemm(CLBlastLayoutRowMajor, cta, ctb, m, n, k, 1.0f, a, 0, lda, b, 0,
                                              ldb, 0.0f, c, 0, n, &d->queue, NULL)
                               : CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, cta, ctb, m, n, k, 1.0f, a,
                                                            0, lda, ta ? k * m : k, b, 0, ldb, tb ? k : k * n,
                                                            0.0f, c, 0, n, m * n, batch, &d->queue, NULL);
    if (st != CLBlastSuccess)
        return device_fail(d, "the SGEMM %zux%zux%zu (batch %zu) failed: %s", m, n, k, batch,
                           device_clblast_error(st));
    return 0;
}

/* Times sgemm_call on constant matrices and prints its GFLOP/s. */
static void sgemm(bench *b, const char *label, int ta, int tb, size_t m, size_t n, size_t k, size_t batch)
{
    device_ctx *d = b->d;
    cl_mem a = filled(d, m * k * batch, 0.5f), bb = filled(d, k * n * batch, 0.25f),
           c = filled(d, m * n * batch, 0.0f);
    double t;
    TIME(b, t, sgemm_call(d, ta, tb, m, n, k, batch, a, bb, c));
    char full[96];
    if (batch == 1)
        snprintf(full, sizeof full, "sgemm %s %zux%zux%zu", label, m, n, k);
    else
        snprintf(full, sizeof full, "sgemm %s %zu x %zux%zux%zu", label, batch, m, n, k);
    line(full, t, 2.0 * m * n * k * batch);
    cl_mem all[] = {a, bb, c};
    release(all, 3);
}

/* Images per GEMM, as host/ops/conv.c chunks them: the workspace limit min(max_alloc/2, 256 MiB)
 * over the floats one image needs there. Mirrors conv.c so the GEMM lines show the shapes it runs. */
static size_t conv_chunk(device_ctx *d, int N, size_t floats_per_image)
{
    size_t limit = d->info.max_alloc / 2;
    if (limit > ((size_t)256 << 20)) limit = (size_t)256 << 20;
    size_t nb = limit / (floats_per_image * sizeof(float));
    if (nb < 1) nb = 1;
    return nb < (size_t)N ? nb : (size_t)N;
}

static void conv_gemms(bench *b, int N, int c, int s, int F, int k)
{
    size_t hw = (size_t)s * s, ckk = (size_t)c * k * k;
    size_t mf = conv_chunk(b->d, N, (ckk + F) * hw) * hw, mb = conv_chunk(b->d, N, (2 * ckk + F) * hw) * hw;
    sgemm(b, "conv fwd W.col", 0, 0, F, mf, ckk, 1);
    /* the weight gradient as one GEMM, and as conv.c runs it: slices of 2048 columns (SPLIT_K) */
    sgemm(b, "conv dW dy.col^T", 0, 1, F, ckk, mb, 1);
    if (mb > 2048) sgemm(b, "conv dW split-K", 0, 1, F, ckk, 2048, mb / 2048);
    sgemm(b, "conv dcol W^T.dy", 1, 0, ckk, mb, F, 1);
}

/* One block: conv3x3 -> batch norm -> relu -> max pool, forward and backward. */
static void block(bench *b, int blk, int N, int c, int s, int F)
{
    device_ctx *d = b->d;
    size_t nx = (size_t)N * c * s * s, ny = (size_t)N * F * s * s, np = (size_t)N * F * (s / 2) * (s / 2);
    cl_mem x = filled(d, nx, 0.3f), w = filled(d, (size_t)F * c * 9, 0.01f), bias = filled(d, F, 0.1f);
    cl_mem y = filled(d, ny, 0), y2 = filled(d, ny, 0), dy = filled(d, ny, 0.01f), dx = filled(d, nx, 0);
    cl_mem dw = filled(d, (size_t)F * c * 9, 0), db = filled(d, F, 0), g = filled(d, F, 1),
           be = filled(d, F, 0);
    cl_mem rm = filled(d, F, 0), rv = filled(d, F, 1), sm = filled(d, F, 0), si = filled(d, F, 1);
    cl_mem p = filled(d, np, 0), dp = filled(d, np, 0.01f);
    double t[9];
    TIME(b, t[0], ops_conv_forward(d, y, x, w, bias, N, c, s, s, F, 3));
    /* the first block's input needs no gradient, as in training */
    TIME(b, t[1], ops_conv_backward(d, blk ? dx : NULL, dw, db, dy, x, w, N, c, s, s, F, 3));
    TIME(b, t[2], ops_batchnorm_forward_train(d, y2, y, g, be, rm, rv, sm, si, N, F, s * s, 0.1f, 1e-5f));
    TIME(b, t[3], ops_batchnorm_forward_eval(d, y2, y, g, be, rm, rv, N, F, s * s, 1e-5f));
    TIME(b, t[4], ops_batchnorm_backward(d, y2, db, be, dy, y, g, sm, si, N, F, s * s));
    TIME(b, t[5], ops_activation_forward(d, OPS_RELU, y2, y, ny));
    TIME(b, t[6], ops_activation_backward(d, OPS_RELU, dy, dy, y, ny));
    TIME(b, t[7], ops_maxpool_forward(d, p, y2, N, F, s, s));
    TIME(b, t[8], ops_maxpool_backward(d, y, dp, y2, N, F, s, s));
    const char *names[] = {"conv3x3 forward",
                           "conv3x3 backward",
                           "batchnorm forward (train)",
                           "batchnorm forward (eval)",
                           "batchnorm backward",
                           "relu forward",
                           "relu backward",
                           "maxpool forward",
                           "maxpool backward"};
    double macs = 9.0 * c * F * s * s * N;
    for (int i = 0; i < 9; i++) {
        char label[96];
        snprintf(label, sizeof label, "block %d %dx%dx%d %s", blk + 1, c, s, s, names[i]);
        line(label, t[i], i == 0 ? 2 * macs : i == 1 ? (blk ? 4 : 2) * macs : 0);
    }
    /* the other activations on the same tensor (the sweep's choices) */
    for (int a = 0; blk == 0 && a < OPS_ACTIVATION_COUNT; a++) {
        if (a == OPS_RELU) continue;
        double ta, tb;
        TIME(b, ta, ops_activation_forward(d, (ops_activation)a, y2, y, ny));
        TIME(b, tb, ops_activation_backward(d, (ops_activation)a, dy, dy, y, ny));
        char label[96];
        snprintf(label, sizeof label, "block 1 %s forward / backward",
                 ops_activation_name((ops_activation)a));
        printf("%-44s %10.3f ms %10.3f ms\n", label, 1e3 * ta, 1e3 * tb);
    }
    cl_mem all[] = {x, w, bias, y, y2, dy, dx, dw, db, g, be, rm, rv, sm, si, p, dp};
    release(all, sizeof all / sizeof *all);
}

/* A dense layer I -> O over the batch, forward and backward. */
static void dense(bench *b, const char *name, int N, int I, int O, int need_dx)
{
    device_ctx *d = b->d;
    cl_mem x = filled(d, (size_t)N * I, 0.2f), w = filled(d, (size_t)O * I, 0.01f), bias = filled(d, O, 0);
    cl_mem y = filled(d, (size_t)N * O, 0), dy = filled(d, (size_t)N * O, 0.01f),
           dx = filled(d, (size_t)N * I, 0);
    cl_mem dw = filled(d, (size_t)O * I, 0), db = filled(d, O, 0);
    double tf, tb;
    TIME(b, tf, ops_dense_forward(d, y, x, w, bias, N, I, O));
    TIME(b, tb, ops_dense_backward(d, need_dx ? dx : NULL, dw, db, dy, x, w, N, I, O));
    char label[96];
    double macs = (double)N * I * O;
    snprintf(label, sizeof label, "%s %d->%d forward", name, I, O);
    line(label, tf, 2 * macs);
    snprintf(label, sizeof label, "%s %d->%d backward", name, I, O);
    line(label, tb, (need_dx ? 4 : 2) * macs);
    cl_mem all[] = {x, w, bias, y, dy, dx, dw, db};
    release(all, sizeof all / sizeof *all);
}

int main(int argc, char **argv)
{
    int dev = 0, C = 3, S = 64, N = 32, F = 32, reps = 5;
    const char *strategy = "same";
    for (int i = 1; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--device") && has)
            dev = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--channels") && has)
            C = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && has)
            S = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && has)
            N = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--filters") && has)
            F = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && has)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--strategy") && has)
            strategy = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_ops [--device N] [--size S] [--batch B] [--channels C] [--filters F] "
                    "[--strategy same|double|half] [--reps R]\n");
            return 2;
        }
    }
    /* filters per block as the model's filter_strategy spreads them (pyramid is double, then half) */
    int grow = !strcmp(strategy, "double") ? 1
               : !strcmp(strategy, "half") ? -1
               : !strcmp(strategy, "same") ? 0
                                           : 2;
    if (grow == 2) {
        fprintf(stderr, "bench_ops: --strategy is same, double or half, not %s\n", strategy);
        return 2;
    }
    if (C < 1 || S < 32 || N < 1 || F < 1) {
        fprintf(stderr,
                "bench_ops: --channels, --batch and --filters must be positive and --size at least 32 "
                "(five 2x2 pools)\n");
        return 2;
    }
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ops: %s\n", err);
        return 2;
    }
    if (dev < 0 || dev >= n) {
        fprintf(stderr, "bench_ops: there is no device %d (devices 0..%d; see `cltrain devices`)\n", dev,
                n - 1);
        free(all);
        return 2;
    }
    device_ctx *d = device_open(&all[dev], err, sizeof err);
    free(all);
    if (!d) {
        fprintf(stderr, "bench_ops: %s\n", err);
        return 1;
    }
    bench b = {d, reps < 1 ? 1 : reps};
    printf("device %s; batch %d, input %dx%dx%d, %d filters (%s), median of %d\n", d->info.name, N, C, S, S,
           F, strategy, b.reps);
    sgemm(&b, "square", 0, 0, 1024, 1024, 1024, 1);
    int c = C, s = S, F0 = F;
    for (int blk = 0; blk < 5; blk++) {
        F = grow > 0 ? F0 << blk : grow < 0 ? (F0 >> blk > 0 ? F0 >> blk : 1) : F0;
        conv_gemms(&b, N, c, s, F, 3);
        block(&b, blk, N, c, s, F);
        c = F;
        s /= 2;
    }
    int flat = F * s * s, D = 128, K = 10;
    sgemm(&b, "dense fwd x.w^T", 0, 1, N, D, flat, 1);
    sgemm(&b, "dense dW dy^T.x", 1, 0, D, flat, N, 1);
    dense(&b, "dense", N, flat, D, 1);
    dense(&b, "output", N, D, K, 1);

    /* the head's elementwise ops and the loss */
    cl_mem h = filled(d, (size_t)N * D, 0.2f), logits = filled(d, (size_t)N * K, 0.1f),
           labels = filled(d, N, 0);
    cl_mem stats = filled(d, 2, 0), dl = filled(d, (size_t)N * K, 0);
    double t[3];
    TIME(&b, t[0], ops_dropout_forward(d, h, h, (size_t)N * D, 0.3f, 1, 0, 1));
    TIME(&b, t[1], ops_dropout_backward(d, h, h, (size_t)N * D, 0.3f, 1, 0, 1));
    TIME(&b, t[2], ops_softmax_xent(d, dl, stats, 0, logits, labels, N, K));
    line("dropout forward", t[0], 0);
    line("dropout backward", t[1], 0);
    line("softmax cross-entropy (+ gradient)", t[2], 0);
    cl_mem head[] = {h, logits, labels, stats, dl};
    release(head, sizeof head / sizeof *head);

    /* one optimizer step of each kind over 1M parameters (the study's models hold 0.1M..3M) */
    size_t np = 1000000;
    cl_mem params = filled(d, np, 0.1f), grads = filled(d, np, 0.01f), state = filled(d, 2 * np, 0);
    for (int o = 0; o < OPS_OPTIMIZER_COUNT; o++) {
        ops_optim_params op = ops_optim_defaults((ops_optimizer)o, 1e-3f);
        if (ops_optim_state_per_param(&op) > 2) continue; /* state sized for two; none needs more today */
        ops_optim_host_state hs = {0};
        double to;
        TIME(&b, to, ops_optim_step(d, &op, &hs, params, grads, state, np));
        char label[96];
        snprintf(label, sizeof label, "%s step (1M parameters)", ops_optimizer_name((ops_optimizer)o));
        line(label, to, 0);
    }
    cl_mem opt[] = {params, grads, state};
    release(opt, 3);
    device_close(d);
    return 0;
}
