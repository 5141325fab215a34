/* test_conv.c: convolution against a double-precision reference on random inputs: forward, and
 * backward against the reference's backward, which is itself checked by central finite differences;
 * the batch split into several chunks (CLTRAIN_CONV_WORKSPACE_MIB, see host/ops/conv.c); repeated
 * runs bit for bit; bad shapes and buffers. Dense is tests/test_dense.c. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* y[n,f,i,j] = b[f] + sum_c,ky,kx w[f,c,ky,kx] x[n,c,i+ky-k/2,j+kx-k/2] */
static void conv_ref(double *y, const double *x, const double *w, const double *b, int N, int C, int H, int W,
                     int F, int k)
{
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = b[f];
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int yy = i + ky - k / 2, xx = j + kx - k / 2;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += w[((f * C + c) * k + ky) * k + kx] * x[((n * C + c) * H + yy) * W + xx];
                            }
                    y[((n * F + f) * H + i) * W + j] = s;
                }
}

/* the reference backward: the transpose of conv_ref for dy */
static void conv_ref_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                              const double *w, int N, int C, int H, int W, int F, int k)
{
    memset(dx, 0, sizeof(double) * N * C * H * W);
    memset(dw, 0, sizeof(double) * F * C * k * k);
    memset(db, 0, sizeof(double) * F);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double g = dy[((n * F + f) * H + i) * W + j];
                    db[f] += g;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int yy = i + ky - k / 2, xx = j + kx - k / 2;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                dw[((f * C + c) * k + ky) * k + kx] += g * x[((n * C + c) * H + yy) * W + xx];
                                dx[((n * C + c) * H + yy) * W + xx] += g * w[((f * C + c) * k + ky) * k + kx];
                            }
                }
}

/* The reference backward against central differences of L = sum(y * g) in a few coordinates of each
 * input (L is linear in each, so the difference is exact up to rounding). */
static void check_reference_backward(const double *x, const double *w, const double *b, const double *g,
                                     const double *dx, const double *dw, const double *db, int N, int C,
                                     int H, int W, int F, int k)
{
    size_t nx = (size_t)N * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)N * F * H * W;
    double *y = tu_alloc(ny * sizeof(double));
    double *xs = tu_alloc(nx * sizeof(double)), *ws = tu_alloc(nw * sizeof(double)),
           *bs = tu_alloc(F * sizeof(double));
    memcpy(xs, x, nx * sizeof(double));
    memcpy(ws, w, nw * sizeof(double));
    memcpy(bs, b, F * sizeof(double));
    struct {
        double *v;
        const double *grad;
        size_t n;
    } inputs[] = {{xs, dx, nx}, {ws, dw, nw}, {bs, db, (size_t)F}};
    for (int t = 0; t < 3; t++)
        for (size_t probe = 0; probe < 5; probe++) {
            size_t i = (probe * 7919 + 13) % inputs[t].n;
            double keep = inputs[t].v[i], h = 1e-3, lp, lm;
            inputs[t].v[i] = keep + h;
            conv_ref(y, xs, ws, bs, N, C, H, W, F, k);
            lp = tu_dot(y, g, ny);
            inputs[t].v[i] = keep - h;
            conv_ref(y, xs, ws, bs, N, C, H, W, F, k);
            lm = tu_dot(y, g, ny);
            inputs[t].v[i] = keep;
            double fd = (lp - lm) / (2 * h);
            ck_assert_msg(fabs(fd - inputs[t].grad[i]) <= 1e-7 * fmax(1, fabs(fd)),
                          "reference backward input %d element %zu: %.10g vs finite difference %.10g", t, i,
                          inputs[t].grad[i], fd);
        }
    free(y);
    free(xs);
    free(ws);
    free(bs);
}

