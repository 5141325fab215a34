/* internal.h: what the sweep module's files share and nobody else needs. */
#ifndef CLTRAIN_SWEEP_INTERNAL_H
#define CLTRAIN_SWEEP_INTERNAL_H

#include <stdarg.h>

/* room for one sentence from the config module */
#define SWEEP_ERR_LEN 1024

#include "cltrain/sweep.h"

/* Writes one sentence into err (printf style); returns -1 so callers can `return sweep_fail(...)`. */
int sweep_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether every value of vals passes config_set for its key (search proposals of unbounded
 * distributions can fall outside a key's range: they are drawn again). */
int sweep_values_fit_config(const sweep_spec *spec, const sweep_param_values *vals);

/* Whether a parameter takes part in the search (constants do not). */
static inline int sweep_param_searchable(const sweep_param *p)
{
    return p->dist != SWEEP_DIST_CONSTANT;
}

/* The bayes proposal (bayes.c): fills out from the trials so far, drawing from r. */
int sweep_bayes_propose(const sweep_spec *spec, const sweep_trial_result *results, int nresults,
                        sweep_rng *r, sweep_param_values *out, char *err, size_t errlen);

/* One random draw of every parameter (search.c), redrawn until it fits the config's ranges. */
int sweep_random_propose(const sweep_spec *spec, sweep_rng *r, sweep_param_values *out,
                         char *err, size_t errlen);

/* How many values grid gives a parameter (grid.c): 1 for a constant, the values of a categorical,
 * max-min+1 for int_uniform, numpy's arange(min, max, q) length for q_uniform; 0 when grid cannot
 * enumerate it. */
long long sweep_grid_param_count(const sweep_param *p);
/* Grid's k-th value of a parameter. */
void sweep_grid_param_value(const sweep_param *p, long long k, sweep_value *out);

/* The distributions' names in sweep_dist order, NULL-terminated (distributions.c). */
extern const char *const sweep_dist_names[SWEEP_DIST_COUNT + 1];

#endif
