/* pool.cl: 2x2 stride-2 max pooling over NCHW planes. Odd H or W floor (the last row or column is
 * not pooled), as PyTorch. Backward recomputes each window's argmax from x instead of storing
 * indices, so forward needs no extra buffer, and each input element is written by exactly one
 * work-item (no atomics, deterministic).
 *
 * Both passes run one work-item per output element over the grid (OW, OH, N*C), so no work-item
 * divides (PoCL's vectoriser runs dimension 0 as its vector loop; a flat index split by % and / per
 * element cost more than the pooling itself). */

/* Offset (0..3, row-major in the window) of the window's first maximum, from its top row a and
 * bottom row b. The test is PyTorch's `val > max || isnan(val)`, so NaNs propagate forward instead
 * of vanishing. */
static int pool_argmax(float2 a, float2 b, float *best)
{
    float m = a.x;
    int at = 0;
    if (a.y > m || isnan(a.y)) {
        m = a.y;
        at = 1;
    }
    if (b.x > m || isnan(b.x)) {
        m = b.x;
        at = 2;
    }
    if (b.y > m || isnan(b.y)) {
        m = b.y;
        at = 3;
    }
    *best = m;
    return at;
}

__kernel void maxpool_forward(__global float *y, __global const float *x, int H, int W, int OH, int OW)
{
    int ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    if (ox >= OW) return;
    __global const float *p = x + ((size_t)plane * H + 2 * oy) * W + 2 * ox;
    float m;
    pool_argmax(vload2(0, p), vload2(0, p + W), &m);
    y[((size_t)plane * OH + oy) * OW + ox] = m;
}

/* Writes the window's four dx elements: the gradient at the window's first maximum, 0 elsewhere;
 * the last window of a row or column also zeroes the odd leftover column or row beside it, so every
 * dx element is written exactly once. */
__kernel void maxpool_backward(__global float *dx, __global const float *dy, __global const float *x, int H,
                               int W, int OH, int OW)
{
    int ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    if (ox >= OW) return;
    size_t top = ((size_t)plane * H + 2 * oy) * W + 2 * ox;
    float m;
    int at = pool_argmax(vload2(0, x + top), vload2(0, x + top + W), &m);
    float g = dy[((size_t)plane * OH + oy) * OW + ox];
    vstore2((float2)(at == 0 ? g : 0.0f, at == 1 ? g : 0.0f), 0, dx + top);
    vstore2((float2)(at == 2 ? g : 0.0f, at == 3 ? g : 0.0f), 0, dx + top + W);
    int odd_w = (W & 1) && ox == OW - 1, odd_h = (H & 1) && oy == OH - 1;
    if (odd_w) {
        dx[top + 2] = 0.0f;
        dx[top + W + 2] = 0.0f;
    }
    if (odd_h) {
        vstore2((float2)(0.0f, 0.0f), 0, dx + top + 2 * W);
        if (odd_w) dx[top + 2 * W + 2] = 0.0f;
    }
}
