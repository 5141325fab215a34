/* runner.c: a sweep on the selected devices (see sweep_runner.h). One worker thread per device, each
 * with its own context and queue, takes the next trial whenever it is free: first the trials a
 * resumed sweep must run again, then the search's proposals. All shared state (the trials, the
 * search, the console) sits behind one lock; training itself runs outside it. */
#include "cltrain/sweep_runner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cltrain/progress.h"
#include "cltrain/runlog.h"
#include "cltrain/train.h"
#include "cltrain/tune.h"
#include "cltrain/wandb.h"
#include "runner_state.h"

#define RUNNER_MAX_DEVICES 64

typedef struct {
    const sweep_runner_options *o;
    sweep_spec *spec;
    sweep_search *search;
    runner_state st;
    pthread_mutex_t lock;
    char name[128];
    char dir[1024], state_path[1100], csv_path[1100];
    const char *metric;
    long long limit; /* trials this invocation may start (0: no limit) */
    long long started;
    int done; /* no more trials: grid exhausted, target reached, run_cap, or an error */
    char search_error[CT_ERR_LEN];
    wandb_settings ws;
    int use_bars;
    data_share *datasets; /* the trials' data sets, read once */
} runner;

typedef struct {
    runner *r;
    device_info info;
} worker_arg;

typedef struct {
    runner *r;
    runner_trial *t;
} trial_ctx;

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *metric_names[] = {"val_accuracy", "val_loss", "train_accuracy", "train_loss"};

static double metric_of(const char *name, const runlog_epoch *e)
{
    if (!strcmp(name, "val_accuracy")) return e->val_accuracy;
    if (!strcmp(name, "val_loss")) return e->val_loss;
    if (!strcmp(name, "train_accuracy")) return e->train_accuracy;
    return e->train_loss;
}

/* Better per the goal; a non-finite value is never better. */
static int better(const runner *r, double a, double b)
{
    if (!isfinite(a)) return 0;
    if (!isfinite(b)) return 1;
    return r->spec->goal == SWEEP_MAXIMIZE ? a > b : a < b;
}

static void save_state(runner *r)
{
    char err[CT_ERR_LEN];
    if (runner_state_save(r->state_path, r->spec, &r->st, err, sizeof err) != 0 ||
        runner_state_write_csv(r->csv_path, r->spec, &r->st, err, sizeof err) != 0)
        fprintf(r->o->console, "cltrain: warning: %s\n", err);
}

static void say(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(runner *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->o->console, fmt, ap);
    va_end(ap);
    fputc('\n', r->o->console);
    fflush(r->o->console);
}

/* Every trial as the search sees it; pending ones are not trials yet. Caller holds the lock. */
static int search_results(runner *r, sweep_trial_result *out)
{
    int n = 0;
    for (int i = 0; i < r->st.n; i++) {
        const runner_trial *t = &r->st.t[i];
        if (t->pending) continue;
        out[n].status = t->status;
        out[n].values = t->values;
        out[n].metric = t->metric;
        n++;
    }
    return n;
}

static int ended_trials(const runner *r)
{
    int n = 0;
    for (int i = 0; i < r->st.n; i++)
        n += !r->st.t[i].pending;
    return n;
}

/* The next trial to run, or NULL when the sweep has no more. Caller holds the lock. */
static runner_trial *next_trial(runner *r)
{
    if (r->done || (r->o->interrupted && *r->o->interrupted)) return NULL;
    if (r->limit && r->started >= r->limit) return NULL;
    for (int i = 0; i < r->st.n; i++)
        if (r->st.t[i].pending) return &r->st.t[i];
    if (r->spec->run_cap && ended_trials(r) >= r->spec->run_cap) {
        r->done = 1;
        return NULL;
    }
    sweep_trial_result *res = malloc(((size_t)r->st.n + 1) * sizeof *res);
    if (!res) {
        snprintf(r->search_error, sizeof r->search_error, "out of host memory");
        r->done = 1;
        return NULL;
    }
    int n = search_results(r, res);
    sweep_param_values vals;
    int rc = sweep_search_next(r->search, res, n, NULL, &vals, r->search_error, sizeof r->search_error);
    free(res);
    if (rc != 0) {
        r->done = 1;
        if (rc > 0) r->search_error[0] = '\0'; /* the grid is exhausted: a normal end */
        return NULL;
    }
    runner_trial *t = runner_state_add(&r->st);
    if (!t) {
        r->done = 1;
        return NULL;
    }
    t->number = r->st.n;
    t->values = vals;
    t->pending = 1;
    return t;
}