static void conv_case(int N, int C, int H, int W, int F, int k, uint64_t seed)
{
    device_ctx *d = tu_device();
    size_t nx = (size_t)N * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)N * F * H * W;
    float *x = tu_alloc(nx * 4), *w = tu_alloc(nw * 4), *b = tu_alloc(F * 4), *g = tu_alloc(ny * 4);
    /* inputs of one sign: a float sum that cancels to near zero cannot meet 1e-4 relative, whatever
     * the kernel; mixed signs are covered by the model's finite-difference test */
    tu_fill_uniform(x, nx, 0.1f, 1.0f, seed);
    tu_fill_uniform(w, nw, 0.1f, 0.6f, seed + 1);
    tu_fill_uniform(b, F, -0.5f, 0.5f, seed + 2);
    tu_fill_uniform(g, ny, 0.2f, 1.0f, seed + 3);
    double *xd = tu_to_double(x, nx), *wd = tu_to_double(w, nw), *bd = tu_to_double(b, F), *gd = tu_to_double(g, ny);
    double *y = tu_alloc(ny * 8), *dx = tu_alloc(nx * 8), *dw = tu_alloc(nw * 8), *db = tu_alloc(F * 8);
    conv_ref(y, xd, wd, bd, N, C, H, W, F, k);
    conv_ref_backward(dx, dw, db, gd, xd, wd, N, C, H, W, F, k);
    check_reference_backward(xd, wd, bd, gd, dx, dw, db, N, C, H, W, F, k);

    cl_mem bx = tu_upload(d, x, nx), bw = tu_upload(d, w, nw), bb = tu_upload(d, b, F),
           bg = tu_upload(d, g, ny);
    cl_mem by = device_alloc(d, ny * 4, "y"), bdx = device_alloc(d, nx * 4, "dx"),
           bdw = device_alloc(d, nw * 4, "dw"), bdb = device_alloc(d, F * 4, "db");
    /* every output element written, and gradients overwritten, not accumulated */
    TU_OK(d, device_fill(d, by, NAN, 0, ny));
    TU_OK(d, device_fill(d, bdx, NAN, 0, nx));
    TU_OK(d, device_fill(d, bdw, NAN, 0, nw));
    TU_OK(d, device_fill(d, bdb, NAN, 0, F));
    TU_OK(d, ops_conv_forward(d, by, bx, bw, bb, N, C, H, W, F, k));
    TU_OK(d, ops_conv_backward(d, bdx, bdw, bdb, bg, bx, bw, N, C, H, W, F, k));
    float *gy = tu_download(d, by, ny), *gdx = tu_download(d, bdx, nx), *gdw = tu_download(d, bdw, nw),
          *gdb = tu_download(d, bdb, F);
    /* sums of up to C*k*k (forward), N*H*W (dw, db) float products: 1e-4 holds for these sizes */
    ck_assert_msg(tu_max_rel_err(gy, y, ny) <= 1e-4, "conv forward %dx%dx%dx%d F%d k%d: %g", N, C, H, W, F, k,
                  tu_max_rel_err(gy, y, ny));
    ck_assert_msg(tu_max_rel_err(gdx, dx, nx) <= 1e-4, "conv dx: %g", tu_max_rel_err(gdx, dx, nx));
    ck_assert_msg(tu_max_rel_err(gdw, dw, nw) <= 1e-4, "conv dw: %g", tu_max_rel_err(gdw, dw, nw));
    ck_assert_msg(tu_max_rel_err(gdb, db, F) <= 1e-4, "conv db: %g", tu_max_rel_err(gdb, db, F));
    /* without dx (the first layer) the parameter gradients are the same, bit for bit (no atomics,
     * chunks independent of dx) */
    TU_OK(d, ops_conv_backward(d, NULL, bdw, bdb, bg, bx, bw, N, C, H, W, F, k));
    float *gdw2 = tu_download(d, bdw, nw), *gdb2 = tu_download(d, bdb, F);
    ck_assert_msg(memcmp(gdw, gdw2, nw * 4) == 0, "dw differs between two runs");
    ck_assert_msg(memcmp(gdb, gdb2, F * 4) == 0, "db differs between two runs");
    /* and the forward again gives the same y */
    TU_OK(d, ops_conv_forward(d, by, bx, bw, bb, N, C, H, W, F, k));
    float *gy2 = tu_download(d, by, ny);
    ck_assert_msg(memcmp(gy, gy2, ny * 4) == 0, "y differs between two runs");
    free(gdw2);
    free(gdb2);
    free(gy2);
    cl_mem bufs[] = {bx, bw, bb, bg, by, bdx, bdw, bdb};
    for (int i = 0; i < 8; i++)
        clReleaseMemObject(bufs[i]);
    void *hs[] = {x, w, b, g, xd, wd, bd, gd, y, dx, dw, db, gy, gdx, gdw, gdb};
    for (int i = 0; i < 16; i++)
        free(hs[i]);
}

