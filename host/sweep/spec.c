/* spec.c: a sweep file (YAML) -> sweep_spec, checked. wandb's keys (method, metric, parameters,
 * early_terminate, run_cap, name, description, program, command, entity, project) and cltrain's
 * (dataset, count, devices, output, wandb, defaults, seed). Every parameter must name a config
 * key, and every value the sweep can produce is tried on a scratch config through config_set,
 * so a value the trainer would reject is reported here, with the file and line, before any trial
 * runs. Also here: a spec -> a trial's config, and values <-> text for --set and the
 * leaderboard. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

int sweep_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *sweep_method_name(sweep_method m)
{
    switch (m) {
    case SWEEP_GRID:
        return "grid";
    case SWEEP_RANDOM:
        return "random";
    case SWEEP_BAYES:
        return "bayes";
    }
    return "unknown";
}

/* ---- parsing context and small helpers ---------------------------------------------------- */

typedef struct {
    const char *file;
    yaml_document_t *doc;
    sweep_spec *spec;
    char *err;
    size_t errlen;
} ctx;

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static const char *text_of(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int fail_at(ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(ctx *c, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sweep_fail(c->err, c->errlen, "%s:%d: %s", c->file, line, msg);
}

/* Levenshtein distance, for "did you mean" among a short list of words. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The word of `words` (NULL-terminated) nearest to `name`, or NULL when none is close. */
static const char *nearest_word(const char *name, const char *const *words)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (int i = 0; words[i]; i++) {
        size_t d = edit_distance(name, words[i]);
        if (d < bestd) bestd = d, best = words[i];
    }
    size_t limit = strlen(name) / 3 + 1;
    if (limit < 2) limit = 2;
    return bestd <= limit ? best : NULL;
}

/* " (did you mean 'x'?)" or "" */
static void suggestion(char *out, size_t len, const char *near)
{
    if (near)
        snprintf(out, len, "; did you mean '%s'?", near);
    else
        snprintf(out, len, ".");
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a single value";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static int need_scalar(ctx *c, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SCALAR_NODE) return 0;
    return fail_at(c, line_of(n), "%s must be a single value, not %s.", what, node_kind(n));
}

static int need_mapping(ctx *c, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_MAPPING_NODE) return 0;
    return fail_at(c, line_of(n), "%s must be a mapping of keys, not %s.", what, node_kind(n));
}

/* A number from a plain scalar ("0.01", "1e-3", "32"); quoted text is a string, as in YAML. */
static int get_number(ctx *c, const yaml_node_t *n, const char *what, double *out, int *is_int)
{
    if (need_scalar(c, n, what)) return -1;
    const char *s = text_of(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    int plain =
        n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
    if (!plain || end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return fail_at(c, line_of(n), "%s must be a number, not '%s'.", what, s);
    if (is_int) {
        const char *p = s + (*s == '-' || *s == '+');
        *is_int = *p && strspn(p, "0123456789") == strlen(p);
    }
    *out = v;
    return 0;
}

static int get_int(ctx *c, const yaml_node_t *n, const char *what, long long lo, long long *out)
{
    double v = 0;
    int is_int = 0;
    if (get_number(c, n, what, &v, &is_int)) return -1;
    if (!is_int || v < (double)lo || v > 9e18)
        return fail_at(c, line_of(n), "%s must be a whole number of at least %lld, not '%s'.", what, lo,
                       text_of(n));
    *out = strtoll(text_of(n), NULL, 10);
    return 0;
}

static int get_bool(ctx *c, const yaml_node_t *n, const char *what, int *out)
{
    if (need_scalar(c, n, what)) return -1;
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcmp(text_of(n), yes[i]) == 0) return *out = 1, 0;
    for (int i = 0; no[i]; i++)
        if (strcmp(text_of(n), no[i]) == 0) return *out = 0, 0;
    return fail_at(c, line_of(n), "%s must be true or false, not '%s'.", what, text_of(n));
}

static char *dup_text(ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d) sweep_fail(c->err, c->errlen, "%s: out of host memory.", c->file);
    return d;
}

/* A string, or a list of strings joined by sep (devices, tags, command). */
static int get_text_or_list(ctx *c, const yaml_node_t *n, const char *what, const char *sep, char **out)
{
    if (n->type == YAML_SCALAR_NODE) {
        *out = dup_text(c, text_of(n));
        return *out ? 0 : -1;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, line_of(n), "%s must be a string or a list, not %s.", what, node_kind(n));
    size_t len = 1;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        if (need_scalar(c, item, what)) return -1;
        len += strlen(text_of(item)) + strlen(sep);
    }
    char *s = calloc(1, len);
    if (!s) return sweep_fail(c->err, c->errlen, "%s: out of host memory.", c->file);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (it > n->data.sequence.items.start) strcat(s, sep);
        strcat(s, text_of(yaml_document_get_node(c->doc, *it)));
    }
    *out = s;
    return 0;
}

static int get_string(ctx *c, const yaml_node_t *n, const char *what, char **out)
{
    if (need_scalar(c, n, what)) return -1;
    *out = dup_text(c, text_of(n));
    return *out ? 0 : -1;
}

/* Walks a mapping's pairs: key text, key node, value node. Keys must be plain strings and
 * appear once. */
typedef int (*pair_fn)(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg);

static int each_pair(ctx *c, yaml_node_t *map, const char *what, pair_fn fn, void *arg)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return fail_at(c, line_of(kn), "the keys of %s must be names, not %s.", what, node_kind(kn));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *prev = yaml_document_get_node(c->doc, q->key);
            if (prev->type == YAML_SCALAR_NODE && strcmp(text_of(prev), text_of(kn)) == 0)
                return fail_at(c, line_of(kn), "%s has the key '%s' twice (first at line %d).", what,
                               text_of(kn), line_of(prev));
        }
        if (fn(c, text_of(kn), kn, vn, arg)) return -1;
    }
    return 0;
}

/* Sets key=text on a scratch config; on failure the config module's sentence is wrapped with
 * the file, line and the place in the sweep file. */
