/* test_activation.c: every activation's forward and backward kernel against double-precision
 * references over [-6, 6] and at large |x| (no NaN, no overflow), the references' derivatives
 * against central finite differences, in-place use, names, and bad arguments. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_ref.h"
#include "cltrain/ops.h"

START_TEST(names_round_trip_and_unknown_names_fail)
{
    for (int i = 0; i < OPS_ACTIVATION_COUNT; i++) {
        const char *name = ops_activation_name((ops_activation)i);
        ck_assert_ptr_nonnull(name);
        ops_activation a = OPS_ACTIVATION_COUNT;
        ck_assert_int_eq(ops_activation_parse(name, &a), 0);
        ck_assert_int_eq(a, i);
    }
    ck_assert_str_eq(ops_activation_name(OPS_LEAKY_RELU), "leaky_relu");
    ck_assert_str_eq(ops_activation_name(OPS_GELU), "gelu");
    ck_assert_ptr_null(ops_activation_name(OPS_ACTIVATION_COUNT));
    ck_assert_ptr_null(ops_activation_name((ops_activation)-1));
    const char *bad[] = {"ReLU", "RELU", "leaky-relu", "leakyrelu", "relu ", "", "swish", "gelu_tanh"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ops_activation a = OPS_ELU;
        ck_assert_msg(ops_activation_parse(bad[i], &a) == -1, "\"%s\" parsed", bad[i]);
        ck_assert_int_eq(a, OPS_ELU); /* untouched on failure */
    }
    ck_assert_int_eq(ops_activation_parse(NULL, NULL), -1);
}
END_TEST

/* The references' derivatives are what the kernels are judged by, so check them first. */
START_TEST(reference_derivatives_match_finite_differences)
{
    ops_activation a = (ops_activation)_i;
    const double h = 1e-5;
    for (double x = -8.0; x <= 8.0; x += 0.0137) {
        if (fabs(x) < 1e-3) continue; /* relu, leaky_relu and elu have a kink at 0 */
        double fd = (tu_act_ref(a, x + h) - tu_act_ref(a, x - h)) / (2 * h);
        double an = tu_act_ref_slope(a, x);
        ck_assert_msg(fabs(fd - an) <= 1e-7 * fmax(1.0, fabs(an)),
                      "%s'(%g): analytic %.12g, finite difference %.12g", ops_activation_name(a), x, an, fd);
    }
}
END_TEST

/* Runs forward and backward on x (with dy) and checks both against the references: on
 * [-6,6] (floor 0) with tu_max_rel_err; otherwise element by element, judged relative to
 * max(|ref|, floor): at large |x| with floor 1e-3, because there the exact values span 1e-40 .. 1e4
 * and a tiny tail only has to be tiny, near 0 with a floor far below every value. */
