/* conv_direct.cl: direct 2-D convolution (odd KS x KS, stride 1, same padding) for CPUs, where
 * im2col's KS*KS-fold copy of the input costs more memory traffic than the GEMM saves. The input is
 * first copied into a zero-padded plane (PADW columns, H + KS - 1 rows), so the kernel's loads need
 * no bounds checks; each work-item then computes FB output channels for VW consecutive pixels of one
 * row with explicit float vectors (PoCL keeps them in AVX registers: FB accumulators of VW lanes,
 * each input vector used FB times), the input channels and taps in a fixed order, so results
 * repeat bit for bit. Planes only a few pixels wide run with vectors across images instead
 * (conv_pad_images, conv_direct_forward_images), in the same order, so with the same bits.
 *
 * Build options: -DKS=<filter size> -DVW=<4, 8 or 16 pixels (or images) per vector> -DFB=<filters per
 * work-item>; -DFLIP: conv_direct_forward reads the weights as the input gradient needs them (transposed and
 * rotated); -DFBW=<filters per work-item of the weight gradient> builds that kernel. */

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
__kernel void conv_pad(__global float *xp, int xp_off, __global const float *x, int plane0, int H, int W,
                       int padw)
{
    xp += xp_off;
    int col = get_global_id(0), r = get_global_id(1), plane = get_global_id(2);
    if (col >= padw) return;
    int sy = r - PAD, sx = col - PAD;
    float v = 0.0f;
    if (sy >= 0 && sy < H && sx >= 0 && sx < W) v = x[((size_t)(plane0 + plane) * H + sy) * W + sx];
    xp[((size_t)plane * (H + KS - 1) + r) * padw + col] = v;
}

/* acc[i] += sum over c, ky, kx of w[f0+i, c, ky, kx] src[c * plane + (ky * padw + kx) * stride .. + VW-1]:
 * the FB filters' taps over a vector of VW padded pixels (stride 1) or of VW images at one pixel
 * (stride: images per pixel), the input channels plane floats apart */
static void conv_accumulate(VT *acc, __global const float *src, size_t plane, int stride,
                            __global const float *w, int C, int F, int f0, int padw)
{
    for (int c = 0; c < C; c++, src += plane) {
#ifdef FLIP
        /* the input gradient: output channel o = f0+i of input channel c reads w[c, o] rotated 180 degrees */
        __global const float *wc = w + ((size_t)c * F + f0) * (KS * KS);
#define WAT(i, t) wc[(size_t)(i)*KS * KS + KS * KS - 1 - (t)]
#else
        __global const float *wc = w + ((size_t)f0 * C + c) * (KS * KS);
#define WAT(i, t) wc[(size_t)(i)*C * KS * KS + (t)]
#endif
#pragma unroll
        for (int ky = 0; ky < KS; ky++)
#pragma unroll
            for (int kx = 0; kx < KS; kx++) {
                VT in = VLOAD(0, src + (size_t)(ky * padw + kx) * stride);
#pragma unroll
                for (int i = 0; i < FB; i++)
                    acc[i] = fma(in, (VT)(WAT(i, ky * KS + kx)), acc[i]);
            }
#undef WAT
    }
}

/* grid (ceil(W/VW), H, nb * F/FB): y[n0+n, f0 .. f0+FB-1, row, v*VW ..] = b[f] + sum over c, ky, kx of
 * w[f, c, ky, kx] xp[n, c, row + ky, v*VW + kx + lane]. xp holds images n0 .. n0+nb-1 padded; b may be
 * NULL (no bias: the input gradient). Offsets in floats. */