/* After each epoch: record the metric and let hyperband judge the trial. */
static int on_epoch(void *ctx, const runlog_epoch *e, char *reason, size_t reason_len)
{
    trial_ctx *tc = ctx;
    runner *r = tc->r;
    double v = metric_of(r->metric, e);
    int stop = 0;
    pthread_mutex_lock(&r->lock);
    runner_trial *t = tc->t;
    runner_trial_push_metric(t, v);
    if (better(r, v, t->metric)) t->metric = v;
    if (r->spec->has_target && isfinite(v) && sweep_target_reached(r->spec, v)) r->done = 1;
    if (r->spec->hyperband.enabled) {
        sweep_history *all = calloc((size_t)r->st.n, sizeof *all);
        int which = -1, n = 0;
        for (int i = 0; all && i < r->st.n; i++) {
            if (r->st.t[i].pending) continue;
            if (&r->st.t[i] == t) which = n;
            all[n++] = (sweep_history){r->st.t[i].history, r->st.t[i].epochs, r->st.t[i].status};
        }
        sweep_hyperband_decision dec;
        char err[CT_ERR_LEN];
        if (which >= 0 &&
            sweep_hyperband_decide(&r->spec->hyperband, r->spec->goal, all, n, which, &dec, err,
                                   sizeof err) == 0 &&
            dec.stop) {
            stop = 1;
            double shown = r->spec->goal == SWEEP_MAXIMIZE ? -dec.value : dec.value;
            double limit = r->spec->goal == SWEEP_MAXIMIZE ? -dec.threshold : dec.threshold;
            snprintf(reason, reason_len, "stopped early by hyperband at band %d: %s %.4g is worse than %.4g",
                     dec.band, r->metric, shown, limit);
        }
        free(all);
    }
    save_state(r);
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static sweep_trial_status trial_status(train_status s)
{
    switch (s) {
    case TRAIN_FINISHED:
        return SWEEP_TRIAL_FINISHED;
    case TRAIN_STOPPED:
        return SWEEP_TRIAL_STOPPED;
    case TRAIN_INTERRUPTED:
        return SWEEP_TRIAL_KILLED;
    case TRAIN_FAILED:
        break;
    }
    return SWEEP_TRIAL_FAILED;
}

static void run_trial(runner *r, device_ctx *d, runner_trial *t)
{
    char err[CT_ERR_LEN], params[2048], dir[1200], prefix[96];
    sweep_param_values_format(r->spec, &t->values, " ", params, sizeof params);
    snprintf(prefix, sizeof prefix, "[trial %d %s dev %d] ", t->number, t->id, d->info.index);
    progress disp;
    progress_init(&disp, r->o->console, r->use_bars, prefix, &r->lock);
    config c;
    runlog *log = NULL;
    wandb_run *wb = NULL;
    train_result res;
    memset(&res, 0, sizeof res);
    res.status = TRAIN_FAILED;
    snprintf(dir, sizeof dir, "%s/%s", r->dir, t->id);
    if (sweep_spec_apply(r->spec, &t->values, &c, err, sizeof err) != 0 ||
        !(log = runlog_create(dir, err, sizeof err)) || runlog_save_config(log, &c, err, sizeof err) != 0) {
        snprintf(res.reason, sizeof res.reason, "%s", err);
    } else {
        progress_line(&disp, "start: %s", params);
        cJSON *json = config_to_json(&c);
        char *text = json ? cJSON_PrintUnformatted(json) : NULL;
        cJSON_Delete(json);
        wb = wandb_run_start(&r->ws, t->id, text, dir, err, sizeof err);
        free(text);
        trial_ctx tc = {r, t};
        train_hooks h = {.log = log,
                         .wandb = wb,
                         .datasets = r->datasets,
                         .display = &disp,
                         .interrupted = r->o->interrupted,
                         .on_epoch = on_epoch,
                         .ctx = &tc};
        train_run(d, &c, &h, &res);
    }
    if (wb) {
        wandb_run_finish(wb, res.status == TRAIN_FAILED ? 1 : 0);
        wandb_run_destroy(wb);
    }
    runlog_destroy(log);
    pthread_mutex_lock(&r->lock);
    t->status = trial_status(res.status);
    t->end = unix_now();
    snprintf(t->reason, sizeof t->reason, "%s", res.reason);
    save_state(r);
    pthread_mutex_unlock(&r->lock);
    char metric[32] = "none";
    if (isfinite(t->metric)) snprintf(metric, sizeof metric, "%.4f", t->metric);
    progress_line(&disp, "%s after %d epochs in %.0f s, %s %s%s%s", runner_status_name(t->status),
                  res.epochs_done, t->end - t->start, r->metric, metric, t->reason[0] ? ": " : "", t->reason);
}

static void *worker(void *arg)
{
    worker_arg *w = arg;
    runner *r = w->r;
    char err[CT_ERR_LEN];
    device_ctx *d = device_open(&w->info, err, sizeof err);
    if (!d) {
        pthread_mutex_lock(&r->lock);
        say(r, "cltrain: device %d is left out of the sweep: %s", w->info.index, err);
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&r->lock);
        runner_trial *t = next_trial(r);
        if (t) {
            t->pending = 0;
            t->status = SWEEP_TRIAL_RUNNING;
            t->device = d->info.index;
            t->start = unix_now();
            t->end = 0;
            t->epochs = 0;
            t->metric = NAN;
            t->reason[0] = '\0';
            runlog_new_id(t->id, sizeof t->id, NULL, 0, err, sizeof err);
            r->started++;
            save_state(r);
        }
        pthread_mutex_unlock(&r->lock);
        if (!t) break;
        run_trial(r, d, t);
    }
    device_close(d);
    return NULL;
}

