/* launch_tune.c: the launch-choice search (launch_tune.h): training steps of the study's CNN timed
 * under each candidate, one choice at a time. */
#include "cltrain/launch_tune.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/config.h"
#include "cltrain/model.h"
#include "cltrain/progress.h"

static const launch_workload DEFAULT_WORKLOADS[] = {{1, 32, 64}, {3, 128, 32}};

const launch_workload *launch_tune_default_workloads(int *count)
{
    *count = (int)(sizeof DEFAULT_WORKLOADS / sizeof DEFAULT_WORKLOADS[0]);
    return DEFAULT_WORKLOADS;
}

/* One workload's model and a synthetic batch on the device. */
typedef struct {
    model *m;
    cl_mem x, y, stats;
    int batch;
} bench;

static void bench_close(bench *b)
{
    model_destroy(b->m);
    cl_mem bufs[] = {b->x, b->y, b->stats};
    for (int i = 0; i < 3; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    memset(b, 0, sizeof *b);
}

static int bench_open(device_ctx *d, const launch_workload *w, bench *b)
{
    memset(b, 0, sizeof *b);
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    /* the study's CNN: the config defaults are its five blocks of 32 filters and dense 128 */
    if (config_set(&c, "batch_norm", "true", 0, err, sizeof err) ||
        config_set(&c, "dropout", "0", 0, err, sizeof err))
        return device_fail(d, "%s", err);
    b->m = model_create(d, &c, w->channels, w->size, 10, w->batch, err, sizeof err);
    if (!b->m) return device_fail(d, "%s", err);
    b->batch = w->batch;
    size_t n = (size_t)w->batch * w->channels * w->size * w->size;
    float *x = malloc(n * sizeof(float));
    int32_t *y = malloc((size_t)w->batch * sizeof(int32_t));
    int rc = -1;
    if (!x || !y) {
        device_fail(d, "out of host memory for a %zu-float tuning batch", n);
    } else {
        /* any values but zeros: a fixed hash of the index in [-1, 1) */
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        for (int i = 0; i < w->batch; i++)
            y[i] = i % 10;
        b->x = device_alloc(d, n * sizeof(float), "the tuning batch");
        b->y = b->x ? device_alloc(d, (size_t)w->batch * sizeof(int32_t), "the tuning labels") : NULL;
        b->stats = b->y ? device_alloc(d, 2 * sizeof(float), "the tuning loss") : NULL;
        if (b->stats && device_write(d, b->x, 0, n * sizeof(float), x) == 0 &&
            device_write(d, b->y, 0, (size_t)w->batch * sizeof(int32_t), y) == 0 &&
            model_init(b->m, "torch", 1) == 0)
            rc = 0;
    }
    free(x);
    free(y);
    return rc;
}

/* Forward, loss and backward on the bench's batch; with opt, the update as well. */
static int bench_step(bench *b, uint64_t step, const ops_optim_params *opt)
{
    return model_forward(b->m, b->x, b->batch, 1, 1, step) ||
                   model_loss(b->m, b->y, b->stats, 0, b->batch, 1) ||
                   model_backward(b->m, b->x, b->batch, 1, step) || (opt && model_update(b->m, opt))
               ? -1
               : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median milliseconds of a step per workload under set a and under set b, their steps alternating
 * so that both see the same moments of a shared machine (one untimed step of each first: kernel
 * builds). -1 when a step fails: d->launch is then whichever set failed. */
static int time_pair(device_ctx *d, bench *bs, int nb, int reps, const launch_set *a, const launch_set *b,
                     double *ms_a, double *ms_b)
{
    ops_optim_params opt = ops_optim_defaults(OPS_ADAM, 1e-3f);
    double t[2][64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < nb; i++) {
        for (int r = -1; r < reps; r++)
            for (int j = 0; j < 2; j++) {
                d->launch = j ? *b : *a;
                double t0 = progress_now();
                if (bench_step(&bs[i], (uint64_t)r + 2, &opt) ||
                    device_check(d, clFinish(d->queue), "waiting for a tuning step"))
                    return -1;
                if (r >= 0) t[j][r] = progress_now() - t0;
            }
        qsort(t[0], (size_t)reps, sizeof(double), cmp_double);
        qsort(t[1], (size_t)reps, sizeof(double), cmp_double);
        ms_a[i] = 1e3 * t[0][reps / 2];
        ms_b[i] = 1e3 * t[1][reps / 2];
    }
    return 0;
}

/* geometric mean of ms / base */
static double ratio(const double *ms, const double *base, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += log(ms[i] / base[i]);
    return exp(s / n);
}

/* The parameter gradients of one step from the same initial weights. */
static float *gradients(device_ctx *d, bench *b)
{
    const model_plan *p = model_get_plan(b->m);
    float *g = malloc(p->param_floats * sizeof(float));
    if (!g) {
        device_fail(d, "out of host memory reading %zu gradients", p->param_floats);
        return NULL;
    }
    if (model_init(b->m, "torch", 7) || bench_step(b, 1, NULL) ||
        device_read(d, model_grads(b->m), 0, p->param_floats * sizeof(float), g)) {
        free(g);
        return NULL;
    }
    return g;
}

/* The winner must compute what the defaults compute: other summation orders differ in the last bits,
 * a miscompiled or mis-indexed kernel by far more. */
static int verify(device_ctx *d, bench *b, const launch_set *best)
{
    launch_defaults(&d->launch);
    float *ref = gradients(d, b);
    d->launch = *best;
    float *got = ref ? gradients(d, b) : NULL;
    int rc = got ? 0 : -1;
    if (got) {
        size_t n = model_get_plan(b->m)->param_floats;
        double scale = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(ref[i]));
            diff = fmax(diff, fabs((double)got[i] - ref[i]));
        }
        if (!(diff <= 1e-3 * scale)) {
            char set[512];
            launch_format(best, set, sizeof set);
            rc = device_fail(d,
                             "the fastest launch choices (%s) give gradients %.3g off those of the defaults "
                             "(largest %.3g): this device computes them wrong; nothing stored",
                             set, diff, scale);
        }
    }
    free(ref);
    free(got);
    return rc;
}

