/* conv_direct.cl: direct 2-D convolution (odd KS x KS, stride 1, same padding) for CPUs, where
 * im2col's KS*KS-fold copy of the input costs more memory traffic than the GEMM saves. The input is
 * first copied into a zero-padded plane (PADW columns, H + KS - 1 rows), so the kernel's loads need
 * no bounds checks; each work-item then computes FB output channels for VW consecutive pixels of one
 * row with explicit float vectors (PoCL keeps them in AVX registers: FB accumulators of VW lanes,
 * each input vector used FB times), the input channels and taps in a fixed order, so results
 * repeat bit for bit.
 *
 * Build options: -DKS=<filter size> -DVW=<4, 8 or 16 pixels per vector> -DFB=<filters per work-item>. */

#if !defined(KS) || !defined(VW) || !defined(FB)
#error "conv_direct.cl needs -DKS, -DVW and -DFB"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VT CAT(float, VW)
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)
#define PAD (KS / 2)

/* grid (PADW, H + KS - 1, planes): xp[plane, r, col] = x[plane0 + plane, r - PAD, col - PAD], 0 outside */
__kernel void conv_pad(__global float *xp, int xp_off, __global const float *x, int plane0, int H, int W, int padw)
{
    xp += xp_off;
    int col = get_global_id(0), r = get_global_id(1), plane = get_global_id(2);
    if (col >= padw) return;
    int sy = r - PAD, sx = col - PAD;
    float v = 0.0f;
    if (sy >= 0 && sy < H && sx >= 0 && sx < W) v = x[((size_t)(plane0 + plane) * H + sy) * W + sx];
    xp[((size_t)plane * (H + KS - 1) + r) * padw + col] = v;
}

/* grid (ceil(W/VW), H, nb * F/FB): y[n0+n, f0 .. f0+FB-1, row, v*VW ..] = b[f] + sum over c, ky, kx of
 * w[f, c, ky, kx] xp[n, c, row + ky, v*VW + kx + lane]. xp holds images n0 .. n0+nb-1 padded; b may be
 * NULL (no bias: the input gradient). Offsets in floats. */
__kernel void conv_direct_forward(__global float *y, __global const float *xp, int xp_off, __global const float *w,
                                  int w_off, __global const float *b, int n0, int C, int H, int W, int F, int padw)
{
    xp += xp_off;
    w += w_off;
    int v = get_global_id(0), row = get_global_id(1), z = get_global_id(2);
    int x0 = v * VW;
    if (x0 >= W) return;
    int groups = F / FB, n = z / groups, f0 = (z - n * groups) * FB;
    VT acc[FB];
#pragma unroll
    for (int i = 0; i < FB; i++)
        acc[i] = (VT)(b ? b[f0 + i] : 0.0f);
    int ph = H + KS - 1;
    for (int c = 0; c < C; c++) {
        __global const float *src = xp + ((size_t)(n * C + c) * ph + row) * padw + x0;
        __global const float *wc = w + ((size_t)f0 * C + c) * (KS * KS);
#pragma unroll
        for (int ky = 0; ky < KS; ky++)
#pragma unroll
            for (int kx = 0; kx < KS; kx++) {
                VT in = VLOAD(0, src + ky * padw + kx);
#pragma unroll
                for (int i = 0; i < FB; i++)
                    acc[i] = fma(in, (VT)(wc[(size_t)i * C * KS * KS + ky * KS + kx]), acc[i]);
            }
    }
    int full = x0 + VW <= W;
#pragma unroll
    for (int i = 0; i < FB; i++) {
        __global float *dst = y + (((size_t)(n0 + n) * F + f0 + i) * H + row) * W + x0;
        if (full)
            VSTORE(acc[i], 0, dst);
        else {
            float lanes[VW];
            VSTORE(acc[i], 0, lanes);
            for (int l = 0; l < W - x0; l++)
                dst[l] = lanes[l];
        }
    }
}

/* wt[c, f, ky, kx] = w[f, c, KS-1-ky, KS-1-kx]: the input gradient dx = conv(dy, wt) with C outputs
 * from F inputs (stride 1, same padding, odd KS); grid (F*C*KS*KS) */
__kernel void conv_flip_weights(__global float *wt, __global const float *w, int F, int C)
{
    int i = get_global_id(0);
    if (i >= F * C * KS * KS) return;
    int kk = i % (KS * KS), fc = i / (KS * KS), c = fc % C, f = fc / C;
    wt[((size_t)c * F + f) * KS * KS + (KS * KS - 1 - kk)] = w[i];
}
