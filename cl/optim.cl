/* optim.cl: one element-wise kernel per optimizer, each PyTorch's single-tensor update rule
 * (torch.optim, foreach=False) written out for one parameter. Everything that depends on the step
 * (bias corrections, NAdam's momentum schedule) is computed on the host in double and arrives as
 * float arguments, so the kernels hold no step logic. State is [n] blocks: state[i] is the first
 * slot of parameter i, state[n + i] the second. One work-item per parameter; n fits in int. */

/* SGD: g += wd*p; buf = momentum*buf + g (the first step's buf = g follows from a zeroed buffer,
 * since dampening is 0); g = nesterov ? g + momentum*buf : buf; p -= lr*g. */
__kernel void sgd_step(__global float *param, __global const float *grad, __global float *state, int n, float lr,
                       float wd, float momentum, int nesterov)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float p = param[i], g = grad[i];
    if (wd != 0.0f) g = g + wd * p;
    if (momentum != 0.0f) {
        float b = state[i] * momentum + g;
        state[i] = b;
        g = nesterov ? g + momentum * b : b;
    }
    param[i] = p - lr * g;
}

/* Adam and AdamW: decay = 1 - lr*wd (AdamW, applied to p first; 1 for Adam), l2 = wd (Adam, added
 * to g; 0 for AdamW). m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g^2;
 * p -= step_size * m / (sqrt(v)/sqrt(bc2) + eps), with step_size = lr/bc1. */
__kernel void adam_step(__global float *param, __global const float *grad, __global float *state, int n,
                        float decay, float l2, float one_minus_beta1, float beta2, float one_minus_beta2,
                        float step_size, float bc2_sqrt, float eps)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float p = param[i] * decay, g = grad[i];
    if (l2 != 0.0f) g = g + l2 * p;
    float m = state[i], v = state[n + i];
    m = m + one_minus_beta1 * (g - m);
    v = v * beta2 + one_minus_beta2 * g * g;
    state[i] = m;
    state[n + i] = v;
    float denom = sqrt(v) / bc2_sqrt + eps;
    param[i] = p - step_size * (m / denom);
}

/* NAdam: g += wd*p; m and v as Adam; denom = sqrt(v/bc2) + eps;
 * p += coef_g * g/denom + coef_m * m/denom, with coef_g = -lr(1-mu_t)/(1-prod mu_1..t) and
 * coef_m = -lr mu_{t+1}/(1-prod mu_1..t+1), applied in that order as PyTorch's two addcdiv_. */
__kernel void nadam_step(__global float *param, __global const float *grad, __global float *state, int n, float wd,
                         float one_minus_beta1, float beta2, float one_minus_beta2, float bc2, float eps,
                         float coef_g, float coef_m)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float p = param[i], g = grad[i];
    if (wd != 0.0f) g = g + wd * p;
    float m = state[i], v = state[n + i];
    m = m + one_minus_beta1 * (g - m);
    v = v * beta2 + one_minus_beta2 * g * g;
    state[i] = m;
    state[n + i] = v;
    float denom = sqrt(v / bc2) + eps;
    p = p + coef_g * (g / denom);
    param[i] = p + coef_m * (m / denom);
}

/* RMSprop (not centered): g += wd*p; sq = alpha*sq + (1-alpha)*g^2; avg = sqrt(sq) + eps;
 * with momentum: buf = momentum*buf + g/avg, p -= lr*buf; without: p -= lr*g/avg. */
__kernel void rmsprop_step(__global float *param, __global const float *grad, __global float *state, int n,
                           float lr, float wd, float alpha, float one_minus_alpha, float eps, float momentum)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float p = param[i], g = grad[i];
    if (wd != 0.0f) g = g + wd * p;
    float sq = state[i] * alpha + one_minus_alpha * g * g;
    state[i] = sq;
    float avg = sqrt(sq) + eps;
    if (momentum > 0.0f) {
        float b = state[n + i] * momentum + g / avg;
        state[n + i] = b;
        param[i] = p - lr * b;
    } else {
        param[i] = p - lr * (g / avg);
    }
}
