/* test_conv_direct.c: the direct convolution (cl/conv_direct.cl, forced with CLTRAIN_CONV_ALGO=direct)
 * against a double-precision reference on random inputs, over the widths that take each vector
 * width (8, 16 pixels along rows; planes up to 4 wide, vectors across 16 images) with and without a
 * partial last vector, odd filter counts (FB 1, 2, 4, 8),
 * filter sizes 1, 3, 5, batch 1, chunks of images; the input gradient (the same kernel on the
 * flipped, transposed weights) and the weight and bias gradients (groups of images summed in
 * registers), the dx and dw references checked by central finite differences; and the im2col + GEMM
 * path (CLTRAIN_CONV_ALGO=gemm) meeting the same references. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* y[n,f,i,j] = b[f] + sum_c,ky,kx w[f,c,ky,kx] x[n,c,i+ky-k/2,j+kx-k/2] */
static void ref_forward(double *y, const float *x, const float *w, const float *b, int N, int C, int H, int W,
                        int F, int k)
{
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = b ? b[f] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int yy = i + ky - k / 2, xx = j + kx - k / 2;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += (double)w[((f * C + c) * k + ky) * k + kx] *
                                     x[((n * C + c) * H + yy) * W + xx];
                            }
                    y[((n * F + f) * H + i) * W + j] = s;
                }
}

/* dx = d(sum y*g)/dx, the transpose of ref_forward */
static void ref_dx(double *dx, const float *g, const float *w, int N, int C, int H, int W, int F, int k)
{
    memset(dx, 0, sizeof(double) * N * C * H * W);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int yy = i + ky - k / 2, xx = j + kx - k / 2;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                dx[((n * C + c) * H + yy) * W + xx] +=
                                    (double)g[((n * F + f) * H + i) * W + j] *
                                    w[((f * C + c) * k + ky) * k + kx];
                            }
}

/* dw = d(sum y*g)/dw */
static void ref_dw(double *dw, const float *g, const float *x, int N, int C, int H, int W, int F, int k)
{
    memset(dw, 0, sizeof(double) * F * C * k * k);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int yy = i + ky - k / 2, xx = j + kx - k / 2;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                dw[((f * C + c) * k + ky) * k + kx] +=
                                    (double)g[((n * F + f) * H + i) * W + j] *
                                    x[((n * C + c) * H + yy) * W + xx];
                            }
}

/* a reference gradient against central differences of L(v) = sum ref_forward(x, w) * g, v being x
 * or w, at a few coordinates (L is linear in each: the difference is exact but for rounding; the step
 * is taken between the two floats actually stored) */
static void check_ref_grad(const double *grad, float *v, size_t nv, float *x, float *w, const float *g, int N,
                           int C, int H, int W, int F, int k)
{
    size_t ny = (size_t)N * F * H * W;
    double *y = tu_alloc(ny * sizeof(double));
    for (size_t t = 0; t < 5; t++) {
        size_t i = (t * 7919) % nv;
        float keep = v[i], at[2] = {keep - 0.125f, keep + 0.125f};
        double l[2];
        for (int s = 0; s < 2; s++) {
            v[i] = at[s];
            ref_forward(y, x, w, NULL, N, C, H, W, F, k);
            l[s] = 0;
            for (size_t j = 0; j < ny; j++)
                l[s] += y[j] * g[j];
        }
        v[i] = keep;
        double fd = (l[1] - l[0]) / ((double)at[1] - at[0]);
        ck_assert_msg(fabs(fd - grad[i]) <= 1e-9 * (1.0 + fabs(fd)),
                      "reference gradient [%zu] %g, finite "
                      "difference %g",
                      i, grad[i], fd);
    }
    free(y);
}

/* what the launch-choice test has set, for the failure messages */
static char launch_note[64];

