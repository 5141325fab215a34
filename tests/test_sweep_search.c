/* test_sweep_search.c: distributions (draws inside their support, quantiles where the law puts
 * them, known values of the special functions), the Cholesky factorisation and the Gaussian
 * process, grid order and exhaustion, seeded random search, and bayes beating random on a
 * synthetic objective. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/sweep.h"
#include "testutil.h"

static char err[1024];

static sweep_spec *parse(const char *text)
{
    sweep_spec *s = sweep_spec_parse(text, strlen(text), "sweep.yaml", err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- special functions ---------------------------------------------------------------------- */

START_TEST(test_special_functions)
{
    /* reference values from tables (scipy.stats.norm.ppf / beta.cdf agree) */
    ck_assert(fabs(sweep_normal_ppf(0.975) - 1.959963984540054) < 1e-12);
    ck_assert(fabs(sweep_normal_ppf(0.5)) < 1e-15);
    ck_assert(fabs(sweep_normal_ppf(1e-10) + 6.361340902404056) < 1e-9);
    ck_assert(fabs(sweep_normal_ppf(0.01) + 2.326347874040841) < 1e-12);
    ck_assert(fabs(sweep_normal_cdf(1.0) - 0.8413447460685429) < 1e-14);
    ck_assert(isinf(sweep_normal_ppf(0)) && sweep_normal_ppf(0) < 0);
    for (double u = 0.001; u < 1; u += 0.0123)
        ck_assert(fabs(sweep_normal_cdf(sweep_normal_ppf(u)) - u) < 1e-13);
    /* I_x(a, b): I_0.5(2, 3) = 11/16; I_x(1, 1) = x; I_x(a, 1) = x^a */
    ck_assert(fabs(sweep_beta_cdf(0.5, 2, 3) - 0.6875) < 1e-13);
    ck_assert(fabs(sweep_beta_cdf(0.3, 1, 1) - 0.3) < 1e-13);
    ck_assert(fabs(sweep_beta_cdf(0.7, 2.5, 1) - pow(0.7, 2.5)) < 1e-13);
    ck_assert(fabs(sweep_beta_cdf(0.2, 0.5, 0.5) - 2 / M_PI * asin(sqrt(0.2))) < 1e-12);
    for (double u = 0.01; u < 1; u += 0.07)
        ck_assert(fabs(sweep_beta_cdf(sweep_beta_ppf(u, 2, 5), 2, 5) - u) < 1e-12);

    /* the generator: open interval, seeded, streams differ */
    sweep_rng a, b, c;
    sweep_rng_seed(&a, 1, 0);
    sweep_rng_seed(&b, 1, 0);
    sweep_rng_seed(&c, 1, 1);
    int same_c = 0;
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double x = sweep_rng_uniform(&a);
        ck_assert(x > 0 && x < 1);
        ck_assert(x == sweep_rng_uniform(&b));
        same_c += x == sweep_rng_uniform(&c);
        sum += x;
    }
    ck_assert_int_eq(same_c, 0);
    ck_assert(fabs(sum / 10000 - 0.5) < 0.01);
}
END_TEST

/* ---- distributions -------------------------------------------------------------------------- */

typedef struct {
    const char *yaml; /* the parameter, on key `key` */
    const char *key;
    double lo, hi; /* support (inclusive) */
    double q;      /* draws are multiples of q (0: not quantized) */
    double median; /* the law's median (NAN: skip) */
} dist_case;

