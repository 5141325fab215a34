/* batchnorm.c: batch normalization (training with batch statistics and PyTorch's running-statistics
 * update, inference with the running statistics, and backward), enqueueing cl/batchnorm.cl; each also
 * fused with the activation after it.
 *
 * The per-channel reductions are two-stage (blocks of bn_chunk elements, one work-item each, then
 * one work-item per channel over the blocks' partials, see the kernel file); the partials live in
 * the device workspace only between the two launches. */
#include "cltrain/ops.h"

#include <limits.h>
#include <stdio.h>

/* floats per work-item of the element-wise kernels (VEC in cl/batchnorm.cl) */
#define BN_VEC 16

typedef struct {
    int parts; /* stage-1 blocks per channel */
    char options[64];
} bn_launch;

/* no activation fused */
#define BN_NO_ACT (-1)

/* ACT in cl/batchnorm.cl for an activation (BN_NO_ACT: 0), or -1 for a value that names none */
static int bn_act_code(int act)
{
    static const int code[OPS_ACTIVATION_COUNT] = {
        [OPS_RELU] = 1, [OPS_LEAKY_RELU] = 2, [OPS_ELU] = 3,  [OPS_SILU] = 4,
        [OPS_GELU] = 5, [OPS_MISH] = 6,       [OPS_TANH] = 7, [OPS_SIGMOID] = 8,
    };
    if (act == BN_NO_ACT) return 0;
    return act >= 0 && act < OPS_ACTIVATION_COUNT ? code[act] : -1;
}

/* Whether backward stores the gradient of the batch norm's output between its passes (STORE_G in
 * cl/batchnorm.cl) instead of taking the activation's derivative twice: for those whose derivative
 * costs an exponential or more; relu and leaky_relu's is a comparison, cheaper than a stream. */
static int bn_store_grad(int act)
{
    return act != BN_NO_ACT && act != OPS_RELU && act != OPS_LEAKY_RELU;
}

/* Checks the shape shared by every pass and plans the two-stage reduction with act fused (and with
 * backward's gradient of z stored, store_g). */
static int bn_plan(device_ctx *d, const char *what, int N, int C, int HW, int act, int store_g, bn_launch *lp)
{
    if (N < 1 || C < 1 || HW < 1)
        return device_fail(d, "batch norm %s was given N=%d, C=%d, HW=%d; every size must be positive", what,
                           N, C, HW);
    if ((double)N * C * HW > INT_MAX)
        return device_fail(d,
                           "batch norm %s over N=%d, C=%d, HW=%d has more than %d elements, which its "
                           "kernels cannot index",
                           what, N, C, HW, INT_MAX);
    /* elements of a channel each stage-1 work-item sums in 16 lanes, the launch choice bn_chunk (8192
     * by default: enough to amortise a work-item, few enough that a 224x224 channel still gives
     * hundreds of blocks and each lane's float sum stays short) */
    int n = N * HW, chunk = d->launch.v[LAUNCH_BN_CHUNK];
    lp->parts = (n + chunk - 1) / chunk;
    int code = bn_act_code(act);
    if (code < 0) return device_fail(d, "batch norm %s was given activation %d, which names none", what, act);
    snprintf(lp->options, sizeof lp->options, "-DCHUNK=%d -DACT=%d -DSTORE_G=%d", chunk, code, store_g);
    return 0;
}

/* Stage 1 over grid (parts, C), one work-item per block. */
static int bn_run_blocks(device_ctx *d, cl_kernel k, const bn_launch *lp, int C, const char *what)
{
    size_t global[2] = {(size_t)lp->parts, (size_t)C};
    return device_run(d, k, 2, global, NULL, what);
}

/* The element-wise kernels over grid (ceil(HW/VEC), N*C). */
static int bn_run_elementwise(device_ctx *d, cl_kernel k, int N, int C, int HW, const char *what)
{
    size_t global[2] = {((size_t)HW + BN_VEC - 1) / BN_VEC, (size_t)N * C};
    return device_run(d, k, 2, global, NULL, what);
}

