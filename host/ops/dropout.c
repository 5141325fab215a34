/* dropout.c: inverted dropout after the dense layer (and optionally after each block), enqueueing
 * cl/dropout.cl. The mask is not stored: it is a function of (seed, stream, step, element) through
 * Philox (cltrain/philox.h), so backward redraws it, and a run repeats from its seed. */
#include "cltrain/ops.h"

#include <limits.h>
#include <stdio.h>

/* Checks the buffers and size both passes share; `what` names the pass. */
static int dropout_check(device_ctx *d, const char *what, cl_mem out, cl_mem in, size_t n)
{
    /* the kernel counts elements in 32 bits, four per work-item */
    if (n > (size_t)INT_MAX)
        return device_fail(d, "dropout %s over %zu elements is more than its kernel can index (%d)", what, n,
                           INT_MAX);
    if (!out || !in) return device_fail(d, "dropout %s was given a NULL buffer", what);
    size_t have_out = 0, have_in = 0;
    if (device_check(d, clGetMemObjectInfo(out, CL_MEM_SIZE, sizeof have_out, &have_out, NULL),
                     "asking a dropout buffer's size") ||
        device_check(d, clGetMemObjectInfo(in, CL_MEM_SIZE, sizeof have_in, &have_in, NULL),
                     "asking a dropout buffer's size"))
        return -1;
    if (have_out < n * sizeof(float) || have_in < n * sizeof(float))
        return device_fail(d, "dropout %s over %zu elements was given a buffer of %zu floats", what, n,
                           (have_out < have_in ? have_out : have_in) / sizeof(float));
    return 0;
}

/* out = in * mask / (1-p). Forward and backward differ only in their buffers. */
static int dropout_apply(device_ctx *d, const char *what, cl_mem out, cl_mem in, size_t n, float p,
                         uint64_t seed, uint32_t stream, uint64_t step)
{
    if (!(p >= 0.0f && p < 1.0f)) /* written so that NaN fails too */
        return device_fail(d, "dropout %s was given p = %g; the drop probability must be in [0, 1)", what, p);
    if (n == 0) return 0; /* an empty tensor: nothing to do, as an empty PyTorch tensor */
    if (dropout_check(d, what, out, in, n)) return -1;
    if (p == 0.0f) { /* identity: no draw, no arithmetic */
        if (out == in) return 0;
        return device_check(d, clEnqueueCopyBuffer(d->queue, in, out, 0, 0, n * sizeof(float), 0, NULL, NULL),
                            "copying through a dropout with p = 0");
    }
    cl_kernel k = device_kernel(d, "dropout.cl", "dropout_apply", "");
    if (!k) return -1;
    /* PyTorch scales the kept elements by 1/(1-p), computed once in double and rounded */
    float scale = (float)(1.0 / (1.0 - (double)p));
    cl_uint un = (cl_uint)n, key_lo = (cl_uint)seed, key_hi = (cl_uint)(seed >> 32);
    cl_uint step_lo = (cl_uint)step, step_hi = (cl_uint)(step >> 32), st_id = stream;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, out);
    DEVICE_ARG(st, k, 1, in);
    DEVICE_ARG(st, k, 2, un);
    DEVICE_ARG(st, k, 3, p);
    DEVICE_ARG(st, k, 4, scale);
    DEVICE_ARG(st, k, 5, key_lo);
    DEVICE_ARG(st, k, 6, key_hi);
    DEVICE_ARG(st, k, 7, st_id);
    DEVICE_ARG(st, k, 8, step_lo);
    DEVICE_ARG(st, k, 9, step_hi);
    if (device_check(d, st, "setting the dropout arguments")) return -1;
    char run[32];
    snprintf(run, sizeof run, "the dropout %s", what);
    return device_run_1d(d, k, (n + 3) / 4, run);
}

int ops_dropout_forward(device_ctx *d, cl_mem y, cl_mem x, size_t n, float p, uint64_t seed, uint32_t stream,
                        uint64_t step)
{
    return dropout_apply(d, "forward", y, x, n, p, seed, stream, step);
}

int ops_dropout_backward(device_ctx *d, cl_mem dx, cl_mem dy, size_t n, float p, uint64_t seed,
                         uint32_t stream, uint64_t step)
{
    return dropout_apply(d, "backward", dx, dy, n, p, seed, stream, step);
}