START_TEST(test_distributions_sample_where_they_should)
{
    const dist_case cases[] = {
        {"{distribution: uniform, min: 0.1, max: 0.5}", "dropout", 0.1, 0.5, 0, 0.3},
        {"{distribution: int_uniform, min: 3, max: 9}", "filter_size", 3, 9, 1, 6},
        {"{distribution: q_uniform, min: 0, max: 0.9, q: 0.1}", "dropout", 0, 0.9, 0.1, 0.45},
        {"{distribution: log_uniform, min: -9.2, max: -2.3}", "learning_rate", exp(-9.2), exp(-2.3), 0,
         exp(-5.75)},
        {"{distribution: log_uniform_values, min: 0.0001, max: 0.1}", "learning_rate", 1e-4, 0.1, 0,
         pow(10, -2.5)},
        {"{distribution: q_log_uniform, min: 2.77, max: 5.55, q: 16}", "batch_size", 16, 256, 16, NAN},
        {"{distribution: q_log_uniform_values, min: 16, max: 256, q: 16}", "batch_size", 16, 256, 16, 64},
        {"{distribution: inv_log_uniform, min: 2.3, max: 9.2}", "learning_rate", exp(-9.2), exp(-2.3), 0,
         exp(-5.75)},
        {"{distribution: inv_log_uniform_values, min: 0.0001, max: 0.1}", "learning_rate", 1e-4, 0.1, 0,
         pow(10, -2.5)},
        /* unbounded laws: the support is the real line (or above 0); draws straight from the law
         * are not truncated to the key's range (the search redraws those) */
        {"{distribution: normal, mu: 0.5, sigma: 0.1}", "momentum", -1e300, 1e300, 0, 0.5},
        {"{distribution: q_normal, mu: 0.5, sigma: 0.1, q: 0.05}", "momentum", -1e300, 1e300, 0.05, 0.5},
        {"{distribution: log_normal, mu: -1, sigma: 0.3}", "momentum", 0, 1e300, 0, exp(-1)},
        {"{distribution: q_log_normal, mu: 4, sigma: 0.5, q: 8}", "batch_size", 0, 1e300, 8, NAN},
        {"{distribution: beta, a: 2, b: 5}", "dropout", 0, 0.99, 0, 0.26444998329566},
        {"{distribution: q_beta, a: 2, b: 5, q: 0.05}", "dropout", 0, 0.99, 0.05, NAN},
    };
    const int n = 10000;
    double *x = tu_alloc(n * sizeof *x);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[256];
        snprintf(text, sizeof text, "method: random\nparameters:\n  %s: %s\n", cases[c].key, cases[c].yaml);
        sweep_spec *s = parse(text);
        const sweep_param *p = &s->params[0];
        sweep_rng r;
        sweep_rng_seed(&r, 123, c);
        int below = 0;
        for (int i = 0; i < n; i++) {
            sweep_value v;
            sweep_param_sample(p, &r, &v);
            x[i] = v.num;
            ck_assert_msg(v.num >= cases[c].lo - 1e-12 && v.num <= cases[c].hi + 1e-12,
                          "%s: %s outside [%g, %g]", cases[c].yaml, v.text, cases[c].lo, cases[c].hi);
            ck_assert(strtod(v.text, NULL) == v.num);
            if (cases[c].q > 0) {
                double k = v.num / cases[c].q;
                ck_assert_msg(fabs(k - nearbyint(k)) < 1e-9, "%s: %s is not a multiple of q", cases[c].yaml,
                              v.text);
            }
            /* the CDF is the inverse of the ppf: a continuous draw maps to a uniform */
            if (cases[c].q == 0) {
                double u = sweep_param_cdf(p, &v);
                ck_assert(u >= 0 && u <= 1);
                below += u <= 0.25;
            }
        }
        if (cases[c].q == 0)
            ck_assert_msg(fabs(below / (double)n - 0.25) < 0.02, "%s: CDF gives %g below 0.25", cases[c].yaml,
                          below / (double)n);
        if (!isnan(cases[c].median)) {
            qsort(x, n, sizeof *x, cmp_double);
            double med = x[n / 2], want = cases[c].median;
            /* the median of 10k draws is within ~1% of the law's spread; quantized laws round it
             * by up to q */
            double tol = 0.03 * (cases[c].hi - cases[c].lo) + cases[c].q;
            if (cases[c].lo > 0 && cases[c].hi / cases[c].lo > 100) {
                /* log laws: judge on a log scale (0.02 of the range in quantile terms is four
                 * standard errors of a 10k-draw median) */
                med = log(med);
                want = log(cases[c].median);
                tol = 0.02 * log(cases[c].hi / cases[c].lo);
            }
            if (cases[c].key[0] == 'm') tol = 0.01; /* momentum: normal laws, narrow */
            ck_assert_msg(fabs(med - want) <= tol, "%s: median %g, expected %g", cases[c].yaml, med, want);
        }
        sweep_spec_destroy(s);
    }
    free(x);
}
END_TEST

