/* conv_direct.c: the direct convolution of cl/conv_direct.cl (see there), which conv.c picks instead of
 * im2col + GEMM where it is faster (ops_conv_use_direct). The images are padded into the device
 * workspace a chunk at a time, as many as fit the same limit as im2col's chunks; planes up to
 * IMAGES_MAX_W wide are laid out with the images innermost, for vectors across images. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"
#include "internal.h"

/* pixels per vector along a row: 8 or 16, the narrower where it covers the row, at most the launch
 * choice conv_vw (planes up to IMAGES_MAX_W wide run across images instead) */
static int direct_vw(const device_ctx *d, int W)
{
    int vw = W <= 8 ? 8 : 16, most = d->launch.v[LAUNCH_CONV_VW];
    return vw < most ? vw : most;
}

/* filters per work-item: the largest power of two that divides F, at most conv_fb (by default 8:
 * 8 accumulators of 16 lanes fit AVX-512's 32 registers beside the input) */
static int direct_fb(const device_ctx *d, int F)
{
    int fb = d->launch.v[LAUNCH_CONV_FB];
    while (F % fb)
        fb /= 2;
    return fb;
}

int ops_conv_use_direct(device_ctx *d)
{
    const char *env = getenv("CLTRAIN_CONV_ALGO");
    if (env && !strcmp(env, "direct")) return 1;
    if (env && !strcmp(env, "gemm")) return 0;
    int algo = d->launch.v[LAUNCH_CONV_ALGO];
    if (algo) return algo == 1;
    /* a GPU runs CLBlast's tiled GEMMs well; on a CPU (PoCL) the direct kernel avoids im2col's k*k-fold
     * traffic and measured 3-10x faster on every layer of the study's CNN down to 4x4 (2x2 a tie),
     * see perf/RESULTS.md */
    return (d->info.type & CL_DEVICE_TYPE_CPU) != 0;
}

/* Planes at most this wide run with vectors across IMAGE_VW images (conv_direct_forward_images)
 * instead of along rows: each weight load then feeds 16 images instead of a 2- or 4-pixel row (see
 * perf/RESULTS.md) */
#define IMAGES_MAX_W 4
#define IMAGE_VW 16

static int across_images(int W)
{
    return W <= IMAGES_MAX_W;
}

/* images rounded up to whole vectors of images */
static size_t image_lanes(size_t n)
{
    return (n + IMAGE_VW - 1) / IMAGE_VW * IMAGE_VW;
}

/* Enqueues kp (conv_pad): planes plane0 .. plane0+planes-1 of x [.., H, W] zero-padded into ws from
 * float off on, ph rows of padw floats a plane */
static int pad_rows(device_ctx *d, cl_kernel kp, cl_mem ws, int off, cl_mem x, int plane0, int planes, int H,
                    int W, int padw, int ph)
{
    cl_int st = 0;
    DEVICE_ARG(st, kp, 0, ws);
    DEVICE_ARG(st, kp, 1, off);
    DEVICE_ARG(st, kp, 2, x);
    DEVICE_ARG(st, kp, 3, plane0);
    DEVICE_ARG(st, kp, 4, H);
    DEVICE_ARG(st, kp, 5, W);
    DEVICE_ARG(st, kp, 6, padw);
    if (device_check(d, st, "setting the conv padding's arguments")) return -1;
    size_t gp[3] = {(size_t)padw, (size_t)ph, (size_t)planes};
    return device_run(d, kp, 3, gp, NULL, "the conv padding");
}

/* Enqueues kp (conv_pad_images): images n0 .. n0+m-1 of x [N, C, H, W] pixel-major into ws from float
 * off on, padded by pad, nbp images innermost */
static int lay_images(device_ctx *d, cl_kernel kp, cl_mem ws, int off, cl_mem x, int n0, int m, int nbp,
                      int C, int H, int W, int pad)
{
    cl_int st = 0;
    DEVICE_ARG(st, kp, 0, ws);
    DEVICE_ARG(st, kp, 1, off);
    DEVICE_ARG(st, kp, 2, x);
    DEVICE_ARG(st, kp, 3, n0);
    DEVICE_ARG(st, kp, 4, m);
    DEVICE_ARG(st, kp, 5, nbp);
    DEVICE_ARG(st, kp, 6, C);
    DEVICE_ARG(st, kp, 7, H);
    DEVICE_ARG(st, kp, 8, W);
    DEVICE_ARG(st, kp, 9, pad);
    if (device_check(d, st, "setting the conv image layout's arguments")) return -1;
    size_t gp[3] = {(size_t)nbp, (size_t)(W + 2 * pad) * (H + 2 * pad), (size_t)C};
    return device_run(d, kp, 3, gp, NULL, "the conv image layout");
}

