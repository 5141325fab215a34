/* keys.c: the table of config keys (from config_keys.def), lookup by name or alias, and the nearest
 * known key for "did you mean" messages. */
#include <string.h>

#include "cltrain/config.h"

static const config_key KEYS[CFG_KEY_COUNT] = {
#define KEY(id, name, type, def, min, max, choices, aliases, help) {name, type, def, min, max, choices, aliases, help},
#include "cltrain/config_keys.def"
#undef KEY
};

const config_key *config_key_info(config_key_id id)
{
    return id >= 0 && id < CFG_KEY_COUNT ? &KEYS[id] : NULL;
}

/* Whether `name` is one of the '|'-separated words in list. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

int config_key_find(const char *name)
{
    for (int i = 0; i < CFG_KEY_COUNT; i++)
        if (!strcmp(KEYS[i].name, name)) return i;
    for (int i = 0; i < CFG_KEY_COUNT; i++)
        if (KEYS[i].aliases && in_list(KEYS[i].aliases, name)) return i;
    return -1;
}

/* Levenshtein distance, capped: keys are short. */
static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int prev[64], cur[64];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

const char *config_key_nearest(const char *name)
{
    const char *best = NULL;
    int best_d = 99;
    for (int i = 0; i < CFG_KEY_COUNT; i++) {
        int d = distance(name, KEYS[i].name);
        /* a near miss of an alias ("use_batchnorm") suggests the key it stands for */
        for (const char *p = KEYS[i].aliases; p && *p;) {
            const char *bar = strchr(p, '|');
            char alias[64];
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len < sizeof alias) {
                memcpy(alias, p, len);
                alias[len] = '\0';
                int da = distance(name, alias);
                if (da < d) d = da;
            }
            p = bar ? bar + 1 : NULL;
        }
        if (d < best_d) {
            best_d = d;
            best = KEYS[i].name;
        }
    }
    /* close enough to be a typo: one edit in a short name, else a third of the name (at least 2), so
     * that "x" suggests nothing while "batchsize" suggests batch_size */
    int len = (int)strlen(name), limit = len <= 5 ? 1 : len / 3 < 2 ? 2 : len / 3;
    return best_d <= limit ? best : NULL;
}
