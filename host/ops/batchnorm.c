/* batchnorm.c: batch normalization (training with batch statistics and PyTorch's running-statistics
 * update, inference with the running statistics, and backward), enqueueing cl/batchnorm.cl.
 *
 * The per-channel reductions are two-stage (blocks of BN_ITEMS * WG elements, then one work-group
 * per channel over the blocks' partials, see the kernel file); the partials live in the device
 * workspace only between the two launches. */
#include "cltrain/ops.h"

#include <limits.h>
#include <stdio.h>

/* elements each work-item of a stage-1 block reads: blocks big enough to amortise the launch, small
 * enough that a few channels still give a GPU hundreds of work-groups */
#define BN_ITEMS 8
#define BN_MAX_WG 256

typedef struct {
    size_t wg; /* work-group size, a power of two */
    int chunk; /* elements per stage-1 block */
    int parts; /* blocks per channel */
    char options[64];
} bn_launch;

/* Checks the shape shared by every pass and plans the two-stage reduction. */
static int bn_plan(device_ctx *d, const char *what, int N, int C, int HW, bn_launch *lp)
{
    if (N < 1 || C < 1 || HW < 1)
        return device_fail(d, "batch norm %s was given N=%d, C=%d, HW=%d; every size must be positive", what,
                           N, C, HW);
    if ((double)N * C * HW > INT_MAX)
        return device_fail(d,
                           "batch norm %s over N=%d, C=%d, HW=%d has more than %d elements, which its "
                           "kernels cannot index",
                           what, N, C, HW, INT_MAX);
    size_t wg = 1;
    while (wg * 2 <= BN_MAX_WG && wg * 2 <= d->info.max_work_group)
        wg *= 2;
    lp->wg = wg;
    lp->chunk = (int)wg * BN_ITEMS;
    int n = N * HW;
    lp->parts = (n + lp->chunk - 1) / lp->chunk;
    snprintf(lp->options, sizeof lp->options, "-DWG=%zu -DCHUNK=%d", wg, lp->chunk);
    return 0;
}

/* Enqueues the two-stage kernels over grid (parts*wg, C) and (wg, C). */
static int bn_run_stage(device_ctx *d, cl_kernel k, const bn_launch *lp, int C, int blocks, const char *what)
{
    size_t global[2] = {(size_t)blocks * lp->wg, (size_t)C}, local[2] = {lp->wg, 1};
    return device_run(d, k, 2, global, local, what);
}

int ops_batchnorm_forward_train(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                                cl_mem running_mean, cl_mem running_var, cl_mem save_mean, cl_mem save_invstd,
                                int N, int C, int HW, float momentum, float eps)
{
    bn_launch lp;
    if (bn_plan(d, "training forward", N, C, HW, &lp)) return -1;
    int n = N * HW, total = N * C * HW;
    if (n < 2)
        return device_fail(d,
                           "batch norm training needs more than 1 value per channel (N=%d, HW=%d), as the "
                           "variance of one value is undefined",
                           N, HW);
    if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
        return device_fail(d,
                           "batch norm was given momentum %g and eps %g; momentum must be in [0,1] and eps "
                           "positive",
                           momentum, eps);
    if (!y || !x || !gamma || !beta || !running_mean || !running_var || !save_mean || !save_invstd)
        return device_fail(d, "batch norm training forward was given a NULL buffer");
    cl_mem part = device_workspace(d, (size_t)C * lp.parts * 2 * sizeof(float));
    if (!part) return -1;
    cl_kernel k1 = device_kernel(d, "batchnorm.cl", "bn_partial_stats", lp.options);
    cl_kernel k2 = k1 ? device_kernel(d, "batchnorm.cl", "bn_finalize_stats", lp.options) : NULL;
    cl_kernel k3 = k2 ? device_kernel(d, "batchnorm.cl", "bn_normalize", lp.options) : NULL;
    if (!k3) return -1;

    cl_int st = 0;
    DEVICE_ARG(st, k1, 0, part);
    DEVICE_ARG(st, k1, 1, x);
    DEVICE_ARG(st, k1, 2, C);
    DEVICE_ARG(st, k1, 3, HW);
    DEVICE_ARG(st, k1, 4, n);
    DEVICE_ARG(st, k1, 5, lp.parts);
    if (device_check(d, st, "setting the batch norm statistics arguments")) return -1;
    if (bn_run_stage(d, k1, &lp, C, lp.parts, "the batch norm partial statistics")) return -1;

    DEVICE_ARG(st, k2, 0, part);
    DEVICE_ARG(st, k2, 1, running_mean);
    DEVICE_ARG(st, k2, 2, running_var);
    DEVICE_ARG(st, k2, 3, save_mean);
    DEVICE_ARG(st, k2, 4, save_invstd);
    DEVICE_ARG(st, k2, 5, n);
    DEVICE_ARG(st, k2, 6, lp.parts);
    DEVICE_ARG(st, k2, 7, momentum);
    DEVICE_ARG(st, k2, 8, eps);
    if (device_check(d, st, "setting the batch norm finalize arguments")) return -1;
    if (bn_run_stage(d, k2, &lp, C, 1, "the batch norm statistics")) return -1;

    DEVICE_ARG(st, k3, 0, y);
    DEVICE_ARG(st, k3, 1, x);
    DEVICE_ARG(st, k3, 2, gamma);
    DEVICE_ARG(st, k3, 3, beta);
    DEVICE_ARG(st, k3, 4, save_mean);
    DEVICE_ARG(st, k3, 5, save_invstd);
    DEVICE_ARG(st, k3, 6, C);
    DEVICE_ARG(st, k3, 7, HW);
    DEVICE_ARG(st, k3, 8, total);
    if (device_check(d, st, "setting the batch norm normalize arguments")) return -1;
    return device_run_1d(d, k3, (size_t)total, "the batch norm normalize");
}

