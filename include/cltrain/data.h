/* data.h: the data a run trains on, on the host. Readers put a data set in memory as uint8 images
 * [n, C, H, W] with int32 labels; the training images are cut into a training and a stratified
 * validation split; a threaded loader turns a split into float32 batches [B, C, S, S], resized,
 * normalised and (on train) augmented, ready for the trainer to upload. No OpenCL here.
 *
 * Determinism: the validation split comes from (seed), the order of an epoch from (seed, epoch),
 * the augmentation of one image from (seed, epoch, image index) through a counter-based generator,
 * so a batch's content never depends on the number of loader threads or their timing.
 *
 * Errors are values: functions that can fail return 0 (or a pointer) on success and -1 (or NULL)
 * with one sentence in the caller's err buffer, naming the file or parameter concerned. */
#ifndef CLTRAIN_DATA_H
#define CLTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "cltrain/config.h"

#define DATA_MAX_CLASSES 256
#define DATA_NAME_LEN 32
#define DATA_MAX_CHANNELS 4

/* Images of one file pair in memory. */
typedef struct {
    long count;
    int channels, height, width;
    uint8_t *pixels; /* [count, channels, height, width] */
    int32_t *labels; /* [count] */
} data_images;

typedef enum { DATA_RESIZE_PAD, DATA_RESIZE_BILINEAR } data_resize;
typedef enum { DATA_NORMALIZE_DATASET, DATA_NORMALIZE_NONE } data_normalize;
typedef enum { DATA_TRAIN, DATA_VAL, DATA_TEST } data_split;

typedef struct {
    int image_size;           /* S: the side of every image the model sees */
    data_resize resize;       /* pad: zero padding centred (or a centre crop); bilinear: as PyTorch */
    data_normalize normalize; /* dataset: (x/255 - mean) / std of the training split; none: x/255 */
    double val_split;         /* share of each class held out for validation, in [0, 0.9] */
    long limit;               /* use only the first `limit` training images (0: all) */
    uint64_t seed;            /* seed of the validation split */
} data_options;

/* A data set ready for loaders: the images, the splits as index lists, the normalisation. */
typedef struct {
    data_images train; /* the training file's images (the first `limit`): train and val index into it */
    data_images test;
    int classes;
    char class_names[DATA_MAX_CLASSES][DATA_NAME_LEN];
    long *train_index, train_count; /* ascending indices into train */
    long *val_index, val_count;     /* ascending indices into train; none when val_split is 0 */
    long *test_index, test_count;   /* 0..test.count-1 */
    data_options options;
    /* Normalisation per channel: model input = (x/255 after resize - mean) / std. For `none` mean
     * is 0 and std 1. For `dataset` they are the statistics of the training split's images after
     * resize, padding pixels included: the network sees the padding, so normalising what it sees
     * gives its input mean 0 and variance 1. */
    float mean[DATA_MAX_CHANNELS], std[DATA_MAX_CHANNELS];
} data_dataset;

/* Reads an IDX image/label file pair `<dir>/<prefix>-images-idx3-ubyte[.gz]` and
 * `<prefix>-labels-idx1-ubyte[.gz]` (prefix "train" or "t10k"). With limit > 0 only the first
 * `limit` images are kept (the labels file is read whole; *max_label, if not NULL, is the largest
 * label in it). Checks magic numbers, that the counts agree, that sizes are sane and that neither
 * file is truncated. On success fills *out (free with data_images_free). */
int data_idx_read(const char *dir, const char *prefix, long limit, data_images *out, int *max_label,
                  char *err, size_t errlen);
void data_images_free(data_images *im);

/* Opens an IDX data set (MNIST, Fashion-MNIST) in `dir`: train + t10k, limit, stratified split and
 * normalisation as `opt` says. The class count is the largest training label + 1; a test label at
 * or beyond it is an error. Class names are "0".."9", or Fashion-MNIST's when `dir` names it. */
