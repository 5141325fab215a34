/* transform.c: one image from uint8 pixels to the model's float input: /255, resize to S x S,
 * augmentation (training only), normalisation; and the per-epoch shuffle.
 *
 * Everything random is drawn from (seed, epoch, image index) through the counter-based generator
 * in internal.h, so an image's augmentation does not depend on which thread prepares it, or when. */
#include "internal.h"
#include "cltrain/data.h"

#include <math.h>
#include <string.h>

void data_resize_pad(const float *src, int channels, int height, int width, int size, float *dst)
{
    /* per axis: a positive offset pads (source lands at +off), a negative one crops */
    int oy = (size - height) / 2, ox = (size - width) / 2;
    if (size < height) oy = -((height - size) / 2);
    if (size < width) ox = -((width - size) / 2);
    for (int c = 0; c < channels; c++) {
        const float *s = src + (size_t)c * height * width;
        float *d = dst + (size_t)c * size * size;
        for (int y = 0; y < size; y++) {
            int sy = y - oy;
            float *row = d + (size_t)y * size;
            if (sy < 0 || sy >= height) {
                memset(row, 0, (size_t)size * sizeof(float));
                continue;
            }
            for (int x = 0; x < size; x++) {
                int sx = x - ox;
                row[x] = sx >= 0 && sx < width ? s[(size_t)sy * width + sx] : 0.0f;
            }
        }
    }
}

/* PyTorch's source index for align_corners=False: scale * (dst + 0.5) - 0.5, clamped at 0, in
 * float as PyTorch computes it for float tensors. */
static void bilinear_axis(int in, int out, int i, int *i0, int *i1, float *lambda)
{
    float scale = (float)in / (float)out;
    float s = scale * ((float)i + 0.5f) - 0.5f;
    if (s < 0) s = 0;
    int a = (int)s;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a < in - 1 ? a + 1 : a;
    *lambda = s - (float)a;
}

void data_resize_bilinear(const float *src, int channels, int height, int width, int size, float *dst)
{
    for (int y = 0; y < size; y++) {
        int y0, y1;
        float ly;
        bilinear_axis(height, size, y, &y0, &y1, &ly);
        for (int x = 0; x < size; x++) {
            int x0, x1;
            float lx;
            bilinear_axis(width, size, x, &x0, &x1, &lx);
            for (int c = 0; c < channels; c++) {
                const float *s = src + (size_t)c * height * width;
                float top = (1 - lx) * s[(size_t)y0 * width + x0] + lx * s[(size_t)y0 * width + x1];
                float bot = (1 - lx) * s[(size_t)y1 * width + x0] + lx * s[(size_t)y1 * width + x1];
                dst[((size_t)c * size + y) * size + x] = (1 - ly) * top + ly * bot;
            }
        }
    }
}

/* Bilinear sample at (x, y) with zero outside the image: the same black the padding is. */
static float sample_zero(const float *p, int size, float x, float y)
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float lx = x - (float)x0, ly = y - (float)y0;
    float v = 0;
    for (int dy = 0; dy < 2; dy++) {
        int yy = y0 + dy;
        if (yy < 0 || yy >= size) continue;
        float wy = dy ? ly : 1 - ly;
        for (int dx = 0; dx < 2; dx++) {
            int xx = x0 + dx;
            if (xx < 0 || xx >= size) continue;
            v += wy * (dx ? lx : 1 - lx) * p[(size_t)yy * size + xx];
        }
    }
    return v;
}

void data_augment(float *img, int channels, int size, uint64_t seed, int epoch, long index, float *scratch)
{
    uint32_t r[6];
    for (int i = 0; i < 6; i++)
        r[i] = data_random(seed, DATA_STREAM_AUGMENT, (uint32_t)epoch, (uint64_t)index, (unsigned)i);
    int flip = data_random_unit(r[0]) < 0.5;
    int reach = (int)floor(0.125 * size + 0.5);
    int dx = (int)data_random_below(r[1], 2 * (uint64_t)reach + 1) - reach;
    int dy = (int)data_random_below(r[2], 2 * (uint64_t)reach + 1) - reach;
    double angle = (2 * data_random_unit(r[3]) - 1) * 10.0 * M_PI / 180;
    float bright = (float)(0.8 + 0.4 * data_random_unit(r[4]));
    float contrast = (float)(0.8 + 0.4 * data_random_unit(r[5]));

    /* Geometry as one inverse map from output to source: undo the shift, then the rotation about the
     * centre, then the flip. One resampling instead of three keeps the image sharper. */
    size_t plane = (size_t)size * size;
    memcpy(scratch, img, (size_t)channels * plane * sizeof(float));
    float ca = (float)cos(angle), sa = (float)sin(angle), cen = (float)(size - 1) / 2;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float qx = (float)(x - dx) - cen, qy = (float)(y - dy) - cen;
            float sx = ca * qx + sa * qy + cen, sy = -sa * qx + ca * qy + cen;
            if (flip) sx = (float)(size - 1) - sx;
            for (int c = 0; c < channels; c++)
                img[c * plane + (size_t)y * size + x] = sample_zero(scratch + c * plane, size, sx, sy);
        }

    /* brightness scales, contrast stretches about the image's mean (as torchvision's ColorJitter) */
    double sum = 0;
    size_t n = (size_t)channels * plane;
    for (size_t i = 0; i < n; i++)
        sum += img[i] * bright;
    float mean = (float)(sum / (double)n);
    for (size_t i = 0; i < n; i++) {
        float v = (img[i] * bright - mean) * contrast + mean;
        img[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

size_t data_scratch_floats(const data_dataset *ds)
{
    size_t C = (size_t)ds->train.channels, S = (size_t)ds->options.image_size;
    size_t h = (size_t)ds->train.height, w = (size_t)ds->train.width;
    if ((size_t)ds->test.height * ds->test.width > h * w) {
        h = (size_t)ds->test.height;
        w = (size_t)ds->test.width;
    }
    return C * h * w + C * S * S;
}

void data_prepare(const data_dataset *ds, const data_images *im, long index, int augment, uint64_t seed,
                  int epoch, float *dst, float *scratch)
{
    int C = im->channels, H = im->height, W = im->width, S = ds->options.image_size;
    size_t n = (size_t)C * H * W, plane = (size_t)S * S;
    const uint8_t *px = im->pixels + (size_t)index * n;
    for (size_t i = 0; i < n; i++)
        scratch[i] = (float)px[i] * (1.0f / 255.0f);
    if (ds->options.resize == DATA_RESIZE_BILINEAR)
        data_resize_bilinear(scratch, C, H, W, S, dst);
    else
        data_resize_pad(scratch, C, H, W, S, dst);
    if (augment) data_augment(dst, C, S, seed, epoch, index, scratch + n);
    for (int c = 0; c < C; c++) {
        float m = ds->mean[c], inv = 1.0f / ds->std[c];
        float *p = dst + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++)
            p[i] = (p[i] - m) * inv;
    }
}

void data_shuffle(long *order, long n, uint64_t seed, int epoch)
{
    for (long i = 0; i < n; i++)
        order[i] = i;
    for (long i = n - 1; i > 0; i--) {
        uint32_t r = data_random(seed, DATA_STREAM_SHUFFLE, (uint32_t)epoch, (uint64_t)i, 0);
        long j = (long)data_random_below(r, (uint64_t)i + 1);
        long t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
