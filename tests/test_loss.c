/* test_loss.c: softmax cross-entropy against a double-precision reference: the mean loss and
 * dlogits = (softmax - onehot)/N within 1e-4, the correct count exact (first maximum wins ties),
 * over batches from 1 to more rows than the kernel's work-group, odd class counts and logits large
 * enough to overflow exp without the max subtraction; the reference gradient against central
 * finite differences; the stats slot, determinism, labels out of range and bad input. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* Mean loss over rows with a label in [0,K) (divided by N, as the kernel documents), the count of
 * first-argmax == label, and when dz is not NULL the gradient (0 rows for bad labels). */
static double ref_xent(const double *z, const int32_t *y, int N, int K, double *dz, int *correct)
{
    double total = 0;
    int hits = 0;
    for (int r = 0; r < N; r++) {
        const double *row = z + (size_t)r * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[arg]) arg = k;
        double m = row[arg], s = 0;
        for (int k = 0; k < K; k++)
            s += exp(row[k] - m);
        int valid = y[r] >= 0 && y[r] < K;
        if (valid) {
            total += log(s) + m - row[y[r]];
            hits += arg == y[r];
        }
        if (dz)
            for (int k = 0; k < K; k++)
                dz[(size_t)r * K + k] = valid ? (exp(row[k] - m) / s - (k == y[r])) / N : 0.0;
    }
    if (correct) *correct = hits;
    return total / N;
}

/* Runs the op on z [N,K], y [N] into slot 1 of a 3-slot stats buffer and compares with the
 * reference; returns nothing, fails the test on a mismatch. */
static void check_case(const float *zf, const int32_t *y, int N, int K)
{
    device_ctx *d = tu_device();
    size_t nk = (size_t)N * K;
    double *z = tu_alloc(nk * sizeof(double)), *rdz = tu_alloc(nk * sizeof(double));
    for (size_t i = 0; i < nk; i++)
        z[i] = zf[i];
    int rcorrect;
    double rloss = ref_xent(z, y, N, K, rdz, &rcorrect);

    cl_mem bz = tu_upload(d, zf, nk), bdz = device_alloc(d, nk * sizeof(float), "dlogits");
    cl_mem by = device_alloc(d, (size_t)N * sizeof(int32_t), "labels"),
           bs = device_alloc(d, 6 * sizeof(float), "stats");
    ck_assert_msg(bdz && by && bs, "%s", d->error);
    TU_OK(d, device_write(d, by, 0, (size_t)N * sizeof(int32_t), y));
    TU_OK(d, device_fill(d, bs, NAN, 0, 6));
    TU_OK(d, device_fill(d, bdz, NAN, 0, nk));
    TU_OK(d, ops_softmax_xent(d, bdz, bs, 1, bz, by, N, K));
    float st[6];
    TU_OK(d, device_read(d, bs, 0, sizeof st, st));
    float *dz = tu_download(d, bdz, nk);
    ck_assert_msg(isnan(st[0]) && isnan(st[1]) && isnan(st[4]) && isnan(st[5]),
                  "[%d,%d]: wrote outside slot 1", N, K);
    double lerr = fabs(st[2] - rloss) / fmax(fabs(rloss), 1e-6);
    ck_assert_msg(lerr <= 1e-4, "[%d,%d]: loss %.9g, reference %.9g (rel err %.2g)", N, K, st[2], rloss,
                  lerr);
    ck_assert_msg(st[3] == (float)rcorrect, "[%d,%d]: correct %g, reference %d", N, K, st[3], rcorrect);
    double gerr = tu_max_rel_err(dz, rdz, nk);
    ck_assert_msg(gerr <= 1e-4, "[%d,%d]: dlogits rel err %.2g", N, K, gerr);

    /* without a gradient: the same statistics, bit for bit (the sums run in the same order) */
    float st2[6];
    TU_OK(d, ops_softmax_xent(d, NULL, bs, 2, bz, by, N, K));
    TU_OK(d, device_read(d, bs, 0, sizeof st2, st2));
    ck_assert_msg(st2[4] == st[2] && st2[5] == st[3], "[%d,%d]: without dlogits: %g %g, with: %g %g", N, K,
                  st2[4], st2[5], st[2], st[3]);
    free(z);
    free(rdz);
    free(dz);
    clReleaseMemObject(bz);
    clReleaseMemObject(bdz);
    clReleaseMemObject(by);
    clReleaseMemObject(bs);
}

