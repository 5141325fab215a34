/* internal.h: the model's state, shared by the files of host/model/ and nothing else. */
#ifndef CLTRAIN_MODEL_INTERNAL_H
#define CLTRAIN_MODEL_INTERNAL_H

#include "cltrain/model.h"

/* PyTorch's BatchNorm2d defaults */
#define MODEL_BN_MOMENTUM 0.1f
#define MODEL_BN_EPS 1e-5f

struct model {
    device_ctx *d;
    model_plan plan;
    int max_batch;
    cl_mem params, grads, stats;        /* the allocations */
    cl_mem value[MODEL_MAX_TENSORS];    /* views: parameters and statistics */
    cl_mem grad[MODEL_MAX_TENSORS];     /* views: gradients of parameters */
    cl_mem out[MODEL_MAX_LAYERS];       /* each layer's output [max_batch, out] */
    int in_place[MODEL_MAX_LAYERS];     /* an activation that overwrites its input (out[i] is out[i-1]) */
    int fused[MODEL_MAX_LAYERS];        /* a batch norm that runs the activation after it in its own
                                           passes (ops_batchnorm_act_*) */
    cl_mem cur[MODEL_MAX_LAYERS];       /* what the last forward left as each layer's output */
    cl_mem save_mean[MODEL_MAX_LAYERS]; /* batch norm: the batch's statistics for backward */
    cl_mem save_invstd[MODEL_MAX_LAYERS];
    cl_mem dbuf[2]; /* ping-pong gradients of activations */
    cl_mem opt_state;
    ops_optimizer opt_kind;
    ops_optim_host_state opt_host;
    long long bn_batches; /* num_batches_tracked */
};

#endif