static int cmp_trials(const void *a, const void *b, void *ctx)
{
    const runner *r = ctx;
    const runner_trial *x = *(runner_trial *const *)a, *y = *(runner_trial *const *)b;
    if (better(r, x->metric, y->metric)) return -1;
    if (better(r, y->metric, x->metric)) return 1;
    return x->number - y->number;
}

static void leaderboard(runner *r)
{
    runner_trial **ranked = malloc(((size_t)r->st.n + 1) * sizeof *ranked);
    if (!ranked) return;
    int n = 0, finished = 0, failed = 0, stopped = 0, killed = 0;
    for (int i = 0; i < r->st.n; i++) {
        runner_trial *t = &r->st.t[i];
        finished += !t->pending && t->status == SWEEP_TRIAL_FINISHED;
        stopped += !t->pending && t->status == SWEEP_TRIAL_STOPPED;
        failed += !t->pending && t->status == SWEEP_TRIAL_FAILED;
        killed += t->pending || t->status == SWEEP_TRIAL_KILLED;
        if (!t->pending && isfinite(t->metric)) ranked[n++] = t;
    }
    qsort_r(ranked, (size_t)n, sizeof *ranked, cmp_trials, r);
    say(r, "\nsweep %s: %d trials: %d finished, %d stopped early, %d failed, %d killed or waiting", r->name,
        r->st.n, finished, stopped, failed, killed);
    if (n == 0) {
        say(r, "no trial has a %s yet", r->metric);
        free(ranked);
        return;
    }
    say(r, "best %d by %s (%s):", n < 5 ? n : 5, r->metric,
        r->spec->goal == SWEEP_MAXIMIZE ? "higher is better" : "lower is better");
    say(r, "%4s  %-8s  %-10s  %-8s  %s", "rank", "run", r->metric, "status", "config");
    for (int i = 0; i < n && i < 5; i++) {
        char params[2048];
        sweep_param_values_format(r->spec, &ranked[i]->values, " ", params, sizeof params);
        say(r, "%4d  %-8s  %-10.4f  %-8s  %s", i + 1, ranked[i]->id, ranked[i]->metric,
            runner_status_name(ranked[i]->status), params);
    }
    say(r, "re-run the best: cltrain train %s/%s/config.yaml", r->dir, ranked[0]->id);
    free(ranked);
}

static int make_dirs(const char *path, char *err, size_t errlen)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c) return 0;
    }
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (t && fread(t, 1, (size_t)n, f) != (size_t)n) {
        free(t);
        t = NULL;
    }
    fclose(f);
    if (t) {
        t[n] = '\0';
        *len = (size_t)n;
    }
    return t;
}

/* Copies the sweep file into the sweep directory, or checks that a resumed sweep has the same one. */
static int keep_sweep_file(runner *r, char *err, size_t errlen)
{
    char copy[1200];
    snprintf(copy, sizeof copy, "%s/sweep.yaml", r->dir);
    size_t n, m;
    char *text = read_text(r->o->spec_path, &n);
    if (!text) {
        snprintf(err, errlen, "cannot read %s", r->o->spec_path);
        return -1;
    }
    char *old = read_text(copy, &m);
    int rc = 0;
    if (old && (m != n || memcmp(old, text, n) != 0)) {
        snprintf(
            err, errlen,
            "%s holds a sweep from another sweep file than %s; give this sweep another name: or output:, or "
            "remove that directory",
            r->dir, r->o->spec_path);
        rc = -1;
    } else if (!old) {
        FILE *f = fopen(copy, "wb");
        if (!f || fwrite(text, 1, n, f) != n) {
            snprintf(err, errlen, "cannot write %s", copy);
            rc = -1;
        }
        if (f) fclose(f);
    }
    free(old);
    free(text);
    return rc;
}

