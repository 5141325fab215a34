/* test_hyperband.c: hyperband early termination on synthetic histories: the bands both ways of
 * giving them make, the 1/eta quantile threshold, strict against the best-so-far test, goals, and
 * trials that are not running or have not reached a band. Cases follow wandb's
 * hyperband_stopping.py (its doctest is the first). */
#include <math.h>
#include <string.h>

#include "cltrain/sweep.h"
#include "testutil.h"

static char err[1024];

START_TEST(test_bands)
{
    int b[128], n;
    sweep_hyperband hb = {.enabled = 1, .min_iter = 1, .eta = 3, .strict = 1};
    n = sweep_hyperband_bands(&hb, b, 128);
    ck_assert_int_ge(n, 19);
    ck_assert(b[0] == 1 && b[1] == 3 && b[2] == 9 && b[3] == 27 && b[4] == 81);
    for (int i = 1; i < n; i++)
        ck_assert(b[i] > b[i - 1] && b[i] > 0);
    hb.min_iter = 2, hb.eta = 2;
    n = sweep_hyperband_bands(&hb, b, 4);
    ck_assert_int_eq(n, 4);
    ck_assert(b[0] == 2 && b[1] == 4 && b[2] == 8 && b[3] == 16);
    /* eta need not be whole: int(2 * 1.5^k) */
    hb.eta = 1.5;
    n = sweep_hyperband_bands(&hb, b, 5);
    ck_assert(b[0] == 2 && b[1] == 3 && b[2] == 4 && b[3] == 6 && b[4] == 10);
    /* max_iter / eta^k for k = 1..s, ascending */
    sweep_hyperband m = {.enabled = 1, .max_iter = 27, .s = 3, .eta = 3, .strict = 1};
    n = sweep_hyperband_bands(&m, b, 128);
    ck_assert_int_eq(n, 3);
    ck_assert(b[0] == 1 && b[1] == 3 && b[2] == 9);
    m.max_iter = 5, m.s = 2, m.eta = 2; /* 2.5 -> 2, 1.25 -> 1 */
    n = sweep_hyperband_bands(&m, b, 128);
    ck_assert_int_eq(n, 2);
    ck_assert(b[0] == 1 && b[1] == 2);
    m.max_iter = 9, m.s = 5, m.eta = 3; /* stops below 1 epoch */
    n = sweep_hyperband_bands(&m, b, 128);
    ck_assert_int_eq(n, 2);
    m.max_iter = 2, m.s = 1; /* 2/3 < 1: no band */
    ck_assert_int_eq(sweep_hyperband_bands(&m, b, 128), 0);
}
END_TEST

static sweep_history hist(const double *m, int len, sweep_trial_status st)
{
    sweep_history h = {m, len, st};
    return h;
}

START_TEST(test_wandb_doctest)
{
    /* runs a..e of hyperband_stopping.py's doctest: loss, max_iter 5, eta 2, s 2 -> bands 1, 2;
     * only b is stopped (c's best value 8 equals the band-2 threshold 8, which is not worse) */
    static const double a[] = {10, 9}, b[] = {10, 10}, c[] = {10, 8, 8}, d[] = {10, 7, 7}, e[] = {10, 6, 6};
    sweep_history all[5] = {hist(a, 2, SWEEP_TRIAL_FINISHED), hist(b, 2, SWEEP_TRIAL_RUNNING),
                            hist(c, 3, SWEEP_TRIAL_RUNNING), hist(d, 3, SWEEP_TRIAL_RUNNING),
                            hist(e, 3, SWEEP_TRIAL_FINISHED)};
    sweep_hyperband hb = {.enabled = 1, .max_iter = 5, .s = 2, .eta = 2, .strict = 1};
    int expect[5] = {0, 1, 0, 0, 0};
    for (int strict = 0; strict < 2; strict++) {
        hb.strict = strict;
        for (int i = 0; i < 5; i++) {
            sweep_hyperband_decision dec;
            ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, all, 5, i, &dec, err, sizeof err) == 0);
            ck_assert_msg(dec.stop == expect[i], "strict %d run %c: stop %d", strict, 'a' + i, dec.stop);
            if (all[i].status == SWEEP_TRIAL_RUNNING) {
                ck_assert_int_eq(dec.band, 2);
                /* band 2 values 9, 10, 8, 7, 6 sorted; index int(5 / 2) = 2 -> 8 */
                ck_assert(dec.threshold == 8);
            } else {
                ck_assert_int_eq(dec.stop, 0);
            }
        }
    }
}
END_TEST

