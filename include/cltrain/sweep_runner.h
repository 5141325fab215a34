/* sweep_runner.h: running a sweep: trials proposed by the search (sweep.h), one per selected device
 * at a time, trained by train.h, each into its own run directory; the sweep's state kept on disk
 * after every change so that an interrupted sweep resumes where it stopped.
 *
 * The sweep directory <output>/<name>/ holds:
 *   sweep.yaml    a copy of the sweep file (a resume with another file is refused)
 *   state.json    each trial: number, run id, device, status, reason, metric, parameter values,
 *                 epochs, start and end times (rewritten atomically after every change)
 *   summary.csv   one row per trial
 *   <run-id>/     each trial's run directory (train.h)
 * Ctrl-C finishes the running steps, marks those trials killed and saves the state; the same
 * command then resumes: ended trials are kept, killed ones run again, the search goes on. */
#ifndef CLTRAIN_SWEEP_RUNNER_H
#define CLTRAIN_SWEEP_RUNNER_H

#include <signal.h>
#include <stdio.h>

#include "cltrain/sweep.h"

typedef struct {
    const char *spec_path;
    const char *devices;      /* --device SPEC; NULL: the file's `devices`, else "0" */
    long long count;          /* --count: trials this invocation (0: the file's count, else all) */
    const char *output;       /* --output: NULL = the file's `output` (default runs/) */
    FILE *console;            /* progress and the leaderboard */
    int bars;                 /* progress bars allowed (a terminal): used with one device only */
    volatile sig_atomic_t *interrupted;
} sweep_runner_options;

/* Runs (or resumes) the sweep. Returns the exit code: 0 when it ran to its end (failed trials
 * included), 1 when no trial finished, 2 for bad input before any trial (err says why), 130 when
 * interrupted. */
int sweep_runner_run(const sweep_runner_options *o, char *err, size_t errlen);

#endif
