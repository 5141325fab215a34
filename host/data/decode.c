/* decode.c: one JPEG or PNG file to 8-bit RGB, for the image-folder reader (images.c).
 *
 * The format is told by the file's first bytes, not its name: a photo saved as .png that is really
 * a JPEG still loads. Everything becomes 3-channel RGB the way PIL's convert("RGB") (and so Keras'
 * and torchvision's folder loaders) would make it: grayscale is repeated into R, G and B, palette
 * PNGs are expanded, 16-bit PNGs are reduced to 8 bits and alpha is dropped (not composited).
 * CMYK/YCCK JPEGs, which libjpeg-turbo will only decode to CMYK, are converted with its own
 * formula for Adobe's inverted CMYK (r = c * k / 255).
 *
 * Speed: a JPEG may be decoded at one of libjpeg-turbo's DCT scales (n/8): the inverse DCT then
 * produces the smaller image directly, which for an 800 x 600 photo wanted at 224 (3/8 scale) is
 * several times faster than a full decode followed by a resize, and it averages instead of
 * skipping pixels. A decoder keeps its TurboJPEG handle and buffers from file to file, so a worker
 * thread allocates only when an image is larger than any before. */
#include "cltrain/data.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

/* Larger files or images are not photos a CNN trains on but corrupt headers or mistakes; refusing
 * them keeps one bad file from taking the machine's memory. */
#define DECODE_MAX_FILE_BYTES (1L << 30)
#define DECODE_MAX_PIXELS (1L << 28)

struct data_decoder {
    tjhandle tj;
    unsigned char *file;
    size_t file_cap;
    uint8_t *pixels; /* 4 bytes a pixel at most (CMYK, RGBA) before the conversion to RGB */
    size_t pixels_cap;
};

data_decoder *data_decoder_create(char *err, size_t errlen)
{
    data_decoder *dec = calloc(1, sizeof *dec);
    if (!dec) {
        snprintf(err, errlen, "out of host memory creating an image decoder");
        return NULL;
    }
    if (!(dec->tj = tjInitDecompress())) {
        snprintf(err, errlen, "cannot create a TurboJPEG decompressor: %s", tjGetErrorStr2(NULL));
        free(dec);
        return NULL;
    }
    return dec;
}

void data_decoder_destroy(data_decoder *dec)
{
    if (!dec) return;
    tjDestroy(dec->tj);
    free(dec->file);
    free(dec->pixels);
    free(dec);
}

/* Grows a buffer to at least n bytes; the old content is not kept. */
static int reserve(void **buf, size_t *cap, size_t n)
{
    if (n <= *cap) return 0;
    void *p = malloc(n);
    if (!p) return -1;
    free(*buf);
    *buf = p;
    *cap = n;
    return 0;
}

static int read_file(data_decoder *dec, const char *path, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        fclose(f);
        return -1;
    }
    if (st.st_size == 0 || st.st_size > DECODE_MAX_FILE_BYTES) {
        snprintf(err, errlen, st.st_size ? "larger than 1 GiB" : "empty file");
        fclose(f);
        return -1;
    }
    if (reserve((void **)&dec->file, &dec->file_cap, (size_t)st.st_size) != 0) {
        snprintf(err, errlen, "out of host memory reading its %lld bytes", (long long)st.st_size);
        fclose(f);
        return -1;
    }
    size_t got = fread(dec->file, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != (size_t)st.st_size) {
        snprintf(err, errlen, "cannot read: %s", bad ? strerror(errno) : "the file shrank while being read");
        return -1;
    }
    *size = got;
    return 0;
}

int data_decoder_jpeg_scale(int height, int width, int min_side, int *scaled_height, int *scaled_width)
{
    int n = 0;
    tjscalingfactor *f = tjGetScalingFactors(&n);
    int bh = height, bw = width;
    int need_h = min_side > 0 && min_side < height ? min_side : height;
    int need_w = min_side > 0 && min_side < width ? min_side : width;
    for (int i = 0; f && i < n; i++) {
        if (f[i].num > f[i].denom) continue; /* upscaling factors: never smaller */
        int h = TJSCALED(height, f[i]), w = TJSCALED(width, f[i]);
        if (h >= need_h && w >= need_w && (long)h * w < (long)bh * bw) {
            bh = h;
            bw = w;
        }
    }
    *scaled_height = bh;
    *scaled_width = bw;
    return bh != height || bw != width;
}

