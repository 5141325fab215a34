/* test_pool_vector.c: max pool's vector path (8 windows per work-item, cl/pool.cl) on windows that
 * random inputs never produce: NaNs at every position of a window, two NaNs, ties, -inf; forward and
 * backward against a host reference with PyTorch's rule (`val > max || isnan(val)`, in row-major
 * window order), on rows of 8 windows (all vector) and 9 (one vector, one element by element). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "cltrain/ops.h"

/* 2 x W input row pair -> OW outputs and the argmax offset of each window */
static void ref_pool(const float *x, int W, int OW, float *y, int *at)
{
    for (int o = 0; o < OW; o++) {
        float v[4] = {x[2 * o], x[2 * o + 1], x[W + 2 * o], x[W + 2 * o + 1]};
        float m = v[0];
        int a = 0;
        for (int j = 1; j < 4; j++)
            if (v[j] > m || isnan(v[j])) {
                m = v[j];
                a = j;
            }
        y[o] = m;
        at[o] = a;
    }
}

static void check_row(int W)
{
    device_ctx *d = tu_device();
    int OW = W / 2;
    float x[2 * 18], dy[9], y[9], dx[2 * 18];
    tu_fill_uniform(x, (size_t)2 * W, 0.5f, 1.5f, (uint64_t)W);
    tu_fill_uniform(dy, (size_t)OW, 0.5f, 1.5f, (uint64_t)W + 1);
    /* window k puts special values at chosen positions (row-major offsets 0..3: top pair, bottom pair) */
    float nan = NAN;
    int pos[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    for (int k = 0; k < 4 && k < OW; k++) /* a NaN at each position */
        x[pos[k][0] * W + 2 * k + pos[k][1]] = nan;
    if (OW > 4) { /* two NaNs: the later wins by the rule */
        x[2 * 4] = nan;
        x[W + 2 * 4 + 1] = nan;
    }
    if (OW > 5) /* a four-way tie: the first */
        x[2 * 5] = x[2 * 5 + 1] = x[W + 2 * 5] = x[W + 2 * 5 + 1] = 2.0f;
    if (OW > 6) { /* a tie of the last two */
        x[W + 2 * 6] = 3.0f;
        x[W + 2 * 6 + 1] = 3.0f;
    }
    if (OW > 7) /* -inf everywhere but one */
        x[2 * 7] = x[2 * 7 + 1] = x[W + 2 * 7] = -INFINITY;
    float ry[9];
    int at[9];
    ref_pool(x, W, OW, ry, at);
    cl_mem bx = tu_upload(d, x, (size_t)2 * W), bdy = tu_upload(d, dy, (size_t)OW);
    cl_mem by = device_alloc(d, (size_t)OW * sizeof(float), "y"),
           bdx = device_alloc(d, (size_t)2 * W * sizeof(float), "dx");
    ck_assert_msg(by && bdx, "%s", d->error);
    TU_OK(d, device_fill(d, bdx, NAN, 0, (size_t)2 * W));
    TU_OK(d, ops_maxpool_forward(d, by, bx, 1, 1, 2, W));
    TU_OK(d, ops_maxpool_backward(d, bdx, bdy, bx, 1, 1, 2, W));
    TU_OK(d, device_read(d, by, 0, (size_t)OW * sizeof(float), y));
    TU_OK(d, device_read(d, bdx, 0, (size_t)2 * W * sizeof(float), dx));
    for (int o = 0; o < OW; o++) {
        ck_assert_msg(isnan(ry[o]) ? isnan(y[o]) : y[o] == ry[o], "W %d: y[%d] = %g, reference %g", W, o, y[o],
                      ry[o]);
        for (int j = 0; j < 4; j++) {
            float want = j == at[o] ? dy[o] : 0.0f, got = dx[(j / 2) * W + 2 * o + j % 2];
            ck_assert_msg(got == want, "W %d: window %d offset %d: dx %g, reference %g", W, o, j, got, want);
        }
    }
    if (W & 1)
        ck_assert_msg(dx[W - 1] == 0.0f && dx[2 * W - 1] == 0.0f, "W %d: the odd column is not zeroed", W);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
}

START_TEST(special_values_in_vector_windows)
{
    check_row(16); /* 8 windows: one vector */
    check_row(17); /* and an odd column */
    check_row(18); /* 9 windows: one vector, one by the element path */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool_vector");
    TCase *tc = tcase_create("vector");
    tcase_add_test(tc, special_values_in_vector_windows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
