/* bayes.c: wandb's Bayesian search (bayes_search.py). Past trials map into the unit cube by each
 * parameter's CDF (categorical by index); their metrics, negated when maximising, with failed and
 * killed trials given the worst metric seen, are standardised and fitted by a Gaussian process
 * (gp.c). Running trials are then added with the fit's predicted value (so parallel proposals
 * spread out) and the process is fitted again. 1000 uniform candidates are scored by expected
 * improvement over the best metric and the best one, mapped back through the ppf, is proposed.
 * With fewer than two ended trials, or a length scale stuck at its bounds (a bad fit), the
 * proposal is random, as in wandb.
 *
 * Where cltrain differs from wandb, on purpose: candidates are scored at the point their values
 * map back to (a categorical or integer draw snaps to its CDF value, where past trials sit); the
 * incumbent for expected improvement includes the running trials' predicted values (so a running
 * trial is not proposed again); the noise variance is fitted, not fixed at 1e-7; a trial stopped
 * by hyperband counts with its best metric so far; over 100 ended trials a subset is drawn
 * without replacement. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_SAMPLES 100 /* GP cost is cubic: wandb fits at most this many trials */
#define CANDIDATES 1000
#define STD_EPS 1e-6 /* wandb's STD_NUMERICAL_STABILITY_EPSILON */

static int ended(sweep_trial_status s)
{
    return s != SWEEP_TRIAL_RUNNING;
}

