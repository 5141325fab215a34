/* loss.c: softmax cross-entropy at the end of the network, enqueueing cl/loss.cl. It writes the
 * batch's mean loss and correct count into a slot of a stats buffer the trainer reads once per
 * epoch (no host round-trip per step), and the logits' gradient for backward.
 *
 * Labels are not checked here: they live on the device and ops do not read back. The data loader
 * validates them against the class count; the kernel skips a row whose label is out of range
 * instead of reading out of bounds (see cl/loss.cl). */
#include "cltrain/ops.h"

#include <limits.h>
#include <stdio.h>

/* The reduction's group size: a power of two the device allows, at most 64 (batches are small). */
static int loss_local(const device_ctx *d)
{
    int local = 64;
    while (local > 1 && (size_t)local > d->info.max_work_group)
        local /= 2;
    return local;
}

/* Fails unless buf holds at least `bytes`; `what` names the buffer in the sentence. */
static int loss_buffer(device_ctx *d, cl_mem buf, size_t bytes, const char *what, int N, int K)
{
    size_t have = 0;
    if (device_check(d, clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof have, &have, NULL),
                     "asking a softmax cross-entropy buffer's size"))
        return -1;
    if (have < bytes)
        return device_fail(
            d, "softmax cross-entropy over [%d,%d] needs %zu bytes of %s but its buffer holds %zu", N, K,
            bytes, what, have);
    return 0;
}

int ops_softmax_xent(device_ctx *d, cl_mem dlogits, cl_mem stats, int slot, cl_mem logits, cl_mem labels,
                     int N, int K)
{
    if (N < 1 || K < 1)
        return device_fail(
            d, "softmax cross-entropy was given logits [%d,%d]; batch and classes must be positive", N, K);
    if ((double)N * K > INT_MAX)
        return device_fail(
            d,
            "softmax cross-entropy over [%d,%d] has more than %d logits, which its kernel cannot "
            "index",
            N, K, INT_MAX);
    if (slot < 0 || slot > INT_MAX / 2 - 1)
        return device_fail(d, "softmax cross-entropy was given stats slot %d; a slot is a non-negative index",
                           slot);
    if (!stats || !logits || !labels) return device_fail(d, "softmax cross-entropy was given a NULL buffer");
    size_t nk = (size_t)N * K * sizeof(float);
    if (loss_buffer(d, logits, nk, "logits", N, K) ||
        loss_buffer(d, labels, (size_t)N * sizeof(int32_t), "labels", N, K) ||
        loss_buffer(d, stats, 2 * ((size_t)slot + 1) * sizeof(float), "stats", N, K) ||
        (dlogits && loss_buffer(d, dlogits, nk, "dlogits", N, K)))
        return -1;

    int local = loss_local(d);
    char options[64];
    snprintf(options, sizeof options, "-DLOCAL=%d -DGRAD=%d", local, dlogits ? 1 : 0);
    cl_kernel k = device_kernel(d, "loss.cl", "softmax_xent", options);
    if (!k) return -1;
    /* without a gradient the kernel never touches its first argument; logits stands in for NULL */
    cl_mem grad = dlogits ? dlogits : logits;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, grad);
    DEVICE_ARG(st, k, 1, stats);
    DEVICE_ARG(st, k, 2, slot);
    DEVICE_ARG(st, k, 3, logits);
    DEVICE_ARG(st, k, 4, labels);
    DEVICE_ARG(st, k, 5, N);
    DEVICE_ARG(st, k, 6, K);
    if (device_check(d, st, "setting the softmax cross-entropy arguments")) return -1;
    size_t global = (size_t)local, lsize = (size_t)local;
    return device_run(d, k, 1, &global, &lsize, "the softmax cross-entropy");
}
