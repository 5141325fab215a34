/* batchnorm.cl: batch normalization over NCHW, per channel c over the n = N*HW elements
 * x[(b*C + c)*HW + i], written for CPUs first (PoCL runs a work-group as loops over its work-items,
 * which barriers split and integer division per element slows down): every kernel works on runs of
 * VEC consecutive floats of one image plane with explicit float16 vectors, no barriers, and at most
 * one division per run of a plane.
 *
 * The per-channel reductions run in two stages so that large channels (32 images of 224x224 are
 * 1.6M elements) spread over many work-items: stage 1 gives each block of CHUNK consecutive
 * elements j = image*HW + pixel of a channel one work-item, which sums them in 16 lanes and then the
 * lanes in a fixed tree, and writes one partial per block; stage 2 gives each channel one work-item
 * that combines its P partials in order. No float atomics, so the same device gives the same bits
 * twice. Statistics stay sound when the mean is large against the spread: each block sums
 * deviations from its own first element (the shifted-data algorithm: a sample lies within a few
 * standard deviations of the mean, so E[(x-K)^2] - E[x-K]^2 does not cancel), and blocks merge with
 * Chan et al.'s pairwise update.
 *
 * Build options: -DCHUNK=<elements per stage-1 block, a multiple of 16>; -DACT=<1 relu, 2 leaky_relu,
 * 3 elu, 4 silu, 5 gelu, 6 mish, 7 tanh, 8 sigmoid> fuses the activation after the batch norm:
 * bn_normalize and bn_eval write act(z) for z the batch norm's output, and the backward kernels take
 * the gradient of act's output and recompute z from x, so z is never stored (cl/act_math.cl's
 * formulas, on float16 runs and single floats). Without ACT (or 0) nothing is fused. -DSTORE_G=1 (with
 * ACT) has bn_partial_grad also write the gradient of z, so that bn_dx reads it instead of taking the
 * activation's derivative a second time: one more stream, worth it where the derivative costs an exp. */

#ifndef CHUNK
#error "batchnorm.cl needs -DCHUNK"
#endif
#ifndef ACT
#define ACT 0
#endif
#ifndef STORE_G
#define STORE_G 0
#endif

#if ACT
#define ACT_T float16
#define ACT_FN(name) act16_##name
#include "act_math.cl"
#undef ACT_T
#undef ACT_FN
#define ACT_T float
#define ACT_FN(name) act_##name
#include "act_math.cl"

#if ACT == 1
#define ACT_CALL(prefix, z) prefix##relu(z)
#elif ACT == 2
#define ACT_CALL(prefix, z) prefix##leaky_relu(z)
#elif ACT == 3
#define ACT_CALL(prefix, z) prefix##elu(z)
#elif ACT == 4
#define ACT_CALL(prefix, z) prefix##silu(z)
#elif ACT == 5
#define ACT_CALL(prefix, z) prefix##gelu(z)
#elif ACT == 6
#define ACT_CALL(prefix, z) prefix##mish(z)
#elif ACT == 7
#define ACT_CALL(prefix, z) prefix##tanh(z)
#elif ACT == 8
#define ACT_CALL(prefix, z) prefix##sigmoid(z)
#else
#error "batchnorm.cl: ACT must be 0 to 8"
#endif
/* the fused activation on float16 runs (V) and single floats (S), and its derivative; the name is
 * pasted inside ACT_CALL because a builtin's name (tanh) may be a macro in the driver's headers */
#define ACT_V(z) ACT_CALL(act16_, z)
#define ACT_S(z) ACT_CALL(act_, z)
#define DACT_V(z) ACT_CALL(act16_d_, z)
#define DACT_S(z) ACT_CALL(act_d_, z)
/* the gradient of the batch norm's output z from that of act's output q */
#define GRAD_V(q, i, z) (vload16(0, (q) + (i)) * DACT_V(z))
#define GRAD_S(q, i, z) ((q)[i] * DACT_S(z))
#if STORE_G /* bn_dx's dy is then the gradient of z already */
#define DX_GRAD_V(q, i, z) vload16(0, (q) + (i))
#define DX_GRAD_S(q, i, z) ((q)[i])
#else
#define DX_GRAD_V GRAD_V
#define DX_GRAD_S GRAD_S
#endif
#else
#define ACT_V(v) (v)
#define ACT_S(v) (v)
#define GRAD_V(q, i, z) vload16(0, (q) + (i))
#define GRAD_S(q, i, z) ((q)[i])
#define DX_GRAD_V GRAD_V
#define DX_GRAD_S GRAD_S
#endif

#define VEC 16

