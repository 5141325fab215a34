/* state.c: a sweep's trials on disk: state.json (what a resume reads) and summary.csv (what a person
 * or a spreadsheet reads). Both are rewritten whole after every change, through a temporary file and
 * a rename, so a crash never leaves half a file. */
#include "runner_state.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

runner_trial *runner_state_add(runner_state *st)
{
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        runner_trial *t = realloc(st->t, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        st->t = t;
        st->cap = cap;
    }
    runner_trial *t = &st->t[st->n++];
    memset(t, 0, sizeof *t);
    t->metric = NAN;
    t->device = -1;
    return t;
}

int runner_trial_push_metric(runner_trial *t, double v)
{
    if (t->epochs == t->hcap) {
        int cap = t->hcap ? 2 * t->hcap : 8;
        double *h = realloc(t->history, (size_t)cap * sizeof *h);
        if (!h) return -1;
        t->history = h;
        t->hcap = cap;
    }
    t->history[t->epochs++] = v;
    return 0;
}

void runner_state_free(runner_state *st)
{
    for (int i = 0; i < st->n; i++) free(st->t[i].history);
    free(st->t);
    memset(st, 0, sizeof *st);
}

const char *runner_status_name(sweep_trial_status s)
{
    switch (s) {
    case SWEEP_TRIAL_RUNNING: return "running";
    case SWEEP_TRIAL_FINISHED: return "finished";
    case SWEEP_TRIAL_STOPPED: return "stopped";
    case SWEEP_TRIAL_FAILED: return "failed";
    case SWEEP_TRIAL_KILLED: return "killed";
    }
    return "?";
}

static int status_parse(const char *s, sweep_trial_status *out)
{
    for (int i = SWEEP_TRIAL_RUNNING; i <= SWEEP_TRIAL_KILLED; i++)
        if (!strcmp(s, runner_status_name((sweep_trial_status)i))) {
            *out = (sweep_trial_status)i;
            return 0;
        }
    return -1;
}

static cJSON *number_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static int write_atomically(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", tmp);
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, errlen, "writing %s failed (disk full?)", path);
        return -1;
    }
    return 0;
}

int runner_state_save(const char *path, const sweep_spec *spec, const runner_state *st, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "method", sweep_method_name(spec->method));
    cJSON_AddStringToObject(root, "metric", spec->has_metric ? spec->metric : "val_loss");
    cJSON_AddStringToObject(root, "wandb_sweep_id", st->wandb_sweep_id);
    cJSON *trials = cJSON_AddArrayToObject(root, "trials");
    for (int i = 0; i < st->n; i++) {
        const runner_trial *t = &st->t[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "number", t->number);
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddNumberToObject(o, "device", t->device);
        cJSON_AddStringToObject(o, "status", t->pending ? "pending" : runner_status_name(t->status));
        cJSON_AddStringToObject(o, "reason", t->reason);
        cJSON_AddItemToObject(o, "metric", number_or_null(t->metric));
        cJSON_AddNumberToObject(o, "epochs", t->epochs);
        cJSON *h = cJSON_AddArrayToObject(o, "history");
        for (int e = 0; e < t->epochs; e++) cJSON_AddItemToArray(h, number_or_null(t->history[e]));
        cJSON_AddNumberToObject(o, "start", t->start);
        cJSON_AddNumberToObject(o, "end", t->end);
        cJSON *p = cJSON_AddObjectToObject(o, "parameters");
        for (int k = 0; k < spec->nparams && k < t->values.n; k++)
            cJSON_AddStringToObject(p, config_key_info(spec->params[k].id)->name, t->values.v[k].text);
        cJSON_AddItemToArray(trials, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "out of host memory writing %s", path);
        return -1;
    }
    int rc = write_atomically(path, text, err, errlen);
    free(text);
    return rc;
}

