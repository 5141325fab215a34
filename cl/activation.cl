/* activation.cl: element-wise activations and their derivatives, one forward and one backward kernel
 * per activation (all in one program, so one build serves every activation a sweep may pick). The
 * formulas are cl/act_math.cl's, shared with batchnorm.cl's fused kernels. */

#define ACT_T float
#define ACT_FN(name) act_##name
#include "act_math.cl"

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

ACT_KERNELS(relu, act_relu, act_d_relu)
ACT_KERNELS(silu, act_silu, act_d_silu)
ACT_KERNELS(gelu, act_gelu, act_d_gelu)
ACT_KERNELS(mish, act_mish, act_d_mish)
ACT_KERNELS(tanh, act_tanh, act_d_tanh)
ACT_KERNELS(sigmoid, act_sigmoid, act_d_sigmoid)
ACT_KERNELS(leaky_relu, act_leaky_relu, act_d_leaky_relu)
ACT_KERNELS(elu, act_elu, act_d_elu)

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
