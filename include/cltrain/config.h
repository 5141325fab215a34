/* config.h: the flat config every run is defined by. The keys, their types, defaults, ranges and
 * aliases exist once, in config_keys.def; model, data, training and sweep read keys through here,
 * so each key, its check and its error message exist once.
 *
 * YAML in: a mapping of key: value; a nested `dataset:` mapping is flattened (type -> dataset_type,
 * path -> data_path, the others keep their names). Aliases from public sweep files are accepted
 * and stored under the canonical name. YAML out: the canonical names, every key. */
#ifndef CLTRAIN_CONFIG_H
#define CLTRAIN_CONFIG_H

#include <stddef.h>

typedef enum { CONFIG_INT, CONFIG_FLOAT, CONFIG_BOOL, CONFIG_STRING } config_type;

typedef enum {
#define KEY(id, name, type, def, min, max, choices, aliases, help) CFG_##id,
#include "cltrain/config_keys.def"
#undef KEY
    CFG_KEY_COUNT
} config_key_id;

typedef struct {
    const char *name;
    config_type type;
    const char *def;
    double min, max;
    const char *choices; /* "a|b|c" or NULL */
    const char *aliases; /* "a|b" or NULL */
    const char *help;
} config_key;

#define CONFIG_STR_LEN 256

typedef struct {
    config_type type;
    long long i; /* CONFIG_INT, CONFIG_BOOL (0/1) */
    double f;    /* CONFIG_FLOAT */
    char s[CONFIG_STR_LEN];
    int line;    /* YAML line it was set from, 0 = default or command line */
} config_value;

typedef struct {
    config_value v[CFG_KEY_COUNT];
} config;

const config_key *config_key_info(config_key_id id);

/* The id of a key or one of its aliases; -1 when unknown. */
int config_key_find(const char *name);

/* The known key nearest to `name` by edit distance (for "did you mean"), or NULL if none is close.
 * A near miss of an alias gives the key the alias stands for ("use_batchnorm" -> "batch_norm"). */
const char *config_key_nearest(const char *name);

/* Every key at its default. */
void config_init(config *c);

/* Sets `key` (or an alias) from text, checked against the key's type and range:
 * "num_filters", "32". int: whole decimal numbers; float: decimal or exponent ("1e-3"), finite;
 * bool: true/false/yes/no/on/off/1/0, any case; string: one of the choices when the key has them,
 * never empty, blanks around it dropped. `line` is recorded for later messages (0 if none). On
 * failure err holds one sentence naming the key and the value (and the line when given), and *c is
 * unchanged. */
int config_set(config *c, const char *key, const char *text, int line, char *err, size_t errlen);

/* Parses "key=value" (the --set option); blanks around the key are dropped, the value may hold '='. */
int config_set_assignment(config *c, const char *assignment, char *err, size_t errlen);

/* Loads a YAML file of key: value (all keys optional; unknown keys are an error that suggests the
 * nearest known key). Refused: an empty file, not YAML, not a mapping, a list or mapping where a
 * value belongs, a null value (`key:`, `~`), a key set twice (also by an alias or under dataset:),
 * a second document, a wandb sweep file. Messages name the file and line; on failure *c is
 * unchanged. */
int config_load_yaml(config *c, const char *path, char *err, size_t errlen);

/* Writes every key, canonical names, in table order. */
int config_save_yaml(const config *c, const char *path, char *err, size_t errlen);

/* Cross-key checks that need no device (odd filter_size, ...). */
int config_validate(const config *c, char *err, size_t errlen);

long long config_int(const config *c, config_key_id id);
double config_float(const config *c, config_key_id id);
int config_bool(const config *c, config_key_id id);
const char *config_str(const config *c, config_key_id id);

/* The value as text, as YAML would write it ("32", "0.001", "true", "relu"). */
void config_format(const config *c, config_key_id id, char *out, size_t len);

/* A cJSON object {name: value, ...} of every key (the caller owns it; cJSON *, void here so that
 * this header does not pull cJSON in). */
void *config_to_json(const config *c);

#endif
