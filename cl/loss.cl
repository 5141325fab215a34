/* loss.cl: softmax cross-entropy over a batch of logits, its gradient, and the batch's accuracy
 * count, in one work-group of LOCAL work-items (a power of two, set with -DLOCAL).
 *
 * Why one work-group: the batch's loss is a sum over N rows, and summing per-row losses in a fixed
 * tree inside one group gives the same float every time (no float atomics, no order that depends
 * on scheduling). A batch is a few hundred rows of a few classes, so one group is plenty.
 *
 * Labels outside [0, K) cannot be reported from here; the data loader validates them. So that one
 * never reads out of bounds, such a row is skipped: it adds nothing to the loss or the count and
 * its gradient row is 0 (the mean still divides by N). */

#ifndef LOCAL
#define LOCAL 64
#endif
#ifndef GRAD
#define GRAD 1
#endif

/* logits [N,K], labels [N] -> stats[2*slot] = mean loss, stats[2*slot+1] = correct count; with
 * GRAD, dlogits [N,K] = (softmax - onehot) / N. A row's logits are all read before its gradient
 * is written, so dlogits may be logits. */
__kernel __attribute__((reqd_work_group_size(LOCAL, 1, 1))) void
softmax_xent(__global float *dlogits, __global float *stats, int slot, __global const float *logits,
             __global const int *labels, int N, int K)
{
    __local float part_loss[LOCAL], part_hits[LOCAL];
    int t = get_local_id(0);
    float loss = 0.0f, hits = 0.0f, inv_n = 1.0f / (float)N;
    for (int r = t; r < N; r += LOCAL) {
        __global const float *z = logits + (size_t)r * K;
        int label = labels[r];
        int valid = label >= 0 && label < K;
        /* the max for stability; the first maximum is the prediction, as torch.argmax */
        float m = z[0];
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > m) {
                m = z[k];
                arg = k;
            }
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += exp(z[k] - m);
        if (valid) {
            loss += log(s) - (z[label] - m);
            hits += arg == label ? 1.0f : 0.0f;
        }
#if GRAD
        __global float *g = dlogits + (size_t)r * K;
        float inv_s = 1.0f / s;
        for (int k = 0; k < K; k++) {
            float v = (exp(z[k] - m) * inv_s - (k == label ? 1.0f : 0.0f)) * inv_n;
            g[k] = valid ? v : 0.0f;
        }
#endif
    }
    part_loss[t] = loss;
    part_hits[t] = hits;
    for (int w = LOCAL / 2; w > 0; w >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t < w) {
            part_loss[t] += part_loss[t + w];
            part_hits[t] += part_hits[t + w];
        }
    }
    if (t == 0) {
        stats[2 * slot] = part_loss[0] / (float)N;
        stats[2 * slot + 1] = part_hits[0];
    }
}
