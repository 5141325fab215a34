/* pool.c: 2x2 stride-2 max pooling (the end of every conv block), enqueueing cl/pool.cl. Odd sizes
 * floor as in PyTorch; backward recomputes the argmax from the input, so no index buffer is kept. */
#include "cltrain/ops.h"

#include <limits.h>

/* Checks sizes and buffers; `what` names the pass in the sentence. */
static int pool_check(device_ctx *d, const char *what, int N, int C, int H, int W, int buffers_ok)
{
    if (N < 1 || C < 1 || H < 1 || W < 1)
        return device_fail(d, "max pool %s was given the shape [%d,%d,%d,%d]; every size must be positive",
                           what, N, C, H, W);
    if (H < 2 || W < 2)
        return device_fail(d,
                           "max pool %s over a %dx%d image would give an empty output; a 2x2 pool needs at "
                           "least 2x2",
                           what, H, W);
    if ((double)N * C * H * W > INT_MAX)
        return device_fail(d,
                           "max pool %s over [%d,%d,%d,%d] has more than %d elements, which its kernel "
                           "cannot index",
                           what, N, C, H, W, INT_MAX);
    if (!buffers_ok) return device_fail(d, "max pool %s was given a NULL buffer", what);
    return 0;
}

/* Both kernels run over (ceil(OW/8), OH, N*C), a work-item per run of 8 windows (PV in cl/pool.cl),
 * a work-group a whole row of runs times as many rows (a divisor of OH) as keep it within the launch
 * choice pool_group (64 by default), or the driver's choice. */
static int pool_run(device_ctx *d, cl_kernel k, int N, int C, int OH, int OW, const char *what)
{
    size_t gx = ((size_t)OW + 7) / 8, ly = 1, global[3] = {gx, (size_t)OH, (size_t)N * C};
    int group = d->launch.v[LAUNCH_POOL_GROUP];
    size_t most =
        group > 0 && (size_t)group < d->info.max_work_group ? (size_t)group : d->info.max_work_group;
    if (group < 0 || gx > most) return device_run(d, k, 3, global, NULL, what);
    for (size_t t = 2; t <= (size_t)OH; t++)
        if (OH % t == 0 && gx * t <= most) ly = t;
    size_t local[3] = {gx, ly, 1};
    return device_run(d, k, 3, global, local, what);
}

int ops_maxpool_forward(device_ctx *d, cl_mem y, cl_mem x, int N, int C, int H, int W)
{
    if (pool_check(d, "forward", N, C, H, W, y && x)) return -1;
    cl_kernel k = device_kernel(d, "pool.cl", "maxpool_forward", "");
    if (!k) return -1;
    int OH = H / 2, OW = W / 2;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, y);
    DEVICE_ARG(st, k, 1, x);
    DEVICE_ARG(st, k, 2, H);
    DEVICE_ARG(st, k, 3, W);
    DEVICE_ARG(st, k, 4, OH);
    DEVICE_ARG(st, k, 5, OW);
    if (device_check(d, st, "setting the max pool forward arguments")) return -1;
    return pool_run(d, k, N, C, OH, OW, "the max pool forward");
}

int ops_maxpool_backward(device_ctx *d, cl_mem dx, cl_mem dy, cl_mem x, int N, int C, int H, int W)
{
    if (pool_check(d, "backward", N, C, H, W, dx && dy && x)) return -1;
    cl_kernel k = device_kernel(d, "pool.cl", "maxpool_backward", "");
    if (!k) return -1;
    int OH = H / 2, OW = W / 2;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, dx);
    DEVICE_ARG(st, k, 1, dy);
    DEVICE_ARG(st, k, 2, x);
    DEVICE_ARG(st, k, 3, H);
    DEVICE_ARG(st, k, 4, W);
    DEVICE_ARG(st, k, 5, OH);
    DEVICE_ARG(st, k, 6, OW);
    if (device_check(d, st, "setting the max pool backward arguments")) return -1;
    return pool_run(d, k, N, C, OH, OW, "the max pool backward");
}
