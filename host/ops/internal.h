/* internal.h: what the files of host/ops/ share and nothing else needs. */
#ifndef CLTRAIN_OPS_INTERNAL_H
#define CLTRAIN_OPS_INTERNAL_H

#include "cltrain/device.h"

/* db[f] = sum over n < N, p < HW of dy[(n*F + f)*HW + p] (conv.c; dense uses HW = 1). */
int ops_bias_grad(device_ctx *d, cl_mem db, cl_mem dy, int N, int F, int HW);

#endif