static int try_config(ctx *c, config *scratch, config_key_id id, const char *text, int line,
                      const char *where)
{
    char msg[SWEEP_ERR_LEN];
    if (config_set(scratch, config_key_info(id)->name, text, 0, msg, sizeof msg) == 0) return 0;
    return fail_at(c, line, "%s: %s", where, msg);
}

/* ---- settings: dataset:, defaults: -------------------------------------------------------- */

/* Whether a config key is already set by dataset:, defaults: or parameters: (names the place). */
static const char *already_set(const sweep_spec *s, config_key_id id, int *line)
{
    for (int i = 0; i < s->ndataset; i++)
        if (s->dataset[i].id == id) return *line = s->dataset[i].line, "dataset";
    for (int i = 0; i < s->ndefaults; i++)
        if (s->defaults[i].id == id) return *line = s->defaults[i].line, "defaults";
    for (int i = 0; i < s->nparams; i++)
        if (s->params[i].id == id) return *line = s->params[i].line, "parameters";
    return NULL;
}

static int unknown_key_error(ctx *c, int line, const char *what, const char *name)
{
    const char *near = config_key_nearest(name);
    char sug[128];
    suggestion(sug, sizeof sug, near);
    return fail_at(c, line, "%s '%s' is not a config key%s", what, name, sug);
}

typedef struct {
    int is_dataset;
} setting_arg;

static int setting_pair(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *argp)
{
    setting_arg *arg = argp;
    sweep_spec *s = c->spec;
    const char *section = arg->is_dataset ? "dataset" : "defaults";
    const char *name = key;
    /* the config module's flattening of a nested dataset: mapping */
    if (arg->is_dataset && strcmp(key, "type") == 0) name = "dataset_type";
    if (arg->is_dataset && strcmp(key, "path") == 0) name = "data_path";
    int id = config_key_find(name);
    if (id < 0) {
        char what[64];
        snprintf(what, sizeof what, "%s key", section);
        return unknown_key_error(c, line_of(kn), what, key);
    }
    char where[512];
    snprintf(where, sizeof where, "%s.%s", section, key);
    if (need_scalar(c, vn, where)) return -1;
    int prev_line;
    const char *prev = already_set(s, (config_key_id)id, &prev_line);
    if (prev)
        return fail_at(c, line_of(kn), "%s sets %s, which %s already sets at line %d.", where,
                       config_key_info((config_key_id)id)->name, prev, prev_line);
    if (strlen(text_of(vn)) >= SWEEP_TEXT_LEN)
        return fail_at(c, line_of(vn), "%s is longer than %d characters.", where, SWEEP_TEXT_LEN - 1);
    config scratch;
    config_init(&scratch);
    if (try_config(c, &scratch, (config_key_id)id, text_of(vn), line_of(vn), where)) return -1;
    sweep_setting *st = arg->is_dataset ? &s->dataset[s->ndataset++] : &s->defaults[s->ndefaults++];
    snprintf(st->name, sizeof st->name, "%s", key);
    st->id = (config_key_id)id;
    snprintf(st->value, sizeof st->value, "%s", text_of(vn));
    st->line = line_of(vn);
    return 0;
}

/* ---- metric, early_terminate, wandb ------------------------------------------------------- */

static int metric_pair(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void)arg;
    sweep_spec *s = c->spec;
    if (strcmp(key, "name") == 0) {
        if (need_scalar(c, vn, "metric.name")) return -1;
        if (strlen(text_of(vn)) == 0 || strlen(text_of(vn)) >= SWEEP_NAME_LEN)
            return fail_at(c, line_of(vn), "metric.name must be 1 to %d characters.", SWEEP_NAME_LEN - 1);
        snprintf(s->metric, sizeof s->metric, "%s", text_of(vn));
        s->has_metric = 1;
    } else if (strcmp(key, "goal") == 0) {
        if (need_scalar(c, vn, "metric.goal")) return -1;
        if (strcmp(text_of(vn), "minimize") == 0)
            s->goal = SWEEP_MINIMIZE;
        else if (strcmp(text_of(vn), "maximize") == 0)
            s->goal = SWEEP_MAXIMIZE;
        else
            return fail_at(c, line_of(vn), "metric.goal must be minimize or maximize, not '%s'.",
                           text_of(vn));
    } else if (strcmp(key, "target") == 0) {
        if (get_number(c, vn, "metric.target", &s->target, NULL)) return -1;
        s->has_target = 1;
    } else if (strcmp(key, "impute") == 0) {
        /* wandb's default; the other strategies need whole histories the search does not see */
        if (need_scalar(c, vn, "metric.impute")) return -1;
        if (strcmp(text_of(vn), "worst") != 0)
            return fail_at(c, line_of(vn),
                           "metric.impute '%s' is not supported; cltrain imputes "
                           "the worst metric for failed trials (impute: worst).",
                           text_of(vn));
    } else if (strcmp(key, "impute_while_running") == 0) {
        if (need_scalar(c, vn, "metric.impute_while_running")) return -1;
        if (strcmp(text_of(vn), "false") != 0)
            return fail_at(c, line_of(vn),
                           "metric.impute_while_running '%s' is not supported; "
                           "running trials are conditioned on their predicted value (false).",
                           text_of(vn));
    } else {
        static const char *const keys[] = {"name", "goal", "target", "impute", "impute_while_running", NULL};
        char sug[128];
        suggestion(sug, sizeof sug, nearest_word(key, keys));
        return fail_at(c, line_of(kn), "unknown key '%s' in metric (name, goal, target)%s", key, sug);
    }
    return 0;
}

typedef struct {
    int has_type, has_min, has_max, has_s;
} et_seen;

