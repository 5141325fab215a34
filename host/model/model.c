/* model.c: the CNN on a device: its buffers, and forward, loss, backward and update walked over the
 * plan's layers. Every layer keeps its output for backward; gradients flow through two ping-pong
 * buffers, each sized for the largest gradient it holds. Nothing here waits on the host. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static size_t layer_out_floats(const model_layer *l)
{
    return (size_t)l->out_c * (size_t)l->out_h * (size_t)l->out_w;
}

static size_t layer_in_floats(const model_layer *l)
{
    return (size_t)l->in_c * (size_t)l->in_h * (size_t)l->in_w;
}

/* Whether a layer's backward writes its input's gradient over its output's: activations, dropout and
 * batch norm (element-wise once its sums are taken) do, so the gradient stays in its buffer. */
static int backward_in_place(const model_layer *l)
{
    return l->kind == LAYER_ACTIVATION || l->kind == LAYER_DROPOUT || l->kind == LAYER_BATCHNORM;
}

static cl_mem sub_buffer(model *m, cl_mem parent, size_t offset_floats, size_t count, const char *name)
{
    cl_buffer_region r = {offset_floats * sizeof(float), count * sizeof(float)};
    cl_int st;
    cl_mem b = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &st);
    if (st != CL_SUCCESS) {
        device_fail(m->d, "creating the view of %s on device %d failed: %s", name, m->d->info.index,
                    device_cl_error(st));
        return NULL;
    }
    return b;
}

static void release(cl_mem *b)
{
    if (*b) clReleaseMemObject(*b);
    *b = NULL;
}

void model_destroy(model *m)
{
    if (!m) return;
    if (m->d && m->d->queue) clFinish(m->d->queue);
    for (int i = 0; i < MODEL_MAX_TENSORS; i++) {
        release(&m->value[i]);
        release(&m->grad[i]);
    }
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        if (m->in_place[i])
            m->out[i] = NULL; /* the previous layer's buffer, released there */
        else
            release(&m->out[i]);
        release(&m->save_mean[i]);
        release(&m->save_invstd[i]);
    }
    release(&m->dbuf[0]);
    release(&m->dbuf[1]);
    release(&m->params);
    release(&m->grads);
    release(&m->stats);
    release(&m->opt_state);
    free(m);
}

model *model_create(device_ctx *d, const config *c, int in_c, int size, int classes, int max_batch, char *err,
                    size_t errlen)
{
    model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of host memory creating the model");
        return NULL;
    }
    m->d = d;
    m->max_batch = max_batch;
    size_t align = d->info.base_align_bits / 8 / sizeof(float);
    if (model_plan_build(c, in_c, size, classes, align ? align : 1, &m->plan, err, errlen) != 0) {
        free(m);
        return NULL;
    }
    const model_plan *p = &m->plan;
    if (!(m->params = device_alloc(d, p->param_floats * sizeof(float), "the parameters")) ||
        !(m->grads = device_alloc(d, p->param_floats * sizeof(float), "the gradients")) ||
        !(m->stats = device_alloc(d, (p->stat_floats ? p->stat_floats : 1) * sizeof(float),
                                  "the batch-norm statistics")) ||
        device_fill(d, m->grads, 0.0f, 0, p->param_floats) != 0)
        goto fail;
    for (int i = 0; i < p->ntensors; i++) {
        const model_tensor *t = &p->tensors[i];
        m->value[i] = sub_buffer(m, t->is_stat ? m->stats : m->params, t->offset, t->count, t->name);
        if (!m->value[i]) goto fail;
        if (!t->is_stat && !(m->grad[i] = sub_buffer(m, m->grads, t->offset, t->count, t->name))) goto fail;
    }
    for (int i = 0; i < p->nlayers; i++) {
        const model_layer *l = &p->layers[i];
        size_t n = layer_out_floats(l);
        /* an activation after batch norm runs inside it (the batch norm's output is never kept), and
         * relu and kin go backward from their output: both overwrite their input, as conv, batch norm
         * and dense need their own input for backward, never their output */
        if (l->kind == LAYER_ACTIVATION && i > 0 &&
            (p->layers[i - 1].kind == LAYER_BATCHNORM ||
             (ops_activation_from_output(l->act) && p->layers[i - 1].kind != LAYER_DROPOUT))) {
            m->in_place[i] = 1;
            m->out[i] = m->out[i - 1];
            continue;
        }
        if (!(m->out[i] = device_alloc(d, (size_t)max_batch * n * sizeof(float), l->name))) goto fail;
        if (l->kind == LAYER_BATCHNORM &&
            (!(m->save_mean[i] = device_alloc(d, (size_t)l->out_c * sizeof(float), l->name)) ||
             !(m->save_invstd[i] = device_alloc(d, (size_t)l->out_c * sizeof(float), l->name))))
            goto fail;
    }
    /* a batch norm followed by an activation runs it in its own passes */
    for (int i = 0; i + 1 < p->nlayers; i++)
        m->fused[i] = p->layers[i].kind == LAYER_BATCHNORM && p->layers[i + 1].kind == LAYER_ACTIVATION;
    /* each ping-pong buffer sized for the largest gradient backward leaves in it: the layers that
     * work in place keep the gradient where it is, the others write their input's into the other */
    size_t need[2] = {layer_out_floats(&p->layers[p->nlayers - 1]), 0};
    for (int i = p->nlayers - 1, cur = 0; i > 0; i--) {
        if (backward_in_place(&p->layers[i])) continue;
        cur = 1 - cur;
        if (layer_in_floats(&p->layers[i]) > need[cur]) need[cur] = layer_in_floats(&p->layers[i]);
    }
    for (int i = 0; i < 2; i++)
        if (!(m->dbuf[i] = device_alloc(d, (size_t)max_batch * (need[i] ? need[i] : 1) * sizeof(float),
                                        "the gradients")))
            goto fail;
    return m;
