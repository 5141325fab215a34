/* act_ref.h: double-precision references of the activations (test_activation.c checks their
 * derivatives against finite differences). */
#ifndef CLTRAIN_ACT_REF_H
#define CLTRAIN_ACT_REF_H

#include "cltrain/ops.h"

/* f(x) and f'(x) of activation a; relu and leaky_relu take the left slope at 0, as PyTorch */
double tu_act_ref(ops_activation a, double x);
double tu_act_ref_slope(ops_activation a, double x);

#endif
