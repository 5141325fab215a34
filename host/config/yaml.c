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

/* dataset: keys to config keys */
static const char *dataset_key(const char *k)
{
    if (!strcmp(k, "type")) return "dataset_type";
    if (!strcmp(k, "path")) return "data_path";
    return k;
}

static int set_pair(config *c, const char *path, yaml_document_t *doc, yaml_node_pair_t *p, int nested, int *seen,
                    char *err, size_t errlen)
{
    yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
    const char *key = scalar(kn);
    if (!key) {
        snprintf(err, errlen, "%s:%d: a key must be a plain name", path, line_of(kn));
        return -1;
    }
    if (!nested && !strcmp(key, "dataset")) {
        if (!vn || vn->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%d: dataset must be a mapping (type, path, image_size, ...)", path, line_of(kn));
            return -1;
        }
        for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++)
            if (set_pair(c, path, doc, q, 1, seen, err, errlen) != 0) return -1;
        return 0;
    }
    const char *name = nested ? dataset_key(key) : key;
    int id = config_key_find(name);
    if (id < 0) {
        const char *near = config_key_nearest(name);
        snprintf(err, errlen, "%s:%d: unknown key \"%s\"%s%s%s%s", path, line_of(kn), key, nested ? " under dataset" : "",
                 near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
        return -1;
    }
    const char *text = scalar(vn);
    if (!text) {
        snprintf(err, errlen, "%s:%d: %s must be a single value, not a list or mapping", path, line_of(vn), key);
        return -1;
    }
    if (seen[id]) {
        snprintf(err, errlen, "%s:%d: %s is set twice (first on line %d)", path, line_of(kn), key, seen[id]);
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

int config_load_yaml(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s", path);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%d: not YAML: %s", path, (int)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int seen[CFG_KEY_COUNT] = {0};
    if (!root) {
        snprintf(err, errlen, "%s is empty; a config is a mapping of key: value", path);
    } else if (root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%d: a config is a mapping of key: value", path, line_of(root));
    } else if (is_sweep_file(&doc, root)) {
        snprintf(err, errlen, "%s is a sweep file (it has method: and parameters:), not a config; run it with "
                 "`cltrain %s`", path, path);
    } else {
        rc = 0;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; rc == 0 && p < root->data.mapping.pairs.top; p++)
            rc = set_pair(c, path, &doc, p, 0, seen, err, errlen);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int config_save_yaml(const config *c, const char *path, char *err, size_t errlen)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", tmp);
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
        snprintf(err, errlen, "writing %s failed (disk full?)", path);
        return -1;
    }
    return 0;
}
