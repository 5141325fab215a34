/* hyperband.c: early termination as wandb's hyperband_stopping.py decides it. Bands are epoch
 * counts; at each band the threshold is the 1/eta quantile (sorted(values)[int(n / eta)]) of every
 * trial's metric at that epoch, and a running trial is stopped when its value at the last band it
 * has reached (strict), or its best value so far (not strict), is worse than that threshold.
 * Stateless: the caller passes the histories each time. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

int sweep_hyperband_bands(const sweep_hyperband *hb, int *bands, int max_bands)
{
    int n = 0;
    if (hb->max_iter > 0 && hb->s > 0) {
        double band = hb->max_iter;
        int tmp[1024];
        for (int i = 0; i < hb->s && n < 1024; i++) {
            band /= hb->eta;
            if (band < 1) break;
            tmp[n++] = (int)band;
        }
        /* wandb sorts ascending; they were made descending */
        int out = 0;
        for (int i = n - 1; i >= 0 && out < max_bands; i--)
            bands[out++] = tmp[i];
        return out;
    }
    if (hb->min_iter > 0) {
        /* wandb makes 100; past int range they are unreachable anyway */
        double band = hb->min_iter;
        for (int i = 0; i < 100 && n < max_bands && band < 2e9; i++) {
            bands[n++] = (int)band;
            band *= hb->eta;
        }
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Metric at epoch i in minimisation terms; a NaN or infinite metric is the worst there is. */
static double value_at(const sweep_history *h, int i, int sign)
{
    double v = sign * h->metric[i];
    return isfinite(v) ? v : INFINITY;
}

int sweep_hyperband_decide(const sweep_hyperband *hb, sweep_goal goal, const sweep_history *all, int nall,
                           int which, sweep_hyperband_decision *out, char *err, size_t errlen)
{
    out->stop = 0, out->band = -1, out->value = NAN, out->threshold = NAN;
    if (which < 0 || which >= nall)
        return sweep_fail(err, errlen, "hyperband: trial %d is not among the %d trials.", which, nall);
    int bands[128];
    int nb = sweep_hyperband_bands(hb, bands, 128);
    if (nb < 1)
        return sweep_fail(err, errlen,
                          "hyperband: early_terminate gives no band of at least one "
                          "epoch.");
    const sweep_history *me = &all[which];
    int sign = goal == SWEEP_MAXIMIZE ? -1 : 1;
    /* the last band this trial has reached */
    int b = -1;
    for (int i = 0; i < nb && bands[i] <= me->len; i++)
        b = i;
    if (b < 0 || me->status != SWEEP_TRIAL_RUNNING) return 0;
    int band = bands[b];
    double *vals = malloc((size_t)nall * sizeof *vals);
    if (!vals) return sweep_fail(err, errlen, "hyperband: out of host memory.");
    int n = 0;
    for (int t = 0; t < nall; t++)
        if (all[t].len >= band) vals[n++] = value_at(&all[t], band - 1, sign);
    qsort(vals, (size_t)n, sizeof *vals, cmp_double);
    out->threshold = vals[(int)((1.0 / hb->eta) * n)];
    free(vals);
    if (hb->strict) {
        out->value = value_at(me, band - 1, sign);
    } else {
        /* wandb's conservative test: the best value so far, over the whole history */
        out->value = INFINITY;
        for (int i = 0; i < me->len; i++)
            if (value_at(me, i, sign) < out->value) out->value = value_at(me, i, sign);
    }
    out->band = band;
    out->stop = out->value > out->threshold;
    return 0;
}
