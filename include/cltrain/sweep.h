/* sweep.h: sweep files and the search over them. A sweep file is wandb's sweep schema (method,
 * metric, parameters, early_terminate, run_cap, ...) plus cltrain's own keys (dataset, count,
 * devices, output, wandb, defaults, seed). Loading it checks every parameter against config.h's
 * table, so a bad value is reported with its file and line before any trial runs.
 *
 * The search proposes one trial at a time: grid (Cartesian product), random (inverse CDF of
 * seeded uniform draws) or bayes (wandb's Gaussian-process method). It keeps no record of trials:
 * the caller passes every trial it knows about (finished, failed, stopped, killed, and running
 * ones too) on each call, so a resumed sweep that passes its old trials proposes what an
 * uninterrupted one would. Hyperband early termination is a separate, stateless decision over
 * per-epoch metric histories.
 *
 * Everything here follows wandb's sweeps library (github.com/wandb/sweeps, src/sweeps/params.py,
 * bayes_search.py, grid_search.py, hyperband_stopping.py); where cltrain differs it says so. */
#ifndef CLTRAIN_SWEEP_H
#define CLTRAIN_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "cltrain/config.h"

/* ---- the spec ------------------------------------------------------------------------------ */

typedef enum { SWEEP_GRID, SWEEP_RANDOM, SWEEP_BAYES } sweep_method;
typedef enum { SWEEP_MINIMIZE, SWEEP_MAXIMIZE } sweep_goal;

typedef enum {
    SWEEP_DIST_CONSTANT,               /* value: v */
    SWEEP_DIST_CATEGORICAL,            /* values: [...] (+ probabilities) */
    SWEEP_DIST_INT_UNIFORM,            /* integers min..max inclusive */
    SWEEP_DIST_UNIFORM,                /* reals in [min, max] */
    SWEEP_DIST_Q_UNIFORM,              /* uniform rounded to a multiple of q */
    SWEEP_DIST_LOG_UNIFORM,            /* exp(uniform(min, max)): min/max are exponents (old) */
    SWEEP_DIST_LOG_UNIFORM_VALUES,     /* log-uniform between the values min and max */
    SWEEP_DIST_Q_LOG_UNIFORM,          /* exponents, rounded to q (old) */
    SWEEP_DIST_Q_LOG_UNIFORM_VALUES,   /* values, rounded to q */
    SWEEP_DIST_INV_LOG_UNIFORM,        /* 1/x log-uniform, min/max exponents of 1/x (old) */
    SWEEP_DIST_INV_LOG_UNIFORM_VALUES, /* 1/x log-uniform between values (the same law as
                                          log_uniform_values, as in wandb) */
    SWEEP_DIST_NORMAL,                 /* mu, sigma */
    SWEEP_DIST_Q_NORMAL,
    SWEEP_DIST_LOG_NORMAL, /* exp(normal(mu, sigma)) */
    SWEEP_DIST_Q_LOG_NORMAL,
    SWEEP_DIST_BETA, /* a, b */
    SWEEP_DIST_Q_BETA,
    SWEEP_DIST_COUNT
} sweep_dist;

#define SWEEP_TEXT_LEN CONFIG_STR_LEN
#define SWEEP_NAME_LEN 64

/* One parameter value. `text` is what config_set takes, `--set key=text` repeats and the
 * leaderboard shows; `num` is its number; `index` its position in the parameter's values. */
typedef struct {
    char text[SWEEP_TEXT_LEN]; /* canonical: "32", "0.001", "true", "relu" */
    double num;                /* NAN when not a number (string keys) */
    int index;                 /* categorical/constant: index into values; -1 for sampled numbers */
} sweep_value;

typedef struct {
    char name[SWEEP_NAME_LEN]; /* as written in the file (may be an alias: "lr") */
    config_key_id id;          /* the config key it sets; config_key_info(id)->name is canonical */
    int line;                  /* line of the parameter's name */
    sweep_dist dist;
    double min, max;  /* bounds (exponents for the old log forms) */
    double q;         /* quantum of q_* (default 1) */
    double mu, sigma; /* normal family (defaults 0, 1) */
    double a, b;      /* beta (defaults 1, 1) */
    int nvalues;      /* categorical: the values; constant: 1 */
    sweep_value *values;
    double *probs; /* NULL = uniform over values */
} sweep_param;

/* A config key set by the file outside `parameters` (dataset:, defaults:). */
typedef struct {
    char name[SWEEP_NAME_LEN]; /* as written ("type" under dataset:) */
    config_key_id id;          /* the config key (dataset type -> dataset_type, path -> data_path) */
    char value[SWEEP_TEXT_LEN];
    int line;
} sweep_setting;

typedef struct {
    int enabled;  /* early_terminate given */
    int min_iter; /* bands min_iter * eta^k, or ... */
    int max_iter; /* ... max_iter / eta^k for k = 1..s (max_iter wins if both are given) */
    int s;
    double eta; /* default 3 */
    int strict; /* default true, as wandb's schema fills it: compare the value at the band
                   epoch; false compares the best value so far */
    int line;
} sweep_hyperband;

