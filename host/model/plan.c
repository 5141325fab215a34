/* plan.c: the study's CNN worked out from a config alone: layers, shapes, the parameter tensors with
 * their PyTorch names and offsets in the one parameter allocation, parameter and multiply-add
 * counts. No device work happens here, so a bad config is refused before any. */
#include "cltrain/model.h"

#include <stdio.h>
#include <string.h>

/* Filters of blocks 1..5 for a strategy, as DESIGN.md defines them. */
static void block_filters(const char *strategy, int n, int out[MODEL_BLOCKS])
{
    static const int pyramid[MODEL_BLOCKS] = {1, 2, 4, 2, 1};
    int floor8 = n < 8 ? n : 8; /* "half" never goes below 8, nor above where it started */
    for (int i = 0; i < MODEL_BLOCKS; i++) {
        if (!strcmp(strategy, "double"))
            out[i] = n << i;
        else if (!strcmp(strategy, "half"))
            out[i] = (n >> i) > floor8 ? (n >> i) : floor8;
        else if (!strcmp(strategy, "pyramid"))
            out[i] = n * pyramid[i];
        else
            out[i] = n;
    }
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

static int add_tensor(model_plan *p, const char *layer, const char *suffix, int ndim, const int *shape,
                      int is_stat, size_t align)
{
    model_tensor *t = &p->tensors[p->ntensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", layer, suffix);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    t->is_stat = is_stat;
    size_t *cursor = is_stat ? &p->stat_floats : &p->param_floats;
    t->offset = align_up(*cursor, align);
    *cursor = t->offset + t->count;
    if (!is_stat) p->total_params += (long long)t->count;
    return p->ntensors++;
}

static model_layer *add_layer(model_plan *p, model_layer_kind kind, const char *name, int c, int h, int w)
{
    model_layer *l = &p->layers[p->nlayers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->in_c = l->out_c = c;
    l->in_h = l->out_h = h;
    l->in_w = l->out_w = w;
    l->weight = l->bias = l->mean = l->var = -1;
    return l;
}

int model_plan_build(const config *c, int in_c, int size, int classes, size_t align, model_plan *p, char *err,
                     size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (align == 0) align = 1;
    if (config_validate(c, err, errlen) != 0) return -1;
    int n = (int)config_int(c, CFG_NUM_FILTERS), k = (int)config_int(c, CFG_FILTER_SIZE);
    int dense = (int)config_int(c, CFG_DENSE_NEURONS);
    if (k % 2 == 0) {
        snprintf(err, errlen, "filter_size is %d; it must be odd (same padding keeps the image size)", k);
        return -1;
    }
    if (size < 32) {
        snprintf(err, errlen, "image_size is %d; five 2x2 max pools need at least 32", size);
        return -1;
    }
    if (in_c < 1 || classes < 2) {
        snprintf(err, errlen, "the data has %d channels and %d classes; a classifier needs at least 1 and 2",
                 in_c, classes);
        return -1;
    }
    ops_activation act;
    if (ops_activation_parse(config_str(c, CFG_ACTIVATION), &act) != 0) {
        snprintf(err, errlen, "activation \"%s\" is unknown", config_str(c, CFG_ACTIVATION));
        return -1;
    }
    block_filters(config_str(c, CFG_FILTER_STRATEGY), n, p->filters);
    for (int i = 0; i < MODEL_BLOCKS; i++)
        if (p->filters[i] < 1 || p->filters[i] > 65536) {
            snprintf(err, errlen, "num_filters %d with filter_strategy %s gives block %d %d filters", n,
                     config_str(c, CFG_FILTER_STRATEGY), i + 1, p->filters[i]);
            return -1;
        }
    int bn = config_bool(c, CFG_BATCH_NORM);
    float conv_drop = (float)config_float(c, CFG_CONV_DROPOUT), drop = (float)config_float(c, CFG_DROPOUT);
    p->in_c = in_c;
    p->in_h = p->in_w = size;
    p->classes = classes;

    int ch = in_c, h = size, w = size;
    char name[32];
    for (int b = 0; b < MODEL_BLOCKS; b++) {
        int f = p->filters[b];
        snprintf(name, sizeof name, "blocks.%d.conv", b);
        model_layer *l = add_layer(p, LAYER_CONV, name, ch, h, w);
        l->out_c = f;
        l->k = k;
        int wshape[4] = {f, ch, k, k}, bshape[1] = {f};
        l->weight = add_tensor(p, name, "weight", 4, wshape, 0, align);
        l->bias = add_tensor(p, name, "bias", 1, bshape, 0, align);
        l->params = (long long)f * ch * k * k + f;
        l->macs = (long long)f * ch * k * k * h * w;
        ch = f;
        if (bn) {
            snprintf(name, sizeof name, "blocks.%d.bn", b);
            l = add_layer(p, LAYER_BATCHNORM, name, ch, h, w);
            l->weight = add_tensor(p, name, "weight", 1, bshape, 0, align);
            l->bias = add_tensor(p, name, "bias", 1, bshape, 0, align);
            l->mean = add_tensor(p, name, "running_mean", 1, bshape, 1, align);
            l->var = add_tensor(p, name, "running_var", 1, bshape, 1, align);
            l->params = 2LL * f;
        }
        snprintf(name, sizeof name, "blocks.%d.act", b);
        add_layer(p, LAYER_ACTIVATION, name, ch, h, w)->act = act;
        snprintf(name, sizeof name, "blocks.%d.pool", b);
        l = add_layer(p, LAYER_MAXPOOL, name, ch, h, w);
        h /= 2;
        w /= 2;
        l->out_h = h;
        l->out_w = w;
        if (conv_drop > 0) {
            snprintf(name, sizeof name, "blocks.%d.dropout", b);
            add_layer(p, LAYER_DROPOUT, name, ch, h, w)->p = conv_drop;
        }
    }
    int flat = ch * h * w;
    int layers_out[2] = {dense, classes};
    const char *names[2] = {"fc", "out"};
    int in = flat;
    for (int i = 0; i < 2; i++) {
        /* fc reads the last block's C x H x W, flattened; out reads fc's vector */
        model_layer *l = add_layer(p, LAYER_DENSE, names[i], i == 0 ? ch : in, i == 0 ? h : 1, i == 0 ? w : 1);
        l->out_c = layers_out[i];
        l->out_h = l->out_w = 1;
        int wshape[2] = {layers_out[i], in}, bshape[1] = {layers_out[i]};
        l->weight = add_tensor(p, names[i], "weight", 2, wshape, 0, align);
        l->bias = add_tensor(p, names[i], "bias", 1, bshape, 0, align);
        l->params = (long long)in * layers_out[i] + layers_out[i];
        l->macs = (long long)in * layers_out[i];
        in = layers_out[i];
        if (i == 0) {
            add_layer(p, LAYER_ACTIVATION, "fc.act", dense, 1, 1)->act = act;
            if (drop > 0) add_layer(p, LAYER_DROPOUT, "fc.dropout", dense, 1, 1)->p = drop;
        }
    }
    for (int i = 0; i < p->nlayers; i++) p->total_macs += p->layers[i].macs;
    return 0;
}

static const char *kind_name(model_layer_kind k)
{
    switch (k) {
    case LAYER_CONV: return "Conv2d";
    case LAYER_BATCHNORM: return "BatchNorm2d";
    case LAYER_ACTIVATION: return "Activation";
    case LAYER_MAXPOOL: return "MaxPool2d";
    case LAYER_DROPOUT: return "Dropout";
    case LAYER_DENSE: return "Linear";
    }
    return "?";
}

void model_plan_print(const model_plan *p, FILE *out)
{
    fprintf(out, "%-20s %-12s %-18s %14s %16s\n", "layer", "type", "output", "parameters", "multiply-adds");
    fprintf(out, "%-20s %-12s %dx%dx%d\n", "input", "", p->in_c, p->in_h, p->in_w);
    for (int i = 0; i < p->nlayers; i++) {
        const model_layer *l = &p->layers[i];
        char shape[32];
        if (l->kind == LAYER_DENSE || l->out_h == 0)
            snprintf(shape, sizeof shape, "%d", l->out_c);
        else
            snprintf(shape, sizeof shape, "%dx%dx%d", l->out_c, l->out_h, l->out_w);
        char type[24];
        snprintf(type, sizeof type, "%s", kind_name(l->kind));
        if (l->kind == LAYER_ACTIVATION) snprintf(type, sizeof type, "%s", ops_activation_name(l->act));
        fprintf(out, "%-20s %-12s %-18s %14lld %16lld\n", l->name, type, shape, l->params, l->macs);
    }
    fprintf(out, "total: %lld parameters, %lld multiply-adds per image (forward)\n", p->total_params,
            p->total_macs);
}
