/* gemm.h: the one way ops call CLBlast's SGEMM: row-major, offsets in floats, status checked and
 * turned into a sentence naming the op and the device. Private to host/ops/. */
#ifndef CLTRAIN_OPS_GEMM_H
#define CLTRAIN_OPS_GEMM_H

#include "cltrain/device.h"

/* C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [m,k], op(B) [k,n]. trans_a/b: 0 or 1. */
int ops_gemm(device_ctx *d, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
             size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
             size_t ldc, const char *what);

/* `batch` GEMMs of the shape above; GEMM i reads A at a_off + i*a_stride, B at b_off + i*b_stride and
 * writes C at c_off + i*c_stride (strides in floats; regions of A and B may overlap, C's may not). */
int ops_gemm_strided_batched(device_ctx *d, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                             float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b,
                             size_t b_off, size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off,
                             size_t ldc, size_t c_stride, size_t batch, const char *what);

#endif