/* the 16 lanes' sum in a fixed tree */
static float bn_hsum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* Runs its argument over block [j0, jend) of channel c, one segment of one plane at a time: `off`
 * (the segment's first element in the tensor) and `len` (its length). */
#define BN_FOR_SEGMENTS(...)                                                                                 \
    for (int j = j0; j < jend;) {                                                                            \
        int img = j / HW, p = j - img * HW;                                                                  \
        int len = min(HW - p, jend - j);                                                                     \
        size_t off = ((size_t)img * C + c) * HW + p;                                                         \
        __VA_ARGS__;                                                                                         \
        j += len;                                                                                            \
    }

/* Stage 1 of the statistics: grid (P, C), one work-item per block; part[(c*P + b)*2] = block mean,
 * +1 = block M2 (sum of squared deviations from the block mean). */
__kernel void bn_partial_stats(__global float *part, __global const float *x, int C, int HW, int n, int P)
{
    int b = get_global_id(0), c = get_global_id(1);
    if (b >= P) return;
    int j0 = b * CHUNK, jend = min(j0 + CHUNK, n);
    int img0 = j0 / HW;
    float k = x[((size_t)img0 * C + c) * HW + (j0 - img0 * HW)];
    float16 s1 = 0.0f, s2 = 0.0f;
    BN_FOR_SEGMENTS({
        __global const float *q = x + off;
        int i = 0;
        for (; i + VEC <= len; i += VEC) {
            float16 v = vload16(0, q + i) - k;
            s1 += v;
            s2 += v * v;
        }
        for (; i < len; i++) {
            float v = q[i] - k;
            s1.s0 += v;
            s2.s0 += v * v;
        }
    })
    float cnt = (float)(jend - j0), t1 = bn_hsum(s1), t2 = bn_hsum(s2);
    part[(c * P + b) * 2] = k + t1 / cnt;
    part[(c * P + b) * 2 + 1] = fmax(t2 - t1 * t1 / cnt, 0.0f);
}

/* Stage 2 of the statistics: one work-item per channel merges the blocks in order (Chan et al.).
 * Writes the batch mean and 1/sqrt(var + eps) for backward and moves the running statistics, the
 * variance unbiased by n/(n-1) as in PyTorch. */
__kernel void bn_finalize_stats(__global const float *part, __global float *running_mean,
                                __global float *running_var, __global float *save_mean,
                                __global float *save_invstd, int C, int n, int P, float momentum, float eps)
{
    int c = get_global_id(0);
    if (c >= C) return;
    int cnt = 0;
    float mean = 0.0f, m2 = 0.0f;
    for (int b = 0; b < P; b++) {
        int nb = min(CHUNK, n - b * CHUNK), nn = cnt + nb;
        float mb = part[(c * P + b) * 2], delta = mb - mean, fb = (float)nb / (float)nn;
        m2 += part[(c * P + b) * 2 + 1] + delta * delta * (float)cnt * fb;
        mean += delta * fb;
        cnt = nn;
    }
    float var = m2 / (float)n, unbiased = m2 / (float)(n - 1);
    save_mean[c] = mean;
    save_invstd[c] = 1.0f / sqrt(var + eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
}

/* The element-wise passes: grid (ceil(HW/VEC), N*C), work-item (q, plane) takes pixels
 * [q*VEC, q*VEC + VEC) of the plane, the last run of an odd-sized plane element by element. EW_BODY
 * writes out[i] from element i's inputs with the channel's constants in scope. */
#define EW_PROLOGUE                                                                                          \
    int p0 = get_global_id(0) * VEC, plane = get_global_id(1);                                               \
    if (p0 >= HW) return;                                                                                    \
    int c = plane % C;                                                                                       \
    size_t off = (size_t)plane * HW + p0;                                                                    \
    int full = p0 + VEC <= HW;

/* y = act(gamma (x - mean) invstd + beta), act the fused activation or none; y may be x */
__kernel void bn_normalize(__global float *y, __global const float *x, __global const float *gamma,
                           __global const float *beta, __global const float *mean,
                           __global const float *invstd, int C, int HW)
{
    EW_PROLOGUE
    float m = mean[c], s = invstd[c] * gamma[c], bt = beta[c];
    if (full) {
        float16 v = (vload16(0, x + off) - m) * s + bt;
        vstore16(ACT_V(v), 0, y + off);
    } else
        for (int i = 0; i < HW - p0; i++) {
            float v = (x[off + i] - m) * s + bt;
            y[off + i] = ACT_S(v);
        }
}

/* inference: the same with the running statistics */
__kernel void bn_eval(__global float *y, __global const float *x, __global const float *gamma,
                      __global const float *beta, __global const float *running_mean,
                      __global const float *running_var, float eps, int C, int HW)
{
    EW_PROLOGUE
    float m = running_mean[c], s = gamma[c] / sqrt(running_var[c] + eps), bt = beta[c];
    if (full)
        vstore16(ACT_V((vload16(0, x + off) - m) * s + bt), 0, y + off);
    else
        for (int i = 0; i < HW - p0; i++)
            y[off + i] = ACT_S((x[off + i] - m) * s + bt);
}

/* Stage 1 of the gradient sums: grid (P, C); part[(c*P + b)*3] = sum dy, +1 = sum dy (x - mean),
 * +2 = sum (x - mean). The last is the rounding of the float mean seen from the data (it would be 0
 * with the exact mean): stage 2 uses it to take that rounding back out of dgamma. With ACT, dy is the
 * gradient of the activation's output, taken through it first at z = gamma invstd (x - mean) + beta;
 * with STORE_G that gradient of z goes to gz (which may be dy). */
__kernel void bn_partial_grad(__global float *part, __global const float *dy, __global const float *x,
                              __global const float *gamma, __global const float *beta,
                              __global const float *mean, __global const float *invstd, int C, int HW, int n,
                              int P, __global float *gz)
{
    int b = get_global_id(0), c = get_global_id(1);
    if (b >= P) return;
    int j0 = b * CHUNK, jend = min(j0 + CHUNK, n);
    float mc = mean[c], s = invstd[c] * gamma[c], bt = beta[c];
    float16 sdy = 0.0f, sdyx = 0.0f, sx = 0.0f;
    BN_FOR_SEGMENTS({
        __global const float *qx = x + off, *qd = dy + off;
        int i = 0;
        for (; i + VEC <= len; i += VEC) {
            float16 dv = vload16(0, qx + i) - mc, g = GRAD_V(qd, i, dv * s + bt);
#if STORE_G
            vstore16(g, 0, gz + off + i);
#endif
            sdy += g;
            sdyx += g * dv;
            sx += dv;
        }
        for (; i < len; i++) {
            float dv = qx[i] - mc, g = GRAD_S(qd, i, dv * s + bt);
#if STORE_G
            gz[off + i] = g;
#endif
            sdy.s0 += g;
            sdyx.s0 += g * dv;
            sx.s0 += dv;
        }
    })
    part[(c * P + b) * 3] = bn_hsum(sdy);
    part[(c * P + b) * 3 + 1] = bn_hsum(sdyx);
    part[(c * P + b) * 3 + 2] = bn_hsum(sx);
}

/* Stage 2 of the gradient sums: one work-item per channel. dbeta = sum dy, dgamma = sum dy xhat, the
 * latter as sum dy (x - mean - d) with d = mean(x - mean), so that a mean large against the spread
 * (whose float rounding d multiplies the whole sum of dy) does not leak into dgamma. */
__kernel void bn_finalize_grad(__global const float *part, __global const float *invstd,
                               __global float *dgamma, __global float *dbeta, int C, int n, int P)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float sdy = 0.0f, sdyx = 0.0f, sx = 0.0f;
    for (int b = 0; b < P; b++) {
        sdy += part[(c * P + b) * 3];
        sdyx += part[(c * P + b) * 3 + 1];
        sx += part[(c * P + b) * 3 + 2];
    }
    dbeta[c] = sdy;
    dgamma[c] = (sdyx - sx / (float)n * sdy) * invstd[c];
}

/* PyTorch's dx = gamma invstd / n (n dy - dbeta - xhat dgamma), with ACT dy through the fused activation
 * at z as in bn_partial_grad (with STORE_G, dy is bn_partial_grad's gz); dx may be dy */
__kernel void bn_dx(__global float *dx, __global const float *dy, __global const float *x,
                    __global const float *gamma, __global const float *beta, __global const float *mean,
                    __global const float *invstd, __global const float *dgamma, __global const float *dbeta,
                    int C, int HW, int n)
{
    EW_PROLOGUE
    float is = invstd[c], inv_n = 1.0f / (float)n, m = mean[c], bt = beta[c];
    float a = is * gamma[c], sb = dbeta[c] * inv_n, sg = is * dgamma[c] * inv_n;
    __global const float *qd = dy + off;
    if (full) {
        float16 xhat = vload16(0, x + off) - m;
        vstore16(a * (DX_GRAD_V(qd, 0, xhat * a + bt) - sb - xhat * sg), 0, dx + off);
    } else
        for (int i = 0; i < HW - p0; i++) {
            float xhat = x[off + i] - m;
            dx[off + i] = a * (DX_GRAD_S(qd, i, xhat * a + bt) - sb - xhat * sg);
        }
}
