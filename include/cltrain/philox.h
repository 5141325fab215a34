/* philox.h: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
 * counter-based generator behind every random choice a run makes: dropout masks (cl/dropout.cl
 * computes the same function on the device) and, on the host, data augmentation.
 *
 * A draw is a pure function of (seed, stream, step, index), so any element of any step can be
 * recomputed anywhere, in any order, on any device, and a run is repeatable from its seed alone.
 * The layout, shared with cl/dropout.cl:
 *   key     = {seed low 32 bits, seed high 32 bits}
 *   counter = {index / 4, stream, step low 32 bits, step high 32 bits}
 *   word    = output[index % 4]
 * so one Philox call serves four consecutive elements. index must be below 2^34. */
#ifndef CLTRAIN_PHILOX_H
#define CLTRAIN_PHILOX_H

#include <stdint.h>

/* The bare block function: ten rounds over ctr with key, four words out (Random123's philox4x32). */
void philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The 32-bit word for element `index` of (seed, stream, step), laid out as above. */
uint32_t philox_u32(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index);

/* A word's top 24 bits as a float in [0, 1): exact in float, the same on host and device. */
float philox_to_uniform(uint32_t word);

/* philox_to_uniform(philox_u32(seed, stream, step, index)). */
float philox_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index);

#endif
