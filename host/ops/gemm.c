/* gemm.c: CLBlast SGEMM for the ops (see gemm.h). */
#include "gemm.h"

#include <clblast_c.h>

int ops_gemm(device_ctx *d, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
             size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
             size_t ldc, const char *what)
{
    if (m == 0 || n == 0) return 0;
    CLBlastStatusCode st =
        CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off, lda, b,
                     b_off, ldb, beta, c, c_off, ldc, &d->queue, NULL);
    if (st != CLBlastSuccess)
        return device_fail(d, "the GEMM of %s (%zux%zux%zu) on device %d (%s) failed: %s", what, m, n, k,
                           d->info.index, d->info.name, device_clblast_error(st));
    return 0;
}

int ops_gemm_strided_batched(device_ctx *d, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                             float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b,
                             size_t b_off, size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off,
                             size_t ldc, size_t c_stride, size_t batch, const char *what)
{
    if (m == 0 || n == 0 || batch == 0) return 0;
    CLBlastStatusCode st = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off, lda, a_stride, b, b_off,
        ldb, b_stride, beta, c, c_off, ldc, c_stride, batch, &d->queue, NULL);
    if (st != CLBlastSuccess)
        return device_fail(d, "the %zu batched GEMMs of %s (%zux%zux%zu) on device %d (%s) failed: %s", batch,
                           what, m, n, k, d->info.index, d->info.name, device_clblast_error(st));
    return 0;
}
