/* loader.c: the threaded batch loader. Worker threads prepare whole batches ahead of the trainer
 * into a ring of `depth` batch buffers; the trainer takes them in order with data_loader_next.
 *
 * Batch b lives in slot b % depth. A worker may start batch b only while b < released + depth,
 * where `released` is the first batch the consumer still holds, so no slot is written while it is
 * being read. Each batch's content is a function of (order, seed, epoch) alone, which is what makes
 * the result the same for any number of threads. start_epoch drops the batches of an unfinished
 * epoch: it stops handing out work, waits until no worker is busy, then starts afresh. */
#include "cltrain/data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_MAX_THREADS 256

struct data_loader {
    const data_dataset *ds;
    const data_images *im;
    const long *index;
    long count, batches;
    data_loader_options opt;
    size_t image_floats; /* C * S * S */
    long *order;         /* sample read at each position of this epoch */
    int depth;
    float **slot_images;
    int32_t **slot_labels;
    long *slot_batch; /* batch ready in the slot, or -1 */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv;
    int epoch, active, stop, busy;
    long next_produce, next_consume, released;
    pthread_t *threads;
    int started;     /* threads started (for destroy) */
    float **scratch; /* one per worker; [0] is the consumer's own when threads == 0 */
};

static int batch_size_of(const data_loader *l, long b)
{
    long first = b * l->opt.batch_size;
    return (int)(l->count - first < l->opt.batch_size ? l->count - first : l->opt.batch_size);
}

static void fill_batch(data_loader *l, long b, int epoch, float *scratch)
{
    int slot = (int)(b % l->depth);
    long first = b * l->opt.batch_size;
    int n = batch_size_of(l, b);
    for (int i = 0; i < n; i++) {
        long sample = l->order[first + i];
        data_prepare(l->ds, l->im, sample, l->opt.augment, l->opt.seed, epoch,
                     l->slot_images[slot] + (size_t)i * l->image_floats, scratch);
        l->slot_labels[slot][i] = l->im->labels[sample];
    }
}

typedef struct {
    data_loader *l;
    int id;
} worker_arg;

static void *worker(void *p)
{
    data_loader *l = ((worker_arg *)p)->l;
    float *scratch = l->scratch[((worker_arg *)p)->id];
    free(p);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop &&
               !(l->active && l->next_produce < l->batches && l->next_produce < l->released + l->depth))
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->stop) break;
        long b = l->next_produce++;
        int epoch = l->epoch;
        l->busy++;
        pthread_mutex_unlock(&l->mu);
        fill_batch(l, b, epoch, scratch);
        pthread_mutex_lock(&l->mu);
        l->busy--;
        l->slot_batch[b % l->depth] = b;
        pthread_cond_broadcast(&l->ready_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void *alloc_aligned(size_t bytes)
{
    /* 64-byte alignment: a cache line, and what device uploads like best */
    size_t n = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, n ? n : 64);
}

