/* launch_tune.h: the search behind `cltrain tune`'s second half: which launch choices (launch.h) make
 * training steps of the study's CNN fastest on a device.
 *
 * The unit measured is a whole training step (forward, loss, backward, Adam), not one kernel: the
 * choices interact (the conv algorithm decides which kernels run at all, a vector width changes the
 * workspace every layer shares), and the step is what a user waits for. The search goes through the
 * choices one at a time in launch.h's order, tries each candidate with the others at their best so
 * far, its steps alternating with the best's (a shared machine's load then weighs on both), and keeps
 * it only when it beats the best by more than the noise margin twice, the second time over twice the
 * steps. Before it returns, the winner's
 * gradients are checked against the defaults' on the same batch. */
#ifndef CLTRAIN_LAUNCH_TUNE_H
#define CLTRAIN_LAUNCH_TUNE_H

#include <stdio.h>

#include "cltrain/device.h"
#include "cltrain/launch.h"

#define LAUNCH_TUNE_MAX_WORKLOADS 4

/* Training batches of the study's CNN (32 filters, batch norm, relu, dense 128, Adam) on images of
 * channels x size x size. */
typedef struct {
    int channels, size, batch;
} launch_workload;

typedef struct {
    const launch_workload *workloads;
    int nworkloads;
    int reps;        /* timed steps per candidate and workload (median), after one untimed step */
    double min_gain; /* a candidate must be this fraction faster than the best so far, e.g. 0.03 */
    FILE *log;       /* one line per candidate; NULL: quiet */
} launch_search;

typedef struct {
    launch_set before, best;
    /* median step of the start and the winner, measured against each other at the end */
    double before_ms[LAUNCH_TUNE_MAX_WORKLOADS], after_ms[LAUNCH_TUNE_MAX_WORKLOADS];
    double speedup; /* geometric mean over the workloads of before/after */
    int tried, failed;
} launch_result;

/* The workloads `cltrain tune` uses: the base sweep's 1x32x32 batch 64 and a photo-sized 3x128x128
 * batch 32. */
const launch_workload *launch_tune_default_workloads(int *count);

/* Runs the search from the choices in force on d, leaves the best in force, fills r. -1 with d->error
 * when the device fails with the defaults or the winner's gradients differ from theirs. */
int launch_tune(device_ctx *d, const launch_search *s, launch_result *r);

/* The measurements as a JSON object text for launch_store (malloc'd; NULL when out of memory). */
char *launch_tune_notes(const launch_search *s, const launch_result *r);

#endif