START_TEST(test_normal_moments_and_discrete_frequencies)
{
    sweep_spec *s = parse("method: random\nparameters:\n"
                          "  momentum: {distribution: normal, mu: 0.5, sigma: 0.1}\n"
                          "  filter_size: {min: 1, max: 6}\n"
                          "  activation: {values: [relu, gelu, silu, mish], probabilities: "
                          "[0.1, 0.2, 0.3, 0.4]}\n"
                          "  optimizer: {values: [adam, sgd, nadam]}\n");
    /* sorted: activation, filter_size, momentum, optimizer */
    const int n = 20000;
    double sum = 0, sum2 = 0;
    int fs[7] = {0}, act[4] = {0}, opt[3] = {0};
    sweep_rng r;
    sweep_rng_seed(&r, 9, 0);
    for (int i = 0; i < n; i++) {
        sweep_value v;
        sweep_param_sample(&s->params[2], &r, &v);
        sum += v.num, sum2 += v.num * v.num;
        sweep_param_sample(&s->params[1], &r, &v);
        ck_assert(v.num >= 1 && v.num <= 6 && v.num == floor(v.num));
        fs[(int)v.num]++;
        sweep_param_sample(&s->params[0], &r, &v);
        ck_assert(v.index >= 0 && v.index < 4);
        ck_assert_str_eq(v.text, s->params[0].values[v.index].text);
        act[v.index]++;
        sweep_param_sample(&s->params[3], &r, &v);
        opt[v.index]++;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    ck_assert_msg(fabs(mean - 0.5) < 0.003 && fabs(sd - 0.1) < 0.003, "%g %g", mean, sd);
    for (int k = 1; k <= 6; k++)
        ck_assert(fabs(fs[k] / (double)n - 1 / 6.0) < 0.012);
    for (int k = 0; k < 4; k++)
        ck_assert(fabs(act[k] / (double)n - 0.1 * (k + 1)) < 0.012);
    for (int k = 0; k < 3; k++)
        ck_assert(fabs(opt[k] / (double)n - 1 / 3.0) < 0.012);
    /* wandb's categorical CDF: (index+1)/n, or the cumulative probability */
    sweep_value v = s->params[3].values[1];
    ck_assert(fabs(sweep_param_cdf(&s->params[3], &v) - 2 / 3.0) < 1e-15);
    v = s->params[0].values[2];
    ck_assert(fabs(sweep_param_cdf(&s->params[0], &v) - 0.6) < 1e-12);
    /* and the ppf inverts it at the bin edges */
    sweep_param_ppf(&s->params[3], 2 / 3.0, &v);
    ck_assert_int_eq(v.index, 1);
    sweep_param_ppf(&s->params[3], 2 / 3.0 + 1e-9, &v);
    ck_assert_int_eq(v.index, 2);
    sweep_param_ppf(&s->params[3], 0, &v);
    ck_assert_int_eq(v.index, 0);
    /* int_uniform: P(X <= 3) over 1..6 */
    sweep_value_from_number(&s->params[1], 3, &v);
    ck_assert(fabs(sweep_param_cdf(&s->params[1], &v) - 0.5) < 1e-15);
    sweep_spec_destroy(s);
}
END_TEST

/* ---- Cholesky and the GP ------------------------------------------------------------------ */

START_TEST(test_cholesky)
{
    uint64_t st = 77;
    for (int n = 1; n <= 12; n += 3) {
        double *b = tu_alloc(n * n * sizeof *b), *a = tu_alloc(n * n * sizeof *a);
        double *l = tu_alloc(n * n * sizeof *l), *x = tu_alloc(n * sizeof *x);
        double *rhs = tu_alloc(n * sizeof *rhs);
        for (int i = 0; i < n * n; i++)
            b[i] = tu_uniform(&st) - 0.5;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = i == j ? 0.5 : 0;
                for (int k = 0; k < n; k++)
                    s += b[i * n + k] * b[j * n + k];
                a[i * n + j] = s;
            }
        memcpy(l, a, n * n * sizeof *l);
        ck_assert_int_eq(sweep_cholesky(l, n), 0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (j > i) ck_assert(l[i * n + j] == 0);
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += l[i * n + k] * l[j * n + k];
                ck_assert(fabs(s - a[i * n + j]) < 1e-12);
            }
        for (int i = 0; i < n; i++)
            x[i] = rhs[i] = tu_uniform(&st) + 0.5;
        sweep_cholesky_solve(l, n, x);
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += a[i * n + k] * x[k];
            ck_assert(fabs(s - rhs[i]) < 1e-10);
        }
        free(b), free(a), free(l), free(x), free(rhs);
    }
    /* not positive definite: an indefinite matrix, a singular one, a NaN */
    double ind[4] = {1, 2, 2, 1}, sing[4] = {1, 1, 1, 1}, nan[1] = {NAN};
    ck_assert_int_eq(sweep_cholesky(ind, 2), -1);
    ck_assert_int_eq(sweep_cholesky(sing, 2), -1);
    ck_assert_int_eq(sweep_cholesky(nan, 1), -1);
    /* the kernel */
    ck_assert(sweep_matern32(0, 1) == 1);
    ck_assert(fabs(sweep_matern32(1, 2) - (1 + sqrt(3) / 2) * exp(-sqrt(3) / 2)) < 1e-15);
}
END_TEST

