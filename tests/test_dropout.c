/* test_dropout.c: the host Philox against Random123's known answers, and dropout forward/backward:
 * the kernel's mask equals the host generator's bit for bit, the keep rate is within 5 sigma of
 * 1-p, a key gives one mask and a new step, stream or seed another, kept elements are scaled
 * exactly by PyTorch's 1/(1-p), backward applies forward's mask, p = 0 is the identity, a tail of
 * fewer than four elements is handled without writing past n, and bad input fails with a sentence. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"
#include "cltrain/philox.h"

START_TEST(philox_matches_known_answers)
{
    /* Random123's kat_vectors, "philox4x32 10" lines: counter, key, expected output */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        philox4x32(kat[v], kat[v] + 4, out);
        for (int j = 0; j < 4; j++)
            ck_assert_msg(out[j] == kat[v][6 + j], "vector %d word %d: %08x, expected %08x", v, j, out[j],
                          kat[v][6 + j]);
    }
    /* the layout helper: element i is word i%4 of counter {i/4, stream, step lo, step hi} */
    uint64_t seed = 0x0123456789abcdefULL, step = 0x100000007ULL;
    uint32_t key[2] = {0x89abcdefu, 0x01234567u}, ctr[4] = {5, 9, 7, 1}, out[4];
    philox4x32(ctr, key, out);
    for (int j = 0; j < 4; j++)
        ck_assert_uint_eq(philox_u32(seed, 9, step, 20 + (uint64_t)j), out[j]);
    ck_assert(philox_to_uniform(0) == 0.0f);
    ck_assert(philox_to_uniform(0xffffffffu) < 1.0f);
    ck_assert(philox_to_uniform(0x80000000u) == 0.5f);
}
END_TEST

/* Runs forward on x [n] into a buffer of n+8 floats pre-filled with NaN and returns the n+8 floats
 * (so a write past n shows). */
static float *run_forward(const float *x, size_t n, float p, uint64_t seed, uint32_t stream, uint64_t step)
{
    device_ctx *d = tu_device();
    cl_mem bx = tu_upload(d, x, n);
    cl_mem by = device_alloc(d, (n + 8) * sizeof(float), "y");
    ck_assert_msg(by != NULL, "%s", d->error);
    TU_OK(d, device_fill(d, by, NAN, 0, n + 8));
    TU_OK(d, ops_dropout_forward(d, by, bx, n, p, seed, stream, step));
    float *y = tu_download(d, by, n + 8);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    return y;
}

/* Every element is either dropped (0) or x times the exact scale, as the host generator says. */
static void check_against_host(const float *x, const float *y, size_t n, float p, uint64_t seed,
                               uint32_t stream, uint64_t step)
{
    float scale = (float)(1.0 / (1.0 - (double)p));
    for (size_t i = 0; i < n; i++) {
        int keep = philox_uniform(seed, stream, step, i) >= p;
        float want = keep ? x[i] * scale : 0.0f;
        ck_assert_msg(y[i] == want, "n=%zu p=%g element %zu: %.9g, host Philox says %.9g", n, p, i, y[i],
                      want);
    }
    for (size_t i = n; i < n + 8; i++)
        ck_assert_msg(isnan(y[i]), "n=%zu: element %zu past the end was written", n, i);
}

START_TEST(mask_matches_host_philox)
{
    /* sizes around the four-per-work-item blocks; seeds and steps with high words set */
    const size_t sizes[] = {1, 2, 3, 4, 5, 7, 63, 64, 65, 1001};
    const uint64_t seeds[] = {42, 0xfedcba9876543210ULL};
    const uint64_t steps[] = {0, 3, 0x500000002ULL};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        float *x = tu_alloc(n * sizeof(float));
        tu_fill_uniform(x, n, 0.5f, 1.5f, 10 + n);
        for (size_t a = 0; a < 2; a++)
            for (size_t b = 0; b < 3; b++) {
                float p = (a + b) % 2 ? 0.3f : 0.5f;
                uint32_t stream = (uint32_t)(b * 7 + a);
                float *y = run_forward(x, n, p, seeds[a], stream, steps[b]);
                check_against_host(x, y, n, p, seeds[a], stream, steps[b]);
                free(y);
            }
        free(x);
    }
    /* a draw equal to p keeps its element (u >= p): set p to element 5's draw */
    float x[9];
    tu_fill_uniform(x, 9, 0.5f, 1.5f, 9);
    float p = philox_uniform(42, 1, 2, 5);
    float *y = run_forward(x, 9, p, 42, 1, 2);
    ck_assert_msg(y[5] != 0.0f, "an element whose draw equals p was dropped");
    check_against_host(x, y, 9, p, 42, 1, 2);
    free(y);
}
END_TEST

