/* activation.cl: element-wise activations and their derivatives, one forward and one backward kernel
 * per activation (all in one program, so one build serves every activation a sweep may pick).
 *
 * Every formula is written to stay finite and accurate for large |x|: exponentials only of
 * non-positive arguments, 1 - s and 1 - t^2 computed without cancellation, softplus guarded. */

/* logistic sigmoid from exp of a non-positive argument, so it neither overflows nor loses the
 * small tail (sigmoid(-30) keeps its relative accuracy) */
static float act_sigmoid(float x)
{
    float e = exp(-fabs(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* s(x) s(-x) = s (1 - s) = e / (1 + e)^2 with e = exp(-|x|): one exponential for both factors */
static float act_sigmoid_slope(float x)
{
    float e = exp(-fabs(x)), d = 1.0f + e;
    return e / (d * d);
}

/* erfc(x) as t exp(P(t) - x^2) with t = 1 / (1 + |x|/2) and P the published Chebyshev fit of Press et
 * al., Numerical Recipes, section 6.2 (erfcc: fractional error below 1.2e-7 for every x). PoCL's builtin
 * erfc ran at 27 ns an element, 80 times relu's rate, which made gelu cost more than the whole rest of a
 * training step; this vectorises like exp */
static float act_erfc(float x)
{
    float z = fabs(x), t = 1.0f / (1.0f + 0.5f * z);
    float p = -1.26551223f +
              t * (1.00002368f +
                   t * (0.37409196f +
                        t * (0.09678418f +
                             t * (-0.18628806f +
                                  t * (0.27886807f +
                                       t * (-1.13520398f +
                                            t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float r = t * exp(p - z * z);
    return x >= 0.0f ? r : 2.0f - r;
}

/* tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2); past x = 20 it is 1 to float precision,
 * and e^x would overflow in n before x = 45 */
static float act_tanh_softplus(float x, float *one_minus)
{
    if (x > 20.0f) {
        *one_minus = 0.0f;
        return 1.0f;
    }
    float e = exp(x);
    float n = e * (e + 2.0f);
    *one_minus = 2.0f / (n + 2.0f); /* 1 - t without cancellation */
    return n / (n + 2.0f);
}

/* sech^2(x) = 1 - tanh^2(x) = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation near |x| large */
static float act_sech2(float x)
{
    float e = exp(-2.0f * fabs(x));
    float d = 1.0f + e;
    return 4.0f * e / (d * d);
}

/* M_SQRT1_2_F comes with OpenCL C */
#define ACT_INV_SQRT_2PI 0.39894228040143268f

/* forward f(x) */
/* written so that a NaN input passes through, as in PyTorch, instead of becoming 0 */
#define F_RELU(x) ((x) < 0.0f ? 0.0f : (x))
#define F_SILU(x) ((x)*act_sigmoid(x))
/* 0.5 x (1 + erf(x / sqrt2)) = 0.5 x erfc(-x / sqrt2): erfc keeps the negative tail accurate */
#define F_GELU(x) (0.5f * (x)*act_erfc(-(x)*M_SQRT1_2_F))
#define F_TANH(x) tanh(x)
#define F_SIGMOID(x) act_sigmoid(x)
#define F_LEAKY_RELU(x) ((x) < 0.0f ? 0.01f * (x) : (x))
#define F_ELU(x) ((x) < 0.0f ? expm1(x) : (x))

static float f_mish(float x)
{
    float om;
    return x * act_tanh_softplus(x, &om);
}
#define F_MISH(x) f_mish(x)

/* derivative f'(x); relu and leaky_relu take the left slope at 0, as PyTorch */
#define D_RELU(x) ((x) > 0.0f ? 1.0f : 0.0f)
#define D_LEAKY_RELU(x) ((x) > 0.0f ? 1.0f : 0.01f)
#define D_ELU(x) ((x) > 0.0f ? 1.0f : exp(x))
#define D_TANH(x) act_sech2(x)
#define D_SIGMOID(x) act_sigmoid_slope(x)

/* silu' = s + x s (1 - s) */
static float d_silu(float x)
{
    return act_sigmoid(x) + x * act_sigmoid_slope(x);
}
#define D_SILU(x) d_silu(x)

/* gelu' = Phi(x) + x phi(x) */
static float d_gelu(float x)
{
    return 0.5f * act_erfc(-x * M_SQRT1_2_F) + x * ACT_INV_SQRT_2PI * exp(-0.5f * x * x);
}
#define D_GELU(x) d_gelu(x)

/* mish' = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)), softplus' = sigmoid */
static float d_mish(float x)
{
    float om;
    float t = act_tanh_softplus(x, &om);
    return t + x * om * (1.0f + t) * act_sigmoid(x);
}
#define D_MISH(x) d_mish(x)

/* y may be x; dx may be dy: every work-item reads its element before writing it */
#define ACT_KERNELS(name, F, D)                                                                              \
    __kernel void name##_forward(__global float *y, __global const float *x, ulong n)                        \
    {                                                                                                        \
        size_t i = get_global_id(0);                                                                         \
        if (i < n) {                                                                                         \
            float v = x[i];                                                                                  \
            y[i] = F(v);                                                                                     \
        }                                                                                                    \
    }                                                                                                        \
    __kernel void name##_backward(__global float *dx, __global const float *dy, __global const float *x,     \
                                  ulong n)                                                                   \
    {                                                                                                        \
        size_t i = get_global_id(0);                                                                         \
        if (i < n) {                                                                                         \
            float v = x[i];                                                                                  \
            dx[i] = dy[i] * D(v);                                                                            \
        }                                                                                                    \
    }

ACT_KERNELS(relu, F_RELU, D_RELU)
ACT_KERNELS(silu, F_SILU, D_SILU)
ACT_KERNELS(gelu, F_GELU, D_GELU)
ACT_KERNELS(mish, F_MISH, D_MISH)
ACT_KERNELS(tanh, F_TANH, D_TANH)
ACT_KERNELS(sigmoid, F_SIGMOID, D_SIGMOID)
ACT_KERNELS(leaky_relu, F_LEAKY_RELU, D_LEAKY_RELU)
ACT_KERNELS(elu, F_ELU, D_ELU)

/* Backward from the output y instead of the input, for the activations whose derivative y decides
 * exactly: the model then runs them in place and keeps one tensor instead of two. y > 0 exactly
 * where x > 0 for all three; elu's exp(x) for x <= 0 is y + 1. dx may be dy. */
#define DY_RELU(y) ((y) > 0.0f ? 1.0f : 0.0f)
#define DY_LEAKY_RELU(y) ((y) > 0.0f ? 1.0f : 0.01f)
#define DY_ELU(y) ((y) > 0.0f ? 1.0f : (y) + 1.0f)

#define ACT_BACKWARD_FROM_OUTPUT(name, DY)                                                                   \
    __kernel void name##_backward_y(__global float *dx, __global const float *dy, __global const float *y,   \
                                    ulong n)                                                                 \
    {                                                                                                        \
        size_t i = get_global_id(0);                                                                         \
        if (i < n) {                                                                                         \
            float v = y[i];                                                                                  \
            dx[i] = dy[i] * DY(v);                                                                           \
        }                                                                                                    \
    }

ACT_BACKWARD_FROM_OUTPUT(relu, DY_RELU)
ACT_BACKWARD_FROM_OUTPUT(leaky_relu, DY_LEAKY_RELU)
ACT_BACKWARD_FROM_OUTPUT(elu, DY_ELU)