static int forward_train(device_ctx *d, int act, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                         cl_mem running_mean, cl_mem running_var, cl_mem save_mean, cl_mem save_invstd, int N,
                         int C, int HW, float momentum, float eps)
{
    bn_launch lp;
    if (bn_plan(d, "training forward", N, C, HW, act, 0, &lp)) return -1;
    int n = N * HW;
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
    if (bn_run_blocks(d, k1, &lp, C, "the batch norm partial statistics")) return -1;

    DEVICE_ARG(st, k2, 0, part);
    DEVICE_ARG(st, k2, 1, running_mean);
    DEVICE_ARG(st, k2, 2, running_var);
    DEVICE_ARG(st, k2, 3, save_mean);
    DEVICE_ARG(st, k2, 4, save_invstd);
    DEVICE_ARG(st, k2, 5, C);
    DEVICE_ARG(st, k2, 6, n);
    DEVICE_ARG(st, k2, 7, lp.parts);
    DEVICE_ARG(st, k2, 8, momentum);
    DEVICE_ARG(st, k2, 9, eps);
    if (device_check(d, st, "setting the batch norm finalize arguments")) return -1;
    if (device_run_1d(d, k2, (size_t)C, "the batch norm statistics")) return -1;

    DEVICE_ARG(st, k3, 0, y);
    DEVICE_ARG(st, k3, 1, x);
    DEVICE_ARG(st, k3, 2, gamma);
    DEVICE_ARG(st, k3, 3, beta);
    DEVICE_ARG(st, k3, 4, save_mean);
    DEVICE_ARG(st, k3, 5, save_invstd);
    DEVICE_ARG(st, k3, 6, C);
    DEVICE_ARG(st, k3, 7, HW);
    if (device_check(d, st, "setting the batch norm normalize arguments")) return -1;
    return bn_run_elementwise(d, k3, N, C, HW, "the batch norm normalize");
}

static int forward_eval(device_ctx *d, int act, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                        cl_mem running_mean, cl_mem running_var, int N, int C, int HW, float eps)
{
    bn_launch lp;
    if (bn_plan(d, "inference forward", N, C, HW, act, 0, &lp)) return -1;
    if (!(eps > 0.0f)) return device_fail(d, "batch norm was given eps %g; it must be positive", eps);
    if (!y || !x || !gamma || !beta || !running_mean || !running_var)
        return device_fail(d, "batch norm inference forward was given a NULL buffer");
    cl_kernel k = device_kernel(d, "batchnorm.cl", "bn_eval", lp.options);
    if (!k) return -1;
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
    if (device_check(d, st, "setting the batch norm inference arguments")) return -1;
    return bn_run_elementwise(d, k, N, C, HW, "the batch norm inference");
}