START_TEST(conv_matches_reference)
{
    conv_case(1, 1, 5, 5, 1, 3, 1);
    conv_case(2, 3, 7, 5, 4, 3, 2);
    conv_case(3, 2, 9, 6, 5, 5, 3);
    conv_case(2, 4, 6, 6, 3, 1, 4);
    conv_case(1, 3, 8, 11, 8, 7, 5);
    conv_case(4, 8, 16, 16, 16, 3, 6);
    conv_case(1, 1, 7, 5, 1, 1, 8);
    conv_case(2, 3, 7, 5, 1, 5, 9);
    conv_case(1, 3, 5, 7, 6, 1, 10);
    /* N*H*W = 4551: the bias gradient in two stages, the last part shorter; dW split into two
     * slices of 2048 columns and a remainder (SPLIT_K in host/ops/conv.c) */
    conv_case(3, 1, 41, 37, 2, 3, 11);
    /* N*H*W = 4096: dW in exactly two slices */
    conv_case(4, 2, 32, 32, 3, 3, 13);
}
END_TEST

START_TEST(conv_in_several_chunks)
{
    /* 1 MiB of workspace: (27 + 6) * 960 floats per image forward gives chunks of 8 + 1 images,
     * (54 + 6) * 960 backward chunks of 4 + 4 + 1, so dW is summed over three GEMMs */
    setenv("CLTRAIN_CONV_WORKSPACE_MIB", "1", 1);
    conv_case(9, 3, 32, 30, 6, 3, 7);
    /* (400 + 8) * 1024 floats backward is more than 1 MiB: one image per chunk */
    conv_case(3, 8, 32, 32, 8, 5, 12);
    unsetenv("CLTRAIN_CONV_WORKSPACE_MIB");
}
END_TEST

START_TEST(bad_shapes_are_refused)
{
    device_ctx *d = tu_device();
    cl_mem m = device_alloc(d, 64, "m");
    ck_assert_msg(m != NULL, "%s", d->error);
    tu_expect_refused(d, ops_conv_forward(d, m, m, m, m, 1, 1, 4, 4, 1, 2), "even");
    tu_expect_refused(d, ops_conv_backward(d, m, m, m, m, m, m, 1, 1, 4, 4, 1, 4), "even");
    int shapes[][6] = {{0, 1, 4, 4, 1, 3}, {1, -1, 4, 4, 1, 3}, {1, 1, 0, 4, 1, 3}, {1, 1, 4, -4, 1, 3},
                       {1, 1, 4, 4, 0, 3}, {1, 1, 4, 4, 1, 0},  {1, 1, 4, 4, 1, -1}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int *s = shapes[i];
        tu_expect_refused(d, ops_conv_forward(d, m, m, m, m, s[0], s[1], s[2], s[3], s[4], s[5]), "positive");
        tu_expect_refused(d, ops_conv_backward(d, m, m, m, m, m, m, s[0], s[1], s[2], s[3], s[4], s[5]),
                       "positive");
    }
    tu_expect_refused(d, ops_conv_forward(d, m, m, m, m, 1 << 20, 1, 64, 64, 1, 3), "too large");
    tu_expect_refused(d, ops_conv_backward(d, m, m, m, m, m, m, 1, 8192, 128, 128, 1, 3), "too large");
    tu_expect_refused(d, ops_conv_forward(d, m, m, NULL, m, 1, 1, 4, 4, 1, 3), "NULL");
    tu_expect_refused(d, ops_conv_backward(d, m, NULL, m, m, m, m, 1, 1, 4, 4, 1, 3), "NULL");
    tu_expect_refused(d, ops_conv_backward(d, m, m, m, NULL, m, m, 1, 1, 4, 4, 1, 3), "NULL");
    clReleaseMemObject(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conv");
    TCase *t = tcase_create("conv");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, conv_matches_reference);
    tcase_add_test(t, conv_in_several_chunks);
    tcase_add_test(t, bad_shapes_are_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
