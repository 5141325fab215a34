/* test_pool.c: 2x2 stride-2 max pool forward and backward against a double-precision reference
 * (odd sizes floor, ties go to the first maximum, every dx element written), the reference's
 * backward against central finite differences, NaN propagation, and bad shapes. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* reference: y and the flat index into x of each window's first maximum (row-major scan) */
static void ref_forward(const float *x, double *y, size_t *arg, int N, int C, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                size_t best = ((size_t)p * H + 2 * oy) * W + 2 * ox;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        size_t j = ((size_t)p * H + 2 * oy + dy) * W + 2 * ox + dx;
                        if (x[j] > x[best]) best = j;
                    }
                size_t o = ((size_t)p * OH + oy) * OW + ox;
                y[o] = x[best];
                arg[o] = best;
            }
}

static void ref_backward(double *dx, const float *dy, const size_t *arg, size_t nx, size_t ny)
{
    for (size_t i = 0; i < nx; i++)
        dx[i] = 0;
    for (size_t o = 0; o < ny; o++)
        dx[arg[o]] += dy[o];
}

static const int SHAPES[][4] = {
    {1, 1, 2, 2},   {1, 1, 3, 3},  {1, 1, 2, 9},   {2, 3, 7, 5}, {1, 4, 16, 16},
    {3, 2, 33, 31}, {2, 1, 9, 64}, {1, 2, 6, 600}, /* rows of 38 items: wider than some group choices */
};

/* Runs one shape on x and checks y, dx (pre-filled with NaN so an unwritten element shows). */
static void check_shape(const int *s, const float *x)
{
    device_ctx *d = tu_device();
    int N = s[0], C = s[1], H = s[2], W = s[3];
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * (H / 2) * (W / 2);
    float *dy = tu_alloc(ny * sizeof(float));
    tu_fill_uniform(dy, ny, 0.5f, 1.5f, 31 + nx);
    double *ry = tu_alloc(ny * sizeof(double)), *rdx = tu_alloc(nx * sizeof(double));
    size_t *arg = tu_alloc(ny * sizeof(size_t));
    ref_forward(x, ry, arg, N, C, H, W);
    ref_backward(rdx, dy, arg, nx, ny);

    cl_mem bx = tu_upload(d, x, nx), bdy = tu_upload(d, dy, ny);
    cl_mem by = device_alloc(d, ny * sizeof(float), "y"), bdx = device_alloc(d, nx * sizeof(float), "dx");
    ck_assert_msg(by && bdx, "%s", d->error);
    TU_OK(d, device_fill(d, bdx, NAN, 0, nx));
    TU_OK(d, ops_maxpool_forward(d, by, bx, N, C, H, W));
    TU_OK(d, ops_maxpool_backward(d, bdx, bdy, bx, N, C, H, W));
    float *y = tu_download(d, by, ny), *gdx = tu_download(d, bdx, nx);
    /* a max and a copied gradient are exact, so anything but equality is a bug */
    for (size_t o = 0; o < ny; o++)
        ck_assert_msg(y[o] == ry[o], "[%d,%d,%d,%d] y[%zu] = %g, reference %g", N, C, H, W, o, y[o], ry[o]);
    for (size_t i = 0; i < nx; i++)
        ck_assert_msg(gdx[i] == rdx[i], "[%d,%d,%d,%d] dx[%zu] = %g, reference %g", N, C, H, W, i, gdx[i],
                      rdx[i]);
    free(dy);
    free(ry);
    free(rdx);
    free(arg);
    free(y);
    free(gdx);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
}

START_TEST(matches_reference_on_distinct_values)
{
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++) {
        size_t n = (size_t)SHAPES[k][0] * SHAPES[k][1] * SHAPES[k][2] * SHAPES[k][3];
        float *x = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, -2.0f, 2.0f, 100 + k);
        check_shape(SHAPES[k], x);
        free(x);
    }
}
END_TEST

/* Every work-group choice `cltrain tune` may store (pool_group) gives the same exact results. */
static const launch_param POOL_CHOICE[] = {LAUNCH_POOL_GROUP};

START_TEST(every_group_choice_matches_reference)
{
    device_ctx *d = tu_device();
    char what[64];
    ck_assert(tu_launch_pick(d, POOL_CHOICE, 1, _i, what, sizeof what));
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++) {
        size_t n = (size_t)SHAPES[k][0] * SHAPES[k][1] * SHAPES[k][2] * SHAPES[k][3];
        float *x = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, -2.0f, 2.0f, 300 + k);
        check_shape(SHAPES[k], x);
        free(x);
    }
    launch_defaults(&d->launch);
}
END_TEST

