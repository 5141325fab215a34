/* batchnorm.cl: batch normalization over NCHW, per channel c over the n = N*HW elements
 * x[(b*C + c)*HW + i].
 *
 * The per-channel reductions run in two stages so that large channels (32 images of 224x224 are
 * 1.6M elements) spread over many work-groups: stage 1 splits each channel into blocks of CHUNK
 * consecutive elements, one work-group each, and writes one partial per block to the workspace;
 * stage 2 gives each channel one work-group that combines its partials. Every sum is a fixed tree
 * in local memory, never a float atomic, so the same device gives the same bits twice. Statistics
 * are numerically sound: each block computes its mean, then the sum of squared deviations from it
 * (two passes over data the block just read, the second also correcting the mean), and blocks merge with Chan
 * et al.'s pairwise update, so a channel whose mean is large against its spread keeps its variance.
 *
 * Build options: -DWG=<work-group size, a power of two> -DCHUNK=<elements per block, a multiple of WG>. */

#ifndef WG
#error "batchnorm.cl needs -DWG"
#endif
#ifndef CHUNK
#error "batchnorm.cl needs -DCHUNK"
#endif

/* Sums v over the work-group in a fixed tree; every work-item gets the total. */
static float bn_group_sum(__local float *s, float v)
{
    int t = get_local_id(0);
    s[t] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (t < h) s[t] += s[t + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = s[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* s is reused by the caller's next sum */
    return total;
}

/* the j-th element (0 <= j < n) of channel c */
#define BN_AT(p, j) (p)[((j) / HW * C + c) * HW + (j) % HW]

/* Stage 1 of the statistics: grid (P*WG, C); part[(c*P + b)*2] = block mean, +1 = block M2. */
__kernel void bn_partial_stats(__global float *part, __global const float *x, int C, int HW, int n, int P)
{
    __local float s[WG];
    int t = get_local_id(0), b = get_group_id(0), c = get_group_id(1);
    int start = b * CHUNK, end = min(start + CHUNK, n);
    float acc = 0.0f;
    for (int j = start + t; j < end; j += WG)
        acc += BN_AT(x, j);
    float cnt = (float)(end - start);
    float mean = bn_group_sum(s, acc) / cnt;
    /* second pass: squared deviations, plus the deviations themselves, whose sum corrects the
     * rounding of the first pass's mean (the corrected two-pass algorithm of Chan, Golub and LeVeque) */
    float acc2 = 0.0f;
    acc = 0.0f;
    for (int j = start + t; j < end; j += WG) {
        float dv = BN_AT(x, j) - mean;
        acc += dv;
        acc2 += dv * dv;
    }
    float sd = bn_group_sum(s, acc);
    float m2 = bn_group_sum(s, acc2) - sd * sd / cnt;
    if (t == 0) {
        part[(c * P + b) * 2] = mean + sd / cnt;
        part[(c * P + b) * 2 + 1] = fmax(m2, 0.0f);
    }
}

/* Chan's update: (na, ma, m2a) absorbs (nb, mb, m2b) */
static void bn_merge(int *na, float *ma, float *m2a, int nb, float mb, float m2b)
{
    if (nb == 0) return;
    int nn = *na + nb;
    float delta = mb - *ma;
    float fb = (float)nb / (float)nn;
    *m2a += m2b + delta * delta * (float)*na * fb;
    *ma += delta * fb;
    *na = nn;
}

/* Stage 2 of the statistics: grid (WG, C). Writes the batch mean and 1/sqrt(var + eps) for backward
 * and moves the running statistics, the variance unbiased by n/(n-1) as in PyTorch. */
__kernel void bn_finalize_stats(__global const float *part, __global float *running_mean,
                                __global float *running_var, __global float *save_mean,
                                __global float *save_invstd, int n, int P, float momentum, float eps)
{
    __local int lc[WG];
    __local float lm[WG], l2[WG];
    int t = get_local_id(0), c = get_group_id(1);
    int cnt = 0;
    float mean = 0.0f, m2 = 0.0f;
    for (int b = t; b < P; b += WG)
        bn_merge(&cnt, &mean, &m2, min(CHUNK, n - b * CHUNK), part[(c * P + b) * 2],
                 part[(c * P + b) * 2 + 1]);
    lc[t] = cnt;
    lm[t] = mean;
    l2[t] = m2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (t < h) {
            int ca = lc[t];
            float ma = lm[t], m2a = l2[t];
            bn_merge(&ca, &ma, &m2a, lc[t + h], lm[t + h], l2[t + h]);
            lc[t] = ca;
            lm[t] = ma;
            l2[t] = m2a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0) {
        float var = l2[0] / (float)n;
        float unbiased = l2[0] / (float)(n - 1);
        save_mean[c] = lm[0];
        save_invstd[c] = 1.0f / sqrt(var + eps);
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * lm[0];
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    }
}

/* y = gamma (x - mean) invstd + beta, one work-item per element; y may be x */
__kernel void bn_normalize(__global float *y, __global const float *x, __global const float *gamma,
                           __global const float *beta, __global const float *mean,
                           __global const float *invstd, int C, int HW, int total)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int c = i / HW % C;
    y[i] = (x[i] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];
}

/* inference: the same with the running statistics */
__kernel void bn_eval(__global float *y, __global const float *x, __global const float *gamma,
                      __global const float *beta, __global const float *running_mean,
                      __global const float *running_var, float eps, int C, int HW, int total)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int c = i / HW % C;
    y[i] = (x[i] - running_mean[c]) * (gamma[c] / sqrt(running_var[c] + eps)) + beta[c];
}