int launch_tune(device_ctx *d, const launch_search *s, launch_result *r)
{
    memset(r, 0, sizeof *r);
    int nb = s->nworkloads;
    if (nb < 1 || nb > LAUNCH_TUNE_MAX_WORKLOADS || s->reps < 1)
        return device_fail(d, "launch tuning needs 1 to %d workloads and at least one timed step",
                           LAUNCH_TUNE_MAX_WORKLOADS);
    bench bs[LAUNCH_TUNE_MAX_WORKLOADS] = {0};
    int rc = 0;
    for (int i = 0; i < nb && rc == 0; i++)
        rc = bench_open(d, &s->workloads[i], &bs[i]);
    r->before = r->best = d->launch;
    double ms_best[LAUNCH_TUNE_MAX_WORKLOADS], ms[LAUNCH_TUNE_MAX_WORKLOADS];
    for (int p = 0; p < LAUNCH_N && rc == 0; p++) {
        const launch_choice *c = &launch_choices[p];
        int start = r->best.v[p];
        for (int k = 0; k < c->ncandidates; k++) {
            if (c->candidates[k] == start) continue;
            launch_set cand = r->best;
            cand.v[p] = c->candidates[k];
            r->tried++;
            if (time_pair(d, bs, nb, s->reps, &r->best, &cand, ms_best, ms) != 0) {
                r->failed++;
                if (s->log) fprintf(s->log, "  %-13s %6d  failed: %s\n", c->name, c->candidates[k], d->error);
                d->error[0] = '\0';
                clFinish(d->queue);
                continue;
            }
            double q = ratio(ms, ms_best, nb);
            int kept = q < 1.0 - s->min_gain;
            /* a win is measured again with twice the steps before it counts: on a shared machine one
             * burst of load on the best's steps looks like a faster candidate */
            double confirm = q;
            if (kept) {
                kept = time_pair(d, bs, nb, 2 * s->reps, &r->best, &cand, ms_best, ms) == 0;
                confirm = kept ? ratio(ms, ms_best, nb) : INFINITY;
                kept = confirm < 1.0 - s->min_gain;
                d->error[0] = '\0';
            }
            if (s->log) {
                fprintf(s->log, "  %-13s %6d ", c->name, c->candidates[k]);
                for (int i = 0; i < nb; i++)
                    fprintf(s->log, " %8.1f ms (best %8.1f)", ms[i], ms_best[i]);
                fprintf(s->log, "  %.3fx", q);
                if (confirm != q) fprintf(s->log, ", again %.3fx", confirm);
                fprintf(s->log, "%s\n", kept ? "  kept" : "");
                fflush(s->log);
            }
            if (kept) r->best = cand;
        }
    }
    /* the start against the winner, with twice the steps: the figures the report quotes */
    if (rc == 0) rc = time_pair(d, bs, nb, 2 * s->reps, &r->before, &r->best, r->before_ms, r->after_ms);
    if (rc == 0 && !memcmp(&r->before, &r->best, sizeof r->best)) {
        /* the same set twice: any difference is the machine's noise, not a speed-up */
        memcpy(r->after_ms, r->before_ms, sizeof r->after_ms);
    }
    if (rc == 0) {
        r->speedup = 1.0 / ratio(r->after_ms, r->before_ms, nb);
        rc = verify(d, &bs[0], &r->best);
    }
    d->launch = rc == 0 ? r->best : r->before;
    for (int i = 0; i < nb; i++)
        bench_close(&bs[i]);
    return rc;
}

char *launch_tune_notes(const launch_search *s, const launch_result *r)
{
    cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "workloads") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "geomean_speedup", round(r->speedup * 1000) / 1000);
    for (int i = 0; i < s->nworkloads; i++) {
        const launch_workload *w = &s->workloads[i];
        char name[64];
        snprintf(name, sizeof name, "%dx%dx%d batch %d", w->channels, w->size, w->size, w->batch);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "workload", name);
        cJSON_AddNumberToObject(e, "step_ms_before", round(r->before_ms[i] * 100) / 100);
        cJSON_AddNumberToObject(e, "step_ms_after", round(r->after_ms[i] * 100) / 100);
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