/* Values from {0.5, 1, 1.5}: most windows hold ties, which the first maximum must win. */
START_TEST(ties_go_to_the_first_maximum)
{
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++) {
        size_t n = (size_t)SHAPES[k][0] * SHAPES[k][1] * SHAPES[k][2] * SHAPES[k][3];
        float *x = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, 0.0f, 3.0f, 200 + k);
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f * (1.0f + floorf(x[i]));
        check_shape(SHAPES[k], x);
        free(x);
    }
    /* all equal: only the top-left of each window gets the gradient */
    int s[4] = {1, 1, 3, 5};
    float x[15];
    for (int i = 0; i < 15; i++)
        x[i] = -0.75f;
    check_shape(s, x);
}
END_TEST

/* The reference backward is the gradient of sum(dy * y): central differences on distinct values
 * (no window within h of a tie, so the max is linear there). */
START_TEST(reference_backward_matches_finite_differences)
{
    int N = 2, C = 2, H = 5, W = 7;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * (H / 2) * (W / 2);
    float *x = tu_alloc(nx * sizeof(float)), *dy = tu_alloc(ny * sizeof(float));
    tu_fill_uniform(x, nx, -2.0f, 2.0f, 300);
    tu_fill_uniform(dy, ny, -1.5f, 1.5f, 301);
    double *y = tu_alloc(ny * sizeof(double)), *dx = tu_alloc(nx * sizeof(double));
    size_t *arg = tu_alloc(ny * sizeof(size_t));
    ref_forward(x, y, arg, N, C, H, W);
    ref_backward(dx, dy, arg, nx, ny);
    const float h = 1.0f / 65536; /* a multiple of the ulp of every x here, so x +- h is exact */
    for (size_t i = 0; i < nx; i++) {
        double l[2];
        float keep = x[i];
        for (int sgn = 0; sgn < 2; sgn++) {
            x[i] = keep + (sgn ? h : -h);
            ref_forward(x, y, arg, N, C, H, W);
            l[sgn] = 0;
            for (size_t o = 0; o < ny; o++)
                l[sgn] += dy[o] * y[o];
        }
        x[i] = keep;
        double fd = (l[1] - l[0]) / (2 * h);
        ck_assert_msg(fabs(fd - dx[i]) <= 1e-9, "dx[%zu]: reference %g, finite difference %g", i, dx[i], fd);
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(arg);
}
END_TEST

START_TEST(nan_propagates_forward)
{
    device_ctx *d = tu_device();
    float x[8] = {1.0f, NAN,   3.0f,  2.0f,
                  0.5f, 0.25f, 0.75f, 0.125f}; /* [1,1,2,4]: windows {1,NaN,.5,.25} and {3,2,.75,.125} */
    float y[2];
    cl_mem bx = tu_upload(d, x, 8), by = device_alloc(d, 2 * sizeof(float), "y");
    ck_assert_msg(by != NULL, "%s", d->error);
    TU_OK(d, ops_maxpool_forward(d, by, bx, 1, 1, 2, 4));
    TU_OK(d, device_read(d, by, 0, sizeof y, y));
    ck_assert(isnan(y[0]));
    ck_assert(y[1] == 3.0f);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
}
END_TEST

START_TEST(bad_shapes_fail_with_a_sentence)
{
    device_ctx *d = tu_device();
    float v[16];
    tu_fill_uniform(v, 16, 1.0f, 2.0f, 5);
    cl_mem b = tu_upload(d, v, 16);
    const int bad[][4] = {{0, 1, 4, 4}, {1, 0, 4, 4}, {1, 1, 0, 4}, {1, 1, 4, -2}, {-1, 1, 4, 4}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d->error[0] = '\0';
        ck_assert_int_eq(ops_maxpool_forward(d, b, b, bad[i][0], bad[i][1], bad[i][2], bad[i][3]), -1);
        ck_assert_msg(strstr(d->error, "must be positive") != NULL, "%s", d->error);
        d->error[0] = '\0';
        ck_assert_int_eq(ops_maxpool_backward(d, b, b, b, bad[i][0], bad[i][1], bad[i][2], bad[i][3]), -1);
        ck_assert_msg(strstr(d->error, "must be positive") != NULL, "%s", d->error);
    }
    d->error[0] = '\0';
    ck_assert_int_eq(ops_maxpool_forward(d, b, b, 1, 1, 1, 8), -1);
    ck_assert_msg(strstr(d->error, "empty output") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_maxpool_backward(d, b, b, b, 1, 1, 8, 1), -1);
    ck_assert_msg(strstr(d->error, "empty output") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_maxpool_forward(d, NULL, b, 1, 1, 4, 4), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_maxpool_backward(d, b, b, NULL, 1, 1, 4, 4), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_maxpool_forward(d, b, b, 65536, 65536, 4, 4), -1);
    ck_assert_msg(strstr(d->error, "cannot index") != NULL, "%s", d->error);
    clReleaseMemObject(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matches_reference_on_distinct_values);
    tcase_add_test(tc, ties_go_to_the_first_maximum);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, nan_propagates_forward);
    tcase_add_test(tc, bad_shapes_fail_with_a_sentence);
    tcase_add_loop_test(tc, every_group_choice_matches_reference, 0, tu_launch_count(POOL_CHOICE, 1));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
