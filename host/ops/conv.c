/* conv.c: 2-D convolution, k x k (odd), stride 1, same padding, with bias, as im2col + one CLBlast
 * GEMM per chunk of images (cl/conv.cl). The chunk is as many images as fit the workspace limit, so
 * a small layer is one GEMM for the whole batch and a large one a few; never one call per image.
 *   forward:  col = im2col(x); y2 = W col; y = permute(y2) + b
 *   backward: dy2 = permute(dy); dW (+)= dy2 col^T over chunks (split-K, see SPLIT_K); dcol = W^T dy2;
 *             dx = col2im(dcol); db = sum of dy over images and pixels (two-stage, also used by dense.c)
 * Every sum has a fixed order for a given shape and device, so a run repeats bit for bit. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cltrain/ops.h"
#include "gemm.h"
#include "internal.h"

/* elements each work-item of the bias gradient's first stage sums at least (in 16 lanes), and the
 * most partials per channel: enough work-items to fill the cores on a 224x224 layer, few enough
 * that stage 2 is trivial */
#define BIAS_CHUNK 4096
#define BIAS_MAX_PARTS 256
/* dW = dy2 col^T is F x C*k*k (a handful of GEMM tiles) with K = images * pixels (up to millions):
 * one such GEMM leaves most of a GPU idle and runs at a tenth of CLBlast's speed on a CPU (PoCL:
 * ~1 GFLOP/s at K 32768, ~10 at K 2048). So K is cut into slices of SPLIT_K columns, one batched
 * GEMM writes a partial dW per slice (the remainder one more GEMM), and sum_partials adds them in
 * a fixed order. */
#define SPLIT_K 2048

/* Workspace ceiling: half the largest allocation, at most 256 MiB. $CLTRAIN_CONV_WORKSPACE_MIB (a
 * positive whole number of MiB) lowers it, which the tests use to force several chunks. */
static size_t workspace_limit(device_ctx *d)
{
    size_t limit = d->info.max_alloc / 2;
    if (limit > ((size_t)256 << 20)) limit = (size_t)256 << 20;
    const char *env = getenv("CLTRAIN_CONV_WORKSPACE_MIB");
    long mib = env ? atol(env) : 0;
    if (mib > 0 && (size_t)mib < (limit >> 20)) limit = (size_t)mib << 20;
    return limit;
}

/* Images per chunk when each image needs floats_per_image of workspace (at least 1, at most N). */
static int chunk_images(device_ctx *d, int N, size_t floats_per_image)
{
    size_t nb = workspace_limit(d) / (floats_per_image * sizeof(float));
    if (nb < 1) nb = 1;
    return nb < (size_t)N ? (int)nb : N;
}

/* Checks sizes, and that the kernels' int indices stay in range: N*H*W (the bias gradient) and one
 * image's workspace (a chunk holds at most max(one image, the limit) of it). */
static int check_shape(device_ctx *d, const char *what, int N, int C, int H, int W, int F, int k)
{
    if (N < 1 || C < 1 || H < 1 || W < 1 || F < 1 || k < 1)
        return device_fail(d, "%s was given N %d, C %d, H %d, W %d, F %d, k %d; every size must be positive",
                           what, N, C, H, W, F, k);
    if (k % 2 == 0)
        return device_fail(d, "%s was given the filter size %d, which is even; same padding needs an odd one",
                           what, k);
    if ((double)N * H * W > INT_MAX || (double)C * k * k * H * W * 2 + (double)F * H * W > INT_MAX)
        return device_fail(d, "%s over N %d, C %d, %dx%d, F %d, k %d is too large for the kernels' indices",
                           what, N, C, H, W, F, k);
    return 0;
}

/* (internal.h) N*HW must fit an int (the callers check); with more than one partial per channel the
 * partials live in the device workspace, so a caller must not keep data there across this call. */