static int et_pair(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *argp)
{
    et_seen *seen = argp;
    sweep_hyperband *hb = &c->spec->hyperband;
    long long v = 0;
    if (strcmp(key, "type") == 0) {
        if (need_scalar(c, vn, "early_terminate.type")) return -1;
        if (strcmp(text_of(vn), "hyperband") != 0)
            return fail_at(c, line_of(vn), "early_terminate.type must be hyperband, not '%s'.", text_of(vn));
        seen->has_type = 1;
    } else if (strcmp(key, "min_iter") == 0) {
        if (get_int(c, vn, "early_terminate.min_iter", 1, &v)) return -1;
        if (v > 1000000000) return fail_at(c, line_of(vn), "early_terminate.min_iter is too large.");
        hb->min_iter = (int)v;
        seen->has_min = 1;
    } else if (strcmp(key, "max_iter") == 0) {
        if (get_int(c, vn, "early_terminate.max_iter", 1, &v)) return -1;
        if (v > 1000000000) return fail_at(c, line_of(vn), "early_terminate.max_iter is too large.");
        hb->max_iter = (int)v;
        seen->has_max = 1;
    } else if (strcmp(key, "s") == 0) {
        if (get_int(c, vn, "early_terminate.s", 1, &v)) return -1;
        if (v > 1000) return fail_at(c, line_of(vn), "early_terminate.s is too large.");
        hb->s = (int)v;
        seen->has_s = 1;
    } else if (strcmp(key, "eta") == 0) {
        if (get_number(c, vn, "early_terminate.eta", &hb->eta, NULL)) return -1;
        if (!(hb->eta > 1))
            return fail_at(c, line_of(vn), "early_terminate.eta must be above 1, not %s.", text_of(vn));
    } else if (strcmp(key, "strict") == 0) {
        if (get_bool(c, vn, "early_terminate.strict", &hb->strict)) return -1;
    } else {
        static const char *const keys[] = {"type", "min_iter", "max_iter", "s", "eta", "strict", NULL};
        char sug[128];
        suggestion(sug, sizeof sug, nearest_word(key, keys));
        return fail_at(c, line_of(kn), "unknown key '%s' in early_terminate%s", key, sug);
    }
    return 0;
}

static int wandb_pair(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void)arg;
    sweep_spec *s = c->spec;
    if (strcmp(key, "project") == 0) return get_string(c, vn, "wandb.project", &s->wandb_project);
    if (strcmp(key, "entity") == 0) return get_string(c, vn, "wandb.entity", &s->wandb_entity);
    if (strcmp(key, "group") == 0) return get_string(c, vn, "wandb.group", &s->wandb_group);
    if (strcmp(key, "tags") == 0) return get_text_or_list(c, vn, "wandb.tags", ",", &s->wandb_tags);
    if (strcmp(key, "mode") == 0) {
        if (need_scalar(c, vn, "wandb.mode")) return -1;
        static const char *const modes[] = {"online", "offline", "disabled", "dryrun", NULL};
        for (int i = 0; modes[i]; i++)
            if (strcmp(text_of(vn), modes[i]) == 0) return get_string(c, vn, "wandb.mode", &s->wandb_mode);
        return fail_at(c, line_of(vn), "wandb.mode must be online, offline or disabled, not '%s'.",
                       text_of(vn));
    }
    static const char *const keys[] = {"project", "entity", "mode", "tags", "group", NULL};
    char sug[128];
    suggestion(sug, sizeof sug, nearest_word(key, keys));
    return fail_at(c, line_of(kn),
                   "unknown key '%s' in wandb (project, entity, mode, tags, "
                   "group)%s",
                   key, sug);
}

/* ---- parameters --------------------------------------------------------------------------- */

enum {
    PK_VALUE,
    PK_VALUES,
    PK_PROBS,
    PK_DIST,
    PK_MIN,
    PK_MAX,
    PK_Q,
    PK_MU,
    PK_SIGMA,
    PK_A,
    PK_B,
    PK_PARAMETERS,
    PK_COUNT
};
static const char *const param_keys[PK_COUNT + 1] = {
    "value",      "values", "probabilities", "distribution", "min", "max", "q", "mu", "sigma", "a", "b",
    "parameters", NULL};

/* Which keys each distribution takes (beside `distribution`). */
static unsigned dist_keys(sweep_dist d)
{
#define B(k) (1u << (k))
    switch (d) {
    case SWEEP_DIST_CONSTANT:
        return B(PK_VALUE);
    case SWEEP_DIST_CATEGORICAL:
        return B(PK_VALUES) | B(PK_PROBS);
    case SWEEP_DIST_INT_UNIFORM:
    case SWEEP_DIST_UNIFORM:
    case SWEEP_DIST_LOG_UNIFORM:
    case SWEEP_DIST_LOG_UNIFORM_VALUES:
    case SWEEP_DIST_INV_LOG_UNIFORM:
    case SWEEP_DIST_INV_LOG_UNIFORM_VALUES:
        return B(PK_MIN) | B(PK_MAX);
    case SWEEP_DIST_Q_UNIFORM:
    case SWEEP_DIST_Q_LOG_UNIFORM:
    case SWEEP_DIST_Q_LOG_UNIFORM_VALUES:
        return B(PK_MIN) | B(PK_MAX) | B(PK_Q);
    case SWEEP_DIST_NORMAL:
    case SWEEP_DIST_LOG_NORMAL:
        return B(PK_MU) | B(PK_SIGMA);
    case SWEEP_DIST_Q_NORMAL:
    case SWEEP_DIST_Q_LOG_NORMAL:
        return B(PK_MU) | B(PK_SIGMA) | B(PK_Q);
    case SWEEP_DIST_BETA:
        return B(PK_A) | B(PK_B);
    case SWEEP_DIST_Q_BETA:
        return B(PK_A) | B(PK_B) | B(PK_Q);
    default:
        return 0;
    }
#undef B
}

static int is_q_dist(sweep_dist d)
{
    return (dist_keys(d) >> PK_Q) & 1;
}

