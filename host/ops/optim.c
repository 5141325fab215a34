/* optim.c: the optimizers (sgd, adam, adamw, nadam, rmsprop) with PyTorch's update rules and
 * defaults, enqueueing cl/optim.cl over the one buffer that holds every parameter, so a step is one
 * launch whatever the model. The host keeps the step count (and NAdam's product of momentum
 * factors) and turns it into the step's scalars in double, as PyTorch does in Python floats; the
 * kernels only see floats. */
#include "cltrain/ops.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* indexed by ops_optimizer; the names the config accepts */
static const char *const OPT_NAMES[OPS_OPTIMIZER_COUNT] = {
    [OPS_SGD] = "sgd",     [OPS_ADAM] = "adam",       [OPS_ADAMW] = "adamw",
    [OPS_NADAM] = "nadam", [OPS_RMSPROP] = "rmsprop",
};

const char *ops_optimizer_name(ops_optimizer o)
{
    if ((int)o < 0 || o >= OPS_OPTIMIZER_COUNT) return NULL;
    return OPT_NAMES[o];
}

int ops_optimizer_parse(const char *name, ops_optimizer *out)
{
    if (!name) return -1;
    for (int i = 0; i < OPS_OPTIMIZER_COUNT; i++)
        if (!strcmp(name, OPT_NAMES[i])) {
            if (out) *out = (ops_optimizer)i;
            return 0;
        }
    return -1;
}

ops_optim_params ops_optim_defaults(ops_optimizer kind, float lr)
{
    /* torch.optim's constructor defaults; the fields a kind does not use stay at their usual values
     * so that switching kind in a config never meets a zero eps or beta */
    ops_optim_params p = {
        .kind = kind,
        .lr = lr,
        .weight_decay = kind == OPS_ADAMW ? 1e-2f : 0.0f,
        .momentum = 0.0f,
        .nesterov = 0,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .alpha = 0.99f,
        .momentum_decay = 4e-3f,
    };
    return p;
}

int ops_optim_state_per_param(const ops_optim_params *p)
{
    if (!p) return 0;
    switch (p->kind) {
    case OPS_SGD:
        return 1;  /* momentum buffer */
    case OPS_ADAM: /* exp_avg, exp_avg_sq */
    case OPS_ADAMW:
    case OPS_NADAM:
        return 2;
    case OPS_RMSPROP:
        return 2; /* square_avg, momentum buffer */
    default:
        return 0;
    }
}

/* Rejects what torch.optim's constructors reject, with the field's name in the sentence. */
static int optim_check_params(device_ctx *d, const ops_optim_params *p)
{
    const char *name = ops_optimizer_name(p->kind);
    if (!name)
        return device_fail(
            d, "optimizer %d is not one of the %d known optimizers (sgd, adam, adamw, nadam, rmsprop)",
            (int)p->kind, OPS_OPTIMIZER_COUNT);
    /* each test is written so that NaN fails it */
    if (!(p->lr >= 0.0f && isfinite(p->lr)))
        return device_fail(d, "%s was given learning rate %g; it must be a finite number >= 0", name, p->lr);
    if (!(p->weight_decay >= 0.0f && isfinite(p->weight_decay)))
        return device_fail(d, "%s was given weight decay %g; it must be a finite number >= 0", name,
                           p->weight_decay);
    switch (p->kind) {
    case OPS_SGD:
    case OPS_RMSPROP:
        if (!(p->momentum >= 0.0f && isfinite(p->momentum)))
            return device_fail(d, "%s was given momentum %g; it must be a finite number >= 0", name,
                               p->momentum);
        if (p->kind == OPS_SGD && p->nesterov && p->momentum == 0.0f)
            return device_fail(d, "sgd with nesterov needs a momentum above 0 (PyTorch refuses it too)");
        if (p->kind == OPS_RMSPROP && !(p->alpha >= 0.0f && p->alpha <= 1.0f))
            return device_fail(d, "rmsprop was given alpha %g; it must be in [0, 1]", p->alpha);
        break;
    default:
        if (!(p->beta1 >= 0.0f && p->beta1 < 1.0f) || !(p->beta2 >= 0.0f && p->beta2 < 1.0f))
            return device_fail(d, "%s was given betas (%g, %g); each must be in [0, 1)", name, p->beta1,
                               p->beta2);
        if (p->kind == OPS_NADAM && !(p->momentum_decay >= 0.0f && isfinite(p->momentum_decay)))
            return device_fail(d, "nadam was given momentum decay %g; it must be a finite number >= 0",
                               p->momentum_decay);
        break;
    }
    if (p->kind != OPS_SGD && !(p->eps >= 0.0f && isfinite(p->eps)))
        return device_fail(d, "%s was given eps %g; it must be a finite number >= 0", name, p->eps);
    return 0;
}