static void check_activation(ops_activation a, const float *x, const float *dy, size_t n, double floor)
{
    device_ctx *d = tu_device();
    cl_mem bx = tu_upload(d, x, n), bdy = tu_upload(d, dy, n);
    cl_mem by = device_alloc(d, n * sizeof(float), "y"), bdx = device_alloc(d, n * sizeof(float), "dx");
    ck_assert_msg(by && bdx, "%s", d->error);
    TU_OK(d, ops_activation_forward(d, a, by, bx, n));
    TU_OK(d, ops_activation_backward(d, a, bdx, bdy, bx, n));
    float *y = tu_download(d, by, n), *dx = tu_download(d, bdx, n);
    double *ry = tu_alloc(n * sizeof(double)), *rdx = tu_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        ry[i] = tu_act_ref(a, x[i]);
        rdx[i] = dy[i] * tu_act_ref_slope(a, x[i]);
        ck_assert_msg(isfinite(y[i]) && isfinite(dx[i]), "%s at x=%g gives y=%g dx=%g",
                      ops_activation_name(a), x[i], y[i], dx[i]);
    }
    if (floor == 0) {
        double ey = tu_max_rel_err(y, ry, n), ed = tu_max_rel_err(dx, rdx, n);
        ck_assert_msg(ey <= 1e-4, "%s forward rel err %g", ops_activation_name(a), ey);
        ck_assert_msg(ed <= 1e-4, "%s backward rel err %g", ops_activation_name(a), ed);
    } else {
        for (size_t i = 0; i < n; i++) {
            double ey = fabs(y[i] - ry[i]) / fmax(fabs(ry[i]), floor);
            double ed = fabs(dx[i] - rdx[i]) / fmax(fabs(rdx[i]), floor);
            ck_assert_msg(ey <= 1e-4 && ed <= 1e-4, "%s at x=%g: y=%.9g (ref %.9g), dx=%.9g (ref %.9g)",
                          ops_activation_name(a), x[i], y[i], ry[i], dx[i], rdx[i]);
        }
    }
    /* relu, leaky_relu and elu also go backward from their output (the model runs them in place):
     * the same reference, judged per element on max(|ref|, 1e-3) since elu's y + 1 loses the digits
     * that exp(x) keeps far left of 0 */
    if (ops_activation_from_output(a)) {
        TU_OK(d, ops_activation_backward_from_output(d, a, bdx, bdy, by, n));
        float *dx2 = tu_download(d, bdx, n);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(fabs(dx2[i] - rdx[i]) / fmax(fabs(rdx[i]), 1e-3) <= 1e-4,
                          "%s backward from its output at x=%g: %.9g (ref %.9g)", ops_activation_name(a),
                          x[i], dx2[i], rdx[i]);
        free(dx2);
    } else {
        ck_assert(ops_activation_backward_from_output(d, a, bdx, bdy, by, n) != 0);
        ck_assert(strstr(d->error, "from its input") != NULL);
    }
    free(y);
    free(dx);
    free(ry);
    free(rdx);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
}

START_TEST(forward_and_backward_match_references)
{
    ops_activation a = (ops_activation)_i;
    /* odd sizes so the rounded-up launch's guard matters */
    size_t sizes[] = {1, 7, 10007};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        float *x = tu_alloc(n * sizeof(float)), *dy = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, -6.0f, 6.0f, 11 + s);
        tu_fill_uniform(dy, n, 0.5f, 1.5f, 12 + s);
        for (size_t i = 1; i < n; i += 2)
            dy[i] = -dy[i];
        check_activation(a, x, dy, n, 0.0);
        free(x);
        free(dy);
    }
    float big[] = {20.5f, -20.5f, 30.0f,  -30.0f,  45.0f, -45.0f, 88.0f, -88.0f,
                   90.0f, -90.0f, 200.0f, -200.0f, 1e4f,  -1e4f,  1e30f, -1e30f};
    size_t nb = sizeof big / sizeof *big;
    float dyb[sizeof big / sizeof *big];
    for (size_t i = 0; i < nb; i++)
        dyb[i] = 0.75f;
    check_activation(a, big, dyb, nb, 1e-3);
}
END_TEST

/* Near 0 every value must keep its relative accuracy (elu's e^x - 1 would lose half its digits at
 * x = -1e-4), and on both sides of the 1/2 where act_math.cl's expm1 changes formula. */
START_TEST(small_inputs_keep_their_relative_accuracy)
{
    ops_activation a = (ops_activation)_i;
    float x[] = {1e-6f, -1e-6f, 1e-4f,  -1e-4f, 0.01f,  -0.01f, 0.3f,
                 -0.3f, 0.49f,  -0.49f, 0.51f,  -0.51f, 0.7f,   -0.7f};
    size_t n = sizeof x / sizeof *x;
    float dy[sizeof x / sizeof *x];
    for (size_t i = 0; i < n; i++)
        dy[i] = 1.25f;
    check_activation(a, x, dy, n, 1e-30);
}
END_TEST

/* Element-wise kernels under every work-group size `cltrain tune` may store (wg_1d): relu and gelu
 * on sizes below, at and above each group, all guarded. */
static const launch_param WG_CHOICE[] = {LAUNCH_WG_1D};

