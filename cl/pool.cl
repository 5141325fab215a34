/* pool.cl: 2x2 stride-2 max pooling over NCHW planes. Odd H or W floor (the last row or column is
 * not pooled), as PyTorch. Backward recomputes each window's argmax from x instead of storing
 * indices, so forward needs no extra buffer, and each input element is written by exactly one
 * work-item (no atomics, deterministic). */

/* Offset (0..3, row-major in the window) of the window's first maximum. The test is PyTorch's
 * `val > max || isnan(val)`, so NaNs propagate forward instead of vanishing. */
static int pool_argmax(__global const float *p, int W, float *best)
{
    float m = p[0];
    int at = 0;
    float v[3] = {p[1], p[W], p[W + 1]};
    for (int j = 0; j < 3; j++)
        if (v[j] > m || isnan(v[j])) {
            m = v[j];
            at = j + 1;
        }
    *best = m;
    return at;
}

/* one work-item per output element; total = N*C*OH*OW */
__kernel void maxpool_forward(__global float *y, __global const float *x, int H, int W, int OH, int OW,
                              int total)
{
    int o = get_global_id(0);
    if (o >= total) return;
    int ox = o % OW;
    int t = o / OW;
    int oy = t % OH;
    int plane = t / OH;
    __global const float *p = x + ((size_t)plane * H + 2 * oy) * W + 2 * ox;
    float m;
    pool_argmax(p, W, &m);
    y[o] = m;
}

/* one work-item per input element; total = N*C*H*W. dx is written everywhere: the gradient where
 * this element is its window's first maximum, 0 otherwise and in the leftover odd row/column. */
__kernel void maxpool_backward(__global float *dx, __global const float *dy, __global const float *x, int H,
                               int W, int OH, int OW, int total)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int ix = i % W;
    int t = i / W;
    int iy = t % H;
    int plane = t / H;
    int oy = iy >> 1, ox = ix >> 1;
    float g = 0.0f;
    if (oy < OH && ox < OW) {
        __global const float *p = x + ((size_t)plane * H + 2 * oy) * W + 2 * ox;
        float m;
        int at = pool_argmax(p, W, &m);
        if (at == ((iy & 1) << 1 | (ix & 1))) g = dy[((size_t)plane * OH + oy) * OW + ox];
    }
    dx[i] = g;
}