START_TEST(test_strict_and_goal)
{
    /* three trials reached band 3 (min_iter 1, eta 3 -> bands 1, 3, 9) */
    static const double t0[] = {5, 4, 3}, t1[] = {5, 3, 2}, t2[] = {2, 6, 9};
    sweep_history all[3] = {hist(t0, 3, SWEEP_TRIAL_FINISHED), hist(t1, 3, SWEEP_TRIAL_FINISHED),
                            hist(t2, 3, SWEEP_TRIAL_RUNNING)};
    sweep_hyperband hb = {.enabled = 1, .min_iter = 1, .eta = 3, .strict = 1};
    sweep_hyperband_decision dec;
    /* minimize: band-3 values 3, 2, 9 -> sorted 2, 3, 9; index int(3/3) = 1 -> threshold 3.
     * strict compares t2's value at epoch 3 (9 > 3: stop); not strict its best so far (2: go) */
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, all, 3, 2, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 1 && dec.band == 3 && dec.threshold == 3 && dec.value == 9);
    hb.strict = 0;
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, all, 3, 2, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 0 && dec.value == 2);
    /* maximize: values negated: -3, -2, -9 sorted -9, -3, -2 -> threshold -3; t2 at -9 is the
     * best, continues either way */
    hb.strict = 1;
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MAXIMIZE, all, 3, 2, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 0 && dec.threshold == -3 && dec.value == -9);
    /* and t1 (running, maximize) with value -2 > -3 stops */
    all[1].status = SWEEP_TRIAL_RUNNING;
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MAXIMIZE, all, 3, 1, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 1 && dec.value == -2);

    /* judged at the last band reached: with 2 epochs a trial is judged at band 1 */
    static const double t3[] = {4, 1};
    sweep_history four[4] = {all[0], all[1], all[2], hist(t3, 2, SWEEP_TRIAL_RUNNING)};
    /* band 1 values 5, 5, 2, 4 -> sorted 2, 4, 5, 5; index int(4/3) = 1 -> 4; t3's 4 is not
     * worse */
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, four, 4, 3, &dec, err, sizeof err) == 0);
    ck_assert(dec.band == 1 && dec.threshold == 4 && dec.stop == 0);
    /* a trial that has not reached the first band is never stopped */
    sweep_hyperband late = {.enabled = 1, .min_iter = 3, .eta = 3, .strict = 1};
    ck_assert(sweep_hyperband_decide(&late, SWEEP_MINIMIZE, four, 4, 3, &dec, err, sizeof err) == 0);
    ck_assert(dec.band == -1 && dec.stop == 0);
    /* a diverged (NaN) metric counts as the worst and is stopped */
    static const double bad[] = {1, NAN, NAN};
    sweep_history withnan[3] = {all[0], all[1], hist(bad, 3, SWEEP_TRIAL_RUNNING)};
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, withnan, 3, 2, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 1 && isinf(dec.value));
    /* a lone trial is its own threshold and continues */
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, &all[2], 1, 0, &dec, err, sizeof err) == 0);
    ck_assert(dec.stop == 0);
}
END_TEST

START_TEST(test_quantile_with_many_trials)
{
    /* 30 trials with epoch-1 values 1..30 (minimize); eta 3: index int(30/3) = 10 -> 11. Trials
     * above 11 stop, the rest continue: two thirds stopped */
    double vals[30];
    sweep_history all[30];
    for (int i = 0; i < 30; i++) {
        vals[i] = i + 1;
        all[i] = hist(&vals[i], 1, SWEEP_TRIAL_RUNNING);
    }
    sweep_hyperband hb = {.enabled = 1, .min_iter = 1, .eta = 3, .strict = 1};
    int stopped = 0;
    for (int i = 0; i < 30; i++) {
        sweep_hyperband_decision dec;
        ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, all, 30, i, &dec, err, sizeof err) == 0);
        ck_assert(dec.threshold == 11);
        ck_assert_int_eq(dec.stop, vals[i] > 11);
        stopped += dec.stop;
    }
    ck_assert_int_eq(stopped, 19);
    /* bad input */
    sweep_hyperband_decision dec;
    ck_assert(sweep_hyperband_decide(&hb, SWEEP_MINIMIZE, all, 30, 30, &dec, err, sizeof err) == -1);
    ck_assert_msg(strstr(err, "trial 30"), "%s", err);
    sweep_hyperband none = {.enabled = 1, .max_iter = 2, .s = 1, .eta = 3};
    ck_assert(sweep_hyperband_decide(&none, SWEEP_MINIMIZE, all, 30, 0, &dec, err, sizeof err) == -1);
    ck_assert_msg(strstr(err, "no band"), "%s", err);
}
END_TEST

START_TEST(test_spec_to_decision)
{
    /* the spec's early_terminate reaches the decision unchanged */
    const char *text = "method: random\nmetric: {name: val_accuracy, goal: maximize}\n"
                       "early_terminate: {type: hyperband, max_iter: 27, s: 2, eta: 3, strict: "
                       "false}\nparameters:\n  dropout: {min: 0.1, max: 0.5}\n";
    sweep_spec *s = sweep_spec_parse(text, strlen(text), "sweep.yaml", err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert(s->hyperband.enabled && s->hyperband.max_iter == 27 && s->hyperband.s == 2);
    ck_assert(s->hyperband.strict == 0 && s->hyperband.eta == 3);
    int b[8];
    ck_assert_int_eq(sweep_hyperband_bands(&s->hyperband, b, 8), 2);
    ck_assert(b[0] == 3 && b[1] == 9);
    sweep_spec_destroy(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hyperband");
    TCase *tc = tcase_create("hyperband");
    tcase_add_test(tc, test_bands);
    tcase_add_test(tc, test_wandb_doctest);
    tcase_add_test(tc, test_strict_and_goal);
    tcase_add_test(tc, test_quantile_with_many_trials);
    tcase_add_test(tc, test_spec_to_decision);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