/* out [N, O, H, W] as direct_run below, with vectors across the images of each chunk */
static int images_run(device_ctx *d, cl_mem out, cl_mem in, cl_mem wbuf, int w_off, int flip, cl_mem b,
                      cl_mem ws, int nb, int N, int I, int H, int W, int O, int k)
{
    int fb = direct_fb(d, O), padw = W + k - 1, zero = 0;
    char options[64];
    snprintf(options, sizeof options, "-DKS=%d -DVW=%d -DFB=%d%s", k, IMAGE_VW, fb, flip ? " -DFLIP" : "");
    cl_kernel kp = device_kernel(d, "conv_direct.cl", "conv_pad_images", options);
    cl_kernel kc = kp ? device_kernel(d, "conv_direct.cl", "conv_direct_forward_images", options) : NULL;
    if (!kc) return -1;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb, nbp = (int)image_lanes((size_t)m);
        if (lay_images(d, kp, ws, 0, in, n0, m, nbp, I, H, W, k / 2)) return -1;
        cl_int st = 0;
        DEVICE_ARG(st, kc, 0, out);
        DEVICE_ARG(st, kc, 1, ws);
        DEVICE_ARG(st, kc, 2, zero);
        DEVICE_ARG(st, kc, 3, wbuf);
        DEVICE_ARG(st, kc, 4, w_off);
        DEVICE_ARG(st, kc, 5, b); /* NULL is a valid buffer argument: the kernel then adds no bias */
        DEVICE_ARG(st, kc, 6, n0);
        DEVICE_ARG(st, kc, 7, m);
        DEVICE_ARG(st, kc, 8, nbp);
        DEVICE_ARG(st, kc, 9, I);
        DEVICE_ARG(st, kc, 10, H);
        DEVICE_ARG(st, kc, 11, W);
        DEVICE_ARG(st, kc, 12, O);
        DEVICE_ARG(st, kc, 13, padw);
        if (device_check(d, st, "setting the direct conv's arguments")) return -1;
        size_t gc[3] = {(size_t)nbp / IMAGE_VW, (size_t)H * W, (size_t)(O / fb)};
        if (device_run(d, kc, 3, gc, NULL, "the direct conv")) return -1;
    }
    return 0;
}

/* out [N, O, H, W] = conv(in [N, I, H, W], weights at w_off of wbuf [O, I, k, k], or with flip those of
 * the layer [I, O, k, k] transposed and rotated) (+ b unless NULL),
 * the images padded a chunk at a time into ws from float pad_off on, chunks of at most nb images */