/* Fails unless buf holds at least `floats` floats. */
static int optim_buffer(device_ctx *d, cl_mem buf, size_t floats, const char *what, const char *name)
{
    size_t have = 0;
    if (device_check(d, clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof have, &have, NULL),
                     "asking an optimizer buffer's size"))
        return -1;
    if (have < floats * sizeof(float))
        return device_fail(d, "%s needs %zu floats of %s but its buffer holds %zu", name, floats, what,
                           have / sizeof(float));
    return 0;
}

/* The kernel arguments that follow (param, grad, state, n) for each kind, from the step about to be
 * taken (t, counting from 1). Returns the number set, or -1. */
static int optim_scalars(const ops_optim_params *p, long t, double mu_product, double *mu_product_out,
                         float *a)
{
    double lr = p->lr, wd = p->weight_decay, b1 = p->beta1, b2 = p->beta2;
    switch (p->kind) {
    case OPS_SGD:
        a[0] = p->lr, a[1] = p->weight_decay, a[2] = p->momentum;
        return 3;
    case OPS_ADAM:
    case OPS_ADAMW: {
        double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
        int decoupled = p->kind == OPS_ADAMW;
        a[0] = decoupled ? (float)(1.0 - lr * wd) : 1.0f;
        a[1] = decoupled ? 0.0f : p->weight_decay;
        a[2] = (float)(1.0 - b1);
        a[3] = p->beta2;
        a[4] = (float)(1.0 - b2);
        a[5] = (float)(lr / bc1);
        a[6] = (float)sqrt(bc2);
        a[7] = p->eps;
        return 8;
    }
    case OPS_NADAM: {
        double md = p->momentum_decay;
        double mu = b1 * (1.0 - 0.5 * pow(0.96, (double)t * md));
        double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (double)(t + 1) * md));
        double prod = mu_product * mu, prod_next = prod * mu_next;
        *mu_product_out = prod;
        a[0] = p->weight_decay;
        a[1] = (float)(1.0 - b1);
        a[2] = p->beta2;
        a[3] = (float)(1.0 - b2);
        a[4] = (float)(1.0 - pow(b2, (double)t));
        a[5] = p->eps;
        a[6] = (float)(-lr * (1.0 - mu) / (1.0 - prod));
        a[7] = (float)(-lr * mu_next / (1.0 - prod_next));
        return 8;
    }
    case OPS_RMSPROP:
        a[0] = p->lr, a[1] = p->weight_decay, a[2] = p->alpha, a[3] = (float)(1.0 - (double)p->alpha);
        a[4] = p->eps, a[5] = p->momentum;
        return 6;
    default:
        return -1;
    }
}

int ops_optim_step(device_ctx *d, const ops_optim_params *p, ops_optim_host_state *hs, cl_mem params,
                   cl_mem grads, cl_mem state, size_t n)
{
    if (!p || !hs) return device_fail(d, "an optimizer step was given no parameters or no host state");
    if (optim_check_params(d, p)) return -1;
    if (n == 0) return 0; /* nothing to update; the step count does not move either */
    const char *name = ops_optimizer_name(p->kind);
    /* the kernels index the second state block as n + i in int */
    if (n > (size_t)INT_MAX / 2)
        return device_fail(d, "%s over %zu parameters is more than its kernel can index (%d)", name, n,
                           INT_MAX / 2);
    if (hs->step < 0) return device_fail(d, "%s was given a host state at step %ld", name, hs->step);
    if (!params || !grads || !state) return device_fail(d, "%s was given a NULL buffer", name);
    size_t spp = (size_t)ops_optim_state_per_param(p);
    if (optim_buffer(d, params, n, "parameters", name) || optim_buffer(d, grads, n, "gradients", name) ||
        optim_buffer(d, state, spp * n, "state", name))
        return -1;

    char kname[32];
    snprintf(kname, sizeof kname, "%s_step", p->kind == OPS_ADAMW ? "adam" : name);
    cl_kernel k = device_kernel(d, "optim.cl", kname, "");
    if (!k) return -1;

    long t = hs->step + 1;
    /* a zeroed host state means no product yet: PyTorch starts mu_product at 1 */
    double mu_product = hs->step == 0 ? 1.0 : hs->mu_product, new_product = mu_product;
    float a[8];
    int na = optim_scalars(p, t, mu_product, &new_product, a);
    if (na < 0) return device_fail(d, "%s has no update rule", name);
    cl_int ni = (cl_int)n, st = 0;
    DEVICE_ARG(st, k, 0, params);
    DEVICE_ARG(st, k, 1, grads);
    DEVICE_ARG(st, k, 2, state);
    DEVICE_ARG(st, k, 3, ni);
    for (int i = 0; i < na; i++)
        DEVICE_ARG(st, k, (cl_uint)(4 + i), a[i]);
    if (p->kind == OPS_SGD) {
        cl_int nesterov = p->nesterov ? 1 : 0;
        DEVICE_ARG(st, k, (cl_uint)(4 + na), nesterov);
    }
    if (device_check(d, st, "setting the optimizer arguments")) return -1;
    if (device_run_1d(d, k, n, "the optimizer step")) return -1;
    /* only a step that was enqueued advances the host state */
    hs->step = t;
    hs->mu_product = new_product;
    return 0;
}
