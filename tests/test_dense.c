/* test_dense.c: the fully connected layer against a double-precision reference on random inputs:
 * forward, and backward against the reference's backward, which is itself checked by central finite
 * differences; repeated runs bit for bit; bad shapes and buffers. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* y[n,o] = b[o] + sum_i x[n,i] w[o,i] */
static void dense_ref(double *y, const double *x, const double *w, const double *b, int N, int I, int O)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = b[o];
            for (int i = 0; i < I; i++)
                s += x[(size_t)n * I + i] * w[(size_t)o * I + i];
            y[(size_t)n * O + o] = s;
        }
}

/* dx = dy w, dw = dy^T x, db = sum over n of dy */
static void dense_ref_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                               const double *w, int N, int I, int O)
{
    memset(dx, 0, sizeof(double) * N * I);
    memset(dw, 0, sizeof(double) * O * I);
    memset(db, 0, sizeof(double) * O);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double g = dy[(size_t)n * O + o];
            db[o] += g;
            for (int i = 0; i < I; i++) {
                dw[(size_t)o * I + i] += g * x[(size_t)n * I + i];
                dx[(size_t)n * I + i] += g * w[(size_t)o * I + i];
            }
        }
}

/* The reference backward against central differences of L = sum(y * g) in a few coordinates of each
 * of x, w and b (L is linear in each, so the difference is exact up to rounding). */