/* One scalar value of a categorical/constant parameter, made canonical by the config module. */
static int param_value(ctx *c, sweep_param *p, const yaml_node_t *n, const char *where, sweep_value *out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(c, line_of(n),
                       "%s: each value must be a single value, not %s (nested "
                       "values are not config keys).",
                       where, node_kind(n));
    if (strlen(text_of(n)) >= SWEEP_TEXT_LEN)
        return fail_at(c, line_of(n), "%s is longer than %d characters.", where, SWEEP_TEXT_LEN - 1);
    config scratch;
    config_init(&scratch);
    if (try_config(c, &scratch, p->id, text_of(n), line_of(n), where)) return -1;
    config_format(&scratch, p->id, out->text, sizeof out->text);
    switch (config_key_info(p->id)->type) {
    case CONFIG_INT:
        out->num = (double)config_int(&scratch, p->id);
        break;
    case CONFIG_FLOAT:
        out->num = config_float(&scratch, p->id);
        break;
    case CONFIG_BOOL:
        out->num = config_bool(&scratch, p->id);
        break;
    default:
        out->num = NAN;
        break;
    }
    out->index = -1;
    return 0;
}

static int parse_values(ctx *c, sweep_param *p, const yaml_node_t *vals, const yaml_node_t *probs)
{
    char where[512];
    snprintf(where, sizeof where, "parameters.%s.values", p->name);
    if (vals->type != YAML_SEQUENCE_NODE)
        return fail_at(c, line_of(vals), "%s must be a list, not %s.", where, node_kind(vals));
    int n = (int)(vals->data.sequence.items.top - vals->data.sequence.items.start);
    if (n == 0) return fail_at(c, line_of(vals), "%s is empty; give at least one value.", where);
    p->values = calloc((size_t)n, sizeof *p->values);
    if (!p->values) return sweep_fail(c->err, c->errlen, "%s: out of host memory.", c->file);
    p->nvalues = n;
    for (int i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, vals->data.sequence.items.start[i]);
        if (param_value(c, p, it, where, &p->values[i])) return -1;
        p->values[i].index = i;
    }
    if (!probs) return 0;
    snprintf(where, sizeof where, "parameters.%s.probabilities", p->name);
    if (probs->type != YAML_SEQUENCE_NODE)
        return fail_at(c, line_of(probs), "%s must be a list, not %s.", where, node_kind(probs));
    int np = (int)(probs->data.sequence.items.top - probs->data.sequence.items.start);
    if (np != n) return fail_at(c, line_of(probs), "%s has %d entries but values has %d.", where, np, n);
    p->probs = calloc((size_t)n, sizeof *p->probs);
    if (!p->probs) return sweep_fail(c->err, c->errlen, "%s: out of host memory.", c->file);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, probs->data.sequence.items.start[i]);
        if (get_number(c, it, where, &p->probs[i], NULL)) return -1;
        if (p->probs[i] < 0)
            return fail_at(c, line_of(it), "%s cannot be negative (%s).", where, text_of(it));
        sum += p->probs[i];
    }
    if (fabs(sum - 1) > 1e-6) return fail_at(c, line_of(probs), "%s sum to %.9g, not 1.", where, sum);
    return 0;
}

/* Checks that the values the distribution reaches pass the key's range: both ends where they
 * are finite, the median where the law is unbounded (a draw outside the range is redrawn). */
static int check_reach(ctx *c, sweep_param *p, const yaml_node_t *const *nodes, int line)
{
    config scratch;
    config_init(&scratch);
    char where[512];
    sweep_value v;
    int unbounded = p->dist == SWEEP_DIST_NORMAL || p->dist == SWEEP_DIST_Q_NORMAL ||
                    p->dist == SWEEP_DIST_LOG_NORMAL || p->dist == SWEEP_DIST_Q_LOG_NORMAL ||
                    p->dist == SWEEP_DIST_BETA || p->dist == SWEEP_DIST_Q_BETA;
    if (unbounded) {
        sweep_param_ppf(p, 0.5, &v);
        snprintf(where, sizeof where, "parameters.%s (the median of %s)", p->name, sweep_dist_name(p->dist));
        return try_config(c, &scratch, p->id, v.text, line, where);
    }
    for (int end = 0; end < 2; end++) {
        sweep_param_ppf(p, end, &v);
        const yaml_node_t *n = nodes[end ? PK_MAX : PK_MIN];
        if (v.num == strtod(n ? text_of(n) : "nan", NULL))
            snprintf(where, sizeof where, "parameters.%s.%s", p->name, end ? "max" : "min");
        else
            snprintf(where, sizeof where, "parameters.%s.%s (reaching %s)", p->name, end ? "max" : "min",
                     v.text);
        if (try_config(c, &scratch, p->id, v.text, n ? line_of(n) : line, where)) return -1;
    }
    return 0;
}