START_TEST(keep_rate_is_within_five_sigma)
{
    const size_t n = 200003;
    float *x = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, 0.5f, 1.5f, 7);
    const float ps[] = {0.2f, 0.5f};
    for (int k = 0; k < 2; k++) {
        float p = ps[k];
        float *y = run_forward(x, n, p, 1234, 3, 17);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            kept += y[i] != 0.0f;
        double mean = n * (1.0 - p), sigma = sqrt(n * p * (1.0 - p));
        ck_assert_msg(fabs((double)kept - mean) <= 5 * sigma, "p=%g: kept %zu of %zu, expected %.0f +- %.0f",
                      p, kept, n, mean, 5 * sigma);
        check_against_host(x, y, n, p, 1234, 3, 17); /* also: every kept element scaled exactly */
        free(y);
    }
    free(x);
}
END_TEST

/* Fraction of positions where the two masks differ. */
static double mask_difference(const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += (a[i] != 0.0f) != (b[i] != 0.0f);
    return (double)diff / n;
}

START_TEST(same_key_same_mask_new_key_new_mask)
{
    const size_t n = 40000;
    const float p = 0.5f;
    float *x = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, 0.5f, 1.5f, 8);
    float *base = run_forward(x, n, p, 99, 2, 10);
    float *again = run_forward(x, n, p, 99, 2, 10);
    ck_assert_msg(memcmp(base, again, n * sizeof(float)) == 0,
                  "the same (seed, stream, step) gave another mask");
    /* independent masks at p = 0.5 differ in half the positions; 0.45..0.55 is > 20 sigma wide */
    float *other[4] = {run_forward(x, n, p, 99, 2, 11), run_forward(x, n, p, 99, 3, 10),
                       run_forward(x, n, p, 100, 2, 10), run_forward(x, n, p, 99, 2, 10 + (1ULL << 32))};
    const char *what[4] = {"the next step", "another stream", "another seed", "a step 2^32 later"};
    for (int k = 0; k < 4; k++) {
        double f = mask_difference(base, other[k], n);
        ck_assert_msg(f > 0.45 && f < 0.55, "%s changed %.3f of the mask; an independent one changes 0.5",
                      what[k], f);
        free(other[k]);
    }
    free(base);
    free(again);
    free(x);
}
END_TEST

START_TEST(backward_applies_the_forward_mask)
{
    device_ctx *d = tu_device();
    const size_t n = 10007;
    const float p = 0.4f;
    float *x = tu_alloc(n * sizeof(float)), *dy = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, 0.5f, 1.5f, 11);
    tu_fill_uniform(dy, n, -1.5f, -0.5f, 12);
    float *y = run_forward(x, n, p, 5, 1, 2);
    cl_mem bdy = tu_upload(d, dy, n), bdx = device_alloc(d, n * sizeof(float), "dx");
    ck_assert_msg(bdx != NULL, "%s", d->error);
    TU_OK(d, ops_dropout_backward(d, bdx, bdy, n, p, 5, 1, 2));
    float *dx = tu_download(d, bdx, n);
    /* in place, as the model calls it */
    TU_OK(d, ops_dropout_backward(d, bdy, bdy, n, p, 5, 1, 2));
    float *dx_inplace = tu_download(d, bdy, n);
    float scale = (float)(1.0 / (1.0 - (double)p));
    for (size_t i = 0; i < n; i++) {
        float want = y[i] != 0.0f ? dy[i] * scale : 0.0f;
        ck_assert_msg(dx[i] == want, "dx[%zu] = %g, forward's mask says %g", i, dx[i], want);
        ck_assert_msg(dx_inplace[i] == want, "in-place dx[%zu] = %g, forward's mask says %g", i,
                      dx_inplace[i], want);
    }
    /* forward in place gives what it gives out of place */
    cl_mem bx = tu_upload(d, x, n);
    TU_OK(d, ops_dropout_forward(d, bx, bx, n, p, 5, 1, 2));
    float *y_inplace = tu_download(d, bx, n);
    ck_assert(memcmp(y, y_inplace, n * sizeof(float)) == 0);
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(dx_inplace);
    free(y_inplace);
    clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    clReleaseMemObject(bx);
}
END_TEST

/* The backward rule dx = dy * mask * scale is the gradient of sum(dy * y): central differences on
 * the double-precision forward with the host's mask. */