START_TEST(test_gaussian_process)
{
    /* a smooth 1-D function: the fit interpolates it and predicts between the points */
    enum { N = 12 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = i / (double)(N - 1);
        y[i] = sin(6 * x[i]);
    }
    sweep_gp gp;
    ck_assert_msg(sweep_gp_fit(&gp, x, y, N, 1, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gp.length > 0.05 && gp.length < 10, "length %g", gp.length);
    for (int i = 0; i < N; i++) {
        double m, v;
        sweep_gp_predict(&gp, &x[i], &m, &v);
        ck_assert_msg(fabs(m - y[i]) < 0.02 && v < 0.01, "at %g: %g vs %g (var %g)", x[i], m, y[i], v);
    }
    for (double t = 0.03; t < 1; t += 0.09) {
        double m, v;
        sweep_gp_predict(&gp, &t, &m, &v);
        ck_assert_msg(fabs(m - sin(6 * t)) < 0.05, "between points at %g: %g vs %g", t, m, sin(6 * t));
    }
    /* far from the data the prediction falls back to the prior: mean 0, variance 1 */
    double far = 40, m, v;
    sweep_gp_predict(&gp, &far, &m, &v);
    ck_assert(fabs(m) < 1e-6 && fabs(v - 1) < 1e-6);
    /* the fitted length scale beats its neighbours on the likelihood */
    double best = gp.log_ml;
    sweep_gp_free(&gp);
    ck_assert(gp.x == NULL);

    /* noisy data: the fit chooses a noise term above the smallest */
    uint64_t st = 5;
    double xn[40], yn[40];
    for (int i = 0; i < 40; i++) {
        xn[i] = tu_uniform(&st);
        yn[i] = xn[i] + 0.3 * (tu_uniform(&st) - 0.5);
    }
    ck_assert(sweep_gp_fit(&gp, xn, yn, 40, 1, err, sizeof err) == 0);
    ck_assert_msg(gp.noise >= 1e-3, "noise %g", gp.noise);
    sweep_gp_free(&gp);
    (void)best;

    /* bad input: nothing to fit, non-finite inputs */
    ck_assert(sweep_gp_fit(&gp, x, y, 0, 1, err, sizeof err) == -1);
    double bad[2] = {0, NAN}, by[2] = {1, 2};
    ck_assert(sweep_gp_fit(&gp, bad, by, 2, 1, err, sizeof err) == -1);
    ck_assert_msg(strstr(err, "positive definite"), "%s", err);
}
END_TEST

/* ---- grid ---------------------------------------------------------------------------------- */

START_TEST(test_grid_order_and_exhaustion)
{
    sweep_spec *s = parse("method: grid\nparameters:\n"
                          "  optimizer: {values: [sgd, adam]}\n"
                          "  activation: {values: [relu, gelu, silu]}\n"
                          "  filter_size: {min: 3, max: 4}\n"
                          "  dropout: {distribution: q_uniform, min: 0.1, max: 0.4, q: 0.1}\n"
                          "  epochs: {value: 2}\n");
    /* sorted: activation(3) dropout(3: 0.1 0.2 0.3) epochs(1) filter_size(2) optimizer(2) */
    ck_assert_int_eq((int)sweep_grid_size(s, err, sizeof err), 36);
    sweep_search *q = sweep_search_create(s, 0, err, sizeof err);
    ck_assert_msg(q != NULL, "%s", err);
    sweep_trial_result *res = tu_alloc(40 * sizeof *res);
    char text[512];
    int n = 0;
    for (;;) {
        config cfg;
        int rc = sweep_search_next(q, res, n, &cfg, &res[n].values, err, sizeof err);
        ck_assert_msg(rc >= 0, "%s", err);
        if (rc == 1) break;
        ck_assert(n < 36);
        res[n].status = SWEEP_TRIAL_FINISHED;
        res[n].metric = n;
        ck_assert_int_eq(config_int(&cfg, CFG_EPOCHS), 2);
        ck_assert_str_eq(config_str(&cfg, CFG_OPTIMIZER), res[n].values.v[4].text);
        n++;
    }
    ck_assert_int_eq(n, 36);
    /* first name varies slowest, last fastest */
    sweep_param_values_format(s, &res[0].values, " ", text, sizeof text);
    ck_assert_str_eq(text, "activation=relu dropout=0.1 epochs=2 filter_size=3 optimizer=sgd");
    sweep_param_values_format(s, &res[1].values, " ", text, sizeof text);
    ck_assert_str_eq(text, "activation=relu dropout=0.1 epochs=2 filter_size=3 optimizer=adam");
    sweep_param_values_format(s, &res[2].values, " ", text, sizeof text);
    ck_assert_str_eq(text, "activation=relu dropout=0.1 epochs=2 filter_size=4 optimizer=sgd");
    sweep_param_values_format(s, &res[4].values, " ", text, sizeof text);
    ck_assert_str_eq(text, "activation=relu dropout=0.2 epochs=2 filter_size=3 optimizer=sgd");
    sweep_param_values_format(s, &res[35].values, " ", text, sizeof text);
    ck_assert_str_eq(text, "activation=silu dropout=0.3 epochs=2 filter_size=4 optimizer=adam");
    /* all distinct */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            char a[512], b[512];
            sweep_param_values_format(s, &res[i].values, " ", a, sizeof a);
            sweep_param_values_format(s, &res[j].values, " ", b, sizeof b);
            ck_assert_str_ne(a, b);
        }
    /* still exhausted on a second call */
    sweep_param_values pv;
    ck_assert_int_eq(sweep_search_next(q, res, n, NULL, &pv, err, sizeof err), 1);
    sweep_search_destroy(q);

    /* a resumed search skips the points its old trials ran, wherever they are */
    q = sweep_search_create(s, 0, err, sizeof err);
    sweep_trial_result old[3] = {res[0], res[1], res[5]};
    ck_assert_int_eq(sweep_search_next(q, old, 3, NULL, &pv, err, sizeof err), 0);
    ck_assert_int_eq(sweep_grid_index(s, &pv), 2);
    old[2] = res[2];
    ck_assert_int_eq(sweep_search_next(q, old, 3, NULL, &pv, err, sizeof err), 0);
    ck_assert_int_eq(sweep_grid_index(s, &pv), 3);
    /* values read back from a trial's config find their grid point too */
    config cfg;
    ck_assert(sweep_spec_apply(s, &res[7].values, &cfg, err, sizeof err) == 0);
    ck_assert(sweep_param_values_from_config(s, &cfg, &pv, err, sizeof err) == 0);
    ck_assert_int_eq(sweep_grid_index(s, &pv), 7);
    /* out of range point */
    ck_assert_int_eq(sweep_grid_point(s, 36, &pv, err, sizeof err), -1);
    sweep_search_destroy(q);
    sweep_spec_destroy(s);
    free(res);

    /* numpy arange: [min, max) by q, e.g. 0, 0.25, 0.5 (not 0.75) */
    s = parse("method: grid\nparameters:\n  dropout: {distribution: q_uniform, min: 0, max: 0.75, "
              "q: 0.25}\n");
    ck_assert_int_eq((int)sweep_grid_size(s, err, sizeof err), 3);
    ck_assert(sweep_grid_point(s, 2, &pv, err, sizeof err) == 0);
    ck_assert_str_eq(pv.v[0].text, "0.5");
    sweep_spec_destroy(s);
    /* no parameters: one point */
    s = parse("method: grid\n");
    q = sweep_search_create(s, 0, err, sizeof err);
    ck_assert_int_eq(sweep_search_next(q, NULL, 0, NULL, &pv, err, sizeof err), 0);
    ck_assert_int_eq(sweep_search_next(q, NULL, 0, NULL, &pv, err, sizeof err), 1);
    sweep_search_destroy(q);
    sweep_spec_destroy(s);
}
END_TEST

