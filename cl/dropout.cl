/* dropout.cl: inverted dropout, y = x * mask * scale with scale = 1/(1-p), the mask drawn from
 * Philox4x32-10 keyed by the run's seed. Kernels cannot include host headers, so the rounds are
 * repeated here; they must stay the same function as host/ops/philox.c (cltrain/philox.h has the
 * counter layout), which tests/test_dropout.c checks bit for bit.
 *
 * Nothing is stored between forward and backward: backward draws the same mask again from the same
 * (seed, stream, step), so the same kernel serves both passes. */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static uint4 philox4x32_10(uint4 c, uint2 k)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k.x += PHILOX_W0;
            k.y += PHILOX_W1;
        }
        uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

/* the top 24 bits as a float in [0,1), exactly as philox_to_uniform */
static float philox_unit(uint w)
{
    return (float)(w >> 8) * (1.0f / 16777216.0f);
}

/* One work-item per four elements (one Philox block): y[i] = x[i] * (u_i >= p ? scale : 0).
 * Multiplying by 0 rather than storing 0 keeps a NaN or inf in x visible, as PyTorch's x * mask. */
__kernel void dropout_apply(__global float *y, __global const float *x, uint n, float p, float scale, uint key_lo,
                            uint key_hi, uint stream, uint step_lo, uint step_hi)
{
    uint b = get_global_id(0);
    uint i = b * 4;
    if (i >= n) return;
    uint4 r = philox4x32_10((uint4)(b, stream, step_lo, step_hi), (uint2)(key_lo, key_hi));
    uint w[4] = {r.x, r.y, r.z, r.w};
    for (uint j = 0; j < 4 && i + j < n; j++) y[i + j] = x[i + j] * (philox_unit(w[j]) >= p ? scale : 0.0f);
}