START_TEST(reference_backward_matches_finite_differences)
{
    const size_t n = 37;
    const float p = 0.3f;
    double x[37], dy[37];
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5 + tu_uniform(&s), dy[i] = -1.5 + tu_uniform(&s);
    double scale = (float)(1.0 / (1.0 - (double)p));
    for (size_t i = 0; i < n; i++) {
        double mask = philox_uniform(8, 4, 6, i) >= p ? 1.0 : 0.0;
        double dx = dy[i] * mask * scale, l[2];
        const double h = 1e-4;
        for (int sg = 0; sg < 2; sg++) {
            double keep = x[i];
            x[i] = keep + (sg ? h : -h);
            l[sg] = 0;
            for (size_t j = 0; j < n; j++)
                l[sg] += dy[j] * x[j] * (philox_uniform(8, 4, 6, j) >= p ? scale : 0.0);
            x[i] = keep;
        }
        double fd = (l[1] - l[0]) / (2 * h);
        ck_assert_msg(fabs(fd - dx) <= 1e-9, "dx[%zu]: rule %g, finite difference %g", i, dx, fd);
    }
}
END_TEST

START_TEST(p_zero_is_the_identity)
{
    device_ctx *d = tu_device();
    const size_t n = 1001;
    float *x = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, -1.5f, -0.5f, 13);
    float *y = run_forward(x, n, 0.0f, 1, 2, 3);
    ck_assert(memcmp(x, y, n * sizeof(float)) == 0);
    for (size_t i = n; i < n + 8; i++)
        ck_assert(isnan(y[i]));
    cl_mem b = tu_upload(d, x, n), bd = device_alloc(d, n * sizeof(float), "dx");
    ck_assert_msg(bd != NULL, "%s", d->error);
    TU_OK(d, ops_dropout_forward(d, b, b, n, 0.0f, 1, 2, 3));
    TU_OK(d, ops_dropout_backward(d, bd, b, n, 0.0f, 1, 2, 3));
    TU_OK(d, ops_dropout_backward(d, b, b, n, 0.0f, 1, 2, 3));
    float *same = tu_download(d, b, n), *dx = tu_download(d, bd, n);
    ck_assert(memcmp(x, same, n * sizeof(float)) == 0);
    ck_assert(memcmp(x, dx, n * sizeof(float)) == 0);
    free(x);
    free(y);
    free(same);
    free(dx);
    clReleaseMemObject(b);
    clReleaseMemObject(bd);
}
END_TEST

START_TEST(bad_input_fails_with_a_sentence)
{
    device_ctx *d = tu_device();
    float v[16];
    tu_fill_uniform(v, 16, 0.5f, 1.5f, 5);
    cl_mem b = tu_upload(d, v, 16);
    const float bad_p[] = {1.0f, 1.5f, -0.1f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_p / sizeof *bad_p; i++) {
        d->error[0] = '\0';
        ck_assert_int_eq(ops_dropout_forward(d, b, b, 16, bad_p[i], 1, 0, 0), -1);
        ck_assert_msg(strstr(d->error, "[0, 1)") != NULL, "%s", d->error);
        d->error[0] = '\0';
        ck_assert_int_eq(ops_dropout_backward(d, b, b, 16, bad_p[i], 1, 0, 0), -1);
        ck_assert_msg(strstr(d->error, "[0, 1)") != NULL, "%s", d->error);
    }
    d->error[0] = '\0';
    ck_assert_int_eq(ops_dropout_forward(d, NULL, b, 16, 0.5f, 1, 0, 0), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_dropout_backward(d, b, NULL, 16, 0.5f, 1, 0, 0), -1);
    ck_assert_msg(strstr(d->error, "NULL") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_dropout_forward(d, b, b, 17, 0.5f, 1, 0, 0), -1);
    ck_assert_msg(strstr(d->error, "buffer of 16 floats") != NULL, "%s", d->error);
    d->error[0] = '\0';
    ck_assert_int_eq(ops_dropout_forward(d, b, b, (size_t)1 << 40, 0.5f, 1, 0, 0), -1);
    ck_assert_msg(strstr(d->error, "can index") != NULL, "%s", d->error);
    /* an empty tensor is a no-op, even with no buffers */
    ck_assert_int_eq(ops_dropout_forward(d, NULL, NULL, 0, 0.5f, 1, 0, 0), 0);
    ck_assert_int_eq(ops_dropout_backward(d, NULL, NULL, 0, 0.5f, 1, 0, 0), 0);
    float back[16];
    TU_OK(d, device_read(d, b, 0, sizeof back, back));
    ck_assert(memcmp(v, back, sizeof v) == 0);
    clReleaseMemObject(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, philox_matches_known_answers);
    tcase_add_test(tc, mask_matches_host_philox);
    tcase_add_test(tc, keep_rate_is_within_five_sigma);
    tcase_add_test(tc, same_key_same_mask_new_key_new_mask);
    tcase_add_test(tc, backward_applies_the_forward_mask);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, p_zero_is_the_identity);
    tcase_add_test(tc, bad_input_fails_with_a_sentence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
