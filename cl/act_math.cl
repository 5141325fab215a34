/* act_math.cl: every activation f and its derivative f' as functions of its input, written once for
 * any float type: a file that includes it defines ACT_T (float, or float16 for batchnorm.cl's runs)
 * and ACT_FN(name), the names to give the functions, and may include it again for another type.
 * cmake/embed_cl.cmake pastes it in place of `#include "act_math.cl"`.
 *
 * Every formula is written to stay finite and accurate for large |x|: exponentials only of
 * non-positive arguments, 1 - s and 1 - t^2 computed without cancellation, softplus guarded. Branches
 * are select()s, which read the same for scalars and vectors, and a NaN input passes through as in
 * PyTorch: each select keeps x (or an expression of it) on the side a NaN's false comparison picks. */

#ifndef ACT_INV_SQRT_2PI
#define ACT_INV_SQRT_2PI 0.39894228040143268f
#endif

/* logistic sigmoid from exp of a non-positive argument, so it neither overflows nor loses the small
 * tail (sigmoid(-30) keeps its relative accuracy) */
static ACT_T ACT_FN(sigmoid)(ACT_T x)
{
    ACT_T e = exp(-fabs(x));
    return select(e, (ACT_T)1.0f, x >= 0.0f) / (1.0f + e);
}

/* s(x) s(-x) = s (1 - s) = e / (1 + e)^2 with e = exp(-|x|): one exponential for both factors */
static ACT_T ACT_FN(sigmoid_slope)(ACT_T x)
{
    ACT_T e = exp(-fabs(x)), d = 1.0f + e;
    return e / (d * d);
}

/* erfc(x) as t exp(P(t) - x^2) with t = 1 / (1 + |x|/2) and P the published Chebyshev fit of Press et
 * al., Numerical Recipes, section 6.2 (erfcc: fractional error below 1.2e-7 for every x). PoCL's builtin
 * erfc ran at 27 ns an element, 80 times relu's rate, which made gelu cost more than the whole rest of a
 * training step; this vectorises like exp */
static ACT_T ACT_FN(erfc)(ACT_T x)
{
    ACT_T z = fabs(x), t = 1.0f / (1.0f + 0.5f * z);
    ACT_T p = -1.26551223f +
              t * (1.00002368f +
                   t * (0.37409196f +
                        t * (0.09678418f +
                             t * (-0.18628806f +
                                  t * (0.27886807f +
                                       t * (-1.13520398f +
                                            t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    ACT_T r = t * exp(p - z * z);
    return select(2.0f - r, r, x >= 0.0f);
}

/* e^x - 1: its Taylor series to x^9 (relative error below 1e-8) for |x| < 1/2, e^x - 1 beyond, where
 * the subtraction is exact down to x = -ln 2 and the result at least 0.39 in size. PoCL's builtin
 * expm1 costs 30 times exp once vectorised. */
static ACT_T ACT_FN(expm1)(ACT_T x)
{
    ACT_T p = 1.0f + x * (1.0f / 9.0f);
    p = 1.0f + x * (1.0f / 8.0f) * p;
    p = 1.0f + x * (1.0f / 7.0f) * p;
    p = 1.0f + x * (1.0f / 6.0f) * p;
    p = 1.0f + x * (1.0f / 5.0f) * p;
    p = 1.0f + x * (1.0f / 4.0f) * p;
    p = 1.0f + x * (1.0f / 3.0f) * p;
    p = 1.0f + x * 0.5f * p;
    return select(exp(x) - 1.0f, x * p, fabs(x) < 0.5f);
}

/* tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2), and 1 - that = 2 / (n + 2) without
 * cancellation; past x = 20 they are 1 and 0 to float precision, and e^x would overflow in n before
 * x = 45 */
static ACT_T ACT_FN(tanh_softplus)(ACT_T x, ACT_T *one_minus)
{
    ACT_T e = exp(fmin(x, 20.0f));
    ACT_T n = e * (e + 2.0f);
    *one_minus = select(2.0f / (n + 2.0f), (ACT_T)0.0f, x > 20.0f);
    return select(n / (n + 2.0f), (ACT_T)1.0f, x > 20.0f);
}

/* sech^2(x) = 1 - tanh^2(x) = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation near |x| large */
static ACT_T ACT_FN(sech2)(ACT_T x)
{
    ACT_T e = exp(-2.0f * fabs(x));
    ACT_T d = 1.0f + e;
    return 4.0f * e / (d * d);
}

/* the activations f(x); relu and leaky_relu take the left slope at 0 in f', as PyTorch */
static ACT_T ACT_FN(relu)(ACT_T x)
{
    return select(x, (ACT_T)0.0f, x < 0.0f);
}

static ACT_T ACT_FN(d_relu)(ACT_T x)
{
    return select((ACT_T)0.0f, (ACT_T)1.0f, x > 0.0f);
}

static ACT_T ACT_FN(leaky_relu)(ACT_T x)
{
    return select(x, 0.01f * x, x < 0.0f);
}

static ACT_T ACT_FN(d_leaky_relu)(ACT_T x)
{
    return select((ACT_T)0.01f, (ACT_T)1.0f, x > 0.0f);
}

static ACT_T ACT_FN(elu)(ACT_T x)
{
    return select(x, ACT_FN(expm1)(x), x < 0.0f);
}

static ACT_T ACT_FN(d_elu)(ACT_T x)
{
    return select(exp(x), (ACT_T)1.0f, x > 0.0f);
}

static ACT_T ACT_FN(silu)(ACT_T x)
{
    return x * ACT_FN(sigmoid)(x);
}

/* silu' = s + x s (1 - s) */
static ACT_T ACT_FN(d_silu)(ACT_T x)
{
    return ACT_FN(sigmoid)(x) + x * ACT_FN(sigmoid_slope)(x);
}

/* 0.5 x (1 + erf(x / sqrt2)) = 0.5 x erfc(-x / sqrt2): erfc keeps the negative tail accurate
 * (M_SQRT1_2_F comes with OpenCL C) */
static ACT_T ACT_FN(gelu)(ACT_T x)
{
    return 0.5f * x * ACT_FN(erfc)(-x * M_SQRT1_2_F);
}

/* gelu' = Phi(x) + x phi(x) */
static ACT_T ACT_FN(d_gelu)(ACT_T x)
{
    return 0.5f * ACT_FN(erfc)(-x * M_SQRT1_2_F) + x * ACT_INV_SQRT_2PI * exp(-0.5f * x * x);
}

static ACT_T ACT_FN(mish)(ACT_T x)
{
    ACT_T om;
    return x * ACT_FN(tanh_softplus)(x, &om);
}

/* mish' = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)), softplus' = sigmoid */
static ACT_T ACT_FN(d_mish)(ACT_T x)
{
    ACT_T om;
    ACT_T t = ACT_FN(tanh_softplus)(x, &om);
    return t + x * om * (1.0f + t) * ACT_FN(sigmoid)(x);
}

static ACT_T ACT_FN(tanh)(ACT_T x)
{
    return tanh(x);
}

static ACT_T ACT_FN(d_tanh)(ACT_T x)
{
    return ACT_FN(sech2)(x);
}

static ACT_T ACT_FN(d_sigmoid)(ACT_T x)
{
    return ACT_FN(sigmoid_slope)(x);
}