fail:
    snprintf(err, errlen, "%s", d->error);
    model_destroy(m);
    return NULL;
}

const model_plan *model_get_plan(const model *m)
{
    return &m->plan;
}

int model_forward(model *m, cl_mem x, int N, int training, uint64_t seed, uint64_t step)
{
    if (N < 1 || N > m->max_batch)
        return device_fail(m->d, "a batch of %d images does not fit the model built for up to %d", N,
                           m->max_batch);
    device_ctx *d = m->d;
    cl_mem in = x;
    for (int i = 0; i < m->plan.nlayers; i++) {
        const model_layer *l = &m->plan.layers[i];
        cl_mem out = m->out[i];
        int rc = 0;
        size_t n = (size_t)N * layer_out_floats(l);
        switch (l->kind) {
        case LAYER_CONV:
            rc = ops_conv_forward(d, out, in, m->value[l->weight], m->value[l->bias], N, l->in_c, l->in_h,
                                  l->in_w, l->out_c, l->k);
            break;
        case LAYER_BATCHNORM:
            if (training && m->fused[i])
                rc = ops_batchnorm_act_forward_train(
                    d, m->plan.layers[i + 1].act, out, in, m->value[l->weight], m->value[l->bias],
                    m->value[l->mean], m->value[l->var], m->save_mean[i], m->save_invstd[i], N, l->out_c,
                    l->out_h * l->out_w, MODEL_BN_MOMENTUM, MODEL_BN_EPS);
            else if (training)
                rc = ops_batchnorm_forward_train(d, out, in, m->value[l->weight], m->value[l->bias],
                                                 m->value[l->mean], m->value[l->var], m->save_mean[i],
                                                 m->save_invstd[i], N, l->out_c, l->out_h * l->out_w,
                                                 MODEL_BN_MOMENTUM, MODEL_BN_EPS);
            else if (m->fused[i])
                rc = ops_batchnorm_act_forward_eval(
                    d, m->plan.layers[i + 1].act, out, in, m->value[l->weight], m->value[l->bias],
                    m->value[l->mean], m->value[l->var], N, l->out_c, l->out_h * l->out_w, MODEL_BN_EPS);
            else
                rc = ops_batchnorm_forward_eval(d, out, in, m->value[l->weight], m->value[l->bias],
                                                m->value[l->mean], m->value[l->var], N, l->out_c,
                                                l->out_h * l->out_w, MODEL_BN_EPS);
            break;
        case LAYER_ACTIVATION:
            if (!(i > 0 && m->fused[i - 1])) rc = ops_activation_forward(d, l->act, out, in, n);
            break;
        case LAYER_MAXPOOL:
            rc = ops_maxpool_forward(d, out, in, N, l->in_c, l->in_h, l->in_w);
            break;
        case LAYER_DROPOUT:
            if (!training) {
                m->cur[i] = in; /* identity at inference: no copy */
                continue;
            }
            rc = ops_dropout_forward(d, out, in, n, l->p, seed, (uint32_t)i, step);
            break;
        case LAYER_DENSE:
            rc = ops_dense_forward(d, out, in, m->value[l->weight], m->value[l->bias], N,
                                   (int)layer_in_floats(l), l->out_c);
            break;
        }
        if (rc != 0) return -1;
        m->cur[i] = out;
        in = out;
    }
    if (training) m->bn_batches++;
    return 0;
}

