/* gp.c: the Gaussian process behind bayes search: a Matern nu=3/2 kernel with unit amplitude (as
 * wandb's sklearn GaussianProcessRegressor(kernel=Matern(nu=1.5)) on standardised targets), its
 * length scale and a noise variance chosen by maximum marginal likelihood, and a short Cholesky
 * factorisation to solve with. Sizes are small (at most ~100 trials), so plain O(n^3) loops in
 * double precision are fast enough and need no LAPACK. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sweep_cholesky(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double s = a[(size_t)j * n + j];
        for (int k = 0; k < j; k++)
            s -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(s > 0)) return -1; /* also catches NaN */
        double ljj = sqrt(s);
        a[(size_t)j * n + j] = ljj;
        for (int i = j + 1; i < n; i++) {
            double t = a[(size_t)i * n + j];
            for (int k = 0; k < j; k++)
                t -= a[(size_t)i * n + k] * a[(size_t)j * n + k];
            a[(size_t)i * n + j] = t / ljj;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            a[(size_t)i * n + j] = 0;
    return 0;
}

/* L z = b, in place. */
static void forward_solve(const double *l, int n, double *b)
{
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= l[(size_t)i * n + k] * b[k];
        b[i] = s / l[(size_t)i * n + i];
    }
}

void sweep_cholesky_solve(const double *l, int n, double *b)
{
    forward_solve(l, n, b);
    for (int i = n - 1; i >= 0; i--) { /* L^T x = z */
        double s = b[i];
        for (int k = i + 1; k < n; k++)
            s -= l[(size_t)k * n + i] * b[k];
        b[i] = s / l[(size_t)i * n + i];
    }
}

double sweep_matern32(double r, double length)
{
    double t = sqrt(3.0) * r / length;
    return (1 + t) * exp(-t);
}

static double dist(const double *a, const double *b, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++)
        s += (a[k] - b[k]) * (a[k] - b[k]);
    return sqrt(s);
}

/* Negative log marginal likelihood at (length, noise); leaves the factor in l and alpha.
 * INFINITY when the kernel matrix is not positive definite. */
static double neg_log_ml(const double *r, const double *y, int n, double length, double noise, double *l,
                         double *alpha)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double k = sweep_matern32(r[(size_t)i * n + j], length) + (i == j ? noise : 0);
            l[(size_t)i * n + j] = l[(size_t)j * n + i] = k;
        }
    if (sweep_cholesky(l, n)) return INFINITY;
    memcpy(alpha, y, (size_t)n * sizeof *alpha);
    sweep_cholesky_solve(l, n, alpha);
    double fit = 0, logdet = 0;
    for (int i = 0; i < n; i++) {
        fit += y[i] * alpha[i];
        logdet += log(l[(size_t)i * n + i]);
    }
    return 0.5 * fit + logdet + 0.5 * n * log(2 * M_PI);
}

int sweep_gp_fit(sweep_gp *gp, const double *x, const double *y, int n, int d, char *err, size_t errlen)
{
    memset(gp, 0, sizeof *gp);
    if (n < 1 || d < 1) return sweep_fail(err, errlen, "a Gaussian process needs data to fit.");
    gp->n = n, gp->d = d;
    gp->x = malloc((size_t)n * d * sizeof *gp->x);
    gp->l = malloc((size_t)n * n * sizeof *gp->l);
    gp->alpha = malloc((size_t)n * sizeof *gp->alpha);
    double *r = malloc((size_t)n * n * sizeof *r);
    if (!gp->x || !gp->l || !gp->alpha || !r) {
        free(r);
        sweep_gp_free(gp);
        return sweep_fail(err, errlen, "out of host memory fitting the Gaussian process.");
    }
    memcpy(gp->x, x, (size_t)n * d * sizeof *x);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            r[(size_t)i * n + j] = dist(x + (size_t)i * d, x + (size_t)j * d, d);

    /* a coarse grid over (log length, noise), then a golden-section search on log length at the
     * best noise: the likelihood is smooth in log length but can have a second, flat optimum, so
     * the grid picks the basin first */
    static const double noises[] = {1e-6, 1e-4, 1e-3, 1e-2, 1e-1};
    const double lo = log(1e-5), hi = log(1e5);
    const int steps = 40;
    double best = INFINITY, best_ll = 0, best_noise = noises[0];
    int best_step = 0;
    for (size_t v = 0; v < sizeof noises / sizeof noises[0]; v++)
        for (int s = 0; s <= steps; s++) {
            double ll = lo + (hi - lo) * s / steps;
            double f = neg_log_ml(r, y, n, exp(ll), noises[v], gp->l, gp->alpha);
            if (f < best) best = f, best_ll = ll, best_noise = noises[v], best_step = s;
        }
    if (!isfinite(best)) {
        free(r);
        sweep_gp_free(gp);
        return sweep_fail(err, errlen,
                          "the Gaussian process's kernel matrix is not positive "
                          "definite for any length scale (non-finite inputs?).");
    }
    double a = lo + (hi - lo) * (best_step > 0 ? best_step - 1 : 0) / steps;
    double b = lo + (hi - lo) * (best_step < steps ? best_step + 1 : steps) / steps;
    const double g = (sqrt(5.0) - 1) / 2;
    double c1 = b - g * (b - a), c2 = a + g * (b - a);
    double f1 = neg_log_ml(r, y, n, exp(c1), best_noise, gp->l, gp->alpha);
    double f2 = neg_log_ml(r, y, n, exp(c2), best_noise, gp->l, gp->alpha);
    for (int it = 0; it < 40; it++) {
        if (f1 < f2) {
            b = c2, c2 = c1, f2 = f1;
            c1 = b - g * (b - a);
            f1 = neg_log_ml(r, y, n, exp(c1), best_noise, gp->l, gp->alpha);
        } else {
            a = c1, c1 = c2, f1 = f2;
            c2 = a + g * (b - a);
            f2 = neg_log_ml(r, y, n, exp(c2), best_noise, gp->l, gp->alpha);
        }
    }
    double mid = 0.5 * (a + b);
    double fm = neg_log_ml(r, y, n, exp(mid), best_noise, gp->l, gp->alpha);
    if (fm <= best) best = fm, best_ll = mid;
    gp->length = exp(best_ll);
    gp->noise = best_noise;
    gp->log_ml = -neg_log_ml(r, y, n, gp->length, gp->noise, gp->l, gp->alpha);
    free(r);
    return 0;
}

void sweep_gp_predict(const sweep_gp *gp, const double *x, double *mean, double *var)
{
    int n = gp->n;
    double kbuf[128];
    double *k = n <= 128 ? kbuf : malloc((size_t)n * sizeof *k);
    if (!k) { /* no memory for a prediction: say "unknown", which EI treats as no better */
        *mean = 0, *var = 1;
        return;
    }
    double m = 0;
    for (int i = 0; i < n; i++) {
        k[i] = sweep_matern32(dist(x, gp->x + (size_t)i * gp->d, gp->d), gp->length);
        m += k[i] * gp->alpha[i];
    }
    forward_solve(gp->l, n, k);
    double v = 1;
    for (int i = 0; i < n; i++)
        v -= k[i] * k[i];
    *mean = m;
    *var = v > 0 ? v : 0;
    if (k != kbuf) free(k);
}

void sweep_gp_free(sweep_gp *gp)
{
    free(gp->x);
    free(gp->l);
    free(gp->alpha);
    gp->x = gp->l = gp->alpha = NULL;
}