START_TEST(every_work_group_size_matches_references)
{
    device_ctx *d = tu_device();
    char what[64];
    ck_assert(tu_launch_pick(d, WG_CHOICE, 1, _i, what, sizeof what));
    size_t sizes[] = {1, 15, 33, 257, 10007};
    for (size_t s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *x = tu_alloc(n * sizeof(float)), *dy = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, -3.0f, 3.0f, 71 + s);
        tu_fill_uniform(dy, n, 0.5f, 1.5f, 72 + s);
        check_activation(OPS_RELU, x, dy, n, 0);
        check_activation(OPS_GELU, x, dy, n, 0);
        free(x);
        free(dy);
    }
    launch_defaults(&d->launch);
}
END_TEST

/* The model runs backward in place (dx = dy), and forward may be in place at inference. */
START_TEST(in_place_gives_the_same_numbers)
{
    ops_activation a = (ops_activation)_i;
    device_ctx *d = tu_device();
    size_t n = 999;
    float *x = tu_alloc(n * sizeof(float)), *dy = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, -5.0f, 5.0f, 21);
    tu_fill_uniform(dy, n, -1.0f, 2.0f, 22);
    cl_mem bx = tu_upload(d, x, n), bdy = tu_upload(d, dy, n), bx2 = tu_upload(d, x, n);
    cl_mem by = device_alloc(d, n * sizeof(float), "y"), bdx = device_alloc(d, n * sizeof(float), "dx");
    ck_assert_msg(by && bdx, "%s", d->error);
    TU_OK(d, ops_activation_forward(d, a, by, bx, n));
    TU_OK(d, ops_activation_backward(d, a, bdx, bdy, bx, n));
    TU_OK(d, ops_activation_backward(d, a, bdy, bdy, bx, n));
    TU_OK(d, ops_activation_forward(d, a, bx2, bx2, n));
    float *y = tu_download(d, by, n), *y2 = tu_download(d, bx2, n);
    float *dx = tu_download(d, bdx, n), *dx2 = tu_download(d, bdy, n);
    ck_assert(memcmp(y, y2, n * sizeof(float)) == 0);
    ck_assert(memcmp(dx, dx2, n * sizeof(float)) == 0);
    free(x);
    free(dy);
    free(y);
    free(y2);
    free(dx);
    free(dx2);
    cl_mem all[] = {bx, bdy, bx2, by, bdx};
    for (int i = 0; i < 5; i++)
        clReleaseMemObject(all[i]);
}
END_TEST

START_TEST(bad_arguments_fail_with_a_sentence)
{
    device_ctx *d = tu_device();
    float one = 1.5f;
    cl_mem b = tu_upload(d, &one, 1);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_forward(d, OPS_ACTIVATION_COUNT, b, b, 1), -1);
    ck_assert_msg(strstr(d->error, "not one of") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_backward(d, (ops_activation)-3, b, b, b, 1), -1);
    ck_assert_msg(strstr(d->error, "not one of") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_forward(d, OPS_RELU, b, b, 0), -1);
    ck_assert_msg(strstr(d->error, "0 elements") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_backward(d, OPS_GELU, b, b, b, 0), -1);
    ck_assert_msg(strstr(d->error, "gelu backward") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_forward(d, OPS_MISH, NULL, b, 1), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_activation_backward(d, OPS_MISH, b, b, NULL, 1), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    clReleaseMemObject(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("activation");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, names_round_trip_and_unknown_names_fail);
    tcase_add_loop_test(tc, reference_derivatives_match_finite_differences, 0, OPS_ACTIVATION_COUNT);
    tcase_add_loop_test(tc, forward_and_backward_match_references, 0, OPS_ACTIVATION_COUNT);
    tcase_add_loop_test(tc, small_inputs_keep_their_relative_accuracy, 0, OPS_ACTIVATION_COUNT);
    tcase_add_loop_test(tc, in_place_gives_the_same_numbers, 0, OPS_ACTIVATION_COUNT);
    tcase_add_test(tc, bad_arguments_fail_with_a_sentence);
    tcase_add_loop_test(tc, every_work_group_size_matches_references, 0, tu_launch_count(WG_CHOICE, 1));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