/* Stage 1 of the gradient sums: grid (P*WG, C); part[(c*P + b)*3] = sum dy, +1 = sum dy (x - mean),
 * +2 = sum (x - mean). The last is the rounding of the float mean seen from the data (it would be 0
 * with the exact mean): stage 2 uses it to take that rounding back out of dgamma. */
__kernel void bn_partial_grad(__global float *part, __global const float *dy, __global const float *x,
                              __global const float *mean, int C, int HW, int n, int P)
{
    __local float s[WG];
    int t = get_local_id(0), b = get_group_id(0), c = get_group_id(1);
    int start = b * CHUNK, end = min(start + CHUNK, n);
    float mc = mean[c];
    float sdy = 0.0f, sdyx = 0.0f, sx = 0.0f;
    for (int j = start + t; j < end; j += WG) {
        float g = BN_AT(dy, j), dv = BN_AT(x, j) - mc;
        sdy += g;
        sdyx += g * dv;
        sx += dv;
    }
    sdy = bn_group_sum(s, sdy);
    sdyx = bn_group_sum(s, sdyx);
    sx = bn_group_sum(s, sx);
    if (t == 0) {
        part[(c * P + b) * 3] = sdy;
        part[(c * P + b) * 3 + 1] = sdyx;
        part[(c * P + b) * 3 + 2] = sx;
    }
}

/* Stage 2 of the gradient sums: grid (WG, C). dbeta = sum dy, dgamma = sum dy xhat, the latter as
 * sum dy (x - mean - d) with d = mean(x - mean), so that a mean large against the spread (whose float
 * rounding d multiplies the whole sum of dy) does not leak into dgamma. */
__kernel void bn_finalize_grad(__global const float *part, __global const float *invstd,
                               __global float *dgamma, __global float *dbeta, int n, int P)
{
    __local float s[WG];
    int t = get_local_id(0), c = get_group_id(1);
    float sdy = 0.0f, sdyx = 0.0f, sx = 0.0f;
    for (int b = t; b < P; b += WG) {
        sdy += part[(c * P + b) * 3];
        sdyx += part[(c * P + b) * 3 + 1];
        sx += part[(c * P + b) * 3 + 2];
    }
    sdy = bn_group_sum(s, sdy);
    sdyx = bn_group_sum(s, sdyx);
    sx = bn_group_sum(s, sx);
    if (t == 0) {
        dbeta[c] = sdy;
        dgamma[c] = (sdyx - sx / (float)n * sdy) * invstd[c];
    }
}

/* PyTorch's dx = gamma invstd / n (n dy - dbeta - xhat dgamma); dx may be dy */
__kernel void bn_dx(__global float *dx, __global const float *dy, __global const float *x,
                    __global const float *gamma, __global const float *mean, __global const float *invstd,
                    __global const float *dgamma, __global const float *dbeta, int C, int HW, int n,
                    int total)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int c = i / HW % C;
    float is = invstd[c];
    float inv_n = 1.0f / (float)n;
    float xhat = (x[i] - mean[c]) * is;
    dx[i] = gamma[c] * is * (dy[i] - dbeta[c] * inv_n - xhat * dgamma[c] * inv_n);
}
