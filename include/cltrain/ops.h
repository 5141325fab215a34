/* ops.h: the layers' forward and backward passes, and the optimizers, enqueued on one device.
 *
 * Every op is a pair of plain functions in the style of llm.c: `ops_X_forward(d, out, in, ...)` and
 * `ops_X_backward(d, din, dparams..., dout, saved inputs, ...)`, tensors float32 NCHW, shapes in the
 * comment above each. Ops only enqueue work on d->queue: no host copy, no clFinish. Gradients of
 * parameters are overwritten (each parameter is used once per step), not accumulated. Buffers are
 * plain cl_mem (parameters are sub-buffers of one allocation, see model.h). Each returns 0, or -1
 * with one sentence in d->error. The implementation of each family is host/ops/<family>.c with its
 * kernels in cl/<family>.cl. */
#ifndef CLTRAIN_OPS_H
#define CLTRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "cltrain/device.h"

/* ---- convolution (host/ops/conv.c, cl/conv.cl) ---- */

/* Whether conv and dense run cltrain's direct kernels (conv_direct.c, dense.c) instead of im2col +
 * CLBlast GEMMs: $CLTRAIN_CONV_ALGO=direct or =gemm when set (tests, benchmarks), else the launch
 * choice conv_algo, whose default picks the direct kernels on CPUs. */
int ops_conv_use_direct(device_ctx *d);

/* x [N,C,H,W], w [F,C,k,k], b [F] -> y [N,F,H,W]; odd k, stride 1, same padding (k/2). GEMMs go
 * through CLBlast over many images per call, chunked to fit the device workspace. */
int ops_conv_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W, int F,
                     int k);
/* dy [N,F,H,W] -> dx [N,C,H,W] (NULL: not needed, the first layer), dw [F,C,k,k], db [F]. */
int ops_conv_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                      int C, int H, int W, int F, int k);

/* ---- dense (host/ops/dense.c) ---- */

/* x [N,I], w [O,I] (PyTorch's Linear layout), b [O] -> y [N,O] = x w^T + b. */
int ops_dense_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int I, int O);
/* dy [N,O] -> dx [N,I] (NULL: not needed), dw [O,I], db [O]. */
int ops_dense_backward(device_ctx *d, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                       int I, int O);

/* ---- batch norm (host/ops/batchnorm.c, cl/batchnorm.cl) ---- */

/* Training: x [N,C,HW] -> y [N,C,HW] with the batch's mean and biased variance; running_mean and
 * running_var [C] updated with `momentum` (PyTorch: running = (1-m) running + m stat, the variance
 * unbiased by n/(n-1)); save_mean and save_invstd [C] keep what backward needs. */
int ops_batchnorm_forward_train(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                                cl_mem running_mean, cl_mem running_var, cl_mem save_mean, cl_mem save_invstd,
                                int N, int C, int HW, float momentum, float eps);
/* Inference: normalises with the running statistics. */
int ops_batchnorm_forward_eval(device_ctx *d, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                               cl_mem running_mean, cl_mem running_var, int N, int C, int HW, float eps);
/* dy [N,C,HW] -> dx [N,C,HW], dgamma [C], dbeta [C], from training mode's saved statistics. */
int ops_batchnorm_backward(device_ctx *d, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                           cl_mem gamma, cl_mem save_mean, cl_mem save_invstd, int N, int C, int HW);

/* ---- activations (host/ops/activation.c, cl/activation.cl) ---- */

typedef enum {
    OPS_RELU,
    OPS_SILU,
    OPS_GELU, /* the erf form, PyTorch's default */
    OPS_MISH,
    OPS_TANH,
    OPS_SIGMOID,
    OPS_LEAKY_RELU, /* slope 0.01 */
    OPS_ELU,        /* alpha 1 */
    OPS_ACTIVATION_COUNT
} ops_activation;

/* "relu", "silu", ... and back; parse returns -1 for an unknown name. */
const char *ops_activation_name(ops_activation a);
int ops_activation_parse(const char *name, ops_activation *out);

/* x [n] -> y [n] (y may be x only when backward is not needed). */
int ops_activation_forward(device_ctx *d, ops_activation a, cl_mem y, cl_mem x, size_t n);
/* dy [n], x [n] (the activation's input) -> dx [n]; dx may be dy. */
int ops_activation_backward(device_ctx *d, ops_activation a, cl_mem dx, cl_mem dy, cl_mem x, size_t n);

/* 1 when the derivative follows exactly from the output (relu, leaky_relu, elu): such an activation
 * can run in place, y = x, and go backward from y. */
int ops_activation_from_output(ops_activation a);
/* dy [n], y [n] (the activation's output) -> dx [n]; dx may be dy. Only where from_output holds. */
int ops_activation_backward_from_output(device_ctx *d, ops_activation a, cl_mem dx, cl_mem dy, cl_mem y,
                                        size_t n);