static int parse_param(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void)arg;
    sweep_spec *s = c->spec;
    int line = line_of(kn);
    int id = config_key_find(key);
    if (id < 0) {
        if (vn->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++) {
                yaml_node_t *k = yaml_document_get_node(c->doc, q->key);
                if (k->type == YAML_SCALAR_NODE && strcmp(text_of(k), "parameters") == 0)
                    return fail_at(c, line,
                                   "parameter '%s' nests parameters, which cltrain's "
                                   "flat config has no place for; sweep the config keys "
                                   "themselves.",
                                   key);
            }
        }
        return unknown_key_error(c, line, "parameter", key);
    }
    int prev_line;
    const char *prev = already_set(s, (config_key_id)id, &prev_line);
    if (prev)
        return fail_at(c, line, "parameter '%s' sets %s, which %s already sets at line %d.", key,
                       config_key_info((config_key_id)id)->name, prev, prev_line);
    if (strlen(key) >= SWEEP_NAME_LEN) return fail_at(c, line, "parameter name '%s' is too long.", key);
    char where[160];
    snprintf(where, sizeof where, "parameters.%s", key);
    if (need_mapping(c, vn, where)) return -1;

    sweep_param *p = &s->params[s->nparams++];
    snprintf(p->name, sizeof p->name, "%s", key);
    p->id = (config_key_id)id;
    p->line = line;
    p->q = 1, p->mu = 0, p->sigma = 1, p->a = 1, p->b = 1;

    const yaml_node_t *nodes[PK_COUNT] = {0};
    for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, q->key);
        if (k->type != YAML_SCALAR_NODE)
            return fail_at(c, line_of(k), "the keys of %s must be names.", where);
        int found = -1;
        for (int i = 0; i < PK_COUNT; i++)
            if (strcmp(text_of(k), param_keys[i]) == 0) found = i;
        if (found < 0) {
            char sug[128];
            suggestion(sug, sizeof sug, nearest_word(text_of(k), param_keys));
            return fail_at(c, line_of(k), "unknown key '%s' in %s%s", text_of(k), where, sug);
        }
        if (nodes[found]) return fail_at(c, line_of(k), "%s has the key '%s' twice.", where, text_of(k));
        nodes[found] = yaml_document_get_node(c->doc, q->value);
    }
    if (nodes[PK_PARAMETERS])
        return fail_at(c, line_of(nodes[PK_PARAMETERS]),
                       "parameter '%s' nests parameters, which "
                       "cltrain's flat config has no place for; sweep the config keys themselves.",
                       key);

    /* the distribution: named, or implied by the keys as wandb's schema matching does */
    double minv = 0, maxv = 0;
    int min_int = 0, max_int = 0;
    char what[256];
    snprintf(what, sizeof what, "%s.min", where);
    if (nodes[PK_MIN] && get_number(c, nodes[PK_MIN], what, &minv, &min_int)) return -1;
    snprintf(what, sizeof what, "%s.max", where);
    if (nodes[PK_MAX] && get_number(c, nodes[PK_MAX], what, &maxv, &max_int)) return -1;
    if (nodes[PK_DIST]) {
        const yaml_node_t *d = nodes[PK_DIST];
        snprintf(what, sizeof what, "%s.distribution", where);
        if (need_scalar(c, d, what)) return -1;
        int found = -1;
        for (int i = 0; sweep_dist_names[i]; i++)
            if (strcmp(text_of(d), sweep_dist_names[i]) == 0) found = i;
        if (found < 0) {
            char sug[128];
            suggestion(sug, sizeof sug, nearest_word(text_of(d), sweep_dist_names));
            return fail_at(c, line_of(d), "%s '%s' is not a known distribution%s", what, text_of(d), sug);
        }
        p->dist = (sweep_dist)found;
    } else if (nodes[PK_VALUE]) {
        p->dist = SWEEP_DIST_CONSTANT;
    } else if (nodes[PK_VALUES]) {
        p->dist = SWEEP_DIST_CATEGORICAL;
    } else if (nodes[PK_MIN] && nodes[PK_MAX]) {
        p->dist = min_int && max_int ? SWEEP_DIST_INT_UNIFORM : SWEEP_DIST_UNIFORM;
    } else if (nodes[PK_MIN] || nodes[PK_MAX]) {
        return fail_at(c, line, "%s has %s but no %s; give both.", where, nodes[PK_MIN] ? "min" : "max",
                       nodes[PK_MIN] ? "max" : "min");
    } else {
        return fail_at(c, line, "%s needs value, values, min and max, or a distribution.", where);
    }

    unsigned allowed = dist_keys(p->dist) | (1u << PK_DIST);
    for (int i = 0; i < PK_COUNT; i++)
        if (nodes[i] && !((allowed >> i) & 1))
            return fail_at(c, line_of(nodes[i]), "%s: '%s' does not apply to distribution %s.", where,
                           param_keys[i], sweep_dist_name(p->dist));
    static const int required[] = {PK_VALUE, PK_VALUES, PK_MIN, PK_MAX};
    for (int i = 0; i < 4; i++) {
        int k = required[i];
        if (((dist_keys(p->dist) >> k) & 1) && !nodes[k])
            return fail_at(c, line, "%s: distribution %s needs '%s'.", where, sweep_dist_name(p->dist),
                           param_keys[k]);
    }

    /* numbers */
#define NUM(k, field)                                                                                        \
    if (nodes[k]) {                                                                                          \
        snprintf(what, sizeof what, "%s.%s", where, param_keys[k]);                                          \
        if (get_number(c, nodes[k], what, &p->field, NULL)) return -1;                                       \
    }
    NUM(PK_Q, q)
    NUM(PK_MU, mu)
    NUM(PK_SIGMA, sigma) NUM(PK_A, a) NUM(PK_B, b)
