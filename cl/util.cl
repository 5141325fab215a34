/* util.cl: small kernels shared by the ops and by the device layer's own tests. */

#ifdef CLTRAIN_TEST_BUILD_ERROR
/* Lets the tests see what a failed build reports: this line is not OpenCL C. */
this is not a kernel;
#endif

/* y = a * x + b * y */
__kernel void scale_add(__global float *y, __global const float *x, float a, float b, int n)
{
    int i = get_global_id(0);
    if (i < n) y[i] = a * x[i] + b * y[i];
}