/* Compares the direct path and, with both, im2col + GEMM too, with the double references. */
static void direct_case_paths(int N, int C, int H, int W, int F, int k, uint64_t seed, int both)
{
    device_ctx *d = tu_device();
    size_t nx = (size_t)N * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)N * F * H * W;
    float *x = tu_alloc(nx * 4), *w = tu_alloc(nw * 4), *b = tu_alloc(F * 4), *g = tu_alloc(ny * 4);
    /* one sign, so no sum cancels below what 1e-4 relative can see */
    tu_fill_uniform(x, nx, 0.1f, 1.0f, seed);
    tu_fill_uniform(w, nw, 0.1f, 0.6f, seed + 1);
    tu_fill_uniform(b, F, 0.1f, 0.5f, seed + 2);
    tu_fill_uniform(g, ny, 0.2f, 1.0f, seed + 3);
    double *ry = tu_alloc(ny * 8), *rdx = tu_alloc(nx * 8), *rdw = tu_alloc(nw * 8), *rdb = tu_alloc(F * 8);
    ref_forward(ry, x, w, b, N, C, H, W, F, k);
    ref_dx(rdx, g, w, N, C, H, W, F, k);
    ref_dw(rdw, g, x, N, C, H, W, F, k);
    for (int f = 0; f < F; f++) { /* db = sum of g over images and pixels */
        rdb[f] = 0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < H * W; p++)
                rdb[f] += g[((size_t)n * F + f) * H * W + p];
    }
    if (nx * ny < 4000000) {
        check_ref_grad(rdx, x, nx, x, w, g, N, C, H, W, F, k);
        check_ref_grad(rdw, w, nw, x, w, g, N, C, H, W, F, k);
    }

    cl_mem bx = tu_upload(d, x, nx), bw = tu_upload(d, w, nw), bb = tu_upload(d, b, F),
           bg = tu_upload(d, g, ny);
    cl_mem by = device_alloc(d, ny * 4, "y"), bdx = device_alloc(d, nx * 4, "dx"),
           bdw = device_alloc(d, nw * 4, "dw"), bdb = device_alloc(d, F * 4, "db");
    ck_assert_msg(by && bdx && bdw && bdb, "%s", d->error);
    float *out[2][3];
    for (int algo = 0; algo < 1 + both; algo++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s%s", algo ? "gemm" : "direct", launch_note[0] ? " " : "",
                 launch_note);
        setenv("CLTRAIN_CONV_ALGO", algo ? "gemm" : "direct", 1);
        TU_OK(d, device_fill(d, by, NAN, 0, ny)); /* every element must be written */
        TU_OK(d, device_fill(d, bdx, NAN, 0, nx));
        TU_OK(d, device_fill(d, bdw, NAN, 0, nw));
        TU_OK(d, device_fill(d, bdb, NAN, 0, F));
        TU_OK(d, ops_conv_forward(d, by, bx, bw, bb, N, C, H, W, F, k));
        TU_OK(d, ops_conv_backward(d, bdx, bdw, bdb, bg, bx, bw, N, C, H, W, F, k));
        out[algo][0] = tu_download(d, by, ny);
        out[algo][1] = tu_download(d, bdx, nx);
        out[algo][2] = tu_download(d, bdw, nw);
        float *gdb = tu_download(d, bdb, F);
        ck_assert_msg(tu_max_rel_err(gdb, rdb, F) <= 1e-4, "%s db: %g", name, tu_max_rel_err(gdb, rdb, F));
        free(gdb);
        /* dw sums N*H*W positive products per weight, in 4-16 float lanes over at most 65536 pixels */
        ck_assert_msg(tu_max_rel_err(out[algo][2], rdw, nw) <= 1e-4, "%s dw %dx%dx%dx%d F%d k%d: %g", name, N,
                      C, H, W, F, k, tu_max_rel_err(out[algo][2], rdw, nw));
        /* sums of C*k*k (forward) and F*k*k (dx) positive products: 1e-4 holds */
        ck_assert_msg(tu_max_rel_err(out[algo][0], ry, ny) <= 1e-4, "%s forward %dx%dx%dx%d F%d k%d: %g",
                      name, N, C, H, W, F, k, tu_max_rel_err(out[algo][0], ry, ny));
        ck_assert_msg(tu_max_rel_err(out[algo][1], rdx, nx) <= 1e-4, "%s dx %dx%dx%dx%d F%d k%d: %g", name, N,
                      C, H, W, F, k, tu_max_rel_err(out[algo][1], rdx, nx));
    }
    unsetenv("CLTRAIN_CONV_ALGO");
    /* the direct path twice gives the same bits */
    setenv("CLTRAIN_CONV_ALGO", "direct", 1);
    TU_OK(d, ops_conv_forward(d, by, bx, bw, bb, N, C, H, W, F, k));
    TU_OK(d, ops_conv_backward(d, bdx, bdw, bdb, bg, bx, bw, N, C, H, W, F, k));
    unsetenv("CLTRAIN_CONV_ALGO");
    float *y2 = tu_download(d, by, ny), *dx2 = tu_download(d, bdx, nx), *dw2 = tu_download(d, bdw, nw);
    ck_assert_msg(memcmp(y2, out[0][0], ny * 4) == 0, "direct forward differs between two runs");
    ck_assert_msg(memcmp(dx2, out[0][1], nx * 4) == 0, "direct dx differs between two runs");
    ck_assert_msg(memcmp(dw2, out[0][2], nw * 4) == 0, "direct dw differs between two runs");
    cl_mem bufs[] = {bx, bw, bb, bg, by, bdx, bdw, bdb};
    for (int i = 0; i < 8; i++)
        clReleaseMemObject(bufs[i]);
    free(rdb);
    void *hs[] = {x, w, b, g, ry, rdx, rdw, y2, dx2, dw2, out[0][0], out[0][1], out[0][2]};
    for (int i = 0; i < 13; i++)
        free(hs[i]);
    for (int i = 0; i < 3 && both; i++)
        free(out[1][i]);
}

static void direct_case(int N, int C, int H, int W, int F, int k, uint64_t seed)
{
    direct_case_paths(N, C, H, W, F, k, seed, 1);
}