static void standardize(const double *y, int n, double *out, double *mean, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += y[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (y[i] - m) * (y[i] - m);
    *mean = m;
    *sd = sqrt(v / n) + STD_EPS;
    for (int i = 0; i < n; i++)
        out[i] = (y[i] - m) / *sd;
}

/* Values for a point u of the searchable dimensions (constants keep their value). */
static void values_at(const sweep_spec *spec, const int *dims, int d, const double *u,
                      sweep_param_values *out)
{
    out->n = spec->nparams;
    for (int i = 0; i < spec->nparams; i++)
        if (!sweep_param_searchable(&spec->params[i])) sweep_param_ppf(&spec->params[i], 0, &out->v[i]);
    for (int j = 0; j < d; j++)
        sweep_param_ppf(&spec->params[dims[j]], u[j], &out->v[dims[j]]);
}

int sweep_bayes_propose(const sweep_spec *spec, const sweep_trial_result *results, int nresults, sweep_rng *r,
                        sweep_param_values *out, char *err, size_t errlen)
{
    int dims[CFG_KEY_COUNT], d = 0;
    for (int i = 0; i < spec->nparams; i++)
        if (sweep_param_searchable(&spec->params[i])) dims[d++] = i;
    int sign = spec->goal == SWEEP_MAXIMIZE ? -1 : 1; /* the GP minimises */

    /* the worst metric of the ended trials stands in for the ones that have none */
    double worst = -INFINITY;
    int nended = 0, nrunning = 0;
    for (int i = 0; i < nresults; i++) {
        if (results[i].values.n != spec->nparams)
            return sweep_fail(err, errlen,
                              "%s: trial %d has %d parameter values but the sweep has "
                              "%d parameters.",
                              spec->path, i, results[i].values.n, spec->nparams);
        if (ended(results[i].status)) {
            nended++;
            double m = sign * results[i].metric;
            if (isfinite(m) && m > worst) worst = m;
        } else {
            nrunning++;
        }
    }
    if (!isfinite(worst)) worst = 0; /* wandb's failed_val */
    if (nended < 2) return sweep_random_propose(spec, r, out, err, errlen);

    int ns = nended < MAX_SAMPLES ? nended : MAX_SAMPLES;
    int nc = nrunning < MAX_SAMPLES - 5 ? nrunning : MAX_SAMPLES - 5;
    int *ended_idx = malloc((size_t)nended * sizeof *ended_idx);
    double *x = malloc((size_t)(ns + nc) * d * sizeof *x);
    double *y = malloc((size_t)(ns + nc) * sizeof *y);
    double *yn = malloc((size_t)(ns + nc) * sizeof *yn);
    double *cand = malloc((size_t)CANDIDATES * d * sizeof *cand);
    double *ei = malloc((size_t)CANDIDATES * sizeof *ei);
    sweep_gp gp = {0};
    int rc = -1;
    if (!ended_idx || !x || !y || !yn || !cand || !ei) {
        sweep_fail(err, errlen, "out of host memory in bayes search.");
        goto done;
    }
    int k = 0;
    for (int i = 0; i < nresults; i++)
        if (ended(results[i].status)) ended_idx[k++] = i;
    /* over MAX_SAMPLES: a random subset (wandb draws with replacement; without wastes none) */
    for (int i = 0; i < ns && nended > MAX_SAMPLES; i++) {
        int j = i + (int)(sweep_rng_uniform(r) * (nended - i));
        if (j >= nended) j = nended - 1;
        int t = ended_idx[i];
        ended_idx[i] = ended_idx[j], ended_idx[j] = t;
    }
    double ymin = INFINITY;
    for (int s = 0; s < ns; s++) {
        const sweep_trial_result *t = &results[ended_idx[s]];
        for (int j = 0; j < d; j++)
            x[(size_t)s * d + j] = sweep_param_cdf(&spec->params[dims[j]], &t->values.v[dims[j]]);
        double m = sign * t->metric;
        int has = t->status == SWEEP_TRIAL_FINISHED || t->status == SWEEP_TRIAL_STOPPED;
        y[s] = has && isfinite(m) ? m : worst;
        if (y[s] < ymin) ymin = y[s];
    }
    double mean, sd;
    standardize(y, ns, yn, &mean, &sd);
    if (sweep_gp_fit(&gp, x, yn, ns, d, err, errlen)) goto done;
    if (nc > 0) {
        /* running trials: pretend they return what the fit predicts, then fit again */
        int c = 0;
        for (int i = 0; i < nresults && c < nc; i++) {
            if (ended(results[i].status)) continue;
            double *row = x + (size_t)(ns + c) * d;
            for (int j = 0; j < d; j++)
                row[j] = sweep_param_cdf(&spec->params[dims[j]], &results[i].values.v[dims[j]]);
            double pm, pv;
            sweep_gp_predict(&gp, row, &pm, &pv);
            y[ns + c] = pm * sd + mean;
            /* the incumbent includes the fantasies (the kriging believer): wandb keeps the best
             * ended trial only, so a running trial predicted to beat it keeps its expected
             * improvement and is proposed again */
            if (y[ns + c] < ymin) ymin = y[ns + c];
            c++;
        }
        sweep_gp_free(&gp);
        standardize(y, ns + nc, yn, &mean, &sd);
        if (sweep_gp_fit(&gp, x, yn, ns + nc, d, err, errlen)) goto done;
    }

    double best_norm = (ymin - mean) / sd;
    for (int c = 0; c < CANDIDATES; c++) {
        double *u = cand + (size_t)c * d;
        for (int j = 0; j < d; j++)
            u[j] = sweep_rng_uniform(r);
        /* score the point the candidate's values really are: wandb scores the raw uniform
         * draw, so every u in (1/n, 2/n] looks like a different, unexplored point although all
         * of them run the second category (and a running trial there never lowers their
         * score); mapping values back through the CDF puts them where past trials are */
        double snapped[CFG_KEY_COUNT];
        for (int j = 0; j < d; j++) {
            sweep_value v;
            sweep_param_ppf(&spec->params[dims[j]], u[j], &v);
            snapped[j] = sweep_param_cdf(&spec->params[dims[j]], &v);
        }
        double pm, pv;
        sweep_gp_predict(&gp, snapped, &pm, &pv);
        double psd = sqrt(pv);
        double z = -(pm - best_norm) / (psd + STD_EPS);
        ei[c] = -(pm - best_norm) * sweep_normal_cdf(z) + psd * exp(-0.5 * z * z) / sqrt(2 * M_PI);
    }
    /* a length scale at sklearn's bounds is a bad fit: wandb then takes a random candidate */
    int stuck = fabs(log(gp.length) - log(1e-5)) < 1e-4 || fabs(log(gp.length) - log(1e5)) < 1e-4;
    if (stuck) {
        int pick = (int)(sweep_rng_uniform(r) * CANDIDATES);
        for (int c = 0; c < CANDIDATES; c++)
            ei[c] = c == pick ? 1 : 0;
    }
    /* the best candidate whose values the config accepts (unbounded laws can leave a key's
     * range); if none does, a fresh random draw */
    for (int tries = 0; tries < CANDIDATES; tries++) {
        int best = -1;
        for (int c = 0; c < CANDIDATES; c++)
            if (!isnan(ei[c]) && (best < 0 || ei[c] > ei[best])) best = c;
        if (best < 0) break;
        values_at(spec, dims, d, cand + (size_t)best * d, out);
        if (sweep_values_fit_config(spec, out)) {
            rc = 0;
            goto done;
        }
        ei[best] = NAN;
    }
    rc = sweep_random_propose(spec, r, out, err, errlen);
done:
    sweep_gp_free(&gp);
    free(ended_idx);
    free(x);
    free(y);
    free(yn);
    free(cand);
    free(ei);
    return rc;
}