/* Batch norm fused with any activation after it: forward (training, and inference with the running
 * statistics) writes act(bn(x)) in the pass that normalises; backward takes the gradient dy of act's
 * output and recomputes bn(x) from x, gamma and beta, and writes the gradient of x (dx may be dy) and
 * of gamma and beta. The batch norm's own output is never stored, and each direction makes one pass
 * over the tensor fewer than batch norm and activation apart. */
int ops_batchnorm_act_forward_train(device_ctx *d, ops_activation act, cl_mem y, cl_mem x, cl_mem gamma,
                                    cl_mem beta, cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                                    cl_mem save_invstd, int N, int C, int HW, float momentum, float eps);
int ops_batchnorm_act_forward_eval(device_ctx *d, ops_activation act, cl_mem y, cl_mem x, cl_mem gamma,
                                   cl_mem beta, cl_mem running_mean, cl_mem running_var, int N, int C, int HW,
                                   float eps);
int ops_batchnorm_act_backward(device_ctx *d, ops_activation act, cl_mem dx, cl_mem dgamma, cl_mem dbeta,
                               cl_mem dy, cl_mem x, cl_mem gamma, cl_mem beta, cl_mem save_mean,
                               cl_mem save_invstd, int N, int C, int HW);

/* ---- max pool 2x2 stride 2 (host/ops/pool.c, cl/pool.cl) ---- */

/* x [N,C,H,W] -> y [N,C,H/2,W/2] (odd sizes floor, as PyTorch). */
int ops_maxpool_forward(device_ctx *d, cl_mem y, cl_mem x, int N, int C, int H, int W);
/* dy [N,C,H/2,W/2], x -> dx [N,C,H,W], every element written (zero where not the window's max; the
 * first maximum wins ties, as PyTorch). */
int ops_maxpool_backward(device_ctx *d, cl_mem dx, cl_mem dy, cl_mem x, int N, int C, int H, int W);

/* ---- dropout (host/ops/dropout.c, cl/dropout.cl) ---- */

/* y = x * mask / (1-p), mask[i] = philox(seed, stream, step, i) >= p; y may be x. The same
 * (seed, stream, step) gives the same mask; `stream` tells layers apart. p in [0,1). */
int ops_dropout_forward(device_ctx *d, cl_mem y, cl_mem x, size_t n, float p, uint64_t seed, uint32_t stream,
                        uint64_t step);
/* dx = dy * mask / (1-p) with the forward's mask; dx may be dy. */
int ops_dropout_backward(device_ctx *d, cl_mem dx, cl_mem dy, size_t n, float p, uint64_t seed,
                         uint32_t stream, uint64_t step);

/* ---- softmax cross-entropy (host/ops/loss.c, cl/loss.cl) ---- */

/* logits [N,K], labels [N] (int32 class indices) -> stats[2*slot] = mean loss over the batch,
 * stats[2*slot+1] = number of argmax == label (as float), and, when dlogits is not NULL,
 * dlogits [N,K] = (softmax - onehot) / N, the gradient of the mean loss. */
int ops_softmax_xent(device_ctx *d, cl_mem dlogits, cl_mem stats, int slot, cl_mem logits, cl_mem labels,
                     int N, int K);

/* ---- optimizers (host/ops/optim.c, cl/optim.cl) ---- */

typedef enum { OPS_SGD, OPS_ADAM, OPS_ADAMW, OPS_NADAM, OPS_RMSPROP, OPS_OPTIMIZER_COUNT } ops_optimizer;

const char *ops_optimizer_name(ops_optimizer o);
int ops_optimizer_parse(const char *name, ops_optimizer *out);

typedef struct {
    ops_optimizer kind;
    float lr;
    float weight_decay;   /* L2 added to the gradient; adamw: decoupled, param *= 1 - lr*wd */
    float momentum;       /* sgd and rmsprop */
    int nesterov;         /* sgd */
    float beta1, beta2;   /* adam family (0.9, 0.999) */
    float eps;            /* adam family 1e-8, rmsprop 1e-8 */
    float alpha;          /* rmsprop smoothing (0.99) */
    float momentum_decay; /* nadam (4e-3) */
} ops_optim_params;

/* PyTorch's defaults for the kind, with lr. */
ops_optim_params ops_optim_defaults(ops_optimizer kind, float lr);

/* How many floats of state per parameter the optimizer keeps (sgd 1, adam 2, rmsprop 2, ...). */
int ops_optim_state_per_param(const ops_optim_params *p);

/* Host-side state that is not per parameter (nadam's running product of momentum factors). */
typedef struct {
    long step; /* steps taken so far */
    double mu_product;
} ops_optim_host_state;

/* One update of params [n] from grads [n], with state [n * state_per_param] (zeroed before the first
 * step) and the host state (zeroed before the first step, advanced here). PyTorch's update rules. */
int ops_optim_step(device_ctx *d, const ops_optim_params *p, ops_optim_host_state *hs, cl_mem params,
                   cl_mem grads, cl_mem state, size_t n);

#endif
