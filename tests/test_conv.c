/* test_conv.c: convolution and dense against double-precision references on random inputs: forward,
 * and backward against the reference's backward, which is itself checked by central finite
 * differences; the batch split into several chunks; bad shapes. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* y[n,f,i,j] = b[f] + sum_c,ky,kx w[f,c,ky,kx] x[n,c,i+ky-k/2,j+kx-k/2] */
static void conv_ref(double *y, const double *x, const double *w, const double *b, int N, int C, int H, int W, int F,
                     int k)
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
static void conv_ref_backward(double *dx, double *dw, double *db, const double *dy, const double *x, const double *w,
                              int N, int C, int H, int W, int F, int k)
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

static double *to_double(const float *f, size_t n)
{
    double *d = tu_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The reference backward against central differences of L = sum(y * g) in a few coordinates of each
 * input (L is linear in each, so the difference is exact up to rounding). */
static void check_reference_backward(const double *x, const double *w, const double *b, const double *g,
                                     const double *dx, const double *dw, const double *db, int N, int C, int H,
                                     int W, int F, int k)
{
    size_t nx = (size_t)N * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)N * F * H * W;
    double *y = tu_alloc(ny * sizeof(double));
    double *xs = tu_alloc(nx * sizeof(double)), *ws = tu_alloc(nw * sizeof(double)), *bs = tu_alloc(F * sizeof(double));
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
            lp = dot(y, g, ny);
            inputs[t].v[i] = keep - h;
            conv_ref(y, xs, ws, bs, N, C, H, W, F, k);
            lm = dot(y, g, ny);
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
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *bd = to_double(b, F), *gd = to_double(g, ny);
    double *y = tu_alloc(ny * 8), *dx = tu_alloc(nx * 8), *dw = tu_alloc(nw * 8), *db = tu_alloc(F * 8);
    conv_ref(y, xd, wd, bd, N, C, H, W, F, k);
    conv_ref_backward(dx, dw, db, gd, xd, wd, N, C, H, W, F, k);
    check_reference_backward(xd, wd, bd, gd, dx, dw, db, N, C, H, W, F, k);

    cl_mem bx = tu_upload(d, x, nx), bw = tu_upload(d, w, nw), bb = tu_upload(d, b, F), bg = tu_upload(d, g, ny);
    cl_mem by = device_alloc(d, ny * 4, "y"), bdx = device_alloc(d, nx * 4, "dx"), bdw = device_alloc(d, nw * 4, "dw"),
           bdb = device_alloc(d, F * 4, "db");
    TU_OK(d, device_fill(d, bdw, NAN, 0, nw)); /* overwritten, not accumulated */
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
    /* without dx (the first layer) the parameter gradients are the same */
    TU_OK(d, ops_conv_backward(d, NULL, bdw, bdb, bg, bx, bw, N, C, H, W, F, k));
    float *gdw2 = tu_download(d, bdw, nw);
    ck_assert(memcmp(gdw, gdw2, nw * 4) == 0);
    free(gdw2);
    cl_mem bufs[] = {bx, bw, bb, bg, by, bdx, bdw, bdb};
    for (int i = 0; i < 8; i++) clReleaseMemObject(bufs[i]);
    void *hs[] = {x, w, b, g, xd, wd, bd, gd, y, dx, dw, db, gy, gdx, gdw, gdb};
    for (int i = 0; i < 16; i++) free(hs[i]);
}

START_TEST(conv_matches_reference)
{
    conv_case(1, 1, 5, 5, 1, 3, 1);
    conv_case(2, 3, 7, 5, 4, 3, 2);
    conv_case(3, 2, 9, 6, 5, 5, 3);
    conv_case(2, 4, 6, 6, 3, 1, 4);
    conv_case(1, 3, 8, 11, 8, 7, 5);
    conv_case(4, 8, 16, 16, 16, 3, 6);
}
END_TEST

START_TEST(conv_in_several_chunks)
{
    /* 1 MiB of workspace holds a few of these images per chunk, so 9 images take several GEMMs */
    setenv("CLTRAIN_CONV_WORKSPACE_MIB", "1", 1);
    conv_case(9, 3, 32, 30, 6, 3, 7);
    unsetenv("CLTRAIN_CONV_WORKSPACE_MIB");
}
END_TEST

