/* internal.h: what the files of host/ops/ share and nothing else needs. */
#ifndef CLTRAIN_OPS_INTERNAL_H
#define CLTRAIN_OPS_INTERNAL_H

#include "cltrain/device.h"

/* db[f] = sum over n < N, p < HW of dy[(n*F + f)*HW + p] (conv.c; dense uses HW = 1). */
int ops_bias_grad(device_ctx *d, cl_mem db, cl_mem dy, int N, int F, int HW);

/* y = conv(x, w) + b by cl/conv_direct.cl, the shape already checked; the padded images use at most
 * workspace_floats of the device workspace (at least one image's worth). */
int ops_conv_direct_forward(device_ctx *d, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int H, int W,
                            int F, int k, size_t workspace_floats);
/* dx = the input gradient of conv for dy, by the same kernel reading the weights transposed and
 * rotated (-DFLIP); the padded dy uses at most workspace_floats of the workspace (at least one image). */
int ops_conv_direct_input_grad(device_ctx *d, cl_mem dx, cl_mem dy, cl_mem w, int N, int C, int H, int W,
                               int F, int k, size_t workspace_floats);
/* dw and db = the weight and bias gradients of conv for dy and x by cl/conv_direct.cl: groups of
 * images summed in registers, the groups' partials then added in a fixed order (workspace as above). */
int ops_conv_direct_weight_grad(device_ctx *d, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, int N, int C, int H,
                                int W, int F, int k, size_t workspace_floats);

#endif
