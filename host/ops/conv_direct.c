/* conv_direct.c: the direct convolution of cl/conv_direct.cl (see there), which conv.c picks instead of
 * im2col + GEMM where it is faster (ops_conv_use_direct). The images are padded into the device
 * workspace a chunk at a time, as many as fit the same limit as im2col's chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"
#include "internal.h"

/* pixels per vector: the narrowest of 4, 8, 16 that covers a row, 16 for wider rows */
static int direct_vw(int W)
{
    return W <= 4 ? 4 : W <= 8 ? 8 : 16;
}

/* filters per work-item: 8 accumulators of 16 lanes fit AVX-512's 32 registers beside the input */
static int direct_fb(int F)
{
    return F % 8 == 0 ? 8 : F % 4 == 0 ? 4 : F % 2 == 0 ? 2 : 1;
}

int ops_conv_use_direct(device_ctx *d)
{
    const char *env = getenv("CLTRAIN_CONV_ALGO");
    if (env && !strcmp(env, "direct")) return 1;
    if (env && !strcmp(env, "gemm")) return 0;
    /* a GPU runs CLBlast's tiled GEMMs well; on a CPU (PoCL) the direct kernel avoids im2col's k*k-fold
     * traffic and measured 3-10x faster on every layer of the study's CNN down to 4x4 (2x2 a tie),
     * see perf/RESULTS.md */
    return (d->info.type & CL_DEVICE_TYPE_CPU) != 0;
}

int ops_conv_direct_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W,
                            int F, int k, size_t workspace_floats)
{
    int vw = direct_vw(W), fb = direct_fb(F);
    int nvec = (W + vw - 1) / vw, padw = nvec * vw + k - 1, ph = H + k - 1;
    size_t per = (size_t)C * ph * padw; /* one image padded */
    size_t nbs = workspace_floats / per;
    int nb = nbs < 1 ? 1 : nbs < (size_t)N ? (int)nbs : N;
    cl_mem ws = device_workspace(d, per * nb * sizeof(float));
    if (!ws) return -1;
    char options[64];
    snprintf(options, sizeof options, "-DKS=%d -DVW=%d -DFB=%d", k, vw, fb);
    cl_kernel kp = device_kernel(d, "conv_direct.cl", "conv_pad", options);
    cl_kernel kc = kp ? device_kernel(d, "conv_direct.cl", "conv_direct_forward", options) : NULL;
    if (!kc) return -1;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb, plane0 = n0 * C;
        cl_int st = 0;
        DEVICE_ARG(st, kp, 0, ws);
        DEVICE_ARG(st, kp, 1, x);
        DEVICE_ARG(st, kp, 2, plane0);
        DEVICE_ARG(st, kp, 3, H);
        DEVICE_ARG(st, kp, 4, W);
        DEVICE_ARG(st, kp, 5, padw);
        if (device_check(d, st, "setting the conv padding's arguments")) return -1;
        size_t gp[3] = {(size_t)padw, (size_t)ph, (size_t)m * C};
        if (device_run(d, kp, 3, gp, NULL, "the conv padding")) return -1;
        DEVICE_ARG(st, kc, 0, y);
        DEVICE_ARG(st, kc, 1, ws);
        DEVICE_ARG(st, kc, 2, w);
        DEVICE_ARG(st, kc, 3, b);
        DEVICE_ARG(st, kc, 4, n0);
        DEVICE_ARG(st, kc, 5, C);
        DEVICE_ARG(st, kc, 6, H);
        DEVICE_ARG(st, kc, 7, W);
        DEVICE_ARG(st, kc, 8, F);
        DEVICE_ARG(st, kc, 9, padw);
        if (device_check(d, st, "setting the direct conv's arguments")) return -1;
        size_t gc[3] = {(size_t)nvec, (size_t)H, (size_t)m * (F / fb)};
        if (device_run(d, kc, 3, gc, NULL, "the direct conv")) return -1;
    }
    return 0;
}
