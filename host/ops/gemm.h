/* gemm.h: the one way ops call CLBlast's SGEMM: row-major, offsets in floats, status checked and
 * turned into a sentence. Private to host/ops/. */
#ifndef CLTRAIN_OPS_GEMM_H
#define CLTRAIN_OPS_GEMM_H

#include "cltrain/device.h"

/* C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [m,k], op(B) [k,n]. trans_a/b: 0 or 1. */
int ops_gemm(device_ctx *d, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
             size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
             size_t ldc, const char *what);

#endif