/* beta: unread without a fused activation */
static int backward(device_ctx *d, int act, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                    cl_mem gamma, cl_mem beta, cl_mem save_mean, cl_mem save_invstd, int N, int C, int HW)
{
    /* the gradient of z goes to dx's buffer; without dx there is nowhere to put it, nor a second pass */
    int store_g = dx && bn_store_grad(act);
    cl_mem gz = store_g ? dx : dy; /* where bn_partial_grad puts it, and what bn_dx reads as dy */
    bn_launch lp;
    if (bn_plan(d, "backward", N, C, HW, act, store_g, &lp)) return -1;
    if (!dgamma || !dbeta || !dy || !x || !gamma || !beta || !save_mean || !save_invstd)
        return device_fail(d, "batch norm backward was given a NULL buffer");
    int n = N * HW;
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
    DEVICE_ARG(st, k1, 3, gamma);
    DEVICE_ARG(st, k1, 4, beta);
    DEVICE_ARG(st, k1, 5, save_mean);
    DEVICE_ARG(st, k1, 6, save_invstd);
    DEVICE_ARG(st, k1, 7, C);
    DEVICE_ARG(st, k1, 8, HW);
    DEVICE_ARG(st, k1, 9, n);
    DEVICE_ARG(st, k1, 10, lp.parts);
    DEVICE_ARG(st, k1, 11, gz); /* unwritten without store_g */
    if (device_check(d, st, "setting the batch norm gradient sum arguments")) return -1;
    if (bn_run_blocks(d, k1, &lp, C, "the batch norm partial gradient sums")) return -1;

    DEVICE_ARG(st, k2, 0, part);
    DEVICE_ARG(st, k2, 1, save_invstd);
    DEVICE_ARG(st, k2, 2, dgamma);
    DEVICE_ARG(st, k2, 3, dbeta);
    DEVICE_ARG(st, k2, 4, C);
    DEVICE_ARG(st, k2, 5, n);
    DEVICE_ARG(st, k2, 6, lp.parts);
    if (device_check(d, st, "setting the batch norm gradient finalize arguments")) return -1;
    if (device_run_1d(d, k2, (size_t)C, "the batch norm parameter gradients")) return -1;

    /* the first layer never has batch norm, but a NULL dx still only skips the input gradient */
    if (!dx) return 0;
    DEVICE_ARG(st, k3, 0, dx);
    DEVICE_ARG(st, k3, 1, gz);
    DEVICE_ARG(st, k3, 2, x);
    DEVICE_ARG(st, k3, 3, gamma);
    DEVICE_ARG(st, k3, 4, beta);
    DEVICE_ARG(st, k3, 5, save_mean);
    DEVICE_ARG(st, k3, 6, save_invstd);
    DEVICE_ARG(st, k3, 7, dgamma);
    DEVICE_ARG(st, k3, 8, dbeta);
    DEVICE_ARG(st, k3, 9, C);
    DEVICE_ARG(st, k3, 10, HW);
    DEVICE_ARG(st, k3, 11, n);
    if (device_check(d, st, "setting the batch norm input gradient arguments")) return -1;
    return bn_run_elementwise(d, k3, N, C, HW, "the batch norm input gradient");
}

int ops_batchnorm_forward_train(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                                cl_mem running_mean, cl_mem running_var, cl_mem save_mean, cl_mem save_invstd,
                                int N, int C, int HW, float momentum, float eps)
{
    return forward_train(d, BN_NO_ACT, y, x, gamma, beta, running_mean, running_var, save_mean, save_invstd,
                         N, C, HW, momentum, eps);
}

int ops_batchnorm_act_forward_train(device_ctx *d, ops_activation act, cl_mem y, cl_mem x, cl_mem gamma,
                                    cl_mem beta, cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                                    cl_mem save_invstd, int N, int C, int HW, float momentum, float eps)
{
    return forward_train(d, (int)act, y, x, gamma, beta, running_mean, running_var, save_mean, save_invstd, N,
                         C, HW, momentum, eps);
}

int ops_batchnorm_forward_eval(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                               cl_mem running_mean, cl_mem running_var, int N, int C, int HW, float eps)
{
    return forward_eval(d, BN_NO_ACT, y, x, gamma, beta, running_mean, running_var, N, C, HW, eps);
}

int ops_batchnorm_act_forward_eval(device_ctx *d, ops_activation act, cl_mem y, cl_mem x, cl_mem gamma,
                                   cl_mem beta, cl_mem running_mean, cl_mem running_var, int N, int C, int HW,
                                   float eps)
{
    return forward_eval(d, (int)act, y, x, gamma, beta, running_mean, running_var, N, C, HW, eps);
}

int ops_batchnorm_backward(device_ctx *d, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                           cl_mem gamma, cl_mem save_mean, cl_mem save_invstd, int N, int C, int HW)
{
    /* the kernels' beta argument is not read without an activation: any valid buffer */
    return backward(d, BN_NO_ACT, dx, dgamma, dbeta, dy, x, gamma, gamma, save_mean, save_invstd, N, C, HW);
}

int ops_batchnorm_act_backward(device_ctx *d, ops_activation act, cl_mem dx, cl_mem dgamma, cl_mem dbeta,
                               cl_mem dy, cl_mem x, cl_mem gamma, cl_mem beta, cl_mem save_mean,
                               cl_mem save_invstd, int N, int C, int HW)
{
    return backward(d, (int)act, dx, dgamma, dbeta, dy, x, gamma, beta, save_mean, save_invstd, N, C, HW);
}