data_dataset *data_open_idx(const char *dir, const data_options *opt, char *err, size_t errlen);

/* Opens a folder of photos (host/data/images.c says the layout and its rules in full):
 * `<dir>/train/<class>/` and `<dir>/test/<class>/` (or `val/` when there is no test/) holding
 * .jpg/.jpeg/.png files. Classes are train/'s sub-folders in byte order of their names (labels
 * 0..n-1, names in class_names, cut to DATA_NAME_LEN - 1 bytes); the test folder must have the same
 * ones. Every image is decoded to RGB and resized to image_size at load (opt->resize), so
 * train/test hold uint8 [n, 3, S, S] as data_open_idx gives, and the normalisation statistics are
 * those of the stored training split. opt->limit keeps that many training images spread over the
 * classes in turn (one from each class, then a second from each, ...: as even as the classes' sizes
 * allow), each class's first files in name order; the test folder is always read whole. Unreadable
 * files are skipped with one warning line on stderr (their count and the first one's path and
 * reason); a bad layout, an empty class folder or a class with no readable image is an error. On a
 * terminal a progress line shows while decoding (elsewhere one line per 10 s of a long load).
 * threads: decoding threads, 0 for one per online CPU; the result does not depend on it. */
data_dataset *data_open_images(const char *dir, const data_options *opt, int threads, char *err,
                               size_t errlen);

/* One image decoder (one per thread): reads JPEG and PNG files, told apart by their first bytes,
 * into 8-bit RGB, keeping its buffers from one file to the next. Grayscale, CMYK/YCCK, palette,
 * 16-bit and alpha images all become 3-channel RGB as PIL's convert("RGB") makes them (alpha is
 * dropped, CMYK converted with libjpeg-turbo's r = c * k / 255). */
typedef struct data_decoder data_decoder;
data_decoder *data_decoder_create(char *err, size_t errlen);
void data_decoder_destroy(data_decoder *dec);

/* Decodes the file at path into *rgb [height, width, 3] (rows top down), valid until the decoder's
 * next call. min_side > 0 lets a JPEG decode at the smallest of libjpeg-turbo's DCT scales (n/8,
 * never above 1) that keeps each side at least min(side, min_side) (data_decoder_jpeg_scale); PNGs
 * and min_side 0 decode at full size. On failure returns -1 and err says why in a few words
 * without the path (the caller names it). */
int data_decoder_read(data_decoder *dec, const char *path, int min_side, const uint8_t **rgb, int *height,
                      int *width, char *err, size_t errlen);

/* The size a JPEG of height x width decodes to for min_side (as above); returns 1 when scaled. */
int data_decoder_jpeg_scale(int height, int width, int min_side, int *scaled_height, int *scaled_width);

/* Opens the data set a config names (dataset_type idx or images, data_path, image_size, resize,
 * normalize, val_split, limit, seed): data_open_idx or data_open_images (one thread per CPU). */
data_dataset *data_open_from_config(const config *c, char *err, size_t errlen);

/* The channels and classes of the config's data set without reading its images where the layout
 * tells (photo folders: 3 channels, one class per folder), for `cltrain summary`. */
int data_probe_from_config(const config *c, int *channels, int *classes, char *err, size_t errlen);
/* That for a photo-folder data set: its layout checked as data_open_images does, no file decoded. */
int data_images_probe(const char *dir, int *channels, int *classes, char *err, size_t errlen);

void data_close(data_dataset *ds);

/* Data sets shared by the runs of one process (share.c): data_share_open returns the open data set
 * with the config's data keys, or opens it (once, while other callers for it wait); each open is
 * matched by a data_share_close. The last data set used stays open for the next run until another is
 * needed or the share is destroyed. Thread-safe. */
typedef struct data_share data_share;
data_share *data_share_create(void);
void data_share_destroy(data_share *s);
const data_dataset *data_share_open(data_share *s, const config *c, char *err, size_t errlen);
void data_share_close(data_share *s, const data_dataset *ds);