static void labels_for(int32_t *y, int N, int K, uint64_t seed)
{
    uint64_t s = seed;
    for (int r = 0; r < N; r++)
        y[r] = (int32_t)(tu_uniform(&s) * K);
}

static const int SHAPES[][2] = {{1, 10},  {1, 7},   {1, 1},    {3, 5},   {32, 10},
                                {64, 10}, {129, 3}, {200, 13}, {5, 1001}};

START_TEST(matches_reference)
{
    for (size_t c = 0; c < sizeof SHAPES / sizeof *SHAPES; c++) {
        int N = SHAPES[c][0], K = SHAPES[c][1];
        size_t nk = (size_t)N * K;
        float *z = tu_alloc(nk * sizeof(float));
        int32_t *y = tu_alloc((size_t)N * sizeof(int32_t));
        tu_fill_uniform(z, nk, -3.0f, 3.0f, 40 + c);
        labels_for(y, N, K, 50 + c);
        check_case(z, y, N, K);
        /* a sharp, mostly right batch: labels at the argmax for two rows in three */
        for (int r = 0; r < N; r++)
            if (r % 3 != 0) {
                int arg = 0;
                for (int k = 1; k < K; k++)
                    if (z[(size_t)r * K + k] > z[(size_t)r * K + arg]) arg = k;
                y[r] = arg;
            }
        check_case(z, y, N, K);
        free(z);
        free(y);
    }
}
END_TEST

/* Logits near 90: exp would overflow float without subtracting the row's max. */
START_TEST(large_logits_stay_finite)
{
    int N = 17, K = 11;
    float z[17 * 11];
    int32_t y[17];
    tu_fill_uniform(z, (size_t)N * K, 80.0f, 100.0f, 60);
    labels_for(y, N, K, 61);
    check_case(z, y, N, K);
    tu_fill_uniform(z, (size_t)N * K, -100.0f, -80.0f, 62);
    check_case(z, y, N, K);
}
END_TEST

/* Rows with tied maxima: the first maximum is the prediction, as torch.argmax. */
START_TEST(first_maximum_wins_ties)
{
    device_ctx *d = tu_device();
    const int N = 4, K = 5;
    /* rows 0 and 1: maximum at 1 and 2; rows 2 and 3: all equal */
    float z[20] = {1, 3, 3, 0.5f, -1, 1, 3, 3, 0.5f, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    int32_t y[4] = {1, 1, 0, 2};
    check_case(z, y, N, K);
    cl_mem bz = tu_upload(d, z, 20), by = device_alloc(d, sizeof y, "y"),
           bs = device_alloc(d, 2 * sizeof(float), "s");
    ck_assert_msg(by && bs, "%s", d->error);
    TU_OK(d, device_write(d, by, 0, sizeof y, y));
    TU_OK(d, ops_softmax_xent(d, NULL, bs, 0, bz, by, N, K));
    float st[2];
    TU_OK(d, device_read(d, bs, 0, sizeof st, st));
    ck_assert_msg(st[1] == 3.0f, "correct = %g; rows 0 to 2 name their first maximum, row 3 a later one",
                  st[1]);
    clReleaseMemObject(bz);
    clReleaseMemObject(by);
    clReleaseMemObject(bs);
}
END_TEST

/* The reference gradient is the derivative of the mean loss: central differences in double. */
START_TEST(reference_gradient_matches_finite_differences)
{
    const int N = 3, K = 7;
    double z[21], dz[21];
    int32_t y[3] = {0, 6, 3};
    uint64_t s = 70;
    for (int i = 0; i < N * K; i++)
        z[i] = -3 + 6 * tu_uniform(&s);
    ref_xent(z, y, N, K, dz, NULL);
    const double h = 1e-5;
    for (int i = 0; i < N * K; i++) {
        double keep = z[i];
        z[i] = keep + h;
        double lp = ref_xent(z, y, N, K, NULL, NULL);
        z[i] = keep - h;
        double lm = ref_xent(z, y, N, K, NULL, NULL);
        z[i] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(fd - dz[i]) <= 1e-8, "dz[%d]: reference %.12g, finite difference %.12g", i, dz[i],
                      fd);
    }
}
END_TEST