typedef struct {
    char *path; /* the file, for messages */
    sweep_method method;
    int has_metric;
    char metric[SWEEP_NAME_LEN]; /* metric.name, e.g. val_accuracy */
    sweep_goal goal;             /* default minimize */
    int has_target;
    double target; /* the sweep ends once a trial's metric reaches it */
    int nparams;
    sweep_param params[CFG_KEY_COUNT]; /* sorted by canonical key name (grid order) */
    sweep_hyperband hyperband;
    long long run_cap; /* 0: none; trials over all invocations */
    long long count;   /* 0: unset; trials to run in this invocation */
    uint64_t seed;     /* the search's seed (random, bayes); default 42 */
    int ndataset;
    sweep_setting dataset[CFG_KEY_COUNT];
    int ndefaults;
    sweep_setting defaults[CFG_KEY_COUNT];
    char *devices; /* --device syntax ("0,1", "gpu"); a YAML list is joined by
                      commas; NULL when not given */
    char *output;  /* default "runs/" */
    /* wandb block; NULL when not given */
    char *wandb_project, *wandb_entity, *wandb_mode, *wandb_group;
    char *wandb_tags; /* comma-joined */
    /* wandb's keys that cltrain stores but does not use; NULL when not given */
    char *name, *description, *program, *command /* a list joined by spaces */, *entity, *project;
} sweep_spec;

/* Loads and checks a sweep file. NULL on failure, with one sentence in err that starts with
 * "file:line:" and names the key. */
sweep_spec *sweep_spec_load(const char *path, char *err, size_t errlen);

/* The same from text in memory; `name` stands for the file in messages. */
sweep_spec *sweep_spec_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

void sweep_spec_destroy(sweep_spec *spec);

const char *sweep_method_name(sweep_method m);
const char *sweep_dist_name(sweep_dist d);

/* ---- values and configs -------------------------------------------------------------------- */

/* A trial's parameter values, in spec->params order. */
typedef struct {
    int n;
    sweep_value v[CFG_KEY_COUNT];
} sweep_param_values;

/* The config of a trial: every key at its default, then dataset:, defaults:, then the
 * parameter values (vals may be NULL). */
int sweep_spec_apply(const sweep_spec *spec, const sweep_param_values *vals, config *cfg, char *err,
                     size_t errlen);

/* "activation=relu learning_rate=0.001" (canonical key names, spec order, joined by sep; each
 * piece is what `--set` takes). Returns the length it needed (as snprintf). */
int sweep_param_values_format(const sweep_spec *spec, const sweep_param_values *vals, const char *sep,
                              char *out, size_t len);

/* Reads a trial's parameter values back from its config (a resumed sweep's old trials). A
 * categorical value that is not among the parameter's values is an error. */
int sweep_param_values_from_config(const sweep_spec *spec, const config *cfg, sweep_param_values *out,
                                   char *err, size_t errlen);

/* 1 when `metric` reaches metric.target (per goal), else 0. */
int sweep_target_reached(const sweep_spec *spec, double metric);

/* ---- distributions ------------------------------------------------------------------------- */

/* A small seeded generator (xoshiro256**): the same draws on every machine. */
typedef struct {
    uint64_t s[4];
} sweep_rng;

/* Seeds from (seed, stream): distinct streams give independent sequences. */
void sweep_rng_seed(sweep_rng *r, uint64_t seed, uint64_t stream);
/* Uniform in the open interval (0, 1). */
double sweep_rng_uniform(sweep_rng *r);

/* The value at quantile u in [0, 1] (wandb's ppf); numbers are formatted for the parameter's
 * config key (integers for integer keys). */
void sweep_param_ppf(const sweep_param *p, double u, sweep_value *out);
/* P(X <= value) (wandb's cdf; categorical by index: (index+1)/n, or the cumulative probability).
 * A constant gives 0. */
double sweep_param_cdf(const sweep_param *p, const sweep_value *v);
/* One draw: ppf of a uniform draw. */
void sweep_param_sample(const sweep_param *p, sweep_rng *r, sweep_value *out);
/* Sets out from a number as the parameter's key writes it (rounded for integer keys). */
void sweep_value_from_number(const sweep_param *p, double x, sweep_value *out);

/* The standard normal CDF and its inverse; the regularized incomplete beta function and its
 * inverse in x. */
double sweep_normal_cdf(double x);
double sweep_normal_ppf(double u);
double sweep_beta_cdf(double x, double a, double b);
double sweep_beta_ppf(double u, double a, double b);

/* ---- grid ------------------------------------------------------------------------------------ */

/* The number of grid points (product of each parameter's value count; int_uniform counts
 * max-min+1, q_uniform the multiples of q in [min, max)). -1 with a sentence when the spec has a
 * parameter grid cannot enumerate or the grid is too large. */
long long sweep_grid_size(const sweep_spec *spec, char *err, size_t errlen);
/* Grid point `index` in [0, size): parameters in spec order (sorted by name), the first
 * varying slowest. */
