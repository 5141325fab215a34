/* dataset.c: a data set in memory with its splits: the training file's images cut into a training
 * and a stratified validation split, the test file as the test split, and the normalisation
 * constants computed once from the training split and applied to all three. */
#include "internal.h"
#include "cltrain/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Fashion-MNIST has the same files as MNIST; only its folder name tells them apart. */
static int names_fashion(const char *dir)
{
    for (const char *p = dir; *p; p++)
        if (strncasecmp(p, "fashion", 7) == 0) return 1;
    return 0;
}

/* The options every reader shares, checked before any file is opened (internal.h). */
int data_check_options(const data_options *o, char *err, size_t errlen)
{
    if (o->image_size < 1 || o->image_size > 4096) {
        snprintf(err, errlen, "image_size %d is out of range: expected 1 to 4096", o->image_size);
        return -1;
    }
    if (!(o->val_split >= 0 && o->val_split <= 0.9)) {
        /* checked before any image is read, not after it by the split */
        snprintf(err, errlen, "val_split %g is out of range: expected 0 to 0.9", o->val_split);
        return -1;
    }
    if (o->limit < 0) {
        snprintf(err, errlen, "limit %ld is negative: expected 0 (all images) or a count", o->limit);
        return -1;
    }
    if (o->resize != DATA_RESIZE_PAD && o->resize != DATA_RESIZE_BILINEAR) {
        snprintf(err, errlen, "resize must be pad or bilinear");
        return -1;
    }
    if (o->normalize != DATA_NORMALIZE_DATASET && o->normalize != DATA_NORMALIZE_NONE) {
        snprintf(err, errlen, "normalize must be dataset or none");
        return -1;
    }
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int data_split_stratified(const int32_t *labels, long n, int classes, double val_split, uint64_t seed,
                          long **train_index, long *train_count, long **val_index, long *val_count, char *err,
                          size_t errlen)
{
    *train_index = *val_index = NULL;
    *train_count = *val_count = 0;
    if (!(val_split >= 0 && val_split <= 0.9)) {
        snprintf(err, errlen, "val_split %g is out of range: expected 0 to 0.9", val_split);
        return -1;
    }
    if (classes < 1 || classes > DATA_MAX_CLASSES) {
        snprintf(err, errlen, "a split needs 1 to %d classes, not %d", DATA_MAX_CLASSES, classes);
        return -1;
    }
    long *per = calloc((size_t)classes + 1, sizeof(long));
    long *start = calloc((size_t)classes + 1, sizeof(long));
    long *by_class = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    long *tr = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    long *va = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    if (!per || !start || !by_class || !tr || !va) {
        snprintf(err, errlen, "out of host memory splitting %ld images", n);
        goto fail;
    }
    for (long i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= classes) {
            snprintf(err, errlen, "label %d of image %ld is outside 0..%d", (int)labels[i], i, classes - 1);
            goto fail;
        }
        per[labels[i]]++;
    }
    for (int c = 0; c < classes; c++)
        start[c + 1] = start[c] + per[c];
    /* bucket the indices by class, each bucket in file order */
    memset(per, 0, (size_t)classes * sizeof(long));
    for (long i = 0; i < n; i++)
        by_class[start[labels[i]] + per[labels[i]]++] = i;

    long nt = 0, nv = 0;
    for (int c = 0; c < classes; c++) {
        long *b = by_class + start[c];
        long m = per[c];
        long take = (long)floor(val_split * (double)m + 0.5);
        /* a partial Fisher-Yates: the first `take` slots become a uniform random subset */
        for (long i = 0; i < take; i++) {
            uint32_t r = data_random(seed, DATA_STREAM_SPLIT, (uint32_t)c, (uint64_t)i, 0);
            long j = i + (long)data_random_below(r, (uint64_t)(m - i));
            long t = b[i];
            b[i] = b[j];
            b[j] = t;
        }
        for (long i = 0; i < m; i++) {
            if (i < take)
                va[nv++] = b[i];
            else
                tr[nt++] = b[i];
        }
    }
    qsort(tr, (size_t)nt, sizeof(long), cmp_long);
    qsort(va, (size_t)nv, sizeof(long), cmp_long);
    free(per);
    free(start);
    free(by_class);
    *train_index = tr;
    *train_count = nt;
    *val_index = va;
    *val_count = nv;
    return 0;
fail:
    free(per);
    free(start);
    free(by_class);
    free(tr);
    free(va);
    return -1;
}

/* Mean and std per channel of the training split as the model sees it before normalisation:
 * x/255 after resize, padding included. Sums in double: 60000 x 1024 pixels would lose digits in
 * float. */