START_TEST(same_input_gives_the_same_bits)
{
    device_ctx *d = tu_device();
    const int N = 100, K = 10;
    float z[1000];
    int32_t y[100];
    tu_fill_uniform(z, 1000, -3.0f, 3.0f, 80);
    labels_for(y, N, K, 81);
    cl_mem bz = tu_upload(d, z, 1000), by = device_alloc(d, sizeof y, "y"),
           bs = device_alloc(d, 8 * sizeof(float), "s");
    ck_assert_msg(by && bs, "%s", d->error);
    TU_OK(d, device_write(d, by, 0, sizeof y, y));
    for (int i = 0; i < 4; i++)
        TU_OK(d, ops_softmax_xent(d, NULL, bs, i, bz, by, N, K));
    float st[8];
    TU_OK(d, device_read(d, bs, 0, sizeof st, st));
    for (int i = 1; i < 4; i++)
        ck_assert(st[2 * i] == st[0] && st[2 * i + 1] == st[1]);
    clReleaseMemObject(bz);
    clReleaseMemObject(by);
    clReleaseMemObject(bs);
}
END_TEST

/* Labels outside [0,K) are skipped (no loss, no count, zero gradient row), never read past the row. */
START_TEST(labels_out_of_range_are_skipped)
{
    const int N = 6, K = 4;
    float z[24];
    tu_fill_uniform(z, 24, -2.0f, 2.0f, 90);
    int32_t y[6] = {1, -1, 3, 4, 1000000, 0};
    check_case(z, y, N, K); /* the reference skips them the same way */
    /* and the loss is indeed the valid rows' sum over N, not NaN */
    double zd[24];
    for (int i = 0; i < 24; i++)
        zd[i] = z[i];
    double l = ref_xent(zd, y, N, K, NULL, NULL);
    ck_assert(isfinite(l) && l > 0);
}
END_TEST

START_TEST(bad_input_fails_with_a_sentence)
{
    device_ctx *d = tu_device();
    float z[40];
    tu_fill_uniform(z, 40, 0.5f, 1.5f, 5);
    int32_t y[4] = {0, 1, 2, 3};
    cl_mem bz = tu_upload(d, z, 40), by = device_alloc(d, sizeof y, "y"),
           bs = device_alloc(d, 4 * sizeof(float), "s");
    ck_assert_msg(by && bs, "%s", d->error);
    TU_OK(d, device_write(d, by, 0, sizeof y, y));
    const int bad[][2] = {{0, 10}, {4, 0}, {-1, 10}, {4, -3}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d->error[0] = '\0';
        ck_assert_int_eq(ops_softmax_xent(d, bz, bs, 0, bz, by, bad[i][0], bad[i][1]), -1);
        ck_assert_msg(strstr(d->error, "must be positive") != NULL, "%s", d->error);
    }
    struct {
        cl_mem dz, st, z, y;
        int slot, N, K;
        const char *says;
    } cases[] = {
        {NULL, bs, bz, by, -1, 4, 10, "slot -1"},
        {NULL, bs, bz, by, 2, 4, 10, "bytes of stats"},  /* 3 slots in a 2-slot buffer */
        {NULL, bs, bz, by, 0, 4, 11, "bytes of logits"}, /* 44 logits in 40 */
        {NULL, bs, bz, by, 0, 5, 8, "bytes of labels"},  /* 5 labels in 4 */
        {by, bs, bz, by, 0, 4, 10, "bytes of dlogits"},  /* dlogits buffer too small */
        {NULL, NULL, bz, by, 0, 4, 10, "NULL"},
        {NULL, bs, NULL, by, 0, 4, 10, "NULL"},
        {NULL, bs, bz, NULL, 0, 4, 10, "NULL"},
        {NULL, bs, bz, by, 0, 65536, 65536, "cannot index"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        d->error[0] = '\0';
        ck_assert_int_eq(ops_softmax_xent(d, cases[i].dz, cases[i].st, cases[i].slot, cases[i].z, cases[i].y,
                                          cases[i].N, cases[i].K),
                         -1);
        ck_assert_msg(strstr(d->error, cases[i].says) != NULL, "case %zu: %s", i, d->error);
    }
    clReleaseMemObject(bz);
    clReleaseMemObject(by);
    clReleaseMemObject(bs);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matches_reference);
    tcase_add_test(tc, large_logits_stay_finite);
    tcase_add_test(tc, first_maximum_wins_ties);
    tcase_add_test(tc, reference_gradient_matches_finite_differences);
    tcase_add_test(tc, same_input_gives_the_same_bits);
    tcase_add_test(tc, labels_out_of_range_are_skipped);
    tcase_add_test(tc, bad_input_fails_with_a_sentence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