int ops_batchnorm_forward_eval(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                               cl_mem running_mean, cl_mem running_var, int N, int C, int HW, float eps)
{
    bn_launch lp;
    if (bn_plan(d, "inference forward", N, C, HW, &lp)) return -1;
    if (!(eps > 0.0f)) return device_fail(d, "batch norm was given eps %g; it must be positive", eps);
    if (!y || !x || !gamma || !beta || !running_mean || !running_var)
        return device_fail(d, "batch norm inference forward was given a NULL buffer");
    cl_kernel k = device_kernel(d, "batchnorm.cl", "bn_eval", lp.options);
    if (!k) return -1;
    int total = N * C * HW;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, y);
    DEVICE_ARG(st, k, 1, x);
    DEVICE_ARG(st, k, 2, gamma);
    DEVICE_ARG(st, k, 3, beta);
    DEVICE_ARG(st, k, 4, running_mean);
    DEVICE_ARG(st, k, 5, running_var);
    DEVICE_ARG(st, k, 6, eps);
    DEVICE_ARG(st, k, 7, C);
    DEVICE_ARG(st, k, 8, HW);
    DEVICE_ARG(st, k, 9, total);
    if (device_check(d, st, "setting the batch norm inference arguments")) return -1;
    return device_run_1d(d, k, (size_t)total, "the batch norm inference");
}

int ops_batchnorm_backward(device_ctx *d, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                           cl_mem gamma, cl_mem save_mean, cl_mem save_invstd, int N, int C, int HW)
{
    bn_launch lp;
    if (bn_plan(d, "backward", N, C, HW, &lp)) return -1;
    if (!dgamma || !dbeta || !dy || !x || !gamma || !save_mean || !save_invstd)
        return device_fail(d, "batch norm backward was given a NULL buffer");
    int n = N * HW, total = N * C * HW;
    cl_mem part = device_workspace(d, (size_t)C * lp.parts * 3 * sizeof(float));
    if (!part) return -1;
    cl_kernel k1 = device_kernel(d, "batchnorm.cl", "bn_partial_grad", lp.options);
    cl_kernel k2 = k1 ? device_kernel(d, "batchnorm.cl", "bn_finalize_grad", lp.options) : NULL;
    cl_kernel k3 = k2 ? device_kernel(d, "batchnorm.cl", "bn_dx", lp.options) : NULL;
    if (!k3) return -1;

    cl_int st = 0;
    DEVICE_ARG(st, k1, 0, part);
    DEVICE_ARG(st, k1, 1, dy);
    DEVICE_ARG(st, k1, 2, x);
    DEVICE_ARG(st, k1, 3, save_mean);
    DEVICE_ARG(st, k1, 4, C);
    DEVICE_ARG(st, k1, 5, HW);
    DEVICE_ARG(st, k1, 6, n);
    DEVICE_ARG(st, k1, 7, lp.parts);
    if (device_check(d, st, "setting the batch norm gradient sum arguments")) return -1;
    if (bn_run_stage(d, k1, &lp, C, lp.parts, "the batch norm partial gradient sums")) return -1;

    DEVICE_ARG(st, k2, 0, part);
    DEVICE_ARG(st, k2, 1, save_invstd);
    DEVICE_ARG(st, k2, 2, dgamma);
    DEVICE_ARG(st, k2, 3, dbeta);
    DEVICE_ARG(st, k2, 4, n);
    DEVICE_ARG(st, k2, 5, lp.parts);
    if (device_check(d, st, "setting the batch norm gradient finalize arguments")) return -1;
    if (bn_run_stage(d, k2, &lp, C, 1, "the batch norm parameter gradients")) return -1;

    /* the first layer never has batch norm, but a NULL dx still only skips the input gradient */
    if (!dx) return 0;
    DEVICE_ARG(st, k3, 0, dx);
    DEVICE_ARG(st, k3, 1, dy);
    DEVICE_ARG(st, k3, 2, x);
    DEVICE_ARG(st, k3, 3, gamma);
    DEVICE_ARG(st, k3, 4, save_mean);
    DEVICE_ARG(st, k3, 5, save_invstd);
    DEVICE_ARG(st, k3, 6, dgamma);
    DEVICE_ARG(st, k3, 7, dbeta);
    DEVICE_ARG(st, k3, 8, C);
    DEVICE_ARG(st, k3, 9, HW);
    DEVICE_ARG(st, k3, 10, n);
    DEVICE_ARG(st, k3, 11, total);
    if (device_check(d, st, "setting the batch norm input gradient arguments")) return -1;
    return device_run_1d(d, k3, (size_t)total, "the batch norm input gradient");
}