static void sweep_name(const sweep_spec *spec, const char *path, char *out, size_t len)
{
    const char *base = spec->name && *spec->name ? spec->name
                       : strrchr(path, '/')      ? strrchr(path, '/') + 1
                                                 : path;
    snprintf(out, len, "%s", base);
    if (!(spec->name && *spec->name)) {
        char *dot = strrchr(out, '.');
        if (dot && dot != out) *dot = '\0';
    }
    for (char *c = out; *c; c++)
        if (*c == '/' || *c == ' ') *c = '_';
}

static int setup_wandb(runner *r, char *err, size_t errlen)
{
    if (wandb_settings_from_env(&r->ws, err, errlen) != 0) return -1;
    const sweep_spec *s = r->spec;
    if (s->wandb_project && !getenv("WANDB_PROJECT"))
        snprintf(r->ws.project, sizeof r->ws.project, "%s", s->wandb_project);
    if (s->wandb_entity && !getenv("WANDB_ENTITY"))
        snprintf(r->ws.entity, sizeof r->ws.entity, "%s", s->wandb_entity);
    if (s->wandb_group && !getenv("WANDB_RUN_GROUP"))
        snprintf(r->ws.group, sizeof r->ws.group, "%s", s->wandb_group);
    if (s->wandb_tags && !getenv("WANDB_TAGS")) snprintf(r->ws.tags, sizeof r->ws.tags, "%s", s->wandb_tags);
    if (s->wandb_mode && !getenv("WANDB_MODE")) {
        if (!strcmp(s->wandb_mode, "disabled"))
            r->ws.mode = WANDB_DISABLED;
        else if (!strcmp(s->wandb_mode, "offline") || !strcmp(s->wandb_mode, "dryrun"))
            r->ws.mode = WANDB_OFFLINE;
        else if (!strcmp(s->wandb_mode, "online")) {
            if (!r->ws.api_key[0]) {
                snprintf(err, errlen,
                         "%s: wandb mode is online but no API key was found (WANDB_API_KEY or netrc)",
                         r->o->spec_path);
                return -1;
            }
            r->ws.mode = WANDB_ONLINE;
        } else {
            snprintf(err, errlen, "%s: wandb mode \"%s\" is not online, offline or disabled", r->o->spec_path,
                     s->wandb_mode);
            return -1;
        }
        r->ws.notice[0] = '\0';
    }
    if (r->ws.notice[0]) say(r, "cltrain: %s", r->ws.notice);
    if (!r->ws.group[0]) snprintf(r->ws.group, sizeof r->ws.group, "%s", r->name);
    if (r->ws.mode == WANDB_ONLINE && !r->ws.sweep_id[0]) {
        /* a resumed sweep keeps its wandb sweep: its runs join the same one */
        size_t n;
        char *text = read_text(r->o->spec_path, &n);
        char why[CT_ERR_LEN];
        const char *existing = r->st.wandb_sweep_id[0] ? r->st.wandb_sweep_id : NULL;
        if (text && wandb_upsert_sweep(&r->ws, text, r->name, existing, r->ws.sweep_id, sizeof r->ws.sweep_id,
                                       why, sizeof why) < 0)
            say(r,
                "cltrain: warning: registering the sweep with wandb failed (%s); runs are logged without it",
                why);
        else
            snprintf(r->st.wandb_sweep_id, sizeof r->st.wandb_sweep_id, "%s", r->ws.sweep_id);
        free(text);
    }
    return 0;
}

