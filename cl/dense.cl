/* dense.cl: the fully connected layer without CLBlast, for CPUs: its GEMMs are small next to the
 * convolutions, and CLBlast's first call would cost a CPU device seconds of compiling. Each output
 * element is one work-item summing in a fixed order, so a run repeats bit for bit.
 * Shapes: x [N,I], w [O,I] (PyTorch's Linear layout), b [O], y and dy [N,O]. */

/* y[n,o] = b[o] + sum_i x[n,i] w[o,i]; the i loop reads both rows contiguously */
__kernel void dense_forward(__global float *y, __global const float *x, __global const float *w,
                            __global const float *b, int N, int I, int O)
{
    int o = get_global_id(0), n = get_global_id(1);
    if (o >= O || n >= N) return;
    __global const float *xr = x + (size_t)n * I, *wr = w + (size_t)o * I;
    float8 acc = (float8)(0.0f);
    int i = 0;
    for (; i + 8 <= I; i += 8)
        acc += vload8(0, xr + i) * vload8(0, wr + i);
    float s = (acc.s0 + acc.s1) + (acc.s2 + acc.s3) + (acc.s4 + acc.s5) + (acc.s6 + acc.s7);
    for (; i < I; i++)
        s += xr[i] * wr[i];
    y[(size_t)n * O + o] = s + b[o];
}

/* The backward kernels give each work-item 8 consecutive i (float8, as PoCL keeps them in one AVX
 * register; left to its work-item vectoriser, the scalar loops ran at 2-6 GFLOP/s); a row's last
 * partial run of i goes element by element. Sums run over n or o in order. */
#define DENSE_VW 8

/* dx[n,i] = sum_o dy[n,o] w[o,i]: grid (ceil(I/8), N) */
__kernel void dense_input_grad(__global float *dx, __global const float *dy, __global const float *w, int N,
                               int I, int O)
{
    int i0 = get_global_id(0) * DENSE_VW, n = get_global_id(1);
    if (i0 >= I || n >= N) return;
    __global const float *dyr = dy + (size_t)n * O;
    __global float *dxr = dx + (size_t)n * I;
    if (i0 + DENSE_VW <= I) {
        float8 s = (float8)(0.0f);
        for (int o = 0; o < O; o++)
            s += dyr[o] * vload8(0, w + (size_t)o * I + i0);
        vstore8(s, 0, dxr + i0);
    } else
        for (int i = i0; i < I; i++) {
            float s = 0.0f;
            for (int o = 0; o < O; o++)
                s += dyr[o] * w[(size_t)o * I + i];
            dxr[i] = s;
        }
}

/* dw[o,i] = sum_n dy[n,o] x[n,i]: grid (ceil(I/8), O); the work-items of i0 == 0 also write
 * db[o] = sum_n dy[n,o] */
__kernel void dense_weight_grad(__global float *dw, __global float *db, __global const float *dy,
                                __global const float *x, int N, int I, int O)
{
    int i0 = get_global_id(0) * DENSE_VW, o = get_global_id(1);
    if (i0 >= I || o >= O) return;
    float g = 0.0f;
    if (i0 + DENSE_VW <= I) {
        float8 s = (float8)(0.0f);
        for (int n = 0; n < N; n++) {
            float d = dy[(size_t)n * O + o];
            s += d * vload8(0, x + (size_t)n * I + i0);
            g += d;
        }
        vstore8(s, 0, dw + (size_t)o * I + i0);
    } else
        for (int i = i0; i < I; i++) {
            float s = 0.0f;
            g = 0.0f;
            for (int n = 0; n < N; n++) {
                float d = dy[(size_t)n * O + o];
                s += d * x[(size_t)n * I + i];
                g += d;
            }
            dw[(size_t)o * I + i] = s;
        }
    if (i0 == 0) db[o] = g;
}