static void check_reference_backward(const double *x, const double *w, const double *b, const double *g,
                                     const double *dx, const double *dw, const double *db, int N, int I,
                                     int O)
{
    size_t nx = (size_t)N * I, nw = (size_t)O * I, ny = (size_t)N * O;
    double *y = tu_alloc(ny * sizeof(double));
    double *xs = tu_alloc(nx * sizeof(double)), *ws = tu_alloc(nw * sizeof(double)),
           *bs = tu_alloc(O * sizeof(double));
    memcpy(xs, x, nx * sizeof(double));
    memcpy(ws, w, nw * sizeof(double));
    memcpy(bs, b, O * sizeof(double));
    struct {
        double *v;
        const double *grad;
        size_t n;
    } inputs[] = {{xs, dx, nx}, {ws, dw, nw}, {bs, db, (size_t)O}};
    for (int t = 0; t < 3; t++)
        for (size_t probe = 0; probe < 5; probe++) {
            size_t i = (probe * 7919 + 13) % inputs[t].n;
            double keep = inputs[t].v[i], h = 1e-3;
            inputs[t].v[i] = keep + h;
            dense_ref(y, xs, ws, bs, N, I, O);
            double lp = tu_dot(y, g, ny);
            inputs[t].v[i] = keep - h;
            dense_ref(y, xs, ws, bs, N, I, O);
            double lm = tu_dot(y, g, ny);
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

static void dense_case(int N, int I, int O, uint64_t seed)
{
    device_ctx *d = tu_device();
    size_t nx = (size_t)N * I, nw = (size_t)O * I, ny = (size_t)N * O;
    float *x = tu_alloc(nx * 4), *w = tu_alloc(nw * 4), *b = tu_alloc(O * 4), *g = tu_alloc(ny * 4);
    /* x, w, g of one sign: a float sum that cancels to near zero cannot meet 1e-4 relative, whatever
     * the GEMM; the bias is only added, so it may take both signs */
    tu_fill_uniform(x, nx, 0.1f, 1.0f, seed);
    tu_fill_uniform(w, nw, 0.1f, 0.5f, seed + 1);
    tu_fill_uniform(b, O, -1.0f, 1.0f, seed + 2);
    tu_fill_uniform(g, ny, 0.2f, 1.0f, seed + 3);
    double *xd = tu_to_double(x, nx), *wd = tu_to_double(w, nw), *bd = tu_to_double(b, O), *gd = tu_to_double(g, ny);
    double *y = tu_alloc(ny * 8), *dx = tu_alloc(nx * 8), *dw = tu_alloc(nw * 8), *db = tu_alloc(O * 8);
    dense_ref(y, xd, wd, bd, N, I, O);
    dense_ref_backward(dx, dw, db, gd, xd, wd, N, I, O);
    check_reference_backward(xd, wd, bd, gd, dx, dw, db, N, I, O);

    cl_mem bx = tu_upload(d, x, nx), bw = tu_upload(d, w, nw), bb = tu_upload(d, b, O),
           bg = tu_upload(d, g, ny);
    cl_mem by = device_alloc(d, ny * 4, "y"), bdx = device_alloc(d, nx * 4, "dx"),
           bdw = device_alloc(d, nw * 4, "dw"), bdb = device_alloc(d, O * 4, "db");
    ck_assert_msg(by && bdx && bdw && bdb, "%s", d->error);
    /* every output element written, and gradients overwritten, not accumulated */
    TU_OK(d, device_fill(d, by, NAN, 0, ny));
    TU_OK(d, device_fill(d, bdx, NAN, 0, nx));
    TU_OK(d, device_fill(d, bdw, NAN, 0, nw));
    TU_OK(d, device_fill(d, bdb, NAN, 0, O));
    TU_OK(d, ops_dense_forward(d, by, bx, bw, bb, N, I, O));
    TU_OK(d, ops_dense_backward(d, bdx, bdw, bdb, bg, bx, bw, N, I, O));
    float *gy = tu_download(d, by, ny), *gdx = tu_download(d, bdx, nx), *gdw = tu_download(d, bdw, nw),
          *gdb = tu_download(d, bdb, O);
    /* sums of up to I (y), O (dx) or N (dw, db) float products of one sign: 1e-4 holds at these sizes */
    ck_assert_msg(tu_max_rel_err(gy, y, ny) <= 1e-4, "dense y %dx%d->%d: %g", N, I, O,
                  tu_max_rel_err(gy, y, ny));
    ck_assert_msg(tu_max_rel_err(gdx, dx, nx) <= 1e-4, "dense dx %dx%d->%d: %g", N, I, O,
                  tu_max_rel_err(gdx, dx, nx));
    ck_assert_msg(tu_max_rel_err(gdw, dw, nw) <= 1e-4, "dense dw %dx%d->%d: %g", N, I, O,
                  tu_max_rel_err(gdw, dw, nw));
    ck_assert_msg(tu_max_rel_err(gdb, db, O) <= 1e-4, "dense db %dx%d->%d: %g", N, I, O,
                  tu_max_rel_err(gdb, db, O));
    /* without dx the parameter gradients are the same, bit for bit */
    TU_OK(d, device_fill(d, bdw, NAN, 0, nw));
    TU_OK(d, ops_dense_backward(d, NULL, bdw, bdb, bg, bx, bw, N, I, O));
    float *gdw2 = tu_download(d, bdw, nw), *gdb2 = tu_download(d, bdb, O);
    ck_assert_msg(memcmp(gdw, gdw2, nw * 4) == 0, "dw differs between two runs");
    ck_assert_msg(memcmp(gdb, gdb2, O * 4) == 0, "db differs between two runs");
    cl_mem bufs[] = {bx, bw, bb, bg, by, bdx, bdw, bdb};
    for (int i = 0; i < 8; i++)
        clReleaseMemObject(bufs[i]);
    void *hs[] = {x, w, b, g, xd, wd, bd, gd, y, dx, dw, db, gy, gdx, gdw, gdb, gdw2, gdb2};
    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++)
        free(hs[i]);
}

START_TEST(dense_matches_reference)
{
    dense_case(1, 1, 1, 1);
    dense_case(1, 7, 3, 2);
    dense_case(5, 33, 10, 3);
    dense_case(3, 1, 17, 4);
    dense_case(64, 512, 128, 5);
    /* the study's head: 32 filters of 7x7 flattened -> 128 -> 10 classes */
    dense_case(32, 1568, 128, 6);
    dense_case(32, 128, 10, 7);
}
END_TEST

START_TEST(dense_bias_gradient_over_a_large_batch)
{
    /* N = 5000 > 64 * 64: the bias gradient sums in two stages (host/ops/conv.c) */
    dense_case(5000, 3, 5, 8);
}
END_TEST

START_TEST(bad_shapes_are_refused)
{
    device_ctx *d = tu_device();
    cl_mem m = device_alloc(d, 64, "m");
    ck_assert_msg(m != NULL, "%s", d->error);
    int shapes[][3] = {{0, 3, 3}, {-1, 3, 3}, {2, 0, 3}, {2, -5, 3}, {2, 3, 0}, {2, 3, -2}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int *s = shapes[i];
        tu_expect_refused(d, ops_dense_forward(d, m, m, m, m, s[0], s[1], s[2]), "positive");
        tu_expect_refused(d, ops_dense_backward(d, m, m, m, m, m, m, s[0], s[1], s[2]), "positive");
    }
    tu_expect_refused(d, ops_dense_forward(d, m, m, m, m, 1 << 16, 1 << 16, 10), "too large");
    tu_expect_refused(d, ops_dense_backward(d, m, m, m, m, m, m, 10, 1 << 16, 1 << 16), "too large");
    tu_expect_refused(d, ops_dense_forward(d, NULL, m, m, m, 1, 1, 1), "NULL");
    tu_expect_refused(d, ops_dense_forward(d, m, m, m, NULL, 1, 1, 1), "NULL");
    tu_expect_refused(d, ops_dense_backward(d, m, m, NULL, m, m, m, 1, 1, 1), "NULL");
    tu_expect_refused(d, ops_dense_backward(d, m, m, m, m, NULL, m, 1, 1, 1), "NULL");
    clReleaseMemObject(m);
}
END_TEST

/* Each path in turn: the plain kernels (cl/dense.cl, what CPUs take) and CLBlast's GEMMs (GPUs). */
static void use_direct(void)
{
    setenv("CLTRAIN_CONV_ALGO", "direct", 1);
}

static void use_gemm(void)
{
    setenv("CLTRAIN_CONV_ALGO", "gemm", 1);
}

static void use_default(void)
{
    unsetenv("CLTRAIN_CONV_ALGO");
}

static Suite *suite(void)
{
    Suite *s = suite_create("dense");
    struct {
        const char *name;
        void (*setup)(void);
    } paths[] = {{"direct", use_direct}, {"gemm", use_gemm}};
    for (int i = 0; i < 2; i++) {
        TCase *t = tcase_create(paths[i].name);
        tcase_set_timeout(t, 300);
        tcase_add_checked_fixture(t, paths[i].setup, use_default);
        tcase_add_test(t, dense_matches_reference);
        tcase_add_test(t, dense_bias_gradient_over_a_large_batch);
        tcase_add_test(t, bad_shapes_are_refused);
        suite_add_tcase(s, t);
    }
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