int ops_bias_grad(device_ctx *d, cl_mem db, cl_mem dy, int N, int F, int HW)
{
    int total = N * HW; /* callers check it fits an int */
    int G = (total + BIAS_CHUNK - 1) / BIAS_CHUNK;
    if (G > BIAS_MAX_PARTS) G = BIAS_MAX_PARTS;
    int span = (total + G - 1) / G;
    cl_mem part = db;
    if (G > 1 && !(part = device_workspace(d, (size_t)F * G * sizeof(float)))) return -1;
    cl_kernel k1 = device_kernel(d, "conv.cl", "bias_grad_partial", "");
    if (!k1) return -1;
    cl_int st = 0;
    DEVICE_ARG(st, k1, 0, part);
    DEVICE_ARG(st, k1, 1, dy);
    DEVICE_ARG(st, k1, 2, N);
    DEVICE_ARG(st, k1, 3, F);
    DEVICE_ARG(st, k1, 4, HW);
    DEVICE_ARG(st, k1, 5, G);
    DEVICE_ARG(st, k1, 6, span);
    if (device_check(d, st, "setting the bias gradient's arguments")) return -1;
    size_t global[2] = {(size_t)G, (size_t)F};
    if (device_run(d, k1, 2, global, NULL, "the bias gradient")) return -1;
    if (G == 1) return 0;
    cl_kernel k2 = device_kernel(d, "conv.cl", "bias_grad_final", "");
    if (!k2) return -1;
    st = 0;
    DEVICE_ARG(st, k2, 0, db);
    DEVICE_ARG(st, k2, 1, part);
    DEVICE_ARG(st, k2, 2, F);
    DEVICE_ARG(st, k2, 3, G);
    if (device_check(d, st, "setting the bias gradient's second stage's arguments")) return -1;
    return device_run_1d(d, k2, (size_t)F, "the bias gradient's second stage");
}

/* The layout kernels' grids: dimension 0 a row of pixels (see cl/conv.cl), the local size left to
 * the driver, which fits it to the row. */
static int run_grid(device_ctx *d, cl_kernel k, size_t g0, size_t g1, size_t g2, const char *what)
{
    size_t global[3] = {g0, g1, g2};
    return device_run(d, k, 3, global, NULL, what);
}

/* conv.cl's kernels that unroll over the filter size, built with -DKS=k */
static cl_kernel tap_kernel(device_ctx *d, const char *name, int k)
{
    char options[32];
    snprintf(options, sizeof options, "-DKS=%d", k);
    return device_kernel(d, "conv.cl", name, options);
}

/* col [C*k*k, m*H*W] at col_off from images n0 .. n0+m-1 of x */
static int run_im2col(device_ctx *d, cl_mem col, int col_off, cl_mem x, int n0, int m, int C, int H, int W,
                      int k)
{
    cl_kernel ki = tap_kernel(d, "im2col", k);
    if (!ki) return -1;
    int cols = m * H * W;
    cl_int st = 0;
    DEVICE_ARG(st, ki, 0, col);
    DEVICE_ARG(st, ki, 1, col_off);
    DEVICE_ARG(st, ki, 2, x);
    DEVICE_ARG(st, ki, 3, n0);
    DEVICE_ARG(st, ki, 4, C);
    DEVICE_ARG(st, ki, 5, H);
    DEVICE_ARG(st, ki, 6, W);
    DEVICE_ARG(st, ki, 7, cols);
    if (device_check(d, st, "setting im2col's arguments")) return -1;
    return run_grid(d, ki, (size_t)W, (size_t)H, (size_t)m * C * k * k, "im2col");
}

