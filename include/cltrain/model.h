/* model.h: the study's CNN on one device: five blocks of conv k x k (same) -> optional batch norm ->
 * activation -> 2x2 max pool -> optional dropout, flatten, dense -> activation -> dropout, and the
 * output layer. A network is an array of layers walked in order (forward), in reverse (backward);
 * all trainable parameters live in one device allocation with named views into it, so one optimizer
 * launch updates them all; batch-norm running statistics live in a second one.
 *
 * model_plan() works out shapes, parameter and multiply-add counts from a config alone, without a
 * device: `cltrain summary` prints it and model_create() refuses a config that cannot work before
 * any device work. */
#ifndef CLTRAIN_MODEL_H
#define CLTRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cltrain/config.h"
#include "cltrain/device.h"
#include "cltrain/ops.h"

#define MODEL_BLOCKS 5
#define MODEL_MAX_LAYERS 40
#define MODEL_MAX_TENSORS 48

typedef enum {
    LAYER_CONV,
    LAYER_BATCHNORM,
    LAYER_ACTIVATION,
    LAYER_MAXPOOL,
    LAYER_DROPOUT,
    LAYER_DENSE, /* flattens its input: C,H,W order, as torch.flatten */
} model_layer_kind;

typedef struct {
    char name[48]; /* safetensors name, e.g. "blocks.0.conv.weight" */
    int shape[4];
    int ndim;
    size_t offset; /* in floats, inside the parameter (or statistics) allocation */
    size_t count;
    int is_stat; /* batch-norm running statistic: not trained, in the statistics allocation */
} model_tensor;

typedef struct {
    model_layer_kind kind;
    char name[32];       /* "blocks.0.conv", "fc", "out", "blocks.2.act" */
    int in_c, in_h, in_w; /* per image */
    int out_c, out_h, out_w;
    int k;               /* conv */
    ops_activation act;  /* activation */
    float p;             /* dropout */
    int weight, bias;    /* tensor indices (conv, dense; bn: gamma, beta), -1 if none */
    int mean, var;       /* bn running statistics tensor indices */
    long long params;    /* trainable parameters */
    long long macs;      /* multiply-adds per image, forward */
} model_layer;

typedef struct {
    model_layer layers[MODEL_MAX_LAYERS];
    int nlayers;
    model_tensor tensors[MODEL_MAX_TENSORS];
    int ntensors;
    size_t param_floats; /* size of the parameter allocation (with alignment padding) */
    size_t stat_floats;  /* size of the statistics allocation */
    long long total_params;
    long long total_macs;
    int in_c, in_h, in_w, classes;
    int filters[MODEL_BLOCKS];
} model_plan;

/* Builds the plan for images of in_c x size x size and `classes` outputs. align_floats is the
 * sub-buffer alignment in floats (1 without a device). Refuses a config that cannot work with one
 * sentence naming the key. */
int model_plan_build(const config *c, int in_c, int size, int classes, size_t align_floats, model_plan *out,
                     char *err, size_t errlen);

/* Prints the per-layer table (output shape, parameters, multiply-adds) and the totals. */
void model_plan_print(const model_plan *p, FILE *out);

typedef struct model model;

/* Allocates the model for batches of up to max_batch images on the device (parameters initialised
 * by model_init). NULL with err filled on failure. */
model *model_create(device_ctx *d, const config *c, int in_c, int size, int classes, int max_batch, char *err,
                    size_t errlen);
void model_destroy(model *m);
const model_plan *model_get_plan(const model *m);

/* PyTorch's defaults ("torch": kaiming-uniform a=sqrt(5), its bias rule) or Keras's ("keras":
 * glorot-uniform, zero bias), from the seed; batch-norm gamma 1, beta 0, running mean 0, var 1. */
int model_init(model *m, const char *scheme, uint64_t seed);

/* x [N, in_c, H, W] on the device -> logits; training uses batch statistics and dropout keyed by
 * (seed, step). */
int model_forward(model *m, cl_mem x, int N, int training, uint64_t seed, uint64_t step);
/* Softmax cross-entropy of the last forward against labels [N] (int32 on the device); writes
 * stats[2*slot] (mean loss) and stats[2*slot+1] (correct count); with want_grad, the logits'
 * gradient for model_backward. */
int model_loss(model *m, cl_mem labels, cl_mem stats, int slot, int N, int want_grad);
/* Gradients of every parameter from the last training forward and model_loss(want_grad). */
int model_backward(model *m, cl_mem x, int N, uint64_t seed, uint64_t step);
/* One optimizer update of all parameters at once. */
int model_update(model *m, const ops_optim_params *opt);

/* The device buffers, for tests and tools: parameters, their gradients, and the statistics. */
cl_mem model_params(const model *m);
cl_mem model_grads(const model *m);
cl_mem model_stats(const model *m);
cl_mem model_logits(const model *m);
device_ctx *model_device(const model *m);

/* safetensors with PyTorch's names and layouts (see DESIGN.md); the flat config, in_channels and
 * num_classes go in __metadata__, so a checkpoint alone rebuilds its model. */
int model_save(model *m, const config *c, const char *path, char *err, size_t errlen);
/* Loads tensors into a model built from a matching config; a tensor whose name or shape does not fit
 * is named in the error. */
int model_load(model *m, const char *path, char *err, size_t errlen);
/* Reads a checkpoint's metadata: the config it was trained with and its input/class sizes. */
int model_read_checkpoint_config(const char *path, config *c, int *in_c, int *classes, char *err,
                                 size_t errlen);

#endif