cl_mem model_logits(const model *m)
{
    return m->cur[m->plan.nlayers - 1];
}

int model_loss(model *m, cl_mem labels, cl_mem stats, int slot, int N, int want_grad)
{
    /* dlogits goes to the ping-pong buffer backward starts from */
    return ops_softmax_xent(m->d, want_grad ? m->dbuf[0] : NULL, stats, slot, model_logits(m), labels, N,
                            m->plan.classes);
}

int model_backward(model *m, cl_mem x, int N, uint64_t seed, uint64_t step)
{
    device_ctx *d = m->d;
    int cur = 0; /* dbuf[cur] holds the gradient of the current layer's output */
    for (int i = m->plan.nlayers - 1; i >= 0; i--) {
        const model_layer *l = &m->plan.layers[i];
        cl_mem in = i > 0 ? m->cur[i - 1] : x;
        cl_mem dy = m->dbuf[cur], dx = i == 0 ? NULL : backward_in_place(l) ? dy : m->dbuf[1 - cur];
        size_t n = (size_t)N * layer_out_floats(l);
        int rc = 0;
        switch (l->kind) {
        case LAYER_CONV:
            rc = ops_conv_backward(d, dx, m->grad[l->weight], m->grad[l->bias], dy, in, m->value[l->weight],
                                   N, l->in_c, l->in_h, l->in_w, l->out_c, l->k);
            break;
        case LAYER_BATCHNORM:
            if (m->fused[i]) /* dy is the gradient of the activation's output */
                rc = ops_batchnorm_act_backward(d, m->plan.layers[i + 1].act, dx, m->grad[l->weight],
                                                m->grad[l->bias], dy, in, m->value[l->weight],
                                                m->value[l->bias], m->save_mean[i], m->save_invstd[i], N,
                                                l->out_c, l->out_h * l->out_w);
            else
                rc = ops_batchnorm_backward(d, dx, m->grad[l->weight], m->grad[l->bias], dy, in,
                                            m->value[l->weight], m->save_mean[i], m->save_invstd[i], N,
                                            l->out_c, l->out_h * l->out_w);
            break;
        case LAYER_ACTIVATION:
            if (i > 0 && m->fused[i - 1]) break; /* the batch norm before takes it */
            rc = m->in_place[i] ? ops_activation_backward_from_output(d, l->act, dy, dy, m->cur[i], n)
                                : ops_activation_backward(d, l->act, dy, dy, in, n);
            break;
        case LAYER_MAXPOOL:
            rc = ops_maxpool_backward(d, dx, dy, in, N, l->in_c, l->in_h, l->in_w);
            break;
        case LAYER_DROPOUT:
            rc = ops_dropout_backward(d, dy, dy, n, l->p, seed, (uint32_t)i, step);
            break;
        case LAYER_DENSE:
            rc = ops_dense_backward(d, dx, m->grad[l->weight], m->grad[l->bias], dy, in, m->value[l->weight],
                                    N, (int)layer_in_floats(l), l->out_c);
            break;
        }
        if (rc != 0) return -1;
        if (!backward_in_place(l)) cur = 1 - cur;
    }
    return 0;
}

int model_update(model *m, const ops_optim_params *opt)
{
    if (!m->opt_state || m->opt_kind != opt->kind) {
        release(&m->opt_state);
        size_t n = (size_t)ops_optim_state_per_param(opt) * m->plan.param_floats;
        if (n == 0) n = 1;
        if (!(m->opt_state = device_alloc(m->d, n * sizeof(float), "the optimizer state")) ||
            device_fill(m->d, m->opt_state, 0.0f, 0, n) != 0)
            return -1;
        memset(&m->opt_host, 0, sizeof m->opt_host);
        m->opt_kind = opt->kind;
    }
    return ops_optim_step(m->d, opt, &m->opt_host, m->params, m->grads, m->opt_state, m->plan.param_floats);
}

cl_mem model_params(const model *m)
{
    return m->params;
}

cl_mem model_grads(const model *m)
{
    return m->grads;
}

cl_mem model_stats(const model *m)
{
    return m->stats;
}

device_ctx *model_device(const model *m)
{
    return m->d;
}
