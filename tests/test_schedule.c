/* test_schedule.c: the learning rate per epoch for each schedule, with and without warmup, against
 * the formulas (PyTorch's StepLR and CosineAnnealingLR, stepped once per epoch). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>

#include "cltrain/schedule.h"

static config make(const char *schedule, int epochs, int warmup)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN], v[32];
    ck_assert(config_set(&c, "lr_schedule", schedule, 0, err, sizeof err) == 0);
    snprintf(v, sizeof v, "%d", epochs);
    ck_assert(config_set(&c, "epochs", v, 0, err, sizeof err) == 0);
    snprintf(v, sizeof v, "%d", warmup);
    ck_assert(config_set(&c, "warmup_epochs", v, 0, err, sizeof err) == 0);
    ck_assert(config_set(&c, "learning_rate", "0.01", 0, err, sizeof err) == 0);
    return c;
}

START_TEST(constant_step_and_cosine)
{
    config c = make("constant", 5, 0);
    for (int e = 0; e < 5; e++) ck_assert_double_eq(schedule_lr(&c, e), 0.01);

    c = make("step", 7, 0);
    char err[CT_ERR_LEN];
    config_set(&c, "lr_step_epochs", "3", 0, err, sizeof err);
    config_set(&c, "lr_gamma", "0.5", 0, err, sizeof err);
    const double step[] = {0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025};
    for (int e = 0; e < 7; e++) ck_assert_double_eq_tol(schedule_lr(&c, e), step[e], 1e-15);

    c = make("cosine", 4, 0);
    for (int e = 0; e < 4; e++) ck_assert_double_eq_tol(schedule_lr(&c, e), 0.01 * 0.5 * (1 + cos(M_PI * e / 4)), 1e-15);
    ck_assert(schedule_lr(&c, 3) > 0); /* the last epoch still learns */
}
END_TEST

START_TEST(warmup_ramps_then_hands_over)
{
    config c = make("cosine", 6, 2);
    ck_assert_double_eq_tol(schedule_lr(&c, 0), 0.01 / 3, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&c, 1), 0.02 / 3, 1e-15);
    /* cosine over the 4 epochs after warmup, starting at the peak */
    for (int e = 2; e < 6; e++)
        ck_assert_double_eq_tol(schedule_lr(&c, e), 0.01 * 0.5 * (1 + cos(M_PI * (e - 2) / 4)), 1e-15);
    c = make("constant", 3, 1);
    ck_assert_double_eq_tol(schedule_lr(&c, 0), 0.005, 1e-15);
    ck_assert_double_eq(schedule_lr(&c, 1), 0.01);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("schedule");
    TCase *t = tcase_create("schedule");
    tcase_add_test(t, constant_step_and_cosine);
    tcase_add_test(t, warmup_ramps_then_hands_over);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
