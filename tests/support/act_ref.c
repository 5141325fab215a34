/* act_ref.c: the activations and their derivatives in double precision, the references every kernel
 * that applies an activation (cl/activation.cl, batchnorm.cl's fused kernels) is judged by. */
#include "act_ref.h"

#include <check.h>
#include <math.h>

static double sig(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

static double softplus(double x)
{
    return x > 30 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double tu_act_ref(ops_activation a, double x)
{
    switch (a) {
    case OPS_RELU:
        return x > 0 ? x : 0;
    case OPS_SILU:
        return x * sig(x);
    case OPS_GELU:
        return 0.5 * x * erfc(-x / sqrt(2.0));
    case OPS_MISH:
        return x * tanh(softplus(x));
    case OPS_TANH:
        return tanh(x);
    case OPS_SIGMOID:
        return sig(x);
    case OPS_LEAKY_RELU:
        return x > 0 ? x : 0.01 * x;
    case OPS_ELU:
        return x > 0 ? x : expm1(x);
    default:
        ck_abort_msg("no reference for activation %d", (int)a);
    }
    return 0;
}

double tu_act_ref_slope(ops_activation a, double x)
{
    switch (a) {
    case OPS_RELU:
        return x > 0 ? 1 : 0;
    case OPS_SILU:
        return sig(x) + x * sig(x) * sig(-x);
    case OPS_GELU:
        return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    case OPS_MISH: {
        double t = tanh(softplus(x));
        double sech = 1.0 / cosh(softplus(x));
        return t + x * sech * sech * sig(x);
    }
    case OPS_TANH: {
        double s = 1.0 / cosh(x);
        return s * s;
    }
    case OPS_SIGMOID:
        return sig(x) * sig(-x);
    case OPS_LEAKY_RELU:
        return x > 0 ? 1 : 0.01;
    case OPS_ELU:
        return x > 0 ? 1 : exp(x);
    default:
        ck_abort_msg("no reference for activation %d", (int)a);
    }
    return 0;
}
