/* init.c: initial parameters, drawn on the host from the seed and uploaded once.
 * torch: PyTorch's defaults for Conv2d and Linear: kaiming-uniform with a = sqrt(5), which is
 *        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
 * keras: glorot-uniform, U(-sqrt(6/(fan_in+fan_out)), +...), zero bias.
 * Batch norm in both: weight 1, bias 0, running mean 0, running variance 1. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: a seeded stream for initial weights; good enough, and the same on every machine */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s, double bound)
{
    double u = (double)(next_u64(s) >> 11) / 9007199254740992.0;
    return (float)((2.0 * u - 1.0) * bound);
}

int model_init(model *m, const char *scheme, uint64_t seed)
{
    int keras = !strcmp(scheme, "keras");
    if (!keras && strcmp(scheme, "torch") != 0)
        return device_fail(m->d, "init \"%s\" is unknown; it is torch or keras", scheme);
    const model_plan *p = &m->plan;
    float *params = calloc(p->param_floats ? p->param_floats : 1, sizeof(float));
    float *stats = calloc(p->stat_floats ? p->stat_floats : 1, sizeof(float));
    if (!params || !stats) {
        free(params);
        free(stats);
        return device_fail(m->d, "out of host memory initialising the parameters");
    }
    uint64_t s = seed ^ 0x5EEDC1A551F1E5ULL;
    for (int i = 0; i < p->nlayers; i++) {
        const model_layer *l = &p->layers[i];
        if (l->kind == LAYER_BATCHNORM) {
            const model_tensor *g = &p->tensors[l->weight], *var = &p->tensors[l->var];
            for (size_t j = 0; j < g->count; j++) params[g->offset + j] = 1.0f;
            for (size_t j = 0; j < var->count; j++) stats[var->offset + j] = 1.0f;
            continue;
        }
        if (l->kind != LAYER_CONV && l->kind != LAYER_DENSE) continue;
        const model_tensor *w = &p->tensors[l->weight], *b = &p->tensors[l->bias];
        size_t receptive = l->kind == LAYER_CONV ? (size_t)l->k * l->k : 1;
        double fan_in = (double)w->shape[1] * receptive, fan_out = (double)w->shape[0] * receptive;
        double wbound = keras ? sqrt(6.0 / (fan_in + fan_out)) : 1.0 / sqrt(fan_in);
        for (size_t j = 0; j < w->count; j++) params[w->offset + j] = uniform(&s, wbound);
        for (size_t j = 0; j < b->count; j++) params[b->offset + j] = keras ? 0.0f : uniform(&s, 1.0 / sqrt(fan_in));
    }
    int rc = device_write(m->d, m->params, 0, p->param_floats * sizeof(float), params);
    if (rc == 0 && p->stat_floats) rc = device_write(m->d, m->stats, 0, p->stat_floats * sizeof(float), stats);
    free(params);
    free(stats);
    m->bn_batches = 0;
    return rc;
}
