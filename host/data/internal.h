/* internal.h: what the data module's files share: the counter-based random numbers every draw
 * (split, shuffle, augmentation) comes from.
 *
 * A draw is a pure function of (seed, stream, epoch, index, counter): no generator state travels
 * between threads or images, so results never depend on thread timing or on which images were
 * prepared before. The mixing is splitmix64's finaliser applied over the key words (a keyed hash,
 * counter-based like Philox); it is local to this module because the host Philox header was not
 * there yet when it was written, and the data module needs nothing from it but independent,
 * well-mixed 64-bit words. */
#ifndef CLTRAIN_DATA_INTERNAL_H
#define CLTRAIN_DATA_INTERNAL_H

#include <stdint.h>

/* Streams keep the split, the shuffle and the augmentation draws apart for the same seed. */
enum { DATA_STREAM_SPLIT = 1, DATA_STREAM_SHUFFLE = 2, DATA_STREAM_AUGMENT = 3 };

static inline uint64_t data_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t data_random(uint64_t seed, uint32_t stream, uint32_t epoch, uint64_t index,
                                   uint64_t counter)
{
    uint64_t h = data_mix64(seed);
    h = data_mix64(h ^ (((uint64_t)stream << 32) | epoch));
    h = data_mix64(h ^ index);
    return data_mix64(h ^ counter);
}

/* A double in [0, 1) from the top 53 bits. */
static inline double data_random_unit(uint64_t r)
{
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

/* An integer in [0, n) by multiply-shift on the top 32 bits; the bias is below n / 2^32, which for
 * any data set that fits in memory is far under what a shuffle could show. */
static inline uint64_t data_random_below(uint64_t r, uint64_t n)
{
    return ((r >> 32) * n) >> 32;
}

#endif
