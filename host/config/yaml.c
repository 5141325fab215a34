/* yaml.c: a config file in and out. In: a YAML mapping of key: value, a nested `dataset:` mapping
 * flattened (type -> dataset_type, path -> data_path); every error names the file and line. Out:
 * every key, canonical names, in table order, values that load back to the same config. */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "cltrain/config.h"

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* An unquoted empty, ~ or null value: YAML's null, which no key takes (not the text "null"). */
static int is_null(const yaml_node_t *n)
{
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = (const char *)n->data.scalar.value;
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

/* dataset: keys to config keys */
static const char *dataset_key(const char *k)
{
    if (!strcmp(k, "type")) return "dataset_type";
    if (!strcmp(k, "path")) return "data_path";
    return k;
}

/* One key: value of the top level (nested = 0) or of the dataset: block (nested = 1). seen[id] is the
 * line each key was set on, so that a key given twice (or once under an alias and once by its name)
 * is refused; *dataset_line likewise for the dataset: block itself. */
static int set_pair(config *c, const char *path, yaml_document_t *doc, yaml_node_pair_t *p, int nested, int *seen,
                    int *dataset_line, char *err, size_t errlen)
{
    yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
    const char *key = scalar(kn);
    if (!key) {
        snprintf(err, errlen, "%s:%d: a key must be a plain name, not a list or mapping.", path, line_of(kn));
        return -1;
    }
    if (!nested && !strcmp(key, "dataset")) {
        if (!vn || vn->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%d: dataset must be a mapping (type, path, image_size, ...).", path, line_of(kn));
            return -1;
        }
        if (*dataset_line) {
            snprintf(err, errlen, "%s:%d: dataset is set twice (first on line %d).", path, line_of(kn), *dataset_line);
            return -1;
        }
        *dataset_line = line_of(kn);
        for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++)
            if (set_pair(c, path, doc, q, 1, seen, dataset_line, err, errlen) != 0) return -1;
        return 0;
    }
    const char *name = nested ? dataset_key(key) : key;
    int id = config_key_find(name);
    if (id < 0) {
        const char *near = config_key_nearest(name);
        snprintf(err, errlen, "%s:%d: unknown key \"%s\"%s%s%s%s", path, line_of(kn), key, nested ? " under dataset" : "",
                 near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : ".");
        return -1;
    }
    const char *text = scalar(vn);
    if (!text) {
        snprintf(err, errlen, "%s:%d: %s must be a single value, not a list or mapping.", path, line_of(vn), key);
        return -1;
    }
    if (is_null(vn)) {
        snprintf(err, errlen, "%s:%d: %s has no value; give one or leave the key out for its default (%s).", path,
                 line_of(vn), key, config_key_info((config_key_id)id)->def);
        return -1;
    }
    if (seen[id]) {
        snprintf(err, errlen, "%s:%d: %s is set twice (first on line %d).", path, line_of(kn), key, seen[id]);
        return -1;
    }
    char why[CONFIG_STR_LEN + 256];
    if (config_set(c, name, text, 0, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line_of(vn), why);
        return -1;
    }
    seen[id] = line_of(kn);
    c->v[id].line = line_of(kn);
    return 0;
}

/* A wandb sweep file handed where a config belongs: say so instead of "unknown key". */
static int is_sweep_file(yaml_document_t *doc, yaml_node_t *root)
{
    int method = 0, parameters = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        method |= k && !strcmp(k, "method");
        parameters |= k && !strcmp(k, "parameters");
    }
    return method && parameters;
}

/* libyaml's complaint as one clause: a file it cannot read (a directory, bad UTF-8) or bad syntax. */
static void parse_error(const yaml_parser_t *parser, const char *path, char *err, size_t errlen)
{
    const char *problem = parser->problem ? parser->problem : "parse error";
    if (parser->error == YAML_READER_ERROR)
        snprintf(err, errlen, "%s cannot be read as YAML text: %s.", path, problem);
    else if (parser->context)
        snprintf(err, errlen, "%s:%d: not YAML: %s %s (which starts on line %d).", path, (int)parser->problem_mark.line + 1,
                 problem, parser->context, (int)parser->context_mark.line + 1);
    else
        snprintf(err, errlen, "%s:%d: not YAML: %s.", path, (int)parser->problem_mark.line + 1, problem);
}

/* The keys go into a copy first, so a file refused half way leaves *c as it was. */
static int load_mapping(config *c, const char *path, yaml_document_t *doc, char *err, size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root) {
        snprintf(err, errlen, "%s is empty; a config is a mapping of key: value.", path);
        return -1;
    }
    if (root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%d: a config is a mapping of key: value, not %s.", path, line_of(root),
                 root->type == YAML_SEQUENCE_NODE ? "a list" : "a single value");
        return -1;
    }
    if (is_sweep_file(doc, root)) {
        snprintf(err, errlen, "%s is a sweep file (it has method: and parameters:), not a config; run it with "
                 "`cltrain %s`.", path, path);
        return -1;
    }
    config work = *c;
    int seen[CFG_KEY_COUNT] = {0}, dataset_line = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
        if (set_pair(&work, path, doc, p, 0, seen, &dataset_line, err, errlen) != 0) return -1;
    *c = work;
    return 0;
}

int config_load_yaml(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s.", path);
        return -1;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "out of memory reading %s.", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        parse_error(&parser, path, err, errlen);
    } else {
        rc = load_mapping(c, path, &doc, err, errlen);
        yaml_document_delete(&doc);
        /* a second document ("---") would be silently ignored; refuse it instead */
        yaml_document_t next;
        if (rc == 0) {
            if (!yaml_parser_load(&parser, &next)) {
                parse_error(&parser, path, err, errlen);
                rc = -1;
            } else {
                yaml_node_t *root = yaml_document_get_root_node(&next);
                if (root) {
                    snprintf(err, errlen, "%s:%d: the file holds a second YAML document; a config is one mapping.", path,
                             line_of(root));
                    rc = -1;
                }
                yaml_document_delete(&next);
            }
        }
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int config_save_yaml(const config *c, const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "the config path %.64s... is too long.", path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s.", tmp);
        return -1;
    }
    fprintf(f, "# cltrain config: `cltrain train <this file>` repeats the run\n");
    for (int i = 0; i < CFG_KEY_COUNT; i++) {
        const config_key *k = config_key_info((config_key_id)i);
        char v[CONFIG_STR_LEN + 8];
        config_format(c, (config_key_id)i, v, sizeof v);
        if (k->type != CONFIG_STRING) {
            fprintf(f, "%s: %s\n", k->name, v);
            continue;
        }
        /* strings double-quoted, so "true", "1e3" or a path with ': ' stay strings */
        fprintf(f, "%s: \"", k->name);
        for (const char *s = v; *s; s++) {
            if (*s == '"' || *s == '\\') fputc('\\', f);
            fputc(*s, f);
        }
        fputs("\"\n", f);
    }
    int ok = !ferror(f);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, errlen, "writing %s failed (disk full?).", path);
        return -1;
    }
    return 0;
}
