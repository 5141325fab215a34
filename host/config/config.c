/* config.c: setting, checking and reading the flat config's values (see config.h). Every key's
 * check and error message lives here once; text from YAML, --set and sweeps all comes through
 * config_set. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cltrain/config.h"

static void where(char *out, size_t len, int line)
{
    if (line > 0)
        snprintf(out, len, " (line %d)", line);
    else
        out[0] = '\0';
}

static int parse_bool(const char *t, long long *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(t, yes[i])) return *out = 1, 0;
        if (!strcasecmp(t, no[i])) return *out = 0, 0;
    }
    return -1;
}

/* A choice list "a|b|c" as "a, b or c". */
static void choices_text(const char *choices, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    int count = 1;
    for (const char *c = choices; *c; c++) count += *c == '|';
    int i = 0;
    for (const char *p = choices; p && *p && used < len; i++) {
        const char *bar = strchr(p, '|');
        int n = bar ? (int)(bar - p) : (int)strlen(p);
        used += (size_t)snprintf(out + used, len - used, "%s%.*s", i == 0 ? "" : i == count - 1 ? " or " : ", ", n, p);
        p = bar ? bar + 1 : NULL;
    }
}

static int in_choices(const char *choices, const char *t)
{
    size_t n = strlen(t);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, t, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

int config_set(config *c, const char *key, const char *text, int line, char *err, size_t errlen)
{
    char at[32];
    where(at, sizeof at, line);
    int id = config_key_find(key);
    if (id < 0) {
        const char *near = config_key_nearest(key);
        if (near)
            snprintf(err, errlen, "unknown key \"%s\"%s; did you mean \"%s\"?", key, at, near);
        else
            snprintf(err, errlen, "unknown key \"%s\"%s.", key, at);
        return -1;
    }
    const config_key *k = config_key_info((config_key_id)id);
    config_value v = c->v[id];
    v.type = k->type;
    v.line = line;
    const char *t = text ? text : "";
    while (isspace((unsigned char)*t)) t++;
    char *end;
    switch (k->type) {
    case CONFIG_INT: {
        errno = 0;
        long long x = strtoll(t, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (!*t || *end || errno == ERANGE) {
            snprintf(err, errlen, "%s%s must be a whole number, not \"%s\".", k->name, at, text ? text : "");
            return -1;
        }
        if ((double)x < k->min || (double)x > k->max) {
            snprintf(err, errlen, "%s%s is %lld; it must be from %.15g to %.15g.", k->name, at, x, k->min, k->max);
            return -1;
        }
        v.i = x;
        v.f = (double)x;
        break;
    }
    case CONFIG_FLOAT: {
        errno = 0;
        double x = strtod(t, &end);
        while (isspace((unsigned char)*end)) end++;
        if (!*t || *end || errno == ERANGE || !isfinite(x)) {
            snprintf(err, errlen, "%s%s must be a number, not \"%s\".", k->name, at, text ? text : "");
            return -1;
        }
        if (x < k->min || x > k->max) {
            snprintf(err, errlen, "%s%s is %g; it must be from %.15g to %.15g.", k->name, at, x, k->min, k->max);
            return -1;
        }
        v.f = x;
        break;
    }
    case CONFIG_BOOL:
        if (parse_bool(t, &v.i) != 0) {
            snprintf(err, errlen, "%s%s must be true or false, not \"%s\".", k->name, at, text ? text : "");
            return -1;
        }
        break;
    case CONFIG_STRING: {
        /* surrounding blanks are never meant ("relu " from a shell line, a path pasted with a space) */
        size_t n = strlen(t);
        while (n > 0 && isspace((unsigned char)t[n - 1])) n--;
        if (n >= sizeof v.s) {
            snprintf(err, errlen, "%s%s is longer than %d characters.", k->name, at, CONFIG_STR_LEN - 1);
            return -1;
        }
        memcpy(v.s, t, n);
        v.s[n] = '\0';
        if (k->choices && !in_choices(k->choices, v.s)) {
            char list[256];
            choices_text(k->choices, list, sizeof list);
            snprintf(err, errlen, "%s%s is \"%s\"; it must be %s.", k->name, at, v.s, list);
            return -1;
        }
        if (!n) {
            snprintf(err, errlen, "%s%s is empty.", k->name, at);
            return -1;
        }
        break;
    }
    }
    c->v[id] = v;
    return 0;
}

void config_init(config *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (int i = 0; i < CFG_KEY_COUNT; i++)
        if (config_set(c, config_key_info((config_key_id)i)->name, config_key_info((config_key_id)i)->def, 0, err,
                       sizeof err) != 0)
            abort(); /* a default outside its own range: a bug in config_keys.def */
}

int config_set_assignment(config *c, const char *a, char *err, size_t errlen)
{
    const char *eq = strchr(a, '=');
    if (!eq || eq == a) {
        snprintf(err, errlen, "\"%s\" is not key=value.", a);
        return -1;
    }
    /* "batch_size = 32" from a shell line: the blanks around the key are not part of it */
    const char *start = a, *stop = eq;
    while (start < stop && isspace((unsigned char)*start)) start++;
    while (stop > start && isspace((unsigned char)stop[-1])) stop--;
    if (stop == start || stop - start >= 128) {
        snprintf(err, errlen, "\"%s\" is not key=value.", a);
        return -1;
    }
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(stop - start), start);
    return config_set(c, key, eq + 1, 0, err, errlen);
}

int config_validate(const config *c, char *err, size_t errlen)
{
    long long k = config_int(c, CFG_FILTER_SIZE);
    if (k % 2 == 0) {
        snprintf(err, errlen, "filter_size is %lld; it must be odd (same padding keeps the image size).", k);
        return -1;
    }
    return 0;
}

long long config_int(const config *c, config_key_id id)
{
    return c->v[id].i;
}

double config_float(const config *c, config_key_id id)
{
    return c->v[id].type == CONFIG_INT ? (double)c->v[id].i : c->v[id].f;
}

int config_bool(const config *c, config_key_id id)
{
    return c->v[id].i != 0;
}

const char *config_str(const config *c, config_key_id id)
{
    return c->v[id].s;
}

void config_format(const config *c, config_key_id id, char *out, size_t len)
{
    const config_value *v = &c->v[id];
    switch (config_key_info(id)->type) {
    case CONFIG_INT: snprintf(out, len, "%lld", v->i); break;
    case CONFIG_FLOAT: {
        /* the shortest text that reads back to the same double */
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(out, len, "%.*g", prec, v->f);
            if (strtod(out, NULL) == v->f) break;
        }
        break;
    }
    case CONFIG_BOOL: snprintf(out, len, "%s", v->i ? "true" : "false"); break;
    case CONFIG_STRING: snprintf(out, len, "%s", v->s); break;
    }
}