static int direct_run(device_ctx *d, cl_mem out, cl_mem in, cl_mem wbuf, int w_off, int flip, cl_mem b,
                      cl_mem ws, int pad_off, int nb, int N, int I, int H, int W, int O, int k)
{
    if (across_images(W)) return images_run(d, out, in, wbuf, w_off, flip, b, ws, nb, N, I, H, W, O, k);
    int vw = direct_vw(d, W), fb = direct_fb(d, O);
    int nvec = (W + vw - 1) / vw, padw = nvec * vw + k - 1, ph = H + k - 1;
    char options[64];
    snprintf(options, sizeof options, "-DKS=%d -DVW=%d -DFB=%d%s", k, vw, fb, flip ? " -DFLIP" : "");
    cl_kernel kp = device_kernel(d, "conv_direct.cl", "conv_pad", options);
    cl_kernel kc = kp ? device_kernel(d, "conv_direct.cl", "conv_direct_forward", options) : NULL;
    if (!kc) return -1;
    /* work-groups of whole rows of vectors, as many rows (a divisor of H) as keep them within conv_group
     * items. The rule (0) does so with 64 items on wide images only: left to the driver, PoCL chose
     * groups that ran the 224x224 first layer at half the rate of the others; on small images (W < 64)
     * its own choice measured as fast or faster. */
    int group = d->launch.v[LAUNCH_CONV_GROUP];
    size_t most = group > 0 ? (size_t)group : 64, ly = 1, lcs[3] = {(size_t)nvec, 1, 1};
    for (size_t t = 2; t <= (size_t)H; t++)
        if (H % t == 0 && lcs[0] * t <= most) ly = t;
    lcs[1] = ly;
    int grouped = group > 0 || (group == 0 && W >= 64);
    size_t *lc = grouped && lcs[0] * ly <= d->info.max_work_group ? lcs : NULL;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb, plane0 = n0 * I;
        if (pad_rows(d, kp, ws, pad_off, in, plane0, m * I, H, W, padw, ph)) return -1;
        cl_int st = 0;
        DEVICE_ARG(st, kc, 0, out);
        DEVICE_ARG(st, kc, 1, ws);
        DEVICE_ARG(st, kc, 2, pad_off);
        DEVICE_ARG(st, kc, 3, wbuf);
        DEVICE_ARG(st, kc, 4, w_off);
        DEVICE_ARG(st, kc, 5, b); /* NULL is a valid buffer argument: the kernel then adds no bias */
        DEVICE_ARG(st, kc, 6, n0);
        DEVICE_ARG(st, kc, 7, I);
        DEVICE_ARG(st, kc, 8, H);
        DEVICE_ARG(st, kc, 9, W);
        DEVICE_ARG(st, kc, 10, O);
        DEVICE_ARG(st, kc, 11, padw);
        if (device_check(d, st, "setting the direct conv's arguments")) return -1;
        size_t gc[3] = {(size_t)nvec, (size_t)H, (size_t)m * (O / fb)};
        if (device_run(d, kc, 3, gc, lc, "the direct conv")) return -1;
    }
    return 0;
}

/* floats of one image of I channels padded for the row kernels (conv_pad) */
static size_t padded_image(const device_ctx *d, int I, int H, int W, int k)
{
    int vw = direct_vw(d, W);
    return (size_t)I * (H + k - 1) * (((size_t)W + vw - 1) / vw * vw + k - 1);
}

/* images per chunk when each takes per floats of a budget of avail */
static int direct_chunk(size_t avail, size_t per, int N)
{
    size_t nb = avail / per;
    return nb < 1 ? 1 : nb < (size_t)N ? (int)nb : N;
}

/* The workspace of the forward kernels for chunks of images of I channels: *nb images per chunk */
static cl_mem forward_workspace(device_ctx *d, size_t workspace_floats, int N, int I, int H, int W, int k,
                                int *nb)
{
    if (!across_images(W)) {
        size_t per = padded_image(d, I, H, W, k);
        *nb = direct_chunk(workspace_floats, per, N);
        return device_workspace(d, per * *nb * sizeof(float));
    }
    /* chunks of whole vectors of images where the budget allows */
    size_t per = (size_t)I * (H + k - 1) * (W + k - 1);
    *nb = direct_chunk(workspace_floats, per, N);
    if (*nb > IMAGE_VW) *nb = *nb / IMAGE_VW * IMAGE_VW;
    return device_workspace(d, per * image_lanes((size_t)*nb) * sizeof(float));
}

int ops_conv_direct_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W,
                            int F, int k, size_t workspace_floats)
{
    int nb;
    cl_mem ws = forward_workspace(d, workspace_floats, N, C, H, W, k, &nb);
    if (!ws) return -1;
    return direct_run(d, y, x, w, 0, 0, b, ws, 0, nb, N, C, H, W, F, k);
}

int ops_conv_direct_input_grad(device_ctx *d, cl_mem dx, cl_mem dy, cl_mem w, int N, int C, int H, int W,
                               int F, int k, size_t workspace_floats)
{
    int nb;
    cl_mem ws = forward_workspace(d, workspace_floats, N, F, H, W, k, &nb);
    if (!ws) return -1;
    cl_mem none = NULL; /* no bias */
    return direct_run(d, dx, dy, w, 0, 1, none, ws, 0, nb, N, F, H, W, C, k);
}

/* Enqueues ks (conv_sum_groups): dw and db from the G groups' partials at the start of ws */
static int sum_groups(device_ctx *d, cl_kernel ks, cl_mem dw, cl_mem db, cl_mem ws, int G, size_t nwt, int F)
{
    int n = (int)nwt;
    cl_int st = 0;
    DEVICE_ARG(st, ks, 0, dw);
    DEVICE_ARG(st, ks, 1, db);
    DEVICE_ARG(st, ks, 2, ws);
    DEVICE_ARG(st, ks, 3, G);
    DEVICE_ARG(st, ks, 4, n);
    DEVICE_ARG(st, ks, 5, F);
    if (device_check(d, st, "setting the weight gradient sum's arguments")) return -1;
    return device_run_1d(d, ks, nwt + F, "the weight gradient sum");
}

