/* grid.c: grid search's enumeration, as wandb's grid_search.py: the Cartesian product of every
 * parameter's values, parameters sorted by name with the first varying slowest (itertools.product
 * order). int_uniform expands to min..max, q_uniform to numpy's arange(min, max, q): [min, max)
 * in steps of q. Points are addressed by index so a search can skip the ones already run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* A grid larger than this is a mistake in the file, not a sweep anyone will finish. */
#define GRID_MAX_POINTS 100000000LL

long long sweep_grid_param_count(const sweep_param *p)
{
    switch (p->dist) {
    case SWEEP_DIST_CONSTANT:
        return 1;
    case SWEEP_DIST_CATEGORICAL:
        return p->probs ? 0 : p->nvalues;
    case SWEEP_DIST_INT_UNIFORM:
        return (long long)(p->max - p->min) + 1;
    case SWEEP_DIST_Q_UNIFORM: {
        /* numpy's arange length, less the float noise that makes arange(0.1, 0.4, 0.1) end at
         * 0.4: the documented range is [min, max) */
        double n = ceil((p->max - p->min) / p->q - 1e-9);
        return n > (double)GRID_MAX_POINTS ? GRID_MAX_POINTS + 1 : (long long)n;
    }
    default:
        return 0;
    }
}

void sweep_grid_param_value(const sweep_param *p, long long k, sweep_value *out)
{
    switch (p->dist) {
    case SWEEP_DIST_CONSTANT:
    case SWEEP_DIST_CATEGORICAL:
        *out = p->values[k];
        out->index = (int)k;
        return;
    case SWEEP_DIST_INT_UNIFORM:
        sweep_value_from_number(p, p->min + (double)k, out);
        break;
    default:
        sweep_value_from_number(p, p->min + (double)k * p->q, out);
        break;
    }
    out->index = (int)k;
}

long long sweep_grid_size(const sweep_spec *spec, char *err, size_t errlen)
{
    long long total = 1;
    for (int i = 0; i < spec->nparams; i++) {
        const sweep_param *p = &spec->params[i];
        long long n = sweep_grid_param_count(p);
        if (n <= 0)
            return sweep_fail(err, errlen, "grid cannot enumerate parameter '%s' (%s).", p->name,
                              sweep_dist_name(p->dist));
        if (n > GRID_MAX_POINTS || total > GRID_MAX_POINTS / n)
            return sweep_fail(err, errlen,
                              "the grid has more than %lld points (parameter '%s' "
                              "alone has %lld); narrow it or use random or bayes.",
                              GRID_MAX_POINTS, p->name, n);
        total *= n;
    }
    return total;
}

int sweep_grid_point(const sweep_spec *spec, long long index, sweep_param_values *out, char *err,
                     size_t errlen)
{
    long long size = sweep_grid_size(spec, err, errlen);
    if (size < 0) return -1;
    if (index < 0 || index >= size)
        return sweep_fail(err, errlen, "grid point %lld is outside the grid of %lld points.", index, size);
    out->n = spec->nparams;
    /* mixed radix with the last parameter as the lowest digit */
    for (int i = spec->nparams - 1; i >= 0; i--) {
        long long n = sweep_grid_param_count(&spec->params[i]);
        sweep_grid_param_value(&spec->params[i], index % n, &out->v[i]);
        index /= n;
    }
    return 0;
}

/* The position of one value in a parameter's grid list, or -1. */
static long long grid_digit(const sweep_param *p, const sweep_value *v)
{
    switch (p->dist) {
    case SWEEP_DIST_CONSTANT:
    case SWEEP_DIST_CATEGORICAL:
        if (v->index >= 0 && v->index < p->nvalues && strcmp(p->values[v->index].text, v->text) == 0)
            return v->index;
        for (int k = 0; k < p->nvalues; k++)
            if (strcmp(p->values[k].text, v->text) == 0) return k;
        return -1;
    case SWEEP_DIST_INT_UNIFORM: {
        double k = v->num - p->min;
        return k >= 0 && k <= p->max - p->min && k == floor(k) ? (long long)k : -1;
    }
    case SWEEP_DIST_Q_UNIFORM: {
        if (!isfinite(v->num)) return -1;
        double k = nearbyint((v->num - p->min) / p->q);
        /* values went through text at 15 digits: compare as the text would */
        sweep_value g;
        if (k < 0 || k >= (double)sweep_grid_param_count(p)) return -1;
        sweep_value_from_number(p, p->min + k * p->q, &g);
        return strcmp(g.text, v->text) == 0 || fabs(g.num - v->num) <= 1e-12 * fmax(1, fabs(g.num))
                   ? (long long)k
                   : -1;
    }
    default:
        return -1;
    }
}

long long sweep_grid_index(const sweep_spec *spec, const sweep_param_values *vals)
{
    if (vals->n != spec->nparams) return -1;
    long long index = 0;
    for (int i = 0; i < spec->nparams; i++) {
        long long d = grid_digit(&spec->params[i], &vals->v[i]);
        if (d < 0) return -1;
        index = index * sweep_grid_param_count(&spec->params[i]) + d;
    }
    return index;
}