static int compute_stats(data_dataset *ds, char *err, size_t errlen)
{
    int C = ds->train.channels, S = ds->options.image_size;
    size_t plane = (size_t)S * S;
    float *scratch = malloc(data_scratch_floats(ds) * sizeof(float));
    float *img = malloc((size_t)C * plane * sizeof(float));
    if (!scratch || !img) {
        free(scratch);
        free(img);
        snprintf(err, errlen, "out of host memory computing the normalisation of the training split");
        return -1;
    }
    double sum[DATA_MAX_CHANNELS] = {0}, sq[DATA_MAX_CHANNELS] = {0};
    for (long k = 0; k < ds->train_count; k++) {
        data_prepare(ds, &ds->train, ds->train_index[k], 0, 0, 0, img, scratch);
        for (int c = 0; c < C; c++) {
            /* per-image partial sums keep the running totals' rounding small */
            double s = 0, q = 0;
            const float *p = img + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) {
                s += p[i];
                q += (double)p[i] * p[i];
            }
            sum[c] += s;
            sq[c] += q;
        }
    }
    free(scratch);
    free(img);
    double count = (double)ds->train_count * (double)plane;
    for (int c = 0; c < C; c++) {
        double mean = sum[c] / count;
        double var = sq[c] / count - mean * mean;
        double sd = sqrt(var > 0 ? var : 0);
        if (!(sd > 1e-6)) {
            snprintf(err, errlen,
                     "the training images are all the same shade in channel %d, so normalize: dataset cannot "
                     "scale them (use normalize: none)",
                     c);
            return -1;
        }
        ds->mean[c] = (float)mean;
        ds->std[c] = (float)sd;
    }
    return 0;
}

data_dataset *data_open_idx(const char *dir, const data_options *opt, char *err, size_t errlen)
{
    if (data_check_options(opt, err, errlen) != 0) return NULL;
    data_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        snprintf(err, errlen, "out of host memory opening %s", dir);
        return NULL;
    }
    ds->options = *opt;
    int train_max = 0, test_max = 0;
    if (data_idx_read(dir, "train", opt->limit, &ds->train, &train_max, err, errlen) != 0) goto fail;
    if (data_idx_read(dir, "t10k", 0, &ds->test, &test_max, err, errlen) != 0) goto fail;
    if (ds->test.height != ds->train.height || ds->test.width != ds->train.width) {
        snprintf(err, errlen, "the test images in %s are %d x %d but the training images are %d x %d", dir,
                 ds->test.height, ds->test.width, ds->train.height, ds->train.width);
        goto fail;
    }
    ds->classes = train_max + 1;
    if (test_max >= ds->classes) {
        snprintf(err, errlen,
                 "%s/t10k-labels-idx1-ubyte has label %d but the training labels only go up to %d", dir,
                 test_max, train_max);
        goto fail;
    }
    int fashion = ds->classes == 10 && names_fashion(dir);
    for (int c = 0; c < ds->classes; c++) {
        if (fashion)
            snprintf(ds->class_names[c], DATA_NAME_LEN, "%s", fashion_names[c]);
        else
            snprintf(ds->class_names[c], DATA_NAME_LEN, "%d", c);
    }

    if (data_split_stratified(ds->train.labels, ds->train.count, ds->classes, opt->val_split, opt->seed,
                              &ds->train_index, &ds->train_count, &ds->val_index, &ds->val_count, err,
                              errlen) != 0)
        goto fail;
    if (ds->train_count == 0) {
        snprintf(err, errlen, "no training images are left in %s after limit %ld and val_split %g", dir,
                 opt->limit, opt->val_split);
        goto fail;
    }
    ds->test_count = ds->test.count;
    ds->test_index = malloc((size_t)ds->test_count * sizeof(long));
    if (!ds->test_index) {
        snprintf(err, errlen, "out of host memory opening %s", dir);
        goto fail;
    }
    for (long i = 0; i < ds->test_count; i++)
        ds->test_index[i] = i;

    for (int c = 0; c < DATA_MAX_CHANNELS; c++) {
        ds->mean[c] = 0;
        ds->std[c] = 1;
    }
    if (opt->normalize == DATA_NORMALIZE_DATASET && compute_stats(ds, err, errlen) != 0) goto fail;
    return ds;
fail:
    data_close(ds);
    return NULL;
}

void data_close(data_dataset *ds)
{
    if (!ds) return;
    data_images_free(&ds->train);
    data_images_free(&ds->test);
    free(ds->train_index);
    free(ds->val_index);
    free(ds->test_index);
    free(ds);
}

const data_images *data_split_images(const data_dataset *ds, data_split split)
{
    return split == DATA_TEST ? &ds->test : &ds->train;
}

const long *data_split_index(const data_dataset *ds, data_split split, long *count)
{
    switch (split) {
    case DATA_TRAIN:
        *count = ds->train_count;
        return ds->train_index;
    case DATA_VAL:
        *count = ds->val_count;
        return ds->val_index;
    default:
        *count = ds->test_count;
        return ds->test_index;
    }
}

const char *data_split_name(data_split split)
{
    return split == DATA_TRAIN ? "train" : split == DATA_VAL ? "val" : "test";
}