#undef NUM
        p->min = minv,
        p->max = maxv;
    if (nodes[PK_MIN] && !(p->min < p->max))
        return fail_at(c, line_of(nodes[PK_MIN]), "%s: min %s is not below max %s.", where,
                       text_of(nodes[PK_MIN]), text_of(nodes[PK_MAX]));
    if (p->dist == SWEEP_DIST_INT_UNIFORM && !(min_int && max_int))
        return fail_at(c, line_of(nodes[min_int ? PK_MAX : PK_MIN]),
                       "%s: int_uniform needs whole numbers for min and max.", where);
    if ((p->dist == SWEEP_DIST_LOG_UNIFORM_VALUES || p->dist == SWEEP_DIST_Q_LOG_UNIFORM_VALUES ||
         p->dist == SWEEP_DIST_INV_LOG_UNIFORM_VALUES) &&
        !(p->min > 0))
        return fail_at(c, line_of(nodes[PK_MIN]), "%s: min must be above 0 for %s.", where,
                       sweep_dist_name(p->dist));
    if (nodes[PK_Q] && !(p->q > 0)) return fail_at(c, line_of(nodes[PK_Q]), "%s.q must be above 0.", where);
    if (nodes[PK_SIGMA] && !(p->sigma > 0))
        return fail_at(c, line_of(nodes[PK_SIGMA]), "%s.sigma must be above 0.", where);
    if (nodes[PK_A] && !(p->a > 0)) return fail_at(c, line_of(nodes[PK_A]), "%s.a must be above 0.", where);
    if (nodes[PK_B] && !(p->b > 0)) return fail_at(c, line_of(nodes[PK_B]), "%s.b must be above 0.", where);
    if (p->dist == SWEEP_DIST_INT_UNIFORM && p->max - p->min > 1e15)
        return fail_at(c, line_of(nodes[PK_MAX]), "%s: the range is too wide.", where);

    /* the key's type decides which laws make sense */
    config_type kt = config_key_info(p->id)->type;
    int discrete = p->dist == SWEEP_DIST_CONSTANT || p->dist == SWEEP_DIST_CATEGORICAL;
    if ((kt == CONFIG_STRING || kt == CONFIG_BOOL) && !discrete)
        return fail_at(c, line, "%s: %s is a %s key; give it value or values, not %s.", where,
                       config_key_info(p->id)->name, kt == CONFIG_BOOL ? "true/false" : "text",
                       sweep_dist_name(p->dist));
    if (kt == CONFIG_INT && !discrete && p->dist != SWEEP_DIST_INT_UNIFORM &&
        !(is_q_dist(p->dist) && p->q == floor(p->q)))
        return fail_at(c, line,
                       "%s: %s takes whole numbers, and %s gives fractions; use "
                       "int_uniform, values, or a q_ distribution with a whole q.",
                       where, config_key_info(p->id)->name, sweep_dist_name(p->dist));

    /* values, then whether what the law reaches fits the key */
    if (p->dist == SWEEP_DIST_CONSTANT) {
        p->values = calloc(1, sizeof *p->values);
        if (!p->values) return sweep_fail(c->err, c->errlen, "%s: out of host memory.", c->file);
        p->nvalues = 1;
        snprintf(what, sizeof what, "%s.value", where);
        if (param_value(c, p, nodes[PK_VALUE], what, &p->values[0])) return -1;
        p->values[0].index = 0;
        return 0;
    }
    if (p->dist == SWEEP_DIST_CATEGORICAL) return parse_values(c, p, nodes[PK_VALUES], nodes[PK_PROBS]);
    return check_reach(c, p, nodes, line);
}

static int cmp_param(const void *a, const void *b)
{
    const sweep_param *x = a, *y = b;
    return strcmp(config_key_info(x->id)->name, config_key_info(y->id)->name);
}

/* ---- top level ---------------------------------------------------------------------------- */

enum {
    TK_METHOD,
    TK_METRIC,
    TK_PARAMETERS,
    TK_EARLY,
    TK_RUN_CAP,
    TK_NAME,
    TK_DESCRIPTION,
    TK_PROGRAM,
    TK_COMMAND,
    TK_ENTITY,
    TK_PROJECT,
    TK_DATASET,
    TK_COUNT,
    TK_DEVICES,
    TK_OUTPUT,
    TK_WANDB,
    TK_DEFAULTS,
    TK_SEED,
    TK_N
};
static const char *const top_keys[TK_N + 1] = {
    "method",   "metric", "parameters", "early_terminate", "run_cap", "name",    "description", "program",
    "command",  "entity", "project",    "dataset",         "count",   "devices", "output",      "wandb",
    "defaults", "seed",   NULL};

typedef struct {
    yaml_node_t *node[TK_N];
    yaml_node_t *keynode[TK_N];
} top_seen;

static int top_pair(ctx *c, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *argp)
{
    top_seen *t = argp;
    for (int i = 0; i < TK_N; i++)
        if (strcmp(key, top_keys[i]) == 0) {
            t->node[i] = vn;
            t->keynode[i] = kn;
            return 0;
        }
    char sug[128];
    suggestion(sug, sizeof sug, nearest_word(key, top_keys));
    return fail_at(c, line_of(kn), "unknown key '%s'%s", key, sug);
}