int sweep_runner_run(const sweep_runner_options *o, char *err, size_t errlen)
{
    runner r;
    memset(&r, 0, sizeof r);
    r.o = o;
    if (!(r.spec = sweep_spec_load(o->spec_path, err, errlen))) return 2;
    int code = 2;
    pthread_t threads[RUNNER_MAX_DEVICES];
    worker_arg args[RUNNER_MAX_DEVICES];
    int nthreads = 0;
    device_info *all = NULL;
    r.metric = r.spec->has_metric ? r.spec->metric : "val_loss";
    int known = 0;
    for (size_t i = 0; i < sizeof metric_names / sizeof *metric_names; i++)
        known |= !strcmp(r.metric, metric_names[i]);
    if (!known) {
        snprintf(err, errlen,
                 "%s: metric.name \"%s\" is not one cltrain logs (val_accuracy, val_loss, train_accuracy, "
                 "train_loss)",
                 o->spec_path, r.metric);
        goto out;
    }
    /* every config the sweep can make must be one a model can be built from: check the defaults now */
    config probe;
    if (sweep_spec_apply(r.spec, NULL, &probe, err, errlen) != 0) goto out;
    int ndev, sel[RUNNER_MAX_DEVICES], nsel;
    if (device_list(&all, &ndev, err, errlen) != 0) goto out;
    const char *spec = o->devices ? o->devices : r.spec->devices ? r.spec->devices : "0";
    if (device_select(spec, all, ndev, sel, RUNNER_MAX_DEVICES, &nsel, err, errlen) != 0) goto out;
    if (!(r.search = sweep_search_create(r.spec, r.spec->seed, err, errlen))) goto out;
    sweep_name(r.spec, o->spec_path, r.name, sizeof r.name);
    const char *output = o->output ? o->output : r.spec->output ? r.spec->output : "runs";
    snprintf(r.dir, sizeof r.dir, "%s/%s", output, r.name);
    size_t l = strlen(r.dir);
    while (l > 1 && r.dir[l - 1] == '/')
        r.dir[--l] = '\0';
    snprintf(r.state_path, sizeof r.state_path, "%s/state.json", r.dir);
    snprintf(r.csv_path, sizeof r.csv_path, "%s/summary.csv", r.dir);
    if (make_dirs(r.dir, err, errlen) != 0 || keep_sweep_file(&r, err, errlen) != 0 ||
        runner_state_load(r.state_path, r.spec, &r.st, err, errlen) != 0)
        goto out;
    if (setup_wandb(&r, err, errlen) != 0) goto out;
    r.limit = o->count ? o->count : r.spec->count;
    r.use_bars = o->bars && nsel == 1;
    pthread_mutex_init(&r.lock, NULL);
    int kept = 0, again = 0;
    for (int i = 0; i < r.st.n; i++)
        r.st.t[i].pending ? again++ : kept++;
    if (r.st.n)
        say(&r, "resuming sweep %s in %s: %d trials kept, %d to run again", r.name, r.dir, kept, again);
    else
        say(&r, "sweep %s (%s, %d parameters) in %s on %d device%s", r.name,
            sweep_method_name(r.spec->method), r.spec->nparams, r.dir, nsel, nsel == 1 ? "" : "s");
    for (int i = 0; i < nsel; i++) {
        args[i] = (worker_arg){&r, all[sel[i]]};
        say(&r, "  device %d: %s", all[sel[i]].index, all[sel[i]].name);
        tune_params tp;
        launch_set ls;
        char why[CT_ERR_LEN];
        int untuned = tune_load(&all[sel[i]], &tp, why, sizeof why) == 0 ||
                      launch_load(&all[sel[i]], &ls, why, sizeof why) == 0;
        if (untuned && !getenv("CLTRAIN_NO_TUNE"))
            say(&r,
                "  (not tuned: `cltrain tune --device %d` takes a few minutes once and picks the fastest "
                "GEMM "
                "parameters and kernel launches for it)",
                all[sel[i]].index);
    }
    if (!(r.datasets = data_share_create())) {
        snprintf(err, errlen, "out of host memory starting the sweep");
        goto out;
    }
    for (int i = 0; i < nsel; i++)
        if (pthread_create(&threads[nthreads], NULL, worker, &args[i]) == 0) nthreads++;
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    data_share_destroy(r.datasets);
    save_state(&r);
    leaderboard(&r);
    pthread_mutex_destroy(&r.lock);
    if (r.search_error[0]) say(&r, "cltrain: the search stopped: %s", r.search_error);
    int finished = 0;
    for (int i = 0; i < r.st.n; i++)
        finished += !r.st.t[i].pending &&
                    (r.st.t[i].status == SWEEP_TRIAL_FINISHED || r.st.t[i].status == SWEEP_TRIAL_STOPPED);
    if (o->interrupted && *o->interrupted) {
        say(&r, "interrupted: the state is saved; run the same command to resume");
        code = 130;
    } else {
        code = finished ? 0 : 1;
    }
out:
    free(all);
    runner_state_free(&r.st);
    sweep_search_destroy(r.search);
    sweep_spec_destroy(r.spec);
    return code;
}
