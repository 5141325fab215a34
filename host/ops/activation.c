/* activation.c: the element-wise activations (relu, silu, gelu, mish, tanh, sigmoid, leaky_relu, elu),
 * their names as the config spells them, and the enqueueing of cl/activation.cl's kernels. The
 * formulas and their care for large |x| live in the kernel file. */
#include "cltrain/ops.h"

#include <stdio.h>
#include <string.h>

/* indexed by ops_activation; the name is also the kernels' prefix in cl/activation.cl */
static const char *const ACT_NAMES[OPS_ACTIVATION_COUNT] = {
    [OPS_RELU] = "relu",
    [OPS_SILU] = "silu",
    [OPS_GELU] = "gelu",
    [OPS_MISH] = "mish",
    [OPS_TANH] = "tanh",
    [OPS_SIGMOID] = "sigmoid",
    [OPS_LEAKY_RELU] = "leaky_relu",
    [OPS_ELU] = "elu",
};

const char *ops_activation_name(ops_activation a)
{
    if ((int)a < 0 || a >= OPS_ACTIVATION_COUNT) return NULL;
    return ACT_NAMES[a];
}

int ops_activation_parse(const char *name, ops_activation *out)
{
    if (!name) return -1;
    for (int i = 0; i < OPS_ACTIVATION_COUNT; i++)
        if (!strcmp(name, ACT_NAMES[i])) {
            if (out) *out = (ops_activation)i;
            return 0;
        }
    return -1;
}

/* Checks the arguments shared by forward and backward and fetches `<name>_<pass>`. */
static cl_kernel act_kernel(device_ctx *d, ops_activation a, const char *pass, size_t n, int buffers_ok)
{
    const char *name = ops_activation_name(a);
    if (!name) {
        device_fail(d, "activation %d is not one of the %d known activations", (int)a, OPS_ACTIVATION_COUNT);
        return NULL;
    }
    if (n == 0) {
        device_fail(d, "%s %s was asked for 0 elements; a layer's tensor has at least one", name, pass);
        return NULL;
    }
    if (!buffers_ok) {
        device_fail(d, "%s %s was given a NULL buffer", name, pass);
        return NULL;
    }
    char kname[64];
    snprintf(kname, sizeof kname, "%s_%s", name, pass);
    return device_kernel(d, "activation.cl", kname, "");
}

int ops_activation_forward(device_ctx *d, ops_activation a, cl_mem y, cl_mem x, size_t n)
{
    cl_kernel k = act_kernel(d, a, "forward", n, y && x);
    if (!k) return -1;
    cl_ulong un = n;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, y);
    DEVICE_ARG(st, k, 1, x);
    DEVICE_ARG(st, k, 2, un);
    if (device_check(d, st, "setting the activation forward arguments")) return -1;
    return device_run_1d(d, k, n, "the activation forward");
}

int ops_activation_backward(device_ctx *d, ops_activation a, cl_mem dx, cl_mem dy, cl_mem x, size_t n)
{
    cl_kernel k = act_kernel(d, a, "backward", n, dx && dy && x);
    if (!k) return -1;
    cl_ulong un = n;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, dx);
    DEVICE_ARG(st, k, 1, dy);
    DEVICE_ARG(st, k, 2, x);
    DEVICE_ARG(st, k, 3, un);
    if (device_check(d, st, "setting the activation backward arguments")) return -1;
    return device_run_1d(d, k, n, "the activation backward");
}

int ops_activation_from_output(ops_activation a)
{
    return a == OPS_RELU || a == OPS_LEAKY_RELU || a == OPS_ELU;
}

int ops_activation_backward_from_output(device_ctx *d, ops_activation a, cl_mem dx, cl_mem dy, cl_mem y, size_t n)
{
    if (!ops_activation_from_output(a))
        return device_fail(d, "%s's derivative does not follow from its output; it goes backward from its input",
                           ops_activation_name(a) ? ops_activation_name(a) : "this activation");
    cl_kernel k = act_kernel(d, a, "backward_y", n, dx && dy && y);
    if (!k) return -1;
    cl_ulong un = n;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, dx);
    DEVICE_ARG(st, k, 1, dy);
    DEVICE_ARG(st, k, 2, y);
    DEVICE_ARG(st, k, 3, un);
    if (device_check(d, st, "setting the activation backward arguments")) return -1;
    return device_run_1d(d, k, n, "the activation backward");
}