static int parse_top(ctx *c, yaml_node_t *root)
{
    sweep_spec *s = c->spec;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(c, line_of(root),
                       "a sweep file must be a mapping of keys (method, "
                       "parameters, ...), not %s.",
                       node_kind(root));
    top_seen t = {0};
    if (each_pair(c, root, "the sweep file", top_pair, &t)) return -1;

    if (!t.node[TK_METHOD])
        return fail_at(c, line_of(root),
                       "the sweep has no method; add 'method: grid', 'random' "
                       "or 'bayes'.");
    yaml_node_t *m = t.node[TK_METHOD];
    if (need_scalar(c, m, "method")) return -1;
    if (strcmp(text_of(m), "grid") == 0)
        s->method = SWEEP_GRID;
    else if (strcmp(text_of(m), "random") == 0)
        s->method = SWEEP_RANDOM;
    else if (strcmp(text_of(m), "bayes") == 0)
        s->method = SWEEP_BAYES;
    else
        return fail_at(c, line_of(m), "method '%s' is not grid, random or bayes.", text_of(m));

    if (t.node[TK_METRIC]) {
        if (need_mapping(c, t.node[TK_METRIC], "metric")) return -1;
        if (each_pair(c, t.node[TK_METRIC], "metric", metric_pair, NULL)) return -1;
        if (!s->has_metric)
            return fail_at(c, line_of(t.node[TK_METRIC]),
                           "metric needs a name (e.g. name: "
                           "val_accuracy).");
    }
    long long v;
    if (t.node[TK_RUN_CAP]) {
        if (get_int(c, t.node[TK_RUN_CAP], "run_cap", 1, &v)) return -1;
        s->run_cap = v;
    }
    if (t.node[TK_COUNT]) {
        if (get_int(c, t.node[TK_COUNT], "count", 1, &v)) return -1;
        s->count = v;
    }
    if (t.node[TK_SEED]) {
        if (get_int(c, t.node[TK_SEED], "seed", 0, &v)) return -1;
        s->seed = (uint64_t)v;
    }
    struct {
        int k;
        char **out;
    } strings[] = {{TK_NAME, &s->name},     {TK_DESCRIPTION, &s->description}, {TK_PROGRAM, &s->program},
                   {TK_ENTITY, &s->entity}, {TK_PROJECT, &s->project},         {TK_OUTPUT, &s->output}};
    if (t.node[TK_OUTPUT]) { /* replaces the default */
        free(s->output);
        s->output = NULL;
    }
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (t.node[strings[i].k] &&
            get_string(c, t.node[strings[i].k], top_keys[strings[i].k], strings[i].out))
            return -1;
    if (t.node[TK_COMMAND] && get_text_or_list(c, t.node[TK_COMMAND], "command", " ", &s->command)) return -1;
    if (t.node[TK_DEVICES] && get_text_or_list(c, t.node[TK_DEVICES], "devices", ",", &s->devices)) return -1;
    if (s->devices && !s->devices[0]) return fail_at(c, line_of(t.node[TK_DEVICES]), "devices is empty.");
    if (t.node[TK_WANDB]) {
        if (need_mapping(c, t.node[TK_WANDB], "wandb")) return -1;
        if (each_pair(c, t.node[TK_WANDB], "wandb", wandb_pair, NULL)) return -1;
    }
    if (t.node[TK_DATASET]) {
        setting_arg a = {1};
        if (need_mapping(c, t.node[TK_DATASET], "dataset")) return -1;
        if (each_pair(c, t.node[TK_DATASET], "dataset", setting_pair, &a)) return -1;
    }
    if (t.node[TK_DEFAULTS]) {
        setting_arg a = {0};
        if (need_mapping(c, t.node[TK_DEFAULTS], "defaults")) return -1;
        if (each_pair(c, t.node[TK_DEFAULTS], "defaults", setting_pair, &a)) return -1;
    }
    if (t.node[TK_PARAMETERS]) {
        if (need_mapping(c, t.node[TK_PARAMETERS], "parameters")) return -1;
        if (each_pair(c, t.node[TK_PARAMETERS], "parameters", parse_param, NULL)) return -1;
        qsort(s->params, (size_t)s->nparams, sizeof s->params[0], cmp_param);
    }
    if (t.node[TK_EARLY]) {
        yaml_node_t *e = t.node[TK_EARLY];
        et_seen seen = {0};
        if (need_mapping(c, e, "early_terminate")) return -1;
        s->hyperband.enabled = 1;
        s->hyperband.eta = 3;
        s->hyperband.strict = 1;
        s->hyperband.line = line_of(e);
        if (each_pair(c, e, "early_terminate", et_pair, &seen)) return -1;
        if (!seen.has_type) return fail_at(c, line_of(e), "early_terminate needs 'type: hyperband'.");
        if (seen.has_max != seen.has_s && !seen.has_min)
            return fail_at(c, line_of(e), "early_terminate: max_iter needs s (or give min_iter).");
        if (!seen.has_min && !seen.has_max)
            return fail_at(c, line_of(e), "early_terminate needs min_iter, or max_iter and s.");
        if (seen.has_max && !seen.has_s) s->hyperband.max_iter = 0; /* min_iter decides */
        int bands[4];
        if (sweep_hyperband_bands(&s->hyperband, bands, 4) < 1)
            return fail_at(c, line_of(e),
                           "early_terminate gives no band of at least one epoch; "
                           "raise max_iter or lower eta or s.");
        if (!s->has_metric)
            return fail_at(c, line_of(e),
                           "early_terminate needs a metric to compare trials by "
                           "(metric: {name: ...}).");
    }

    /* what each method needs */
    if (s->method == SWEEP_BAYES) {
        if (!s->has_metric)
            return fail_at(c, line_of(m),
                           "bayes needs a metric to model (metric: {name: ..., "
                           "goal: ...}).");
        int searchable = 0;
        for (int i = 0; i < s->nparams; i++)
            searchable += sweep_param_searchable(&s->params[i]);
        if (!searchable) return fail_at(c, line_of(m), "bayes needs at least one parameter that varies.");
    }
    if (s->method == SWEEP_GRID) {
        for (int i = 0; i < s->nparams; i++) {
            sweep_param *p = &s->params[i];
            int ok = p->dist == SWEEP_DIST_CONSTANT || p->dist == SWEEP_DIST_INT_UNIFORM ||
                     p->dist == SWEEP_DIST_Q_UNIFORM || (p->dist == SWEEP_DIST_CATEGORICAL && !p->probs);
            if (!ok)
                return fail_at(c, p->line,
                               "grid cannot enumerate parameter '%s' (%s%s); give it "
                               "values, integer min/max or q_uniform, or use random or bayes.",
                               p->name, sweep_dist_name(p->dist), p->probs ? " with probabilities" : "");
        }
        char msg[512];
        if (sweep_grid_size(s, msg, sizeof msg) < 0) return fail_at(c, line_of(m), "%s", msg);
        /* every value of an expanded int_uniform/q_uniform must fit the key */
        for (int i = 0; i < s->nparams; i++) {
            sweep_param *p = &s->params[i];
            if (p->dist != SWEEP_DIST_Q_UNIFORM) continue;
            config scratch;
            config_init(&scratch);
            char where[512];
            snprintf(where, sizeof where, "parameters.%s (grid value)", p->name);
            long long n = sweep_grid_param_count(p);
            for (long long k = 0; k < n; k++) {
                sweep_value val;
                sweep_grid_param_value(p, k, &val);
                if (try_config(c, &scratch, p->id, val.text, p->line, where)) return -1;
            }
        }
    }
    return 0;
}

