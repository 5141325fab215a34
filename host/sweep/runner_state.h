/* runner_state.h: the trials of a running sweep and their file, state.json (runner.c, state.c). */
#ifndef CLTRAIN_SWEEP_RUNNER_STATE_H
#define CLTRAIN_SWEEP_RUNNER_STATE_H

#include "cltrain/device.h"
#include "cltrain/sweep.h"

typedef struct {
    int number;               /* 1-based, in proposal order */
    char id[64];              /* run id: the run directory's name */
    int device;               /* device index, -1 before it starts */
    int pending;              /* waiting to run (a resumed sweep's killed trial runs again) */
    sweep_trial_status status;
    char reason[CT_ERR_LEN];
    double metric;            /* best over epochs per goal; NAN when none */
    int epochs;
    double *history;          /* the sweep metric per epoch, for hyperband */
    int hcap;
    double start, end;        /* Unix seconds; 0 when not yet */
    sweep_param_values values;
} runner_trial;

typedef struct {
    runner_trial *t;
    int n, cap;
    char wandb_sweep_id[256]; /* the wandb sweep the runs join ("" when not online) */
} runner_state;

/* Appends a trial (zeroed, metric NAN, device -1); NULL when out of memory. */
runner_trial *runner_state_add(runner_state *st);
int runner_trial_push_metric(runner_trial *t, double v);
void runner_state_free(runner_state *st);

const char *runner_status_name(sweep_trial_status s);

/* Reads state.json; a missing file is an empty state. Trials that were running or killed come back
 * pending, to run again. */
int runner_state_load(const char *path, const sweep_spec *spec, runner_state *st, char *err, size_t errlen);
/* Writes state.json atomically (tmp + rename). */
int runner_state_save(const char *path, const sweep_spec *spec, const runner_state *st, char *err, size_t errlen);
/* Writes summary.csv: one row per trial, its parameters as columns. */
int runner_state_write_csv(const char *path, const sweep_spec *spec, const runner_state *st, char *err,
                           size_t errlen);

#endif