int ops_conv_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W, int F,
                     int k)
{
    int hw = H * W, ckk = C * k * k;
    size_t per = ((size_t)ckk + F) * hw; /* per image: col and y2 */
    if (check_shape(d, "conv forward", N, C, H, W, F, k)) return -1;
    if (!y || !x || !w || !b) return device_fail(d, "conv forward was given a NULL buffer");
    if (ops_conv_use_direct(d))
        return ops_conv_direct_forward(d, y, x, w, b, N, C, H, W, F, k, workspace_limit(d) / sizeof(float));
    int nb = chunk_images(d, N, per);
    size_t cols = (size_t)nb * hw;
    cl_mem ws = device_workspace(d, per * nb * sizeof(float));
    if (!ws) return -1;
    int y2_off = (int)((size_t)ckk * cols);
    cl_kernel kp = device_kernel(d, "conv.cl", "chunk_to_nchw", "");
    if (!kp) return -1;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        size_t mc = (size_t)m * hw;
        if (run_im2col(d, ws, 0, x, n0, m, C, H, W, k)) return -1;
        /* y2 [F, mc] = W [F, ckk] col [ckk, mc] */
        if (ops_gemm(d, 0, 0, F, mc, ckk, 1.0f, w, 0, ckk, ws, 0, mc, 0.0f, ws, (size_t)y2_off, mc,
                     "conv forward"))
            return -1;
        cl_int st = 0;
        DEVICE_ARG(st, kp, 0, y);
        DEVICE_ARG(st, kp, 1, ws);
        DEVICE_ARG(st, kp, 2, y2_off);
        DEVICE_ARG(st, kp, 3, b);
        DEVICE_ARG(st, kp, 4, n0);
        DEVICE_ARG(st, kp, 5, m);
        DEVICE_ARG(st, kp, 6, F);
        DEVICE_ARG(st, kp, 7, hw);
        if (device_check(d, st, "setting the conv output's arguments") ||
            run_grid(d, kp, (size_t)hw, (size_t)F, (size_t)m, "the conv output"))
            return -1;
    }
    return 0;
}

/* dW [F, ckk] (+)= dy2 [F, mc] col [ckk, mc]^T for one chunk (col at offset 0 of ws), split-K (see
 * SPLIT_K) when mc is long; acc: add to dw (a later chunk) instead of overwriting it. */
static int weight_grad(device_ctx *d, cl_mem dw, cl_mem ws, int dy2_off, int part_off, cl_kernel ks,
                       size_t mc, int F, int ckk, int acc)
{
    if (mc <= SPLIT_K)
        return ops_gemm(d, 0, 1, F, ckk, mc, 1.0f, ws, (size_t)dy2_off, mc, ws, 0, mc, acc ? 1.0f : 0.0f, dw,
                        0, ckk, "the conv weight gradient");
    size_t full = mc / SPLIT_K, rest = mc - full * SPLIT_K, nwt = (size_t)F * ckk;
    if (ops_gemm_strided_batched(d, 0, 1, F, ckk, SPLIT_K, 1.0f, ws, (size_t)dy2_off, mc, SPLIT_K, ws, 0, mc,
                                 SPLIT_K, 0.0f, ws, (size_t)part_off, ckk, nwt, full,
                                 "the conv weight gradient"))
        return -1;
    if (rest &&
        ops_gemm(d, 0, 1, F, ckk, rest, 1.0f, ws, (size_t)dy2_off + full * SPLIT_K, mc, ws, full * SPLIT_K,
                 mc, 0.0f, ws, (size_t)part_off + full * nwt, ckk, "the conv weight gradient's last slice"))
        return -1;
    int P = (int)(full + (rest > 0)), n = (int)nwt;
    cl_int st = 0;
    DEVICE_ARG(st, ks, 0, dw);
    DEVICE_ARG(st, ks, 1, ws);
    DEVICE_ARG(st, ks, 2, part_off);
    DEVICE_ARG(st, ks, 3, P);
    DEVICE_ARG(st, ks, 4, n);
    DEVICE_ARG(st, ks, 5, acc);
    if (device_check(d, st, "setting the weight gradient sum's arguments")) return -1;
    return device_run_1d(d, ks, nwt, "the weight gradient sum");
}