static sweep_spec *parse_text(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    sweep_spec *s = calloc(1, sizeof *s);
    if (!s) {
        sweep_fail(err, errlen, "%s: out of host memory.", name);
        return NULL;
    }
    s->seed = 42;
    s->goal = SWEEP_MINIMIZE;
    s->path = strdup(name);
    s->output = strdup("runs/");
    if (!s->path || !s->output) {
        sweep_fail(err, errlen, "%s: out of host memory.", name);
        sweep_spec_destroy(s);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        sweep_fail(err, errlen, "%s: cannot start the YAML parser (out of memory).", name);
        sweep_spec_destroy(s);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    ctx c = {name, &doc, s, err, errlen};
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        fail_at(&c, (int)parser.problem_mark.line + 1, "not valid YAML: %s%s%s.",
                parser.problem ? parser.problem : "unknown error", parser.context ? " " : "",
                parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        sweep_spec_destroy(s);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        fail_at(&c, 1,
                "the sweep file is empty; it needs at least 'method: grid', 'random' or "
                "'bayes'.");
    else
        rc = parse_top(&c, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        sweep_spec_destroy(s);
        return NULL;
    }
    if (s->output) {
        /* an empty output would put runs in the working directory's root by accident */
        if (!s->output[0]) {
            sweep_fail(err, errlen, "%s: output is empty.", name);
            sweep_spec_destroy(s);
            return NULL;
        }
    }
    return s;
}

sweep_spec *sweep_spec_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    return parse_text(text, len, name ? name : "<sweep>", err, errlen);
}

sweep_spec *sweep_spec_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sweep_fail(err, errlen, "%s: cannot open the sweep file: %s.", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        if (cap > (64u << 20)) {
            free(buf);
            fclose(f);
            sweep_fail(err, errlen, "%s: the sweep file is over 64 MiB.", path);
            return NULL;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) {
        sweep_fail(err, errlen, "%s: out of host memory.", path);
        return NULL;
    }
    if (rerr) {
        free(buf);
        sweep_fail(err, errlen, "%s: cannot read the sweep file.", path);
        return NULL;
    }
    sweep_spec *s = parse_text(buf, len, path, err, errlen);
    free(buf);
    return s;
}

void sweep_spec_destroy(sweep_spec *s)
{
    if (!s) return;
    for (int i = 0; i < s->nparams; i++) {
        free(s->params[i].values);
        free(s->params[i].probs);
    }
    char **strs[] = {&s->path,       &s->devices,     &s->output,     &s->wandb_project, &s->wandb_entity,
                     &s->wandb_mode, &s->wandb_group, &s->wandb_tags, &s->name,          &s->description,
                     &s->program,    &s->command,     &s->entity,     &s->project};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    free(s);
}

/* ---- trial configs and text --------------------------------------------------------------- */

int sweep_spec_apply(const sweep_spec *spec, const sweep_param_values *vals, config *cfg, char *err,
                     size_t errlen)
{
    char msg[SWEEP_ERR_LEN];
    config_init(cfg);
    const sweep_setting *groups[2] = {spec->dataset, spec->defaults};
    int counts[2] = {spec->ndataset, spec->ndefaults};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < counts[g]; i++) {
            const sweep_setting *st = &groups[g][i];
            if (config_set(cfg, config_key_info(st->id)->name, st->value, st->line, msg, sizeof msg))
                return sweep_fail(err, errlen, "%s:%d: %s", spec->path, st->line, msg);
        }
    if (!vals) return 0;
    if (vals->n != spec->nparams)
        return sweep_fail(err, errlen,
                          "%s: a trial has %d parameter values but the sweep has %d "
                          "parameters.",
                          spec->path, vals->n, spec->nparams);
    for (int i = 0; i < spec->nparams; i++) {
        const sweep_param *p = &spec->params[i];
        if (config_set(cfg, config_key_info(p->id)->name, vals->v[i].text, p->line, msg, sizeof msg))
            return sweep_fail(err, errlen, "%s:%d: parameter %s: %s", spec->path, p->line, p->name, msg);
    }
    return 0;
}

int sweep_values_fit_config(const sweep_spec *spec, const sweep_param_values *vals)
{
    config scratch;
    config_init(&scratch);
    char msg[SWEEP_ERR_LEN];
    for (int i = 0; i < spec->nparams; i++)
        if (config_set(&scratch, config_key_info(spec->params[i].id)->name, vals->v[i].text, 0, msg,
                       sizeof msg))
            return 0;
    return 1;
}

int sweep_param_values_format(const sweep_spec *spec, const sweep_param_values *vals, const char *sep,
                              char *out, size_t len)
{
    size_t used = 0;
    if (len) out[0] = '\0';
    for (int i = 0; i < spec->nparams && i < vals->n; i++) {
        int n = snprintf(used < len ? out + used : NULL, used < len ? len - used : 0, "%s%s=%s", i ? sep : "",
                         config_key_info(spec->params[i].id)->name, vals->v[i].text);
        if (n < 0) return -1;
        used += (size_t)n;
    }
    return (int)used;
}

int sweep_param_values_from_config(const sweep_spec *spec, const config *cfg, sweep_param_values *out,
                                   char *err, size_t errlen)
{
    out->n = spec->nparams;
    for (int i = 0; i < spec->nparams; i++) {
        const sweep_param *p = &spec->params[i];
        sweep_value *v = &out->v[i];
        config_format(cfg, p->id, v->text, sizeof v->text);
        v->index = -1;
        switch (config_key_info(p->id)->type) {
        case CONFIG_INT:
            v->num = (double)config_int(cfg, p->id);
            break;
        case CONFIG_FLOAT:
            v->num = config_float(cfg, p->id);
            break;
        case CONFIG_BOOL:
            v->num = config_bool(cfg, p->id);
            break;
        default:
            v->num = NAN;
            break;
        }
        if (p->dist == SWEEP_DIST_CONSTANT || p->dist == SWEEP_DIST_CATEGORICAL) {
            for (int k = 0; k < p->nvalues && v->index < 0; k++)
                if (strcmp(p->values[k].text, v->text) == 0) v->index = k;
            if (v->index < 0)
                return sweep_fail(err, errlen,
                                  "%s:%d: a trial has %s=%s, which is not among the "
                                  "parameter's values.",
                                  spec->path, p->line, config_key_info(p->id)->name, v->text);
        }
    }
    return 0;
}

int sweep_target_reached(const sweep_spec *spec, double metric)
{
    if (!spec->has_target || !isfinite(metric)) return 0;
    return spec->goal == SWEEP_MAXIMIZE ? metric >= spec->target : metric <= spec->target;
}
