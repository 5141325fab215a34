/* share.c: data sets shared by the runs of one process (a sweep's trials). A run whose data keys
 * (dataset_type, data_path, image_size, resize, normalize, val_split, limit, seed) match a data set
 * another run holds, or the last one used, gets that one instead of reading and decoding it again, so
 * a photo set is decoded once per sweep and two devices training at once hold one copy. A data set is
 * read-only once open (loaders take it const), so runs on several threads can share it. */
#include "cltrain/data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* at most this many different data sets at once: one per device in the worst case, as a sweep that
 * varies a data key (seed, image_size) trains different ones on its devices at the same time */
#define SHARE_MAX 64

typedef struct {
    char key[1200];
    data_dataset *ds;
    int refs;
} share_entry;

struct data_share {
    pthread_mutex_t lock;
    share_entry e[SHARE_MAX];
};

data_share *data_share_create(void)
{
    data_share *s = calloc(1, sizeof *s);
    if (s && pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void data_share_destroy(data_share *s)
{
    if (!s) return;
    for (int i = 0; i < SHARE_MAX; i++)
        data_close(s->e[i].ds);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Everything data_open_from_config reads, as one string. */
static void data_key(const config *c, char *key, size_t len)
{
    snprintf(key, len, "%s|%s|%lld|%s|%s|%.17g|%lld|%lld", config_str(c, CFG_DATASET_TYPE),
             config_str(c, CFG_DATA_PATH), config_int(c, CFG_IMAGE_SIZE), config_str(c, CFG_RESIZE),
             config_str(c, CFG_NORMALIZE), config_float(c, CFG_VAL_SPLIT), config_int(c, CFG_LIMIT),
             config_int(c, CFG_SEED));
}

const data_dataset *data_share_open(data_share *s, const config *c, char *err, size_t errlen)
{
    char key[1200];
    data_key(c, key, sizeof key);
    /* the lock is held while a data set is read: a second run that wants the same one waits for it
     * rather than decoding a copy of its own */
    pthread_mutex_lock(&s->lock);
    data_dataset *ds = NULL;
    for (int i = 0; i < SHARE_MAX && !ds; i++)
        if (s->e[i].ds && !strcmp(s->e[i].key, key)) {
            s->e[i].refs++;
            ds = s->e[i].ds;
        }
    if (!ds) {
        /* another data set is needed: the idle ones go first, so memory holds only what runs use */
        int slot = -1;
        for (int i = 0; i < SHARE_MAX; i++) {
            if (s->e[i].ds && s->e[i].refs == 0) {
                data_close(s->e[i].ds);
                s->e[i].ds = NULL;
            }
            if (!s->e[i].ds && slot < 0) slot = i;
        }
        if (slot < 0) {
            snprintf(err, errlen, "more than %d different data sets are in use at once", SHARE_MAX);
        } else if ((ds = data_open_from_config(c, err, errlen))) {
            snprintf(s->e[slot].key, sizeof s->e[slot].key, "%s", key);
            s->e[slot].ds = ds;
            s->e[slot].refs = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ds;
}

void data_share_close(data_share *s, const data_dataset *ds)
{
    if (!ds) return;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < SHARE_MAX; i++)
        if (s->e[i].ds == ds && s->e[i].refs > 0) s->e[i].refs--; /* kept for the next run */
    pthread_mutex_unlock(&s->lock);
}