/* filters per work-item of the weight gradient: at most wgrad_fb, and one at k > 3, where FBW x k x k
 * vector accumulators would no longer fit in registers */
static int wgrad_fbw(const device_ctx *d, int F, int k)
{
    int fbw = k <= 3 ? d->launch.v[LAUNCH_WGRAD_FB] : 1;
    while (F % fbw)
        fbw /= 2;
    return fbw;
}

/* The weight gradient of planes up to IMAGES_MAX_W wide, with vectors across images: x (padded) and dy
 * laid out pixel-major with the images innermost, one group of partial sums per chunk of images. */
static int images_weight_grad(device_ctx *d, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, int N, int C, int H,
                              int W, int F, int k, size_t workspace_floats)
{
    int fbw = wgrad_fbw(d, F, k), hw = H * W;
    size_t xt_image = (size_t)C * (H + k - 1) * (W + k - 1), per = xt_image + (size_t)F * hw;
    int nb = direct_chunk(workspace_floats, per, N);
    if (nb > IMAGE_VW) nb = nb / IMAGE_VW * IMAGE_VW;
    int G = (N + nb - 1) / nb;
    size_t nwt = (size_t)F * C * k * k, lanes = image_lanes((size_t)nb);
    /* per chunk nwt weight partials, then per chunk F bias partials */
    size_t parts = G > 1 ? ((size_t)G * (nwt + F) + 15) / 16 * 16 : 0;
    if ((double)parts + (double)per * lanes > INT_MAX)
        return device_fail(
            d, "conv weight gradient over C %d, %dx%d, F %d needs more workspace than its kernels index", C,
            H, W, F);
    cl_mem ws = device_workspace(d, (parts + per * lanes) * sizeof(float));
    if (!ws) return -1;
    char options[64];
    snprintf(options, sizeof options, "-DKS=%d -DVW=%d -DFB=1 -DFBW=%d", k, IMAGE_VW, fbw);
    cl_kernel kp = device_kernel(d, "conv_direct.cl", "conv_pad_images", options);
    cl_kernel kw = kp ? device_kernel(d, "conv_direct.cl", "conv_weight_grad_images", options) : NULL;
    cl_kernel ks = kw && G > 1 ? device_kernel(d, "conv_direct.cl", "conv_sum_groups", options) : NULL;
    if (!kw || (G > 1 && !ks)) return -1;
    int xt_off = (int)parts, dyt_off = (int)(parts + xt_image * lanes);
    cl_mem out = G > 1 ? ws : dw, bout = G > 1 ? ws : db; /* one chunk writes dw and db itself */
    for (int g = 0; g < G; g++) {
        int n0 = g * nb, m = N - n0 < nb ? N - n0 : nb, nbp = (int)image_lanes((size_t)m);
        int part_off = (int)((size_t)g * nwt), bias_off = G > 1 ? (int)((size_t)G * nwt + (size_t)g * F) : 0;
        if (lay_images(d, kp, ws, xt_off, x, n0, m, nbp, C, H, W, k / 2) ||
            lay_images(d, kp, ws, dyt_off, dy, n0, m, nbp, F, H, W, 0))
            return -1;
        cl_int st = 0;
        DEVICE_ARG(st, kw, 0, out);
        DEVICE_ARG(st, kw, 1, part_off);
        DEVICE_ARG(st, kw, 2, bout);
        DEVICE_ARG(st, kw, 3, bias_off);
        DEVICE_ARG(st, kw, 4, ws);
        DEVICE_ARG(st, kw, 5, dyt_off);
        DEVICE_ARG(st, kw, 6, ws);
        DEVICE_ARG(st, kw, 7, xt_off);
        DEVICE_ARG(st, kw, 8, nbp);
        DEVICE_ARG(st, kw, 9, C);
        DEVICE_ARG(st, kw, 10, H);
        DEVICE_ARG(st, kw, 11, W);
        DEVICE_ARG(st, kw, 12, F);
        if (device_check(d, st, "setting the direct weight gradient's arguments")) return -1;
        if (device_run_1d(d, kw, (size_t)(F / fbw) * C, "the direct weight gradient")) return -1;
    }
    return G == 1 ? 0 : sum_groups(d, ks, dw, db, ws, G, nwt, F);
}