int ops_conv_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                      int C, int H, int W, int F, int k)
{
    int hw = H * W, ckk = C * k * k;
    /* per image: col, dy2 and dcol; sized for dcol even without dx, so that the chunks, and with
     * them the order dW is summed in, do not depend on whether dx is wanted */
    size_t per = (2 * (size_t)ckk + F) * hw;
    if (check_shape(d, "conv backward", N, C, H, W, F, k)) return -1;
    if (!dw || !db || !dy || !x || !w) return device_fail(d, "conv backward was given a NULL buffer");
    if (ops_conv_use_direct(d)) {
        /* CPUs: every gradient by the direct kernels (the bias's with the weights'), no im2col */
        size_t lim = workspace_limit(d) / sizeof(float);
        if (ops_conv_direct_weight_grad(d, dw, db, dy, x, N, C, H, W, F, k, lim)) return -1;
        return dx ? ops_conv_direct_input_grad(d, dx, dy, w, N, C, H, W, F, k, lim) : 0;
    }
    int nb = chunk_images(d, N, per);
    size_t cols = (size_t)nb * hw, nwt = (size_t)F * ckk;
    /* after the chunk's arrays, one partial dW per SPLIT_K columns and one for the remainder */
    size_t parts_max = cols / SPLIT_K + 1;
    if ((double)per * nb + (double)parts_max * nwt > INT_MAX)
        return device_fail(
            d, "conv backward over C %d, %dx%d, F %d, k %d needs more workspace than the kernels index", C, H,
            W, F, k);
    /* big enough for the bias gradient's partials too, so that ops_bias_grad cannot grow (and so
     * replace) the buffer ws points to */
    size_t need = per * nb + parts_max * nwt, bias_need = (size_t)F * BIAS_MAX_PARTS;
    cl_mem ws = device_workspace(d, (need > bias_need ? need : bias_need) * sizeof(float));
    if (!ws || ops_bias_grad(d, db, dy, N, F, hw)) return -1;
    int dy2_off = (int)((size_t)ckk * cols), dcol_off = (int)(((size_t)ckk + F) * cols),
        part_off = (int)(per * nb);
    cl_kernel kg = device_kernel(d, "conv.cl", "nchw_to_chunk", "");
    cl_kernel ks = device_kernel(d, "conv.cl", "sum_partials", "");
    cl_kernel kc = dx ? tap_kernel(d, "col2im", k) : NULL;
    if (!kg || !ks || (dx && !kc)) return -1;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        size_t mc = (size_t)m * hw;
        cl_int st = 0;
        DEVICE_ARG(st, kg, 0, ws);
        DEVICE_ARG(st, kg, 1, dy2_off);
        DEVICE_ARG(st, kg, 2, dy);
        DEVICE_ARG(st, kg, 3, n0);
        DEVICE_ARG(st, kg, 4, m);
        DEVICE_ARG(st, kg, 5, F);
        DEVICE_ARG(st, kg, 6, hw);
        if (device_check(d, st, "setting the conv gradient's arguments") ||
            run_grid(d, kg, (size_t)hw, (size_t)F, (size_t)m, "the conv gradient's layout") ||
            run_im2col(d, ws, 0, x, n0, m, C, H, W, k))
            return -1;
        if (weight_grad(d, dw, ws, dy2_off, part_off, ks, mc, F, ckk, n0 > 0)) return -1;
        if (!dx) continue;
        /* dcol [ckk, mc] = W^T dy2 */
        if (ops_gemm(d, 1, 0, ckk, mc, F, 1.0f, w, 0, ckk, ws, (size_t)dy2_off, mc, 0.0f, ws,
                     (size_t)dcol_off, mc, "the conv input gradient"))
            return -1;
        int mcols = (int)mc;
        st = 0;
        DEVICE_ARG(st, kc, 0, dx);
        DEVICE_ARG(st, kc, 1, ws);
        DEVICE_ARG(st, kc, 2, dcol_off);
        DEVICE_ARG(st, kc, 3, n0);
        DEVICE_ARG(st, kc, 4, C);
        DEVICE_ARG(st, kc, 5, H);
        DEVICE_ARG(st, kc, 6, W);
        DEVICE_ARG(st, kc, 7, mcols);
        if (device_check(d, st, "setting col2im's arguments") ||
            run_grid(d, kc, (size_t)W, (size_t)H, (size_t)m * C, "col2im"))
            return -1;
    }
    return 0;
}
