/* distributions.c: every parameter distribution of wandb's sweep schema, as quantile function
 * (ppf: [0,1] -> value) and CDF (value -> [0,1]). Random search draws a uniform number and takes
 * the ppf; bayes maps past trials into the unit cube with the CDF and candidates back with the
 * ppf. The formulas follow wandb's src/sweeps/params.py (scipy's uniform, randint, norm, lognorm
 * and beta), including its conventions: categorical values map to (index+1)/n, q_* round the
 * continuous draw half-to-even to a multiple of q, and the old log forms take exponents. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- generator ---------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void sweep_rng_seed(sweep_rng *r, uint64_t seed, uint64_t stream)
{
    /* mixing the stream through splitmix keeps (seed, k) and (seed+1, k-1) unrelated */
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (stream * 0xD1B54A32D192ED03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

double sweep_rng_uniform(sweep_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    /* (k + 0.5) / 2^53: never exactly 0 or 1, where normal quantiles are infinite */
    return ((double)(result >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- special functions -------------------------------------------------------------------- */

double sweep_normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

double sweep_normal_ppf(double p)
{
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    /* Acklam's rational approximation (relative error 1e-9), then one Halley step on erfc to
     * reach double precision */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    double x;
    if (p < plow) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = sweep_normal_cdf(x) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

double sweep_beta_cdf(double x, double a, double b)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double bt = exp(lbt);
    /* the continued fraction converges fast on the side of the mean */
    if (x < (a + 1) / (a + b + 2)) return bt * beta_cf(a, b, x) / a;
    return 1 - bt * beta_cf(b, a, 1 - x) / b;
}

double sweep_beta_ppf(double u, double a, double b)
{
    if (u <= 0) return 0;
    if (u >= 1) return 1;
    /* the CDF is monotone on [0,1]: bisection is slow but cannot fail */
    double lo = 0, hi = 1;
    for (int i = 0; i < 200 && hi - lo > 1e-16; i++) {
        double mid = 0.5 * (lo + hi);
        if (sweep_beta_cdf(mid, a, b) < u)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- values ------------------------------------------------------------------------------- */

void sweep_value_from_number(const sweep_param *p, double x, sweep_value *out)
{
    const config_key *k = config_key_info(p->id);
    if (x == 0) x = 0; /* no "-0" */
    if (k->type == CONFIG_INT && isfinite(x))
        snprintf(out->text, sizeof out->text, "%lld", llround(x));
    else
        /* 15 digits hide the float noise of q * round(x / q) (0.30000000000000004) */
        snprintf(out->text, sizeof out->text, "%.15g", x);
    out->num = strtod(out->text, NULL);
    out->index = -1;
}

static double quantize(double x, double q)
{
    /* numpy's round is half-to-even, as nearbyint in the default rounding mode */
    return nearbyint(x / q) * q;
}

static int categorical_index(const sweep_param *p, double u)
{
    int n = p->nvalues;
    if (!p->probs) {
        /* scipy randint.ppf(u, 0, n): the smallest k with (k+1)/n >= u */
        int k = (int)ceil(u * n) - 1;
        return k < 0 ? 0 : k >= n ? n - 1 : k;
    }
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += p->probs[i];
        if (u < cum) return i;
    }
    /* u at (or above) a sum that rounding left just below 1: the last value that can occur */
    for (int i = n - 1; i >= 0; i--)
        if (p->probs[i] > 0) return i;
    return n - 1;
}

/* The continuous quantile before quantizing, for every numeric distribution. */
static double numeric_ppf(const sweep_param *p, double u)
{
    switch (p->dist) {
    case SWEEP_DIST_UNIFORM:
    case SWEEP_DIST_Q_UNIFORM:
        return p->min + u * (p->max - p->min);
    case SWEEP_DIST_LOG_UNIFORM:
    case SWEEP_DIST_Q_LOG_UNIFORM:
        return exp(p->min + u * (p->max - p->min));
    case SWEEP_DIST_LOG_UNIFORM_VALUES:
    case SWEEP_DIST_Q_LOG_UNIFORM_VALUES:
    case SWEEP_DIST_INV_LOG_UNIFORM_VALUES: {
        /* wandb's inv_log_uniform_values works out to this same law: 1/x log-uniform on
         * [1/max, 1/min] is x log-uniform on [min, max] */
        double lo = log(p->min), hi = log(p->max);
        return exp(lo + u * (hi - lo));
    }
    case SWEEP_DIST_INV_LOG_UNIFORM:
        return exp(-(p->min + (1 - u) * (p->max - p->min)));
    case SWEEP_DIST_NORMAL:
    case SWEEP_DIST_Q_NORMAL:
        return p->mu + p->sigma * sweep_normal_ppf(u);
    case SWEEP_DIST_LOG_NORMAL:
    case SWEEP_DIST_Q_LOG_NORMAL:
        return exp(p->mu + p->sigma * sweep_normal_ppf(u));
    case SWEEP_DIST_BETA:
    case SWEEP_DIST_Q_BETA:
        return sweep_beta_ppf(u, p->a, p->b);
    default:
        return NAN;
    }
}

static int is_quantized(sweep_dist d)
{
    return d == SWEEP_DIST_Q_UNIFORM || d == SWEEP_DIST_Q_LOG_UNIFORM ||
           d == SWEEP_DIST_Q_LOG_UNIFORM_VALUES || d == SWEEP_DIST_Q_NORMAL || d == SWEEP_DIST_Q_LOG_NORMAL ||
           d == SWEEP_DIST_Q_BETA;
}

void sweep_param_ppf(const sweep_param *p, double u, sweep_value *out)
{
    if (u < 0) u = 0;
    if (u > 1) u = 1;
    switch (p->dist) {
    case SWEEP_DIST_CONSTANT:
        *out = p->values[0];
        out->index = 0;
        return;
    case SWEEP_DIST_CATEGORICAL: {
        int i = categorical_index(p, u);
        *out = p->values[i];
        out->index = i;
        return;
    }
    case SWEEP_DIST_INT_UNIFORM: {
        double n = p->max - p->min + 1;
        double k = ceil(u * n) - 1 + p->min; /* scipy randint.ppf(u, min, max+1) */
        if (k < p->min) k = p->min;
        if (k > p->max) k = p->max;
        sweep_value_from_number(p, k, out);
        return;
    }
    default: {
        double x = numeric_ppf(p, u);
        if (is_quantized(p->dist)) x = quantize(x, p->q);
        sweep_value_from_number(p, x, out);
        return;
    }
    }
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* The categorical index of v: its own when set, else found by text. */
static int value_index(const sweep_param *p, const sweep_value *v)
{
    if (v->index >= 0 && v->index < p->nvalues) return v->index;
    for (int i = 0; i < p->nvalues; i++)
        if (strcmp(p->values[i].text, v->text) == 0) return i;
    return -1;
}

double sweep_param_cdf(const sweep_param *p, const sweep_value *v)
{
    double x = v->num;
    switch (p->dist) {
    case SWEEP_DIST_CONSTANT:
        return 0;
    case SWEEP_DIST_CATEGORICAL: {
        int i = value_index(p, v);
        if (i < 0) return 0; /* not a value of this sweep: wandb raises; the corner is harmless */
        if (!p->probs) return (double)(i + 1) / p->nvalues;
        double cum = 0;
        for (int j = 0; j <= i; j++)
            cum += p->probs[j];
        return clamp01(cum);
    }
    case SWEEP_DIST_INT_UNIFORM:
        return clamp01((floor(x) - p->min + 1) / (p->max - p->min + 1));
    case SWEEP_DIST_UNIFORM:
    case SWEEP_DIST_Q_UNIFORM:
        return clamp01((x - p->min) / (p->max - p->min));
    case SWEEP_DIST_LOG_UNIFORM:
    case SWEEP_DIST_Q_LOG_UNIFORM:
        return x > 0 ? clamp01((log(x) - p->min) / (p->max - p->min)) : 0;
    case SWEEP_DIST_LOG_UNIFORM_VALUES:
    case SWEEP_DIST_Q_LOG_UNIFORM_VALUES:
    case SWEEP_DIST_INV_LOG_UNIFORM_VALUES: {
        double lo = log(p->min), hi = log(p->max);
        return x > 0 ? clamp01((log(x) - lo) / (hi - lo)) : 0;
    }
    case SWEEP_DIST_INV_LOG_UNIFORM:
        return x > 0 ? clamp01(1 - (-log(x) - p->min) / (p->max - p->min)) : 0;
    case SWEEP_DIST_NORMAL:
    case SWEEP_DIST_Q_NORMAL:
        return sweep_normal_cdf((x - p->mu) / p->sigma);
    case SWEEP_DIST_LOG_NORMAL:
    case SWEEP_DIST_Q_LOG_NORMAL:
        return x > 0 ? sweep_normal_cdf((log(x) - p->mu) / p->sigma) : 0;
    case SWEEP_DIST_BETA:
    case SWEEP_DIST_Q_BETA:
        return sweep_beta_cdf(x, p->a, p->b);
    default:
        return 0;
    }
}

void sweep_param_sample(const sweep_param *p, sweep_rng *r, sweep_value *out)
{
    sweep_param_ppf(p, sweep_rng_uniform(r), out);
}

/* In sweep_dist order, NULL-terminated (the spec parser looks names up in it). */
const char *const sweep_dist_names[SWEEP_DIST_COUNT + 1] = {
    "constant",    "categorical",     "int_uniform",    "uniform",      "q_uniform",     "log_uniform",
    "log_uniform_values", "q_log_uniform", "q_log_uniform_values", "inv_log_uniform",
    "inv_log_uniform_values", "normal", "q_normal",     "log_normal",   "q_log_normal",  "beta",
    "q_beta",      NULL};

const char *sweep_dist_name(sweep_dist d)
{
    return (unsigned)d < SWEEP_DIST_COUNT ? sweep_dist_names[d] : "unknown";
}
