/* conv.c: 2-D convolution, k x k (odd), stride 1, same padding, with bias, as im2col + one CLBlast
 * GEMM per chunk of images (cl/conv.cl). The chunk is as many images as fit the workspace limit, so
 * a small layer is one GEMM for the whole batch and a large one a few; never one call per image.
 *   forward:  col = im2col(x); y2 = W col; y = permute(y2) + b
 *   backward: dy2 = permute(dy); dW (+)= dy2 col^T over chunks; dcol = W^T dy2; dx = col2im(dcol);
 *             db = sum of dy over images and pixels */
#include <stdlib.h>

#include "cltrain/ops.h"
#include "gemm.h"
#include "internal.h"

/* bias_grad's work-group size: BIAS_WG in cl/conv.cl */
#define BIAS_WG 64

/* Workspace ceiling: half the largest allocation, at most 256 MiB ($CLTRAIN_CONV_WORKSPACE_MIB lowers
 * it, which the tests use to force several chunks). */
static size_t workspace_limit(device_ctx *d)
{
    size_t limit = d->info.max_alloc / 2;
    if (limit > ((size_t)256 << 20)) limit = (size_t)256 << 20;
    const char *env = getenv("CLTRAIN_CONV_WORKSPACE_MIB");
    if (env && atol(env) > 0 && (size_t)atol(env) << 20 < limit) limit = (size_t)atol(env) << 20;
    return limit;
}

/* Images per chunk when each image needs floats_per_image of workspace. */
static int chunk_images(device_ctx *d, int N, size_t floats_per_image)
{
    size_t per = floats_per_image * sizeof(float);
    size_t nb = per ? workspace_limit(d) / per : (size_t)N;
    if (nb < 1) nb = 1;
    return nb < (size_t)N ? (int)nb : N;
}

static int check_shape(device_ctx *d, const char *what, int N, int C, int H, int W, int F, int k)
{
    if (N < 1 || C < 1 || H < 1 || W < 1 || F < 1 || k < 1)
        return device_fail(d, "%s: sizes must be positive (N %d, C %d, H %d, W %d, F %d, k %d)", what, N, C, H, W, F,
                           k);
    if (k % 2 == 0) return device_fail(d, "%s: the filter size %d is even; same padding needs an odd one", what, k);
    return 0;
}

int ops_bias_grad(device_ctx *d, cl_mem db, cl_mem dy, int N, int F, int HW)
{
    cl_kernel kb = device_kernel(d, "conv.cl", "bias_grad", "");
    if (!kb) return -1;
    cl_int st = 0;
    DEVICE_ARG(st, kb, 0, db);
    DEVICE_ARG(st, kb, 1, dy);
    DEVICE_ARG(st, kb, 2, N);
    DEVICE_ARG(st, kb, 3, F);
    DEVICE_ARG(st, kb, 4, HW);
    if (device_check(d, st, "setting the bias gradient's arguments")) return -1;
    size_t local = BIAS_WG, global = (size_t)F * local;
    return device_run(d, kb, 1, &global, &local, "the bias gradient");
}

static int run_im2col(device_ctx *d, cl_mem col, int col_off, cl_mem x, int n0, int nb, int C, int H, int W, int k)
{
    cl_kernel ki = device_kernel(d, "conv.cl", "im2col", "");
    if (!ki) return -1;
    cl_int st = 0;
    DEVICE_ARG(st, ki, 0, col);
    DEVICE_ARG(st, ki, 1, col_off);
    DEVICE_ARG(st, ki, 2, x);
    DEVICE_ARG(st, ki, 3, n0);
    DEVICE_ARG(st, ki, 4, nb);
    DEVICE_ARG(st, ki, 5, C);
    DEVICE_ARG(st, ki, 6, H);
    DEVICE_ARG(st, ki, 7, W);
    DEVICE_ARG(st, ki, 8, k);
    if (device_check(d, st, "setting im2col's arguments")) return -1;
    return device_run_1d(d, ki, (size_t)C * k * k * nb * H * W, "im2col");
}

