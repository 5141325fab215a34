/* pool.cl: 2x2 stride-2 max pooling over NCHW planes. Odd H or W floor (the last row or column is
 * not pooled), as PyTorch. Backward recomputes each window's argmax from x instead of storing
 * indices, so forward needs no extra buffer, and each input element is written by exactly one
 * work-item (no atomics, deterministic).
 *
 * Both passes run over the grid (ceil(OW/PV), OH, N*C): a work-item takes PV = 8 neighbouring windows
 * of one output row, reading its two input rows as float16 vectors and splitting them into even and
 * odd columns, so that the CPU moves whole vectors (no per-element index arithmetic, no gathers); the
 * last, shorter run of a row goes element by element. */

#define PV 8

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

/* the same test on PV windows at once: where v wins, m takes v and at takes k */
#define POOL_PICK(v, k)                                                                                      \
    do {                                                                                                     \
        int8 win_ = isgreater(v, m) | isnan(v);                                                              \
        m = select(m, v, win_);                                                                              \
        at = select(at, (int8)(k), win_);                                                                    \
    } while (0)

__kernel void maxpool_forward(__global float *y, __global const float *x, int H, int W, int OH, int OW)
{
    int ox0 = get_global_id(0) * PV, oy = get_global_id(1), plane = get_global_id(2);
    if (ox0 >= OW) return;
    __global const float *top = x + ((size_t)plane * H + 2 * oy) * W + 2 * ox0;
    __global float *out = y + ((size_t)plane * OH + oy) * OW + ox0;
    if (ox0 + PV <= OW) {
        float16 t = vload16(0, top), b = vload16(0, top + W);
        float8 m = t.even;
        int8 at = 0;
        POOL_PICK(t.odd, 1);
        POOL_PICK(b.even, 2);
        POOL_PICK(b.odd, 3);
        vstore8(m, 0, out);
    } else
        for (int i = 0; i < OW - ox0; i++) {
            float m;
            pool_argmax(vload2(i, top), vload2(i, top + W), &m);
            out[i] = m;
        }
}

/* Writes the PV windows' dx elements: the gradient at each window's first maximum, 0 elsewhere; the
 * row's last work-item also zeroes an odd leftover column, and the last row's work-items an odd
 * leftover row, so every dx element is written exactly once. */
__kernel void maxpool_backward(__global float *dx, __global const float *dy, __global const float *x, int H,
                               int W, int OH, int OW)
{
    int ox0 = get_global_id(0) * PV, oy = get_global_id(1), plane = get_global_id(2);
    if (ox0 >= OW) return;
    size_t top = ((size_t)plane * H + 2 * oy) * W + 2 * ox0;
    __global const float *g = dy + ((size_t)plane * OH + oy) * OW + ox0;
    int cnt = min(PV, OW - ox0);
    if (cnt == PV) {
        float16 t = vload16(0, x + top), b = vload16(0, x + top + W);
        float8 m = t.even, gv = vload8(0, g), z = 0.0f;
        int8 at = 0;
        POOL_PICK(t.odd, 1);
        POOL_PICK(b.even, 2);
        POOL_PICK(b.odd, 3);
        const uint16 inter = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        vstore16(shuffle2(select(z, gv, at == 0), select(z, gv, at == 1), inter), 0, dx + top);
        vstore16(shuffle2(select(z, gv, at == 2), select(z, gv, at == 3), inter), 0, dx + top + W);
    } else
        for (int i = 0; i < cnt; i++) {
            float m;
            int at = pool_argmax(vload2(i, x + top), vload2(i, x + top + W), &m);
            vstore2((float2)(at == 0 ? g[i] : 0.0f, at == 1 ? g[i] : 0.0f), i, dx + top);
            vstore2((float2)(at == 2 ? g[i] : 0.0f, at == 3 ? g[i] : 0.0f), i, dx + top + W);
        }
    int odd_w = (W & 1) && ox0 + cnt == OW;
    if (odd_w) {
        dx[top + 2 * cnt] = 0.0f;
        dx[top + W + 2 * cnt] = 0.0f;
    }
    if ((H & 1) && oy == OH - 1)
        for (int i = 0; i < 2 * cnt + odd_w; i++)
            dx[top + 2 * W + i] = 0.0f;
}
