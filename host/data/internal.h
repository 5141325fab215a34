/* internal.h: what the data module's files share: the check of the readers' options, and the
 * counter-based random numbers every draw (split, shuffle, augmentation) comes from.
 *
 * A draw is a pure function of (seed, stream, epoch, index, counter) through the project's Philox
 * (cltrain/philox.h): no generator state travels between threads or images, so results never
 * depend on thread timing or on which images were prepared before. */
#ifndef CLTRAIN_DATA_INTERNAL_H
#define CLTRAIN_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cltrain/data.h"
#include "cltrain/philox.h"

/* image_size, val_split, limit, resize and normalize in range, or one sentence in err and -1: every
 * reader's options, checked before it opens a file (dataset.c) */
int data_check_options(const data_options *o, char *err, size_t errlen);

/* Philox streams of the data module, far from the small numbers layers use for dropout, so the
 * split, the shuffle and the augmentation never share draws with each other or with a layer. */
#define DATA_STREAM_SPLIT 0xDA7A0001u
#define DATA_STREAM_SHUFFLE 0xDA7A0002u
#define DATA_STREAM_AUGMENT 0xDA7A0003u

/* Up to 8 draws (counter 0..7) per (seed, stream, epoch, index); index below 2^31. */
static inline uint32_t data_random(uint64_t seed, uint32_t stream, uint32_t epoch, uint64_t index,
                                   unsigned counter)
{
    return philox_u32(seed, stream, epoch, index * 8 + (counter & 7));
}

/* A double in [0, 1). */
static inline double data_random_unit(uint32_t r)
{
    return (double)r * (1.0 / 4294967296.0);
}

/* An integer in [0, n) by multiply-shift; the bias is below n / 2^32, which for any data set that
 * fits in memory is far under what a shuffle could show. */
static inline uint64_t data_random_below(uint32_t r, uint64_t n)
{
    return ((uint64_t)r * n) >> 32;
}

#endif
