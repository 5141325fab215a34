/* philox.c: the host's Philox4x32-10 (see cltrain/philox.h). cl/dropout.cl has the same rounds;
 * tests/test_dropout.c checks the two agree bit for bit and this one against Random123's known
 * answers. */
#include "cltrain/philox.h"

/* Random123's multipliers and Weyl key increments for 4x32 */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { /* the key is bumped between rounds, not before the first */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

uint32_t philox_u32(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)(index >> 2), stream, (uint32_t)step, (uint32_t)(step >> 32)};
    uint32_t out[4];
    philox4x32(ctr, key, out);
    return out[index & 3];
}

float philox_to_uniform(uint32_t word)
{
    return (float)(word >> 8) * (1.0f / 16777216.0f);
}

float philox_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index)
{
    return philox_to_uniform(philox_u32(seed, stream, step, index));
}