/* ---- random ---------------------------------------------------------------------------------- */

START_TEST(test_random_is_seeded)
{
    sweep_spec *s = parse("method: random\nparameters:\n"
                          "  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: "
                          "0.1}\n  activation: {values: [relu, gelu]}\n"
                          "  dropout: {distribution: normal, mu: 0.05, sigma: 0.1}\n");
    sweep_trial_result *res = tu_alloc(20 * sizeof *res);
    char first[20][512];
    sweep_search *q = sweep_search_create(s, 11, err, sizeof err);
    for (int i = 0; i < 20; i++) {
        config cfg;
        ck_assert_msg(sweep_search_next(q, res, i, &cfg, &res[i].values, err, sizeof err) == 0, "%s", err);
        res[i].status = SWEEP_TRIAL_RUNNING;
        res[i].metric = NAN;
        sweep_param_values_format(s, &res[i].values, " ", first[i], sizeof first[i]);
        /* the normal's tail below 0 is redrawn: dropout stays in the key's range */
        ck_assert(config_float(&cfg, CFG_DROPOUT) >= 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(first[i], first[j]);
    }
    sweep_search_destroy(q);
    /* the same seed proposes the same trials; a resumed search continues the sequence */
    q = sweep_search_create(s, 11, err, sizeof err);
    sweep_param_values pv;
    char text[512];
    ck_assert(sweep_search_next(q, res, 0, NULL, &pv, err, sizeof err) == 0);
    sweep_param_values_format(s, &pv, " ", text, sizeof text);
    ck_assert_str_eq(text, first[0]);
    ck_assert(sweep_search_next(q, res, 13, NULL, &pv, err, sizeof err) == 0);
    sweep_param_values_format(s, &pv, " ", text, sizeof text);
    ck_assert_str_eq(text, first[13]);
    /* a caller that passes no new trials still gets a new proposal */
    ck_assert(sweep_search_next(q, res, 13, NULL, &pv, err, sizeof err) == 0);
    sweep_param_values_format(s, &pv, " ", text, sizeof text);
    ck_assert_str_eq(text, first[14]);
    sweep_search_destroy(q);
    /* another seed, other trials */
    q = sweep_search_create(s, 12, err, sizeof err);
    ck_assert(sweep_search_next(q, res, 0, NULL, &pv, err, sizeof err) == 0);
    sweep_param_values_format(s, &pv, " ", text, sizeof text);
    ck_assert_str_ne(text, first[0]);
    /* bad input: trials without the array */
    ck_assert_int_eq(sweep_search_next(q, NULL, 3, NULL, &pv, err, sizeof err), -1);
    sweep_search_destroy(q);
    sweep_spec_destroy(s);
    free(res);
}
END_TEST

/* ---- bayes ----------------------------------------------------------------------------------- */

/* Branin on [-5, 10] x [0, 15] (minimum 0.397887), from weight_decay in [0, 10] and
 * learning_rate in [0.01, 10]. */
static double branin(const sweep_param_values *v)
{
    /* sorted: learning_rate, weight_decay */
    double x1 = -5 + 1.5 * v->v[1].num, x2 = 1.5 * v->v[0].num;
    double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
    return pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * cos(x1) + 10;
}

static double run_search(const char *method, const char *goal, uint64_t seed, int trials, int with_failures)
{
    char text[512];
    snprintf(text, sizeof text,
             "method: %s\nmetric: {name: val_loss, goal: %s}\nparameters:\n"
             "  weight_decay: {min: 0.0, max: 10.0}\n  learning_rate: {min: 0.01, max: 10.0}\n",
             method, goal);
    sweep_spec *s = parse(text);
    sweep_search *q = sweep_search_create(s, seed, err, sizeof err);
    ck_assert_msg(q != NULL, "%s", err);
    sweep_trial_result *res = tu_alloc(trials * sizeof *res);
    double best = INFINITY;
    double sign = strcmp(goal, "maximize") == 0 ? -1 : 1;
    for (int i = 0; i < trials; i++) {
        ck_assert_msg(sweep_search_next(q, res, i, NULL, &res[i].values, err, sizeof err) == 0, "%s", err);
        double f = branin(&res[i].values);
        res[i].status = SWEEP_TRIAL_FINISHED;
        res[i].metric = sign * f;
        /* some trials fail where x2 is high: bayes imputes the worst metric there */
        if (with_failures && res[i].values.v[0].num > 8.5) {
            res[i].status = SWEEP_TRIAL_FAILED;
            res[i].metric = NAN;
            continue;
        }
        if (f < best) best = f;
    }
    free(res);
    sweep_search_destroy(q);
    sweep_spec_destroy(s);
    return best;
}

START_TEST(test_bayes_beats_random)
{
    const int seeds = 6, trials = 25;
    double rnd = 0, bay = 0, bay_max = 0, bay_fail = 0;
    for (int k = 0; k < seeds; k++) {
        rnd += log(run_search("random", "minimize", 100 + k, trials, 0) - 0.397887) / seeds;
        bay += log(run_search("bayes", "minimize", 100 + k, trials, 0) - 0.397887) / seeds;
        bay_max += log(run_search("bayes", "maximize", 100 + k, trials, 0) - 0.397887) / seeds;
        bay_fail += log(run_search("bayes", "minimize", 100 + k, trials, 1) - 0.397887) / seeds;
    }
    /* the geometric mean of the regret (best found minus the minimum) over seeds */
    printf("Branin regret after %d trials, geometric mean over %d seeds: random %.4g, bayes %.4g, "
           "bayes maximizing -f %.4g, bayes with failures %.4g\n",
           trials, seeds, exp(rnd), exp(bay), exp(bay_max), exp(bay_fail));
    ck_assert_msg(bay < rnd - log(2), "bayes %g is not clearly better than random %g", exp(bay), exp(rnd));
    ck_assert_msg(bay_max < rnd - log(2), "maximizing -f: bayes %g vs random %g", exp(bay_max), exp(rnd));
    ck_assert_msg(bay_fail < rnd, "with failures: bayes %g vs random %g", exp(bay_fail), exp(rnd));
}
END_TEST

START_TEST(test_bayes_with_categoricals_and_running_trials)
{
    /* the metric depends on a categorical (gelu best) and a number: bayes finds the category */
    sweep_spec *s = parse("method: bayes\nmetric: {name: val_accuracy, goal: maximize}\n"
                          "parameters:\n  activation: {values: [relu, gelu, tanh, elu]}\n"
                          "  dropout: {min: 0.0, max: 0.9}\n  epochs: {value: 3}\n");
    sweep_search *q = sweep_search_create(s, 5, err, sizeof err);
    enum { T = 30 };
    sweep_trial_result *res = tu_alloc(T * sizeof *res);
    int gelu_late = 0;
    for (int i = 0; i < T; i++) {
        config cfg;
        ck_assert_msg(sweep_search_next(q, res, i, &cfg, &res[i].values, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(config_int(&cfg, CFG_EPOCHS), 3);
        const char *act = res[i].values.v[0].text;
        double d = res[i].values.v[1].num;
        res[i].status = SWEEP_TRIAL_FINISHED;
        res[i].metric = (strcmp(act, "gelu") == 0 ? 0.9 : 0.6) - (d - 0.3) * (d - 0.3);
        if (i >= T - 10) gelu_late += strcmp(act, "gelu") == 0;
    }
    ck_assert_msg(gelu_late >= 6, "only %d of the last 10 proposals chose gelu", gelu_late);

    /* running trials are conditioned on. After the first E trials (while the search still
     * explores): propose P with a dummy running trial far away
     * (tanh, dropout 0.9), then, from the same trials and draw stream, with P itself running.
     * Ignoring running trials would propose P again; conditioning on P's predicted value leaves
     * no expected improvement there, so the proposal moves. */
    enum { E = 6 };
    sweep_trial_result *more = tu_alloc((E + 1) * sizeof *more);
    memcpy(more, res, E * sizeof *res);
    more[E] = res[0];
    more[E].status = SWEEP_TRIAL_RUNNING;
    more[E].metric = NAN;
    more[E].values.v[0] = s->params[0].values[2];
    sweep_value_from_number(&s->params[1], 0.9, &more[E].values.v[1]);
    sweep_param_values p1, p2;
    sweep_search *qa = sweep_search_create(s, 77, err, sizeof err);
    sweep_search *qb = sweep_search_create(s, 77, err, sizeof err);
    ck_assert(sweep_search_next(qa, more, E + 1, NULL, &p1, err, sizeof err) == 0);
    more[E].values = p1;
    ck_assert(sweep_search_next(qb, more, E + 1, NULL, &p2, err, sizeof err) == 0);
    char t1[512], t2[512];
    sweep_param_values_format(s, &p1, " ", t1, sizeof t1);
    sweep_param_values_format(s, &p2, " ", t2, sizeof t2);
    ck_assert_str_ne(t1, t2);
    sweep_search_destroy(qa);
    sweep_search_destroy(qb);
    /* a trial whose values do not match the spec is an error */
    more[0].values.n = 1;
    sweep_param_values pv;
    ck_assert_int_eq(sweep_search_next(q, more, E, NULL, &pv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "parameter values"), "%s", err);
    free(more);
    free(res);
    sweep_search_destroy(q);
    sweep_spec_destroy(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sweep_search");
    TCase *tc = tcase_create("search");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_special_functions);
    tcase_add_test(tc, test_distributions_sample_where_they_should);
    tcase_add_test(tc, test_normal_moments_and_discrete_frequencies);
    tcase_add_test(tc, test_cholesky);
    tcase_add_test(tc, test_gaussian_process);
    tcase_add_test(tc, test_grid_order_and_exhaustion);
    tcase_add_test(tc, test_random_is_seeded);
    tcase_add_test(tc, test_bayes_beats_random);
    tcase_add_test(tc, test_bayes_with_categoricals_and_running_trials);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