static void dense_case(int N, int I, int O, uint64_t seed)
{
    device_ctx *d = tu_device();
    float *x = tu_alloc((size_t)N * I * 4), *w = tu_alloc((size_t)O * I * 4), *b = tu_alloc(O * 4),
          *g = tu_alloc((size_t)N * O * 4);
    tu_fill_uniform(x, (size_t)N * I, 0.1f, 1, seed); /* one sign, as in conv_case */
    tu_fill_uniform(w, (size_t)O * I, 0.1f, 0.5f, seed + 1);
    tu_fill_uniform(b, O, -1, 1, seed + 2);
    tu_fill_uniform(g, (size_t)N * O, 0.2f, 1, seed + 3);
    double *y = tu_alloc((size_t)N * O * 8), *dx = tu_alloc((size_t)N * I * 8), *dw = tu_alloc((size_t)O * I * 8),
           *db = tu_alloc(O * 8);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = b[o];
            for (int i = 0; i < I; i++) s += (double)x[n * I + i] * w[o * I + i];
            y[n * O + o] = s;
            db[o] += g[n * O + o];
            for (int i = 0; i < I; i++) {
                dw[o * I + i] += (double)g[n * O + o] * x[n * I + i];
                dx[n * I + i] += (double)g[n * O + o] * w[o * I + i];
            }
        }
    /* the reference backward by finite differences of sum(y g) in one coordinate of x and w:
     * y is linear in each, so the quotient equals the derivative up to rounding */
    {
        double h = 1e-3, xi = x[0], lp = 0, lm = 0;
        for (int o = 0; o < O; o++) {
            double base = y[o] - xi * (double)w[o * I];
            lp += (base + (xi + h) * w[o * I]) * g[o];
            lm += (base + (xi - h) * w[o * I]) * g[o];
        }
        ck_assert(fabs((lp - lm) / (2 * h) - dx[0]) <= 1e-9 * fmax(1, fabs(dx[0])));
    }
    cl_mem bx = tu_upload(d, x, (size_t)N * I), bw = tu_upload(d, w, (size_t)O * I), bb = tu_upload(d, b, O),
           bg = tu_upload(d, g, (size_t)N * O);
    cl_mem by = device_alloc(d, (size_t)N * O * 4, "y"), bdx = device_alloc(d, (size_t)N * I * 4, "dx"),
           bdw = device_alloc(d, (size_t)O * I * 4, "dw"), bdb = device_alloc(d, O * 4, "db");
    TU_OK(d, ops_dense_forward(d, by, bx, bw, bb, N, I, O));
    TU_OK(d, ops_dense_backward(d, bdx, bdw, bdb, bg, bx, bw, N, I, O));
    float *gy = tu_download(d, by, (size_t)N * O), *gdx = tu_download(d, bdx, (size_t)N * I),
          *gdw = tu_download(d, bdw, (size_t)O * I), *gdb = tu_download(d, bdb, O);
    ck_assert_msg(tu_max_rel_err(gy, y, (size_t)N * O) <= 1e-4, "dense y: %g", tu_max_rel_err(gy, y, (size_t)N * O));
    ck_assert_msg(tu_max_rel_err(gdx, dx, (size_t)N * I) <= 1e-4, "dense dx");
    ck_assert_msg(tu_max_rel_err(gdw, dw, (size_t)O * I) <= 1e-4, "dense dw");
    ck_assert_msg(tu_max_rel_err(gdb, db, O) <= 1e-4, "dense db");
    TU_OK(d, ops_dense_backward(d, NULL, bdw, bdb, bg, bx, bw, N, I, O));
    cl_mem bufs[] = {bx, bw, bb, bg, by, bdx, bdw, bdb};
    for (int i = 0; i < 8; i++) clReleaseMemObject(bufs[i]);
    void *hs[] = {x, w, b, g, y, dx, dw, db, gy, gdx, gdw, gdb};
    for (int i = 0; i < 12; i++) free(hs[i]);
}

START_TEST(dense_matches_reference)
{
    dense_case(1, 1, 1, 1);
    dense_case(1, 7, 3, 2);
    dense_case(5, 33, 10, 3);
    dense_case(64, 512, 128, 4);
}
END_TEST

START_TEST(bad_shapes_are_refused)
{
    device_ctx *d = tu_device();
    cl_mem m = device_alloc(d, 64, "m");
    ck_assert(ops_conv_forward(d, m, m, m, m, 1, 1, 4, 4, 1, 2) != 0);
    ck_assert(strstr(d->error, "even") != NULL);
    ck_assert(ops_conv_forward(d, m, m, m, m, 0, 1, 4, 4, 1, 3) != 0);
    ck_assert(strstr(d->error, "positive") != NULL);
    ck_assert(ops_conv_backward(d, m, m, m, m, m, m, 1, -1, 4, 4, 1, 3) != 0);
    ck_assert(ops_dense_forward(d, m, m, m, m, 1, 0, 3) != 0);
    ck_assert(ops_dense_backward(d, m, m, m, m, m, m, 1, 3, 0) != 0);
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
    tcase_add_test(t, dense_matches_reference);
    tcase_add_test(t, bad_shapes_are_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