static double json_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int runner_state_load(const char *path, const sweep_spec *spec, runner_state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* a new sweep */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        fclose(f);
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    fclose(f);
    text[size] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *trials = cJSON_GetObjectItemCaseSensitive(root, "trials");
    if (!cJSON_IsArray(trials)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s is not a sweep state file (no trials list); move it away to start afresh", path);
        return -1;
    }
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(root, "wandb_sweep_id");
    if (cJSON_IsString(sid)) snprintf(st->wandb_sweep_id, sizeof st->wandb_sweep_id, "%s", sid->valuestring);
    cJSON *o;
    cJSON_ArrayForEach(o, trials)
    {
        runner_trial *t = runner_state_add(st);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        if (!t || !cJSON_IsString(id) || !cJSON_IsString(status) || !cJSON_IsObject(params)) {
            snprintf(err, errlen, "%s: trial %d is incomplete; move the file away to start afresh", path, st->n);
            goto fail;
        }
        t->number = (int)json_number(o, "number");
        snprintf(t->id, sizeof t->id, "%s", id->valuestring);
        t->device = (int)json_number(o, "device");
        if (cJSON_IsString(reason)) snprintf(t->reason, sizeof t->reason, "%s", reason->valuestring);
        t->metric = json_number(o, "metric");
        t->start = json_number(o, "start");
        t->end = json_number(o, "end");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "history"), *e;
        cJSON_ArrayForEach(e, h) runner_trial_push_metric(t, cJSON_IsNumber(e) ? e->valuedouble : NAN);
        if (!strcmp(status->valuestring, "pending") || status_parse(status->valuestring, &t->status) != 0 ||
            t->status == SWEEP_TRIAL_RUNNING || t->status == SWEEP_TRIAL_KILLED) {
            /* it did not end: it runs again from the start */
            t->pending = 1;
            t->status = SWEEP_TRIAL_RUNNING;
            t->epochs = 0;
            t->metric = NAN;
            t->reason[0] = '\0';
        }
        /* the values, through a config, as the search sees them */
        config c;
        if (sweep_spec_apply(spec, NULL, &c, err, errlen) != 0) goto fail;
        const cJSON *p;
        cJSON_ArrayForEach(p, params)
        {
            if (!cJSON_IsString(p) || config_set(&c, p->string, p->valuestring, 0, err, errlen) != 0) {
                snprintf(err, errlen, "%s: trial %d's parameter %s does not fit the sweep file", path, t->number,
                         p->string);
                goto fail;
            }
        }
        if (sweep_param_values_from_config(spec, &c, &t->values, err, errlen) != 0) goto fail;
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    runner_state_free(st);
    return -1;
}

int runner_state_write_csv(const char *path, const sweep_spec *spec, const runner_state *st, char *err,
                           size_t errlen)
{
    size_t cap = 4096 + (size_t)st->n * 1024, len = 0;
    char *text = malloc(cap);
    if (!text) {
        snprintf(err, errlen, "out of host memory writing %s", path);
        return -1;
    }
#define OUT(...) len += (size_t)snprintf(text + len, len < cap ? cap - len : 0, __VA_ARGS__)
    OUT("number,id,device,status,%s,epochs,seconds", spec->has_metric ? spec->metric : "val_loss");
    for (int k = 0; k < spec->nparams; k++) OUT(",%s", config_key_info(spec->params[k].id)->name);
    OUT(",reason\n");
    for (int i = 0; i < st->n; i++) {
        const runner_trial *t = &st->t[i];
        double secs = t->end > t->start ? t->end - t->start : 0;
        OUT("%d,%s,%d,%s,", t->number, t->id, t->device, t->pending ? "pending" : runner_status_name(t->status));
        if (isfinite(t->metric)) OUT("%.6g", t->metric);
        OUT(",%d,%.1f", t->epochs, secs);
        for (int k = 0; k < spec->nparams && k < t->values.n; k++) OUT(",%s", t->values.v[k].text);
        /* reasons are sentences: quote them, doubling quotes */
        OUT(",\"");
        for (const char *c = t->reason; *c; c++) {
            if (*c == '"')
                OUT("\"\"");
            else
                OUT("%c", *c == '\n' ? ' ' : *c);
        }
        OUT("\"\n");
    }
#undef OUT
    int rc;
    if (len >= cap) {
        snprintf(err, errlen, "summary.csv grew beyond its buffer");
        rc = -1;
    } else {
        rc = write_atomically(path, text, err, errlen);
    }
    free(text);
    return rc;
}
