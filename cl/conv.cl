/* conv.cl: the layout kernels around convolution's GEMMs, and the bias kernels conv and dense
 * share. A chunk of NB images is unrolled so that one GEMM covers all of it:
 *   col [C*K*K, NB*HW]: column (n, p) holds image n's receptive field at pixel p (im2col);
 *   y2  [F, NB*HW]:     W [F, C*K*K] x col, then permuted to NCHW with the bias added.
 * Backward permutes dy the other way, and folds dcol back onto the image (col2im) as a gather, so
 * every dx element is written by one work-item: no atomics, the same result every run.
 * Offsets (in floats) let one workspace buffer hold several of these arrays. */

/* The layout kernels run over grids whose dimension 0 is a row of pixels (x), so that no work-item
 * divides a flat index and PoCL's vectoriser, which runs dimension 0 as its vector loop, reads and
 * writes whole rows; the filter size is the build option KS, so col2im's tap loops unroll. */
#ifdef KS
/* grid (W, H, nb*C*KS*KS): col[row, n*HW + y*W + x] for row = (c, ky, kx) of image n0+n */
__kernel void im2col(__global float *col, int col_off, __global const float *x, int n0, int C, int H, int W,
                     int cols)
{
    int xx = get_global_id(0), yy = get_global_id(1), z = get_global_id(2);
    if (xx >= W) return;
    int ckk = C * KS * KS, n = z / ckk, row = z - n * ckk;
    int c = row / (KS * KS), kk = row - c * (KS * KS);
    int ky = kk / KS, kx = kk - ky * KS;
    int sy = yy + ky - KS / 2, sx = xx + kx - KS / 2;
    float v = 0.0f;
    if (sy >= 0 && sy < H && sx >= 0 && sx < W) v = x[((size_t)(n0 + n) * C + c) * H * W + sy * W + sx];
    col[col_off + (size_t)row * cols + (size_t)n * H * W + yy * W + xx] = v;
}

/* grid (W, H, nb*C): dx[n0+n, c, y, x] = sum over the KS x KS taps that read it of dcol, in a fixed
 * order; every dx element is written by one work-item */
__kernel void col2im(__global float *dx, __global const float *dcol, int dcol_off, int n0, int C, int H, int W,
                     int cols)
{
    int xx = get_global_id(0), yy = get_global_id(1), z = get_global_id(2);
    if (xx >= W) return;
    int n = z / C, c = z - n * C, hw = H * W;
    __global const float *base = dcol + dcol_off + (size_t)c * KS * KS * cols + (size_t)n * hw;
    float s = 0.0f;
    for (int ky = 0; ky < KS; ky++) {
        int oy = yy - ky + KS / 2;
        for (int kx = 0; kx < KS; kx++) {
            int ox = xx - kx + KS / 2;
            if (oy >= 0 && oy < H && ox >= 0 && ox < W) s += base[(size_t)(ky * KS + kx) * cols + oy * W + ox];
        }
    }
    dx[((size_t)(n0 + n) * C + c) * hw + yy * W + xx] = s;
}
#endif

/* grid (HW, F, nb): y[n0+n, f, p] = y2[f, n*HW + p] + b[f] */
__kernel void chunk_to_nchw(__global float *y, __global const float *y2, int y2_off, __global const float *b,
                            int n0, int nb, int F, int HW)
{
    int p = get_global_id(0), f = get_global_id(1), n = get_global_id(2);
    if (p >= HW) return;
    y[((size_t)(n0 + n) * F + f) * HW + p] = y2[y2_off + ((size_t)f * nb + n) * HW + p] + b[f];
}

/* grid (HW, F, nb): dy2[f, n*HW + p] = dy[n0+n, f, p] */
__kernel void nchw_to_chunk(__global float *dy2, int dy2_off, __global const float *dy, int n0, int nb, int F,
                            int HW)
{
    int p = get_global_id(0), f = get_global_id(1), n = get_global_id(2);
    if (p >= HW) return;
    dy2[dy2_off + ((size_t)f * nb + n) * HW + p] = dy[((size_t)(n0 + n) * F + f) * HW + p];
}

/* dw[i] = (acc ? dw[i] : 0) + sum over q < P of part[part_off + q*n + i]: the split-K partials of the
 * weight gradient, summed in a fixed order; one work-item per element of dw */
__kernel void sum_partials(__global float *dw, __global const float *part, int part_off, int P, int n, int acc)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float s = acc ? dw[i] : 0.0f;
    for (int q = 0; q < P; q++) s += part[part_off + q * n + i];
    dw[i] = s;
}

/* y[n, o] += b[o] over rows of width O (dense) */
__kernel void add_bias_rows(__global float *y, __global const float *b, int N, int O)
{
    int i = get_global_id(0);
    if (i < N * O) y[i] += b[i % O];
}

/* db[f] = sum over n < N, p < HW of dy[(n*F + f)*HW + p], in two stages so that a big layer (N*HW in
 * the millions, F small) spreads over many work-items: work-item (g, f) of a (G, F) grid sums `span`
 * consecutive elements j = n*HW + p of channel f into out[f*G + g], a plane's run at a time in 16
 * float lanes (no per-element division, no barriers: PoCL runs it as straight vector code), then
 * the lanes in a fixed tree; bias_grad_final sums the G partials of each f in order. The same
 * device gives the same bits every run. When G is 1 the first stage writes db directly. Dense uses
 * it with HW = 1. */
__kernel void bias_grad_partial(__global float *out, __global const float *dy, int N, int F, int HW, int G,
                                int span)
{
    int g = get_global_id(0), f = get_global_id(1);
    if (g >= G) return;
    int j1 = min(N * HW, (g + 1) * span);
    float16 s = 0.0f;
    for (int j = g * span; j < j1;) {
        int n = j / HW, p = j - n * HW, len = min(HW - p, j1 - j);
        __global const float *q = dy + ((size_t)n * F + f) * HW + p;
        int i = 0;
        for (; i + 16 <= len; i += 16)
            s += vload16(0, q + i);
        for (; i < len; i++)
            s.s0 += q[i];
        j += len;
    }
    float8 a = s.lo + s.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    out[f * G + g] = c.x + c.y;
}

/* db[f] = sum over g < G of part[f*G + g], in order: one work-item per f */
__kernel void bias_grad_final(__global float *db, __global const float *part, int F, int G)
{
    int f = get_global_id(0);
    if (f >= F) return;
    float s = 0.0f;
    for (int g = 0; g < G; g++)
        s += part[f * G + g];
    db[f] = s;
}