static int decode_jpeg(data_decoder *dec, size_t size, int min_side, int *height, int *width, char *err,
                       size_t errlen)
{
    int w, h, subsamp, cs;
    if (tjDecompressHeader3(dec->tj, dec->file, (unsigned long)size, &w, &h, &subsamp, &cs) != 0) {
        snprintf(err, errlen, "not a readable JPEG: %s", tjGetErrorStr2(dec->tj));
        return -1;
    }
    if (w < 1 || h < 1 || (long)w * h > DECODE_MAX_PIXELS) {
        snprintf(err, errlen, "the JPEG header says %d x %d pixels", w, h);
        return -1;
    }
    int sh, sw;
    data_decoder_jpeg_scale(h, w, min_side, &sh, &sw);
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
    if (reserve((void **)&dec->pixels, &dec->pixels_cap, (size_t)sw * sh * 4) != 0) {
        snprintf(err, errlen, "out of host memory decoding %d x %d pixels", sw, sh);
        return -1;
    }
    /* A warning (extraneous bytes, a premature end) still leaves a whole image, as PIL would load
     * it; only errors make the file unreadable. */
    if (tjDecompress2(dec->tj, dec->file, (unsigned long)size, dec->pixels, sw, 0, sh, pf, 0) != 0 &&
        tjGetErrorCode(dec->tj) != TJERR_WARNING) {
        snprintf(err, errlen, "not a readable JPEG: %s", tjGetErrorStr2(dec->tj));
        return -1;
    }
    if (cmyk) {
        /* libjpeg-turbo's cmyk_to_rgb for the inverted CMYK of Adobe's JPEGs; in place, forward:
         * pixel i's 3 RGB bytes never overtake pixel i's 4 CMYK bytes */
        uint8_t *p = dec->pixels;
        size_t n = (size_t)sw * sh;
        for (size_t i = 0; i < n; i++) {
            unsigned c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
            p[3 * i] = (uint8_t)((c * k + 127) / 255);
            p[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
            p[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
        }
    }
    *height = sh;
    *width = sw;
    return 0;
}

static int decode_png(data_decoder *dec, size_t size, int *height, int *width, char *err, size_t errlen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, dec->file, size)) {
        snprintf(err, errlen, "not a readable PNG: %s", img.message);
        png_image_free(&img);
        return -1;
    }
    if (img.width < 1 || img.height < 1 || (long)img.width * img.height > DECODE_MAX_PIXELS) {
        snprintf(err, errlen, "the PNG header says %u x %u pixels", img.width, img.height);
        png_image_free(&img);
        return -1;
    }
    /* RGBA, then drop A: PIL's convert("RGB") keeps the colour under transparent pixels, where
     * libpng's own alpha removal would composite them onto a background */
    img.format = PNG_FORMAT_RGBA;
    int w = (int)img.width, h = (int)img.height;
    if (reserve((void **)&dec->pixels, &dec->pixels_cap, PNG_IMAGE_SIZE(img)) != 0) {
        snprintf(err, errlen, "out of host memory decoding %d x %d pixels", w, h);
        png_image_free(&img);
        return -1;
    }
    if (!png_image_finish_read(&img, NULL, dec->pixels, 0, NULL)) {
        snprintf(err, errlen, "not a readable PNG: %s", img.message);
        png_image_free(&img);
        return -1;
    }
    png_image_free(&img);
    uint8_t *p = dec->pixels;
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) {
        p[3 * i] = p[4 * i];
        p[3 * i + 1] = p[4 * i + 1];
        p[3 * i + 2] = p[4 * i + 2];
    }
    *height = h;
    *width = w;
    return 0;
}

int data_decoder_read(data_decoder *dec, const char *path, int min_side, const uint8_t **rgb, int *height,
                      int *width, char *err, size_t errlen)
{
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t size;
    *rgb = NULL;
    *height = *width = 0;
    if (read_file(dec, path, &size, err, errlen) != 0) return -1;
    int rc;
    if (size >= 3 && dec->file[0] == 0xFF && dec->file[1] == 0xD8 && dec->file[2] == 0xFF)
        rc = decode_jpeg(dec, size, min_side, height, width, err, errlen);
    else if (size >= 8 && memcmp(dec->file, png_magic, 8) == 0)
        rc = decode_png(dec, size, height, width, err, errlen);
    else {
        snprintf(err, errlen, "neither a JPEG nor a PNG file (by its first bytes)");
        rc = -1;
    }
    if (rc == 0) *rgb = dec->pixels;
    return rc;
}
