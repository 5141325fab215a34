/* search.c: the search object: grid (grid.c), random (here) and bayes (bayes.c) behind one call
 * that proposes the next trial. It holds only the grid cursor and the proposal counter; the
 * trials themselves come from the caller on every call, so a resumed sweep (its old trials passed
 * in) continues where the interrupted one stopped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sweep_search {
    const sweep_spec *spec;
    uint64_t seed;
    long long grid_size;
    long long grid_next;      /* grid points below it are proposed (or were in results) */
    long long last_k;         /* the previous proposal's number, -1 before the first */
    unsigned char *grid_seen; /* scratch bitset: grid points present in results */
};

sweep_search *sweep_search_create(const sweep_spec *spec, uint64_t seed, char *err, size_t errlen)
{
    sweep_search *s = calloc(1, sizeof *s);
    if (!s) {
        sweep_fail(err, errlen, "out of host memory creating the sweep search.");
        return NULL;
    }
    s->spec = spec;
    s->seed = seed;
    s->last_k = -1;
    if (spec->method == SWEEP_GRID) {
        s->grid_size = sweep_grid_size(spec, err, errlen);
        if (s->grid_size < 0) {
            free(s);
            return NULL;
        }
        s->grid_seen = calloc((size_t)(s->grid_size + 7) / 8, 1);
        if (!s->grid_seen) {
            sweep_fail(err, errlen, "out of host memory for a grid of %lld points.", s->grid_size);
            free(s);
            return NULL;
        }
    }
    return s;
}

void sweep_search_destroy(sweep_search *s)
{
    if (!s) return;
    free(s->grid_seen);
    free(s);
}

int sweep_random_propose(const sweep_spec *spec, sweep_rng *r, sweep_param_values *out, char *err,
                         size_t errlen)
{
    out->n = spec->nparams;
    /* a draw outside a key's range (a normal's tail below 0 for dropout) is drawn again: the
     * distribution becomes truncated to what the trainer accepts */
    for (int attempt = 0; attempt < 1000; attempt++) {
        for (int i = 0; i < spec->nparams; i++)
            sweep_param_sample(&spec->params[i], r, &out->v[i]);
        if (sweep_values_fit_config(spec, out)) return 0;
    }
    for (int i = 0; i < spec->nparams; i++) {
        const sweep_param *p = &spec->params[i];
        config scratch;
        config_init(&scratch);
        char msg[SWEEP_ERR_LEN];
        if (config_set(&scratch, config_key_info(p->id)->name, out->v[i].text, 0, msg, sizeof msg))
            return sweep_fail(err, errlen,
                              "%s:%d: parameter %s: 1000 draws in a row fell outside "
                              "the key's range (last: %s).",
                              spec->path, p->line, p->name, msg);
    }
    return sweep_fail(err, errlen, "%s: 1000 random draws in a row did not fit the config.", spec->path);
}

static int grid_next(sweep_search *s, const sweep_trial_result *results, int nresults,
                     sweep_param_values *out, char *err, size_t errlen)
{
    memset(s->grid_seen, 0, (size_t)(s->grid_size + 7) / 8);
    for (int i = 0; i < nresults; i++) {
        long long g = sweep_grid_index(s->spec, &results[i].values);
        if (g >= 0) s->grid_seen[g / 8] |= (unsigned char)(1u << (g % 8));
    }
    while (s->grid_next < s->grid_size && (s->grid_seen[s->grid_next / 8] >> (s->grid_next % 8)) & 1)
        s->grid_next++;
    if (s->grid_next >= s->grid_size) return 1;
    if (sweep_grid_point(s->spec, s->grid_next, out, err, errlen)) return -1;
    s->grid_next++;
    return 0;
}

int sweep_search_next(sweep_search *s, const sweep_trial_result *results, int nresults, config *out_cfg,
                      sweep_param_values *out_values, char *err, size_t errlen)
{
    if (nresults < 0 || (nresults > 0 && !results))
        return sweep_fail(err, errlen, "sweep_search_next needs the trials so far.");
    int rc;
    if (s->spec->method == SWEEP_GRID) {
        rc = grid_next(s, results, nresults, out_values, err, errlen);
    } else {
        long long k = nresults > s->last_k ? nresults : s->last_k + 1;
        s->last_k = k;
        sweep_rng r;
        sweep_rng_seed(&r, s->seed, (uint64_t)k);
        if (s->spec->method == SWEEP_RANDOM)
            rc = sweep_random_propose(s->spec, &r, out_values, err, errlen);
        else
            rc = sweep_bayes_propose(s->spec, results, nresults, &r, out_values, err, errlen);
    }
    if (rc != 0) return rc;
    if (out_cfg && sweep_spec_apply(s->spec, out_values, out_cfg, err, errlen)) return -1;
    return 0;
}