__kernel void conv_direct_forward(__global float *y, __global const float *xp, int xp_off,
                                  __global const float *w, int w_off, __global const float *b, int n0, int C,
                                  int H, int W, int F, int padw)
{
    int v = get_global_id(0), row = get_global_id(1), z = get_global_id(2);
    int x0 = v * VW;
    if (x0 >= W) return;
    int groups = F / FB, n = z / groups, f0 = (z - n * groups) * FB, ph = H + KS - 1;
    VT acc[FB];
#pragma unroll
    for (int i = 0; i < FB; i++)
        acc[i] = (VT)(b ? b[f0 + i] : 0.0f);
    conv_accumulate(acc, xp + xp_off + ((size_t)n * C * ph + row) * padw + x0, (size_t)ph * padw, 1,
                    w + w_off, C, F, f0, padw);
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

/* Planes a few pixels wide (the last blocks of a small input) leave a vector per row mostly short and
 * each weight load feeding a few pixels; there the vectors run across images instead. conv_pad_images
 * lays a chunk of m images out pixel-major, images innermost and zero from m up to nbp (a multiple of
 * VW), padded by pad on each side (PAD for the input, 0 for the weight gradient's dy): grid
 * (nbp, padw * ph, C) with padw = W + 2 pad, ph = H + 2 pad,
 * xt[((c * ph + r) * padw + col) * nbp + n] = x[n0 + n, c, r - pad, col - pad], 0 outside or past m. */
__kernel void conv_pad_images(__global float *xt, int xt_off, __global const float *x, int n0, int m, int nbp,
                              int C, int H, int W, int pad)
{
    int n = get_global_id(0), rc = get_global_id(1), c = get_global_id(2);
    int padw = W + 2 * pad, ph = H + 2 * pad;
    if (n >= nbp || rc >= padw * ph) return;
    int r = rc / padw, col = rc - r * padw, sy = r - pad, sx = col - pad;
    float v = 0.0f;
    if (n < m && sy >= 0 && sy < H && sx >= 0 && sx < W)
        v = x[(((size_t)(n0 + n) * C + c) * H + sy) * W + sx];
    xt[xt_off + ((size_t)c * ph * padw + rc) * nbp + n] = v;
}

/* grid (nbp / VW, H * W, F / FB): the images' lanes of y[n0+n, f0 .. f0+FB-1, pixel] from xt as
 * conv_pad_images lays it out; each weight load feeds VW images. Lanes past m are not stored. */
__kernel void conv_direct_forward_images(__global float *y, __global const float *xt, int xt_off,
                                         __global const float *w, int w_off, __global const float *b, int n0,
                                         int m, int nbp, int C, int H, int W, int F, int padw)
{
    int nv = get_global_id(0) * VW, p = get_global_id(1), f0 = get_global_id(2) * FB;
    if (nv >= nbp || p >= H * W) return;
    int row = p / W, col = p - row * W, ph = H + KS - 1;
    VT acc[FB];
#pragma unroll
    for (int i = 0; i < FB; i++)
        acc[i] = (VT)(b ? b[f0 + i] : 0.0f);
    conv_accumulate(acc, xt + xt_off + ((size_t)row * padw + col) * nbp + nv, (size_t)ph * padw * nbp, nbp,
                    w + w_off, C, F, f0, padw);
#pragma unroll
    for (int i = 0; i < FB; i++) {
        float lanes[VW];
        VSTORE(acc[i], 0, lanes);
        for (int l = 0; l < VW && nv + l < m; l++)
            y[((size_t)(n0 + nv + l) * F + f0 + i) * H * W + p] = lanes[l];
    }
}

#ifdef FBW
/* the lanes of v summed in order */
static float lane_sum(VT v)
{
    float lanes[VW];
    VSTORE(v, 0, lanes);
    float s = 0.0f;
    for (int l = 0; l < VW; l++)
        s += lanes[l];
    return s;
}

/* A weight-gradient work-item's sums (FBW x KS x KS taps, FBW biases) set to 0 */
static void wgrad_zero(VT (*acc)[KS * KS], VT *bacc)
{
#pragma unroll
    for (int i = 0; i < FBW; i++) {
#pragma unroll
        for (int t = 0; t < KS * KS; t++)
            acc[i][t] = (VT)(0.0f);
        bacc[i] = (VT)(0.0f);
    }
}

/* A weight-gradient work-item's sums, lanes folded: filters f0 .. f0+FBW-1 of input channel c into
 * out [F, C, KS, KS], and from channel 0's work-items the bias sums into db[f] */
static void wgrad_write(VT (*acc)[KS * KS], const VT *bacc, __global float *out, __global float *db, int f0,
                        int c, int C)
{
#pragma unroll
    for (int i = 0; i < FBW; i++)
#pragma unroll
        for (int t = 0; t < KS * KS; t++)
            out[((size_t)(f0 + i) * C + c) * KS * KS + t] = lane_sum(acc[i][t]);
    if (c == 0)
#pragma unroll
        for (int i = 0; i < FBW; i++)
            db[f0 + i] = lane_sum(bacc[i]);
}

/* grid (F/FBW * C, G): work-item (fc, g) sums, for filters f0 .. f0+FBW-1 and input channel c, the
 * weight gradient dw[f, c, ky, kx] = sum over images n of group g (ipp images from the chunk's
 * first), rows and pixels of dy[n0+n, f, row, x] xp[n, c, row + ky, x + kx], in VW lanes (each
 * dy vector feeds KS*KS FMAs), then the lanes in order; writes part[part_off + g*F*C*KS*KS + w index].
 * The work-items of channel 0 also sum dy itself, the bias gradient, into dbp[dbp_off + g*F + f] (one
 * pass over dy saved, and two launches). host/ops/conv_direct.c sums the groups' partials in a fixed
 * order. */
__kernel void conv_direct_weight_grad(__global float *part, int part_off, __global float *dbp, int dbp_off,
                                      __global const float *dy, __global const float *xp, int xp_off, int n0,
                                      int nb, int ipp, int C, int H, int W, int F, int padw)
{
    int fc = get_global_id(0), g = get_global_id(1), groups = F / FBW;
    if (fc >= groups * C) return;
    int c = fc / groups, f0 = (fc - c * groups) * FBW;
    int i0 = g * ipp, i1 = min(nb, i0 + ipp), ph = H + KS - 1;
    xp += xp_off;
    VT acc[FBW][KS * KS], bacc[FBW];
    wgrad_zero(acc, bacc);
    for (int n = i0; n < i1; n++)
        for (int row = 0; row < H; row++) {
            __global const float *xrow = xp + ((size_t)(n * C + c) * ph + row) * padw;
            __global const float *drow = dy + (((size_t)(n0 + n) * F + f0) * H + row) * W;
            for (int x0 = 0; x0 < W; x0 += VW) {
                VT gv[FBW];
                if (x0 + VW <= W) {
#pragma unroll
                    for (int i = 0; i < FBW; i++)
                        gv[i] = VLOAD(0, drow + (size_t)i * H * W + x0);
                } else {
                    float lanes[VW];
#pragma unroll
                    for (int i = 0; i < FBW; i++) {
                        for (int l = 0; l < VW; l++)
                            lanes[l] = x0 + l < W ? drow[(size_t)i * H * W + x0 + l] : 0.0f;
                        gv[i] = VLOAD(0, lanes);
                    }
                }
                if (c == 0)
#pragma unroll
                    for (int i = 0; i < FBW; i++)
                        bacc[i] += gv[i];
#pragma unroll
                for (int ky = 0; ky < KS; ky++)
#pragma unroll
                    for (int kx = 0; kx < KS; kx++) {
                        VT in = VLOAD(0, xrow + ky * padw + x0 + kx);
#pragma unroll
                        for (int i = 0; i < FBW; i++)
                            acc[i][ky * KS + kx] = fma(gv[i], in, acc[i][ky * KS + kx]);
                    }
            }
        }
    wgrad_write(acc, bacc, part + part_off + (size_t)g * F * C * KS * KS, dbp + dbp_off + (size_t)g * F, f0,
                c, C);
}

/* The weight gradient of planes a few pixels wide, with vectors across images: grid (F/FBW * C),
 * work-item (f0 group, c) sums dw[f, c, ky, kx] = sum over the chunk's images and pixels p of
 * dyt[f, p, n] xt[c, p + (ky, kx), n] in VW image lanes (both laid out by conv_pad_images: xt padded,
 * dyt not, nbp images innermost, zero past the chunk's m), then the lanes in order; writes
 * part[part_off + w index], and the work-items of channel 0 the bias gradient into dbp[dbp_off + f]. */
__kernel void conv_weight_grad_images(__global float *part, int part_off, __global float *dbp, int dbp_off,
                                      __global const float *dyt, int dyt_off, __global const float *xt,
                                      int xt_off, int nbp, int C, int H, int W, int F)
{
    int fc = get_global_id(0), groups = F / FBW;
    if (fc >= groups * C) return;
    int c = fc / groups, f0 = (fc - c * groups) * FBW, padw = W + KS - 1, ph = H + KS - 1, hw = H * W;
    __global const float *xc = xt + xt_off + (size_t)c * ph * padw * nbp;
    __global const float *dyf = dyt + dyt_off + (size_t)f0 * hw * nbp;
    VT acc[FBW][KS * KS], bacc[FBW];
    wgrad_zero(acc, bacc);
    for (int p = 0; p < hw; p++) {
        int row = p / W, col = p - row * W;
        for (int nv = 0; nv < nbp; nv += VW) {
            VT gv[FBW];
#pragma unroll
            for (int i = 0; i < FBW; i++)
                gv[i] = VLOAD(0, dyf + ((size_t)i * hw + p) * nbp + nv);
            if (c == 0)
#pragma unroll
                for (int i = 0; i < FBW; i++)
                    bacc[i] += gv[i];
#pragma unroll
            for (int ky = 0; ky < KS; ky++)
#pragma unroll
                for (int kx = 0; kx < KS; kx++) {
                    VT in = VLOAD(0, xc + ((size_t)(row + ky) * padw + col + kx) * nbp + nv);
#pragma unroll
                    for (int i = 0; i < FBW; i++)
                        acc[i][ky * KS + kx] = fma(gv[i], in, acc[i][ky * KS + kx]);
                }
        }
    }
    wgrad_write(acc, bacc, part + part_off, dbp + dbp_off, f0, c, C);
}

/* dw[i] = sum over g < G of part[g*nw + i] and db[j] = sum over g of part[G*nw + g*F + j], in order;
 * grid (nw + F) */
__kernel void conv_sum_groups(__global float *dw, __global float *db, __global const float *part, int G,
                              int nw, int F)
{
    int i = get_global_id(0);
    if (i >= nw + F) return;
    float s = 0.0f;
    if (i < nw) {
        for (int g = 0; g < G; g++)
            s += part[(size_t)g * nw + i];
        dw[i] = s;
    } else {
        for (int g = 0; g < G; g++)
            s += part[(size_t)G * nw + (size_t)g * F + i - nw];
        db[i - nw] = s;
    }
}
#endif