/* The images and indices of a split. */
const data_images *data_split_images(const data_dataset *ds, data_split split);
const long *data_split_index(const data_dataset *ds, data_split split, long *count);
const char *data_split_name(data_split split); /* "train", "val", "test" */

/* Stratified hold-out: for each class, round(val_split * n_class) of its images chosen at random
 * (from seed) go to validation, the rest to training. Both lists are ascending and malloc'd (the
 * caller frees them). */
int data_split_stratified(const int32_t *labels, long n, int classes, double val_split, uint64_t seed,
                          long **train_index, long *train_count, long **val_index, long *val_count, char *err,
                          size_t errlen);

/* Resize one float image [C, H, W] to [C, S, S]. pad: centred zero padding, or a centre crop where
 * the source is larger (offset (S - H) / 2 rounded down, per axis). bilinear: PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False) without antialiasing. */
void data_resize_pad(const float *src, int channels, int height, int width, int size, float *dst);
void data_resize_bilinear(const float *src, int channels, int height, int width, int size, float *dst);

/* Random augmentation of one image [C, S, S] with values in [0, 1], in place: horizontal flip
 * (p = 0.5), shift by up to 12.5% of S per axis (the "pad 4, crop 32" of CIFAR at S = 32), rotation
 * by up to 10 degrees (bilinear, zero fill), brightness and contrast by up to 20%. Every draw comes
 * from (seed, epoch, index). scratch holds C * S * S floats. */
void data_augment(float *img, int channels, int size, uint64_t seed, int epoch, long index, float *scratch);

/* The model input for image `index` of `im`: /255, resize, augment (when augment is nonzero, with
 * draws from (seed, epoch, index)), normalise. dst holds C * S * S floats; scratch holds
 * data_scratch_floats(ds) floats. */
size_t data_scratch_floats(const data_dataset *ds);
void data_prepare(const data_dataset *ds, const data_images *im, long index, int augment, uint64_t seed,
                  int epoch, float *dst, float *scratch);

/* Fills order with a permutation of 0..n-1 for an epoch: Fisher-Yates driven by (seed, epoch). */
void data_shuffle(long *order, long n, uint64_t seed, int epoch);

/* The threaded batch loader. Worker threads prepare batches ahead of the consumer into a bounded
 * ring of `queue_depth` batch buffers; data_loader_next hands them out in order. */
typedef struct {
    int batch_size;
    int threads;     /* worker threads; 0 prepares each batch in data_loader_next itself */
    int queue_depth; /* ready batches held at most (0: threads + 2, at least 3) */
    int shuffle;     /* reshuffle every epoch from (seed, epoch); 0 keeps the split's order */
    int augment;     /* augment every image (meant for the training split) */
    uint64_t seed;
} data_loader_options;

typedef struct data_loader data_loader;

/* A loader over one split of ds (ds must outlive it). */
data_loader *data_loader_create(const data_dataset *ds, data_split split, const data_loader_options *opt,
                                char *err, size_t errlen);

/* The options a config gives a split's loader: batch_size and seed; on train also shuffle and
 * data_augmentation (val and test: neither). */
void data_loader_options_from_config(const config *c, data_split split, int threads,
                                     data_loader_options *out);

/* Starts an epoch (any epoch, any time: batches of an unfinished epoch are dropped). */
int data_loader_start_epoch(data_loader *l, int epoch);

/* The next batch of the epoch: *images [count, C, S, S] and *labels [count], valid until the next
 * call on the loader. The last batch may be smaller. At the end of the epoch returns 0 with
 * *count = 0. Returns -1 when no epoch was started. */
int data_loader_next(data_loader *l, float **images, int32_t **labels, int *count);

/* The sample each position of the current epoch reads: an index into the split's images. */
const long *data_loader_order(const data_loader *l, long *count);
long data_loader_batches(const data_loader *l);

void data_loader_destroy(data_loader *l);

#endif