int ops_conv_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W, int F, int k)
{
    if (check_shape(d, "conv forward", N, C, H, W, F, k)) return -1;
    int hw = H * W, ckk = C * k * k;
    int nb = chunk_images(d, N, (size_t)(ckk + F) * hw);
    size_t cols = (size_t)nb * hw;
    cl_mem ws = device_workspace(d, ((size_t)ckk + F) * cols * sizeof(float));
    if (!ws) return -1;
    int y2_off = (int)((size_t)ckk * cols);
    cl_kernel kp = device_kernel(d, "conv.cl", "chunk_to_nchw", "");
    if (!kp) return -1;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        size_t mc = (size_t)m * hw;
        if (run_im2col(d, ws, 0, x, n0, m, C, H, W, k)) return -1;
        if (ops_gemm(d, 0, 0, F, mc, ckk, 1.0f, w, 0, ckk, ws, 0, mc, 0.0f, ws, (size_t)y2_off, mc, "conv forward"))
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
            device_run_1d(d, kp, (size_t)m * F * hw, "the conv output"))
            return -1;
    }
    return 0;
}

int ops_conv_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N, int C,
                      int H, int W, int F, int k)
{
    if (check_shape(d, "conv backward", N, C, H, W, F, k)) return -1;
    if (ops_bias_grad(d, db, dy, N, F, H * W)) return -1;
    int hw = H * W, ckk = C * k * k;
    /* per image: col, dy2 and dcol; sized for dcol even without dx, so that the chunks, and with
     * them the order dW is summed in, do not depend on whether dx is wanted */
    size_t per = (2 * (size_t)ckk + F) * hw;
    int nb = chunk_images(d, N, per);
    size_t cols = (size_t)nb * hw;
    cl_mem ws = device_workspace(d, per * nb * sizeof(float));
    if (!ws) return -1;
    int dy2_off = (int)((size_t)ckk * cols), dcol_off = (int)(((size_t)ckk + F) * cols);
    cl_kernel kg = device_kernel(d, "conv.cl", "nchw_to_chunk", "");
    cl_kernel kc = dx ? device_kernel(d, "conv.cl", "col2im", "") : NULL;
    if (!kg || (dx && !kc)) return -1;
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
            device_run_1d(d, kg, (size_t)m * F * hw, "the conv gradient's layout") ||
            run_im2col(d, ws, 0, x, n0, m, C, H, W, k))
            return -1;
        /* dW = sum over chunks of dy2 col^T: the first chunk overwrites, the others add */
        if (ops_gemm(d, 0, 1, F, ckk, mc, 1.0f, ws, (size_t)dy2_off, mc, ws, 0, mc, n0 == 0 ? 0.0f : 1.0f, dw, 0, ckk,
                     "the conv weight gradient"))
            return -1;
        if (!dx) continue;
        if (ops_gemm(d, 1, 0, ckk, mc, F, 1.0f, w, 0, ckk, ws, (size_t)dy2_off, mc, 0.0f, ws, (size_t)dcol_off, mc,
                     "the conv input gradient"))
            return -1;
        st = 0;
        DEVICE_ARG(st, kc, 0, dx);
        DEVICE_ARG(st, kc, 1, ws);
        DEVICE_ARG(st, kc, 2, dcol_off);
        DEVICE_ARG(st, kc, 3, n0);
        DEVICE_ARG(st, kc, 4, m);
        DEVICE_ARG(st, kc, 5, C);
        DEVICE_ARG(st, kc, 6, H);
        DEVICE_ARG(st, kc, 7, W);
        DEVICE_ARG(st, kc, 8, k);
        if (device_check(d, st, "setting col2im's arguments") || device_run_1d(d, kc, (size_t)m * C * hw, "col2im"))
            return -1;
    }
    return 0;
}