/* W 1..4 runs with vectors across images (fewer images than a vector here), 5..8 8-pixel vectors
 * along rows, wider 16 (with a partial last one unless a multiple); F 8, 4, 6 (FB 2), 3 (FB 1) */
START_TEST(direct_matches_reference)
{
    direct_case(1, 1, 5, 5, 1, 3, 1);
    direct_case(2, 3, 7, 1, 4, 3, 2);
    direct_case(3, 2, 2, 4, 8, 3, 3);
    direct_case(2, 4, 6, 7, 3, 1, 4);
    direct_case(1, 3, 9, 8, 6, 5, 5);
    direct_case(2, 5, 16, 16, 8, 3, 6);
    direct_case(1, 2, 11, 37, 16, 3, 7);
    direct_case(2, 3, 5, 33, 5, 5, 8);
    direct_case(1, 32, 4, 20, 32, 3, 9);
    direct_case(4, 16, 2, 2, 8, 3, 10); /* the last block of a 32x32 input */
    direct_case(2, 3, 3, 3, 4, 3, 14);
}
END_TEST

/* a workspace of 1 MiB (262144 floats) holds 2 padded images of 96 x 32 x 34 floats: forward and dx in
 * 3 chunks; dw of 30x30 images in groups of 72 (65536 pixels per group), two groups, the last short;
 * dw of 256x256 images, one per group, padded 4 x 258 x 258 floats: one image per chunk, 3 chunks */
START_TEST(direct_in_several_chunks)
{
    setenv("CLTRAIN_CONV_WORKSPACE_MIB", "1", 1);
    /* 4x4 planes across images: 300 x 6 x 6 floats an image, 24 fit, rounded down to chunks of 16, 16
     * and a last one of 8 (half a vector of images) */
    direct_case(40, 300, 4, 4, 4, 3, 15);
    direct_case(5, 96, 30, 30, 4, 3, 11);
    direct_case(75, 1, 30, 30, 2, 3, 12);
    direct_case(3, 4, 256, 256, 2, 3, 13);
    unsetenv("CLTRAIN_CONV_WORKSPACE_MIB");
}
END_TEST

/* Every launch choice of the direct kernels `cltrain tune` may store computes the same numbers: one
 * iteration per non-default candidate, on shapes that exercise them: a row narrower than any vector,
 * k 5 (one filter per weight-gradient item) with F 6, F 16, a wide row (the group rule applies) of 12
 * rows, and 20 images of 30x30 whose weight gradient needs two groups at 16384 pixels per partial. */
static const launch_param DIRECT_CHOICES[] = {LAUNCH_CONV_VW, LAUNCH_CONV_FB, LAUNCH_CONV_GROUP,
                                              LAUNCH_WGRAD_FB, LAUNCH_WGRAD_PIXELS};
#define NDIRECT_CHOICES ((int)(sizeof DIRECT_CHOICES / sizeof DIRECT_CHOICES[0]))

START_TEST(every_launch_choice_matches_reference)
{
    device_ctx *d = tu_device();
    ck_assert(tu_launch_pick(d, DIRECT_CHOICES, NDIRECT_CHOICES, _i, launch_note, sizeof launch_note));
    direct_case_paths(2, 3, 7, 1, 4, 3, 21, 0);
    direct_case_paths(1, 3, 9, 8, 6, 5, 22, 0);
    direct_case_paths(1, 2, 11, 37, 16, 3, 23, 0);
    direct_case_paths(2, 3, 12, 70, 8, 3, 24, 0);
    direct_case_paths(20, 2, 30, 30, 2, 3, 25, 0);
    launch_defaults(&d->launch);
    launch_note[0] = '\0';
}
END_TEST

/* The conv_algo choice picks the path unless CLTRAIN_CONV_ALGO names one. */
START_TEST(conv_algo_choice_picks_the_path)
{
    device_ctx *d = tu_device();
    unsetenv("CLTRAIN_CONV_ALGO");
    int by_type = (d->info.type & CL_DEVICE_TYPE_CPU) != 0;
    ck_assert_int_eq(ops_conv_use_direct(d), by_type);
    d->launch.v[LAUNCH_CONV_ALGO] = 1;
    ck_assert_int_eq(ops_conv_use_direct(d), 1);
    d->launch.v[LAUNCH_CONV_ALGO] = 2;
    ck_assert_int_eq(ops_conv_use_direct(d), 0);
    setenv("CLTRAIN_CONV_ALGO", "direct", 1);
    ck_assert_int_eq(ops_conv_use_direct(d), 1);
    unsetenv("CLTRAIN_CONV_ALGO");
    launch_defaults(&d->launch);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conv_direct");
    TCase *tc = tcase_create("direct");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, direct_matches_reference);
    tcase_add_test(tc, direct_in_several_chunks);
    tcase_add_loop_test(tc, every_launch_choice_matches_reference, 0,
                        tu_launch_count(DIRECT_CHOICES, NDIRECT_CHOICES));
    tcase_add_test(tc, conv_algo_choice_picks_the_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