int sweep_grid_point(const sweep_spec *spec, long long index, sweep_param_values *out, char *err,
                     size_t errlen);

/* The grid index of a trial's values, or -1 when they are not a grid point. */
long long sweep_grid_index(const sweep_spec *spec, const sweep_param_values *vals);

/* ---- search ---------------------------------------------------------------------------------- */

typedef enum {
    SWEEP_TRIAL_RUNNING, /* proposed and not ended: bayes conditions on its predicted value */
    SWEEP_TRIAL_FINISHED,
    SWEEP_TRIAL_STOPPED, /* ended early by hyperband: its best metric so far counts as its
                            result (wandb would impute the worst; the partial metric says
                            more) */
    SWEEP_TRIAL_FAILED,  /* the worst metric of the ended trials is imputed */
    SWEEP_TRIAL_KILLED   /* stopped by the user or interrupted: as failed */
} sweep_trial_status;

typedef struct {
    sweep_trial_status status;
    sweep_param_values values;
    double metric; /* the best over its epochs per goal; NAN when it has none */
} sweep_trial_result;

typedef struct sweep_search sweep_search;

/* A search over `spec` (which must outlive it), seeded by `seed` (normally spec->seed). */
sweep_search *sweep_search_create(const sweep_spec *spec, uint64_t seed, char *err, size_t errlen);
void sweep_search_destroy(sweep_search *s);

/* Proposes the next trial, given every trial so far (a proposed trial should be passed back
 * as running until it ends). out_values gets the parameter values, out_cfg (if not NULL) the
 * full config (sweep_spec_apply). Returns 0 with a proposal, 1 when the grid is exhausted (every
 * grid point has been proposed in this search or appears in results), -1 on error.
 * Proposal k (k = nresults, or one more than the previous call's when the caller passes no new
 * trials) draws from the stream (seed, k), so a resumed sweep repeats its choices. */
int sweep_search_next(sweep_search *s, const sweep_trial_result *results, int nresults, config *out_cfg,
                      sweep_param_values *out_values, char *err, size_t errlen);

/* ---- Gaussian process (bayes), public for its tests ---------------------------------------- */

/* Cholesky factorisation in place: a (n x n, row-major, symmetric positive definite) becomes L
 * in its lower triangle (upper triangle zeroed), a = L L^T. -1 when a is not positive
 * definite. */
int sweep_cholesky(double *a, int n);
/* Solves (L L^T) x = b in place. */
void sweep_cholesky_solve(const double *l, int n, double *b);

/* Matern nu = 3/2 kernel with unit amplitude: (1 + sqrt(3) r / l) exp(-sqrt(3) r / l). */
double sweep_matern32(double r, double length);

typedef struct {
    int n, d;
    double *x;     /* n x d training inputs */
    double *l;     /* Cholesky factor of K + noise I */
    double *alpha; /* (K + noise I)^-1 y */
    double length; /* the fitted length scale */
    double noise;  /* the fitted noise variance */
    double log_ml; /* log marginal likelihood at the fit */
} sweep_gp;

/* Fits a zero-mean GP to (x, y) (y already standardised): the length scale and noise that
 * maximise the marginal likelihood (a search over log length in [1e-5, 1e5], as sklearn's bounds,
 * and noise in {1e-6, ..., 1e-1}). */
int sweep_gp_fit(sweep_gp *gp, const double *x, const double *y, int n, int d, char *err, size_t errlen);
/* Predictive mean and variance (without the noise) at one point x[d]. */
void sweep_gp_predict(const sweep_gp *gp, const double *x, double *mean, double *var);
void sweep_gp_free(sweep_gp *gp);

/* ---- hyperband ------------------------------------------------------------------------------- */

/* One trial's per-epoch metric (epoch 1 first). */
typedef struct {
    const double *metric;
    int len;
    sweep_trial_status status;
} sweep_history;

typedef struct {
    int stop;         /* 1: stop the trial now */
    int band;         /* the band (epoch count) it was judged at; -1 when it reached none */
    double value;     /* the value compared (in minimisation terms: negated when maximising) */
    double threshold; /* the 1/eta quantile of all trials' values at that band */
} sweep_hyperband_decision;

/* The band epochs, ascending (wandb: int(min_iter * eta^k) for k = 0.. up to max_bands, or
 * int(max_iter / eta^k) for k = 1..s while at least 1). Returns their count. */
int sweep_hyperband_bands(const sweep_hyperband *hb, int *bands, int max_bands);

/* Decides whether trial `which` (running) should stop, from every trial's history (its own
 * included), as wandb's hyperband_stop_runs: thresholds from all histories that reach each band,
 * the trial judged at the last band it has reached. Non-finite metrics count as the worst value
 * (wandb drops them, which would shift the epochs). */
int sweep_hyperband_decide(const sweep_hyperband *hb, sweep_goal goal, const sweep_history *all, int nall,
                           int which, sweep_hyperband_decision *out, char *err, size_t errlen);

#endif