int ops_conv_direct_weight_grad(device_ctx *d, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, int N, int C, int H,
                                int W, int F, int k, size_t workspace_floats)
{
    if (across_images(W)) return images_weight_grad(d, dw, db, dy, x, N, C, H, W, F, k, workspace_floats);
    int vw = direct_vw(d, W), fbw = wgrad_fbw(d, F, k);
    int nvec = (W + vw - 1) / vw, padw = nvec * vw + k - 1, ph = H + k - 1;
    /* pixels each lane sums over at most (images per group x H x W / VW): short float sums, and
     * groups enough to keep the cores busy on the first layer */
    int pixels = d->launch.v[LAUNCH_WGRAD_PIXELS];
    int hw = H * W, ipp = hw >= pixels ? 1 : pixels / hw;
    if (ipp > N) ipp = N;
    int G = (N + ipp - 1) / ipp;
    size_t nwt = (size_t)F * C * k * k, per = padded_image(d, C, H, W, k);
    /* per group nwt weight partials, then per group F bias partials */
    size_t parts = G > 1 ? ((size_t)G * (nwt + F) + 15) / 16 * 16 : 0;
    /* images per chunk: whole groups, as many as the workspace holds beside the partials */
    size_t avail = workspace_floats > parts ? workspace_floats - parts : 0;
    size_t groups_per_chunk = avail / (per * ipp);
    if (groups_per_chunk < 1) groups_per_chunk = 1;
    int nb = groups_per_chunk * ipp < (size_t)N ? (int)(groups_per_chunk * ipp) : N;
    if ((double)parts + (double)per * nb > INT_MAX)
        return device_fail(
            d, "conv weight gradient over C %d, %dx%d, F %d needs more workspace than its kernels index", C,
            H, W, F);
    cl_mem ws = device_workspace(d, (parts + per * nb) * sizeof(float));
    if (!ws) return -1;
    char options[64];
    snprintf(options, sizeof options, "-DKS=%d -DVW=%d -DFB=1 -DFBW=%d", k, vw, fbw);
    cl_kernel kp = device_kernel(d, "conv_direct.cl", "conv_pad", options);
    cl_kernel kw = kp ? device_kernel(d, "conv_direct.cl", "conv_direct_weight_grad", options) : NULL;
    cl_kernel ks = kw && G > 1 ? device_kernel(d, "conv_direct.cl", "conv_sum_groups", options) : NULL;
    if (!kw || (G > 1 && !ks)) return -1;
    int pad_off = (int)parts;
    cl_mem out = G > 1 ? ws : dw, bout = G > 1 ? ws : db; /* one group writes dw and db itself */
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb, plane0 = n0 * C, gc = (m + ipp - 1) / ipp;
        int part_off = (int)((size_t)(n0 / ipp) * nwt);
        int bias_off = G > 1 ? (int)((size_t)G * nwt + (size_t)(n0 / ipp) * F) : 0;
        if (pad_rows(d, kp, ws, pad_off, x, plane0, m * C, H, W, padw, ph)) return -1;
        cl_int st = 0;
        DEVICE_ARG(st, kw, 0, out);
        DEVICE_ARG(st, kw, 1, part_off);
        DEVICE_ARG(st, kw, 2, bout);
        DEVICE_ARG(st, kw, 3, bias_off);
        DEVICE_ARG(st, kw, 4, dy);
        DEVICE_ARG(st, kw, 5, ws);
        DEVICE_ARG(st, kw, 6, pad_off);
        DEVICE_ARG(st, kw, 7, n0);
        DEVICE_ARG(st, kw, 8, m);
        DEVICE_ARG(st, kw, 9, ipp);
        DEVICE_ARG(st, kw, 10, C);
        DEVICE_ARG(st, kw, 11, H);
        DEVICE_ARG(st, kw, 12, W);
        DEVICE_ARG(st, kw, 13, F);
        DEVICE_ARG(st, kw, 14, padw);
        if (device_check(d, st, "setting the direct weight gradient's arguments")) return -1;
        size_t gw[2] = {(size_t)(F / fbw) * C, (size_t)gc};
        if (device_run(d, kw, 2, gw, NULL, "the direct weight gradient")) return -1;
    }
    return G == 1 ? 0 : sum_groups(d, ks, dw, db, ws, G, nwt, F);
}
