/* dense.c: the fully connected layer, y = x w^T + b with w in PyTorch's [out, in] layout, as one
 * CLBlast GEMM per pass over the whole batch; the bias kernels are conv's (cl/conv.cl, conv.c).
 *   forward:  y [N,O] = x [N,I] w^T + b
 *   backward: dw [O,I] = dy^T x; dx [N,I] = dy w; db = sum of dy over the batch */
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

int ops_dense_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int I, int O)
{
    if (check_shape(d, "dense forward", N, I, O)) return -1;
    if (!y || !x || !w || !b) return device_fail(d, "dense forward was given a NULL buffer");
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
    if (ops_gemm(d, 1, 0, O, I, N, 1.0f, dy, 0, O, x, 0, I, 0.0f, dw, 0, I, "the dense weight gradient"))
        return -1;
    if (dx && ops_gemm(d, 0, 0, N, I, O, 1.0f, dy, 0, O, w, 0, I, 0.0f, dx, 0, I, "the dense input gradient"))
        return -1;
    return ops_bias_grad(d, db, dy, N, O, 1);
}
