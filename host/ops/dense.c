/* dense.c: the fully connected layer, y = x w^T + b with w in PyTorch's [out, in] layout.
 *   forward:  y [N,O] = x [N,I] w^T + b
 *   backward: dw [O,I] = dy^T x; dx [N,I] = dy w; db = sum of dy over the batch
 * On GPUs one CLBlast GEMM per pass over the whole batch (the bias kernels are conv's, cl/conv.cl).
 * On CPUs, where conv runs direct kernels (ops_conv_use_direct, $CLTRAIN_CONV_ALGO), plain kernels
 * (cl/dense.cl): these GEMMs are a sliver of a step, and CLBlast's first call alone would spend ~10 s
 * compiling on PoCL, half the time to the first training step. */
#include <limits.h>

#include "cltrain/ops.h"
#include "gemm.h"
#include "internal.h"

/* Sizes must be positive, and every tensor small enough for the bias kernels' int indices. */
static int check_shape(device_ctx *d, const char *what, int N, int I, int O)
{
    if (N < 1 || I < 1 || O < 1)
        return device_fail(d, "%s was given N %d, in %d, out %d; every size must be positive", what, N, I, O);
    if ((double)N * O > INT_MAX || (double)N * I > INT_MAX || (double)O * I > INT_MAX)
        return device_fail(d, "%s over N %d, in %d, out %d is too large for the kernels' indices", what, N, I,
                           O);
    return 0;
}

/* The CPU backward (cl/dense.cl): dw and db in one pass over the batch, dx in another. */
static int direct_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                           int I, int O)
{
    cl_kernel kw = device_kernel(d, "dense.cl", "dense_weight_grad", "");
    if (!kw) return -1;
    cl_int st = 0;
    DEVICE_ARG(st, kw, 0, dw);
    DEVICE_ARG(st, kw, 1, db);
    DEVICE_ARG(st, kw, 2, dy);
    DEVICE_ARG(st, kw, 3, x);
    DEVICE_ARG(st, kw, 4, N);
    DEVICE_ARG(st, kw, 5, I);
    DEVICE_ARG(st, kw, 6, O);
    size_t gw[2] = {((size_t)I + 7) / 8, (size_t)O}; /* 8 consecutive i a work-item (DENSE_VW) */
    if (device_check(d, st, "setting the dense weight gradient's arguments") ||
        device_run(d, kw, 2, gw, NULL, "the dense weight gradient"))
        return -1;
    if (!dx) return 0;
    cl_kernel kx = device_kernel(d, "dense.cl", "dense_input_grad", "");
    if (!kx) return -1;
    st = 0;
    DEVICE_ARG(st, kx, 0, dx);
    DEVICE_ARG(st, kx, 1, dy);
    DEVICE_ARG(st, kx, 2, w);
    DEVICE_ARG(st, kx, 3, N);
    DEVICE_ARG(st, kx, 4, I);
    DEVICE_ARG(st, kx, 5, O);
    size_t gx[2] = {((size_t)I + 7) / 8, (size_t)N};
    if (device_check(d, st, "setting the dense input gradient's arguments")) return -1;
    return device_run(d, kx, 2, gx, NULL, "the dense input gradient");
}

int ops_dense_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int I, int O)
{
    if (check_shape(d, "dense forward", N, I, O)) return -1;
    if (!y || !x || !w || !b) return device_fail(d, "dense forward was given a NULL buffer");
    if (ops_conv_use_direct(d)) {
        cl_kernel k = device_kernel(d, "dense.cl", "dense_forward", "");
        if (!k) return -1;
        cl_int st = 0;
        DEVICE_ARG(st, k, 0, y);
        DEVICE_ARG(st, k, 1, x);
        DEVICE_ARG(st, k, 2, w);
        DEVICE_ARG(st, k, 3, b);
        DEVICE_ARG(st, k, 4, N);
        DEVICE_ARG(st, k, 5, I);
        DEVICE_ARG(st, k, 6, O);
        size_t global[2] = {(size_t)O, (size_t)N};
        if (device_check(d, st, "setting the dense forward's arguments")) return -1;
        return device_run(d, k, 2, global, NULL, "the dense forward");
    }
    if (ops_gemm(d, 0, 1, N, O, I, 1.0f, x, 0, I, w, 0, I, 0.0f, y, 0, O, "dense forward")) return -1;
    cl_kernel k = device_kernel(d, "conv.cl", "add_bias_rows", "");
    if (!k) return -1;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, y);
    DEVICE_ARG(st, k, 1, b);
    DEVICE_ARG(st, k, 2, N);
    DEVICE_ARG(st, k, 3, O);
    if (device_check(d, st, "setting the dense bias's arguments")) return -1;
    return device_run_1d(d, k, (size_t)N * O, "the dense bias");
}

int ops_dense_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                       int I, int O)
{
    if (check_shape(d, "dense backward", N, I, O)) return -1;
    if (!dw || !db || !dy || !x || !w) return device_fail(d, "dense backward was given a NULL buffer");
    if (ops_conv_use_direct(d)) return direct_backward(d, dx, dw, db, dy, x, w, N, I, O);
    if (ops_gemm(d, 1, 0, O, I, N, 1.0f, dy, 0, O, x, 0, I, 0.0f, dw, 0, I, "the dense weight gradient"))
        return -1;
    if (dx && ops_gemm(d, 0, 0, N, I, O, 1.0f, dy, 0, O, w, 0, I, 0.0f, dx, 0, I, "the dense input gradient"))
        return -1;
    return ops_bias_grad(d, db, dy, N, O, 1);
}