data_loader *data_loader_create(const data_dataset *ds, data_split split, const data_loader_options *opt,
                                char *err, size_t errlen)
{
    if (opt->batch_size < 1) {
        snprintf(err, errlen, "batch_size %d is out of range: expected at least 1", opt->batch_size);
        return NULL;
    }
    if (opt->threads < 0 || opt->threads > LOADER_MAX_THREADS) {
        snprintf(err, errlen, "the data loader takes 0 to %d threads, not %d", LOADER_MAX_THREADS,
                 opt->threads);
        return NULL;
    }
    if (opt->queue_depth < 0) {
        snprintf(err, errlen, "the data loader's queue depth %d is negative", opt->queue_depth);
        return NULL;
    }
    data_loader *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of host memory creating the %s loader", data_split_name(split));
        return NULL;
    }
    l->ds = ds;
    l->im = data_split_images(ds, split);
    l->index = data_split_index(ds, split, &l->count);
    l->opt = *opt;
    l->batches = (l->count + opt->batch_size - 1) / opt->batch_size;
    l->image_floats = (size_t)l->im->channels * ds->options.image_size * ds->options.image_size;
    l->depth = opt->queue_depth ? opt->queue_depth : (opt->threads + 2 > 3 ? opt->threads + 2 : 3);
    l->epoch = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);

    int nscratch = opt->threads ? opt->threads : 1;
    l->order = malloc((size_t)(l->count ? l->count : 1) * sizeof(long));
    l->slot_images = calloc((size_t)l->depth, sizeof(float *));
    l->slot_labels = calloc((size_t)l->depth, sizeof(int32_t *));
    l->slot_batch = malloc((size_t)l->depth * sizeof(long));
    l->scratch = calloc((size_t)nscratch, sizeof(float *));
    l->threads = calloc((size_t)(opt->threads ? opt->threads : 1), sizeof(pthread_t));
    if (!l->order || !l->slot_images || !l->slot_labels || !l->slot_batch || !l->scratch || !l->threads)
        goto oom;
    for (int s = 0; s < l->depth; s++) {
        l->slot_images[s] = alloc_aligned((size_t)opt->batch_size * l->image_floats * sizeof(float));
        l->slot_labels[s] = alloc_aligned((size_t)opt->batch_size * sizeof(int32_t));
        if (!l->slot_images[s] || !l->slot_labels[s]) goto oom;
        l->slot_batch[s] = -1;
    }
    for (int t = 0; t < nscratch; t++)
        if (!(l->scratch[t] = malloc(data_scratch_floats(ds) * sizeof(float)))) goto oom;
    for (int t = 0; t < opt->threads; t++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) goto oom;
        a->l = l;
        a->id = t;
        int rc = pthread_create(&l->threads[t], NULL, worker, a);
        if (rc != 0) {
            free(a);
            snprintf(err, errlen, "cannot start data loader thread %d of %d: %s", t + 1, opt->threads,
                     strerror(rc));
            data_loader_destroy(l);
            return NULL;
        }
        l->started++;
    }
    return l;
oom:
    snprintf(err, errlen, "out of host memory creating the %s loader (%d buffers of %d images)",
             data_split_name(split), l->depth, opt->batch_size);
    data_loader_destroy(l);
    return NULL;
}

int data_loader_start_epoch(data_loader *l, int epoch)
{
    pthread_mutex_lock(&l->mu);
    l->active = 0;
    while (l->busy > 0)
        pthread_cond_wait(&l->ready_cv, &l->mu);
    if (l->opt.shuffle) {
        data_shuffle(l->order, l->count, l->opt.seed, epoch);
        for (long i = 0; i < l->count; i++)
            l->order[i] = l->index[l->order[i]];
    } else {
        memcpy(l->order, l->index, (size_t)l->count * sizeof(long));
    }
    for (int s = 0; s < l->depth; s++)
        l->slot_batch[s] = -1;
    l->next_produce = l->next_consume = l->released = 0;
    l->epoch = epoch;
    l->active = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int data_loader_next(data_loader *l, float **images, int32_t **labels, int *count)
{
    *images = NULL;
    *labels = NULL;
    *count = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->active) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    /* the batch handed out last time is done with: its slot may be refilled */
    if (l->released < l->next_consume) {
        l->released = l->next_consume;
        pthread_cond_broadcast(&l->work_cv);
    }
    long b = l->next_consume;
    if (b >= l->batches) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    int slot = (int)(b % l->depth);
    if (l->opt.threads == 0) {
        fill_batch(l, b, l->epoch, l->scratch[0]);
    } else {
        while (l->slot_batch[slot] != b)
            pthread_cond_wait(&l->ready_cv, &l->mu);
    }
    l->slot_batch[slot] = -1;
    l->next_consume = b + 1;
    pthread_mutex_unlock(&l->mu);
    *images = l->slot_images[slot];
    *labels = l->slot_labels[slot];
    *count = batch_size_of(l, b);
    return 0;
}

const long *data_loader_order(const data_loader *l, long *count)
{
    *count = l->count;
    return l->order;
}

long data_loader_batches(const data_loader *l)
{
    return l->batches;
}

void data_loader_destroy(data_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->started; t++)
        pthread_join(l->threads[t], NULL);
    if (l->slot_images)
        for (int s = 0; s < l->depth; s++)
            free(l->slot_images[s]);
    if (l->slot_labels)
        for (int s = 0; s < l->depth; s++)
            free(l->slot_labels[s]);
    if (l->scratch)
        for (int t = 0; t < (l->opt.threads ? l->opt.threads : 1); t++)
            free(l->scratch[t]);
    free(l->slot_images);
    free(l->slot_labels);
    free(l->slot_batch);
    free(l->scratch);
    free(l->threads);
    free(l->order);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    free(l);
}
