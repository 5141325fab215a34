/* test_images.c: the image-folder reader (host/data/images.c, decode.c) on class folders of JPEGs
 * and PNGs written to a temporary folder at test time: classes, labels, counts and shapes; pixels
 * (PNGs exact, JPEGs within a stated tolerance; grayscale, CMYK, palette, alpha, 16-bit); resize
 * against data_resize_* on the decoded image; the JPEG scale choice; order and thread-count
 * independence; limit; normalisation; every bad layout and unreadable files; the config glue; and
 * `cltrain train` on a tiny generated set. */
#include "testutil.h"
#include "cltrain/config.h"
#include "cltrain/data.h"

#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* ---- writing fixtures ---- */

static char root[128];

static void new_root(void)
{
    snprintf(root, sizeof root, "/tmp/cltrain-images-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

/* root/<rel>, made with its parent folders */
static const char *at(const char *rel)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    return path;
}

static void make_dir(const char *rel)
{
    char p[128];
    ck_assert(strlen(rel) + 2 <= sizeof p);
    snprintf(p, sizeof p, "%s/", rel);
    at(p);
}

static void write_bytes(const char *rel, const void *data, size_t n)
{
    FILE *f = fopen(at(rel), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* format: PNG_FORMAT_RGB, _GRAY, _RGBA; pixels interleaved, rows top down */
static void write_png(const char *rel, int w, int h, png_uint_32 format, const uint8_t *px)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = format;
    ck_assert_msg(png_image_write_to_file(&img, at(rel), 0, px, 0, NULL), "png: %s", img.message);
}

/* A palette PNG: indices [h, w] into colours [entries, 3]. */
static void write_png_palette(const char *rel, int w, int h, const uint8_t *index, const uint8_t *colours,
                              int entries)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB_COLORMAP;
    img.colormap_entries = (png_uint_32)entries;
    ck_assert_msg(png_image_write_to_file(&img, at(rel), 0, index, 0, colours), "png: %s", img.message);
}

/* pf: TJPF_RGB (3 bytes a pixel), TJPF_GRAY (1), TJPF_CMYK (4); subsamp TJSAMP_444 / _GRAY / ... */
static void write_jpeg(const char *rel, int w, int h, int pf, const uint8_t *px, int subsamp, int quality)
{
    tjhandle tj = tjInitCompress();
    ck_assert_ptr_nonnull(tj);
    unsigned char *buf = NULL;
    unsigned long size = 0;
    ck_assert_msg(tjCompress2(tj, px, w, 0, h, pf, &buf, &size, subsamp, quality, 0) == 0, "%s",
                  tjGetErrorStr2(tj));
    write_bytes(rel, buf, size);
    tjFree(buf);
    tjDestroy(tj);
}

static uint8_t *solid(int w, int h, int channels, const uint8_t *colour)
{
    uint8_t *p = tu_alloc((size_t)w * h * channels);
    for (long i = 0; i < (long)w * h; i++)
        memcpy(p + i * channels, colour, (size_t)channels);
    return p;
}

/* Seeded bytes in [lo, hi]: busy patterns where a swapped row, channel or offset shows. */
static uint8_t *noise(size_t n, int lo, int hi, uint64_t seed)
{
    uint8_t *p = tu_alloc(n);
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(lo + (int)(tu_uniform(&s) * (hi - lo + 1)));
    return p;
}

static void solid_jpeg(const char *rel, int w, int h, const uint8_t *rgb)
{
    uint8_t *p = solid(w, h, 3, rgb);
    write_jpeg(rel, w, h, TJPF_RGB, p, TJSAMP_444, 95);
    free(p);
}

static void noise_png(const char *rel, int w, int h, uint64_t seed)
{
    uint8_t *p = noise((size_t)w * h * 3, 1, 255, seed);
    write_png(rel, w, h, PNG_FORMAT_RGB, p);
    free(p);
}

static data_options opts(int size, data_resize resize)
{
    return (data_options){.image_size = size,
                          .resize = resize,
                          .normalize = DATA_NORMALIZE_NONE,
                          .val_split = 0,
                          .limit = 0,
                          .seed = 5};
}

static data_dataset *open_ok(const data_options *o, int threads)
{
    char err[CT_ERR_LEN] = "";
    data_dataset *ds = data_open_images(root, o, threads, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    return ds;
}

static const uint8_t *image_at(const data_images *im, long i)
{
    return im->pixels + (size_t)i * im->channels * im->height * im->width;
}

/* The reader's resize, restated: data_resize_* on the decoded RGB as floats 0..255, rounded. */
static void reference_resize(const uint8_t *rgb, int h, int w, int S, data_resize r, uint8_t *out)
{
    float *src = tu_alloc((size_t)3 * h * w * sizeof(float)),
          *dst = tu_alloc((size_t)3 * S * S * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (long i = 0; i < (long)h * w; i++)
            src[(size_t)c * h * w + i] = rgb[3 * i + c];
    if (r == DATA_RESIZE_BILINEAR)
        data_resize_bilinear(src, 3, h, w, S, dst);
    else
        data_resize_pad(src, 3, h, w, S, dst);
    for (long i = 0; i < 3L * S * S; i++)
        out[i] = (uint8_t)lrintf(fminf(fmaxf(dst[i], 0), 255));
    free(src);
    free(dst);
}

/* Decodes a fixture file the way the reader does and returns its reference resize. */
static uint8_t *reference_file(const char *rel, int S, data_resize r, int *h, int *w)
{
    char err[256];
    data_decoder *dec = data_decoder_create(err, sizeof err);
    ck_assert_msg(dec != NULL, "%s", err);
    const uint8_t *rgb;
    ck_assert_msg(
        data_decoder_read(dec, at(rel), r == DATA_RESIZE_BILINEAR ? S : 0, &rgb, h, w, err, sizeof err) == 0,
        "%s", err);
    uint8_t *out = tu_alloc((size_t)3 * S * S);
    reference_resize(rgb, *h, *w, S, r, out);
    data_decoder_destroy(dec);
    return out;
}

/* Largest |stored - colour| over the whole S x S image (or only its centre pixel). */
static int colour_err(const data_images *im, long i, const uint8_t *rgb, int centre_only)
{
    int S = im->height, worst = 0;
    const uint8_t *p = image_at(im, i);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                if (centre_only && (y != S / 2 || x != S / 2)) continue;
                int d = abs((int)p[((size_t)c * S + y) * S + x] - rgb[c]);
                if (d > worst) worst = d;
            }
    return worst;
}

/* stderr of a call, into a file the test reads back */
static int saved_stderr = -1;
static char stderr_path[600];

static void capture_stderr(void)
{
    fflush(stderr);
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", root);
    int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *release_stderr(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    char *t = tu_read_text(stderr_path);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* JPEG tolerance: flat colours at quality 95 without subsampling come back within a few levels
 * (DC quantisation, YCbCr rounding); 6 leaves room for the CMYK round trip's extra rounding. */
#define JPEG_TOL 6

static const uint8_t COLOURS[3][3] = {{200, 40, 90}, {30, 160, 220}, {120, 210, 20}};

/* ---- classes, labels, shapes, pixels of every kind of file ---- */

START_TEST(layout_labels_and_pixels)
{
    new_root();
    const int S = 16;
    /* ant: an exact S x S PNG and a flat JPEG larger than S, in upper case */
    noise_png("train/ant/a1.png", S, S, 1);
    solid_jpeg("train/ant/a0.JPG", 40, 30, COLOURS[0]);
    write_bytes("train/ant/notes.txt", "not an image", 12);
    noise_png("train/ant/.hidden.png", S, S, 2);    /* hidden: never read */
    noise_png("train/ant/sub/deeper.png", S, S, 3); /* sub-folders of a class: not searched */
    /* bee: a grayscale JPEG (TJSAMP_GRAY) and a gray PNG 10 wide, 20 high (pad crops and pads) */
    uint8_t g = 77;
    uint8_t *gray = solid(64, 48, 1, &g);
    write_jpeg("train/bee/b.jpeg", 64, 48, TJPF_GRAY, gray, TJSAMP_GRAY, 95);
    free(gray);
    uint8_t *grad = tu_alloc(10 * 20);
    for (int i = 0; i < 200; i++)
        grad[i] = (uint8_t)(i + 13);
    write_png("train/bee/b2.PNG", 10, 20, PNG_FORMAT_GRAY, grad);
    /* cat: RGBA (alpha dropped, colour kept even where transparent) and a palette PNG */
    uint8_t *rgba = noise((size_t)S * S * 4, 0, 255, 4);
    write_png("train/cat/c.png", S, S, PNG_FORMAT_RGBA, rgba);
    uint8_t *idx = noise((size_t)S * S, 0, 2, 5), pal[9];
    memcpy(pal, COLOURS, 9);
    write_png_palette("train/cat/c2.png", S, S, idx, pal, 3);
    write_bytes("train/README.md", "# photos\n", 9);
    noise_png("val/ant/x.png", 20, 20, 6);
    solid_jpeg("val/bee/y.jpg", 8, 8, COLOURS[1]);
    noise_png("val/cat/z.png", 5, 30, 7);

    data_options o = opts(S, DATA_RESIZE_PAD);
    data_dataset *ds = open_ok(&o, 2);
    ck_assert_int_eq(ds->classes, 3);
    ck_assert_str_eq(ds->class_names[0], "ant");
    ck_assert_str_eq(ds->class_names[1], "bee");
    ck_assert_str_eq(ds->class_names[2], "cat");
    const data_images *tr = &ds->train, *te = &ds->test;
    ck_assert_int_eq(tr->count, 6);
    ck_assert(tr->channels == 3 && tr->height == S && tr->width == S);
    ck_assert(te->channels == 3 && te->height == S && te->width == S);
    const int32_t want[6] = {0, 0, 1, 1, 2, 2};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(tr->labels[i], want[i]);
    ck_assert_int_eq(te->count, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(te->labels[i], i);
    ck_assert(ds->train_count == 6 && ds->val_count == 0 && ds->test_count == 3);

    /* name order: a0.JPG < a1.png, b.jpeg < b2.PNG, c.png < c2.png */
    ck_assert_int_le(colour_err(tr, 0, COLOURS[0], 0), JPEG_TOL);
    uint8_t *ref = tu_alloc((size_t)3 * S * S);
    uint8_t *a1 = noise((size_t)S * S * 3, 1, 255, 1);
    reference_resize(a1, S, S, S, DATA_RESIZE_PAD, ref);
    ck_assert(memcmp(image_at(tr, 1), ref, (size_t)3 * S * S) == 0); /* an S x S PNG comes back exact */
    const uint8_t g3[3] = {g, g, g};
    ck_assert_int_le(colour_err(tr, 2, g3, 0), JPEG_TOL);
    uint8_t *grad_rgb = tu_alloc(200 * 3);
    for (int i = 0; i < 200; i++)
        grad_rgb[3 * i] = grad_rgb[3 * i + 1] = grad_rgb[3 * i + 2] = grad[i];
    reference_resize(grad_rgb, 20, 10, S, DATA_RESIZE_PAD, ref);
    ck_assert(memcmp(image_at(tr, 3), ref, (size_t)3 * S * S) == 0);
    ck_assert_int_eq(image_at(tr, 3)[0], 0);            /* padding left of the 10 columns */
    ck_assert_int_eq(image_at(tr, 3)[3], grad[2 * 10]); /* row 0 is source row 2 (crop of 20 to 16) */
    const uint8_t *c = image_at(tr, 4), *c2 = image_at(tr, 5);
    for (int i = 0; i < S * S; i++)
        for (int ch = 0; ch < 3; ch++) {
            ck_assert_int_eq(c[ch * S * S + i], rgba[4 * i + ch]);
            ck_assert_int_eq(c2[ch * S * S + i], COLOURS[idx[i]][ch]);
        }
    /* the 8 x 8 test JPEG is padded: colour in the centre, black at the corner */
    ck_assert_int_le(colour_err(te, 1, COLOURS[1], 1), JPEG_TOL);
    ck_assert_int_eq(image_at(te, 1)[0], 0);
    free(ref);
    free(a1);
    free(grad);
    free(grad_rgb);
    free(rgba);
    free(idx);
    data_close(ds);
    tu_remove_tree(root);
}
END_TEST

/* ---- JPEG colours: sizes around S, non-square, grayscale, CMYK, both resizes ---- */

START_TEST(jpeg_colours)
{
    new_root();
    const int S = 24;
    const int sizes[][2] = {{10, 10}, {24, 24}, {50, 30}, {30, 70}, {640, 480}};
    char rel[128];
    for (int k = 0; k < 5; k++)
        for (int c = 0; c < 2; c++) {
            snprintf(rel, sizeof rel, "train/k%d/%d.jpg", c, k);
            solid_jpeg(rel, sizes[k][0], sizes[k][1], COLOURS[c]);
        }
    /* CMYK from RGB with libjpeg-turbo's own rgb_to_cmyk (inverted, as Adobe writes it) */
    uint8_t cmyk[4];
    {
        double r = COLOURS[2][0] / 255.0, gg = COLOURS[2][1] / 255.0, b = COLOURS[2][2] / 255.0;
        double cc = 1 - r, m = 1 - gg, y = 1 - b, k = fmin(cc, fmin(m, y));
        cc = (cc - k) / (1 - k);
        m = (m - k) / (1 - k);
        y = (y - k) / (1 - k);
        cmyk[0] = (uint8_t)(255 - cc * 255 + 0.5);
        cmyk[1] = (uint8_t)(255 - m * 255 + 0.5);
        cmyk[2] = (uint8_t)(255 - y * 255 + 0.5);
        cmyk[3] = (uint8_t)(255 - k * 255 + 0.5);
    }
    uint8_t *p = solid(40, 40, 4, cmyk);
    write_jpeg("train/k2/cmyk.jpg", 40, 40, TJPF_CMYK, p, TJSAMP_444, 95);
    free(p);
    for (int c = 0; c < 3; c++) {
        snprintf(rel, sizeof rel, "val/k%d/t.jpg", c);
        solid_jpeg(rel, 30, 30, COLOURS[c]);
    }
    for (int r = 0; r < 2; r++) {
        data_options o = opts(S, r ? DATA_RESIZE_BILINEAR : DATA_RESIZE_PAD);
        data_dataset *ds = open_ok(&o, 0);
        ck_assert_int_eq(ds->train.count, 11);
        for (long i = 0; i < 10; i++) {
            int k = (int)(i % 5), small = sizes[k][0] < S || sizes[k][1] < S;
            /* pad leaves black around images smaller than S: judge those by their centre */
            int e = colour_err(&ds->train, i, COLOURS[ds->train.labels[i]], small && !r);
            ck_assert_msg(e <= JPEG_TOL, "image %ld (%d x %d, %s): off by %d", i, sizes[k][0], sizes[k][1],
                          r ? "bilinear" : "pad", e);
        }
        int e = colour_err(&ds->train, 10, COLOURS[2], 0);
        ck_assert_msg(e <= JPEG_TOL, "the CMYK JPEG is off by %d", e);
        data_close(ds);
    }
    tu_remove_tree(root);
}
END_TEST

/* ---- resize against data_resize_* on the decoded image; the DCT scale choice ---- */

START_TEST(resize_matches_reference)
{
    int sh, sw;
    ck_assert_int_eq(data_decoder_jpeg_scale(600, 800, 224, &sh, &sw), 1);
    ck_assert(sh == 225 && sw == 300); /* 3/8: the smallest scale with both sides >= 224 */
    ck_assert_int_eq(data_decoder_jpeg_scale(1000, 300, 224, &sh, &sw), 1);
    ck_assert(sh == 750 && sw == 225); /* 3/4, set by the narrow side */
    ck_assert_int_eq(data_decoder_jpeg_scale(100, 400, 224, &sh, &sw), 0);
    ck_assert(sh == 100 && sw == 400); /* a side below S: never scaled down further */
    ck_assert_int_eq(data_decoder_jpeg_scale(600, 800, 0, &sh, &sw), 0);

    new_root();
    const int S = 16;
    noise_png("train/a/wide.png", 37, 23, 11);
    noise_png("train/a/zz_tall.png", 23, 37, 12);
    noise_png("train/b/tiny.png", 5, 9, 13);
    /* a smooth 200 x 150 JPEG: bilinear decodes it at 1/8 (25 x 19) */
    uint8_t *sm = tu_alloc(200 * 150 * 3);
    for (int y = 0; y < 150; y++)
        for (int x = 0; x < 200; x++)
            for (int c = 0; c < 3; c++)
                sm[(y * 200 + x) * 3 + c] = (uint8_t)(128 + 100 * sin(0.05 * x * (c + 1) + 0.03 * y));
    write_jpeg("train/b/smooth.jpg", 200, 150, TJPF_RGB, sm, TJSAMP_420, 90);
    free(sm);
    /* a 16-bit linear PNG (written with a gAMA of 1): libpng gives 8-bit sRGB, where linear 0.214
     * is about 128; checked through the decoder alone, it is no part of the data set */
    uint16_t lin[3 * 3] = {0, 0, 0, 65535, 65535, 65535, 14025, 14025, 14025};
    {
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        img.width = 3;
        img.height = 1;
        img.format = PNG_FORMAT_LINEAR_RGB;
        ck_assert(png_image_write_to_file(&img, at("deep.png"), 0, lin, 0, NULL));
        char e[256];
        data_decoder *dec = data_decoder_create(e, sizeof e);
        const uint8_t *rgb;
        int h, w;
        ck_assert_msg(data_decoder_read(dec, at("deep.png"), 0, &rgb, &h, &w, e, sizeof e) == 0, "%s", e);
        ck_assert(h == 1 && w == 3 && rgb[0] == 0 && rgb[3] == 255 && rgb[6] == rgb[8]);
        ck_assert_msg(abs(rgb[6] - 128) <= 2, "linear 0.214 became %d", rgb[6]);
        data_decoder_destroy(dec);
    }
    noise_png("val/a/t.png", 16, 16, 14);
    noise_png("val/b/t.png", 16, 16, 15);
    const char *files[] = {"train/a/wide.png", "train/a/zz_tall.png", "train/b/smooth.jpg",
                           "train/b/tiny.png"};
    for (int r = 0; r < 2; r++) {
        data_resize rs = r ? DATA_RESIZE_BILINEAR : DATA_RESIZE_PAD;
        data_options o = opts(S, rs);
        data_dataset *ds = open_ok(&o, 3);
        ck_assert_int_eq(ds->train.count, 4);
        for (int i = 0; i < 4; i++) {
            int h, w;
            uint8_t *ref = reference_file(files[i], S, rs, &h, &w);
            if (i == 2) ck_assert(r ? (h == 19 && w == 25) : (h == 150 && w == 200));
            ck_assert_msg(memcmp(image_at(&ds->train, i), ref, (size_t)3 * S * S) == 0, "%s (%s) differs",
                          files[i], r ? "bilinear" : "pad");
            free(ref);
        }
        data_close(ds);
    }
    tu_remove_tree(root);
}
END_TEST

/* ---- the same data whatever the thread count; the split; normalisation ---- */

static void make_classes(const int *sizes, int classes, int S)
{
    char rel[128];
    for (int c = 0; c < classes; c++) {
        for (int i = 0; i < sizes[c]; i++) {
            /* names that sort differently from their creation order: 9 > 10 as text */
            snprintf(rel, sizeof rel, "train/c%d/img%d.png", c, sizes[c] - i);
            uint8_t *p = noise((size_t)S * S * 3, 1 + 20 * c, 100 + 20 * c, (uint64_t)(100 * c + i));
            write_png(rel, S, S, PNG_FORMAT_RGB, p);
            free(p);
        }
        snprintf(rel, sizeof rel, "val/c%d/t.png", c);
        noise_png(rel, S, S, (uint64_t)(7000 + c));
    }
}

START_TEST(deterministic_split_and_stats)
{
    new_root();
    const int S = 8, sizes[3] = {12, 4, 9};
    make_classes(sizes, 3, S);
    data_options o = opts(S, DATA_RESIZE_BILINEAR);
    o.normalize = DATA_NORMALIZE_DATASET;
    o.val_split = 0.25;
    data_dataset *a = open_ok(&o, 1), *b = open_ok(&o, 3), *c = open_ok(&o, 0);
    data_dataset *all[2] = {b, c};
    for (int k = 0; k < 2; k++) {
        data_dataset *x = all[k];
        ck_assert_int_eq(x->train.count, a->train.count);
        ck_assert(memcmp(x->train.pixels, a->train.pixels, (size_t)a->train.count * 3 * S * S) == 0);
        ck_assert(memcmp(x->train.labels, a->train.labels, (size_t)a->train.count * sizeof(int32_t)) == 0);
        ck_assert(x->val_count == a->val_count &&
                  memcmp(x->val_index, a->val_index, a->val_count * sizeof(long)) == 0);
        ck_assert(memcmp(x->mean, a->mean, sizeof a->mean) == 0 &&
                  memcmp(x->std, a->std, sizeof a->std) == 0);
    }
    /* file order is name order: class 0's first image is img1.png, written last (seed 100*0 + 11) */
    uint8_t *first = noise((size_t)S * S * 3, 1, 100, 11);
    uint8_t *ref = tu_alloc((size_t)3 * S * S);
    reference_resize(first, S, S, S, DATA_RESIZE_BILINEAR, ref);
    ck_assert(memcmp(image_at(&a->train, 0), ref, (size_t)3 * S * S) == 0);
    free(first);
    free(ref);
    /* stratified: round(0.25 * n) of each class held out */
    long held[3] = {0};
    for (long i = 0; i < a->val_count; i++)
        held[a->train.labels[a->val_index[i]]]++;
    ck_assert(held[0] == 3 && held[1] == 1 && held[2] == 2);
    ck_assert_int_eq(a->train_count, 25 - 6);
    /* the statistics are those of the training split as data_prepare shows it (x/255), in double */
    data_dataset plain = *a;
    plain.options.normalize = DATA_NORMALIZE_NONE;
    for (int ch = 0; ch < 3; ch++) {
        plain.mean[ch] = 0;
        plain.std[ch] = 1;
    }
    float *img = tu_alloc((size_t)3 * S * S * sizeof(float)),
          *scratch = tu_alloc(data_scratch_floats(a) * sizeof(float));
    double sum[3] = {0}, sq[3] = {0};
    for (long k = 0; k < a->train_count; k++) {
        data_prepare(&plain, &a->train, a->train_index[k], 0, 0, 0, img, scratch);
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < S * S; i++) {
                sum[ch] += img[ch * S * S + i];
                sq[ch] += (double)img[ch * S * S + i] * img[ch * S * S + i];
            }
    }
    double cnt = (double)a->train_count * S * S;
    for (int ch = 0; ch < 3; ch++) {
        double m = sum[ch] / cnt, sd = sqrt(sq[ch] / cnt - m * m);
        ck_assert_msg(fabs(a->mean[ch] - m) < 1e-5 && fabs(a->std[ch] - sd) < 1e-5,
                      "channel %d: %g %g vs %g %g", ch, a->mean[ch], a->std[ch], m, sd);
    }
    free(img);
    free(scratch);
    data_close(a);
    data_close(b);
    data_close(c);
    tu_remove_tree(root);
}
END_TEST

/* ---- limit: classes in turn, each its first files ---- */

START_TEST(limit_is_per_class_fair)
{
    new_root();
    const int S = 4;
    /* class c's file f (names f0..f4) is one flat grey of 10 * f + 60 * c + 5 */
    const int sizes[3] = {5, 2, 4};
    char rel[128];
    for (int c = 0; c < 3; c++) {
        for (int f = 0; f < sizes[c]; f++) {
            uint8_t v = (uint8_t)(10 * f + 60 * c + 5);
            uint8_t *p = solid(S, S, 1, &v);
            snprintf(rel, sizeof rel, "train/c%d/f%d.png", c, f);
            write_png(rel, S, S, PNG_FORMAT_GRAY, p);
            free(p);
        }
        snprintf(rel, sizeof rel, "val/c%d/t.png", c);
        noise_png(rel, S, S, (uint64_t)c);
    }
    const long limits[] = {7, 2, 11, 100};
    const int kept[][3] = {{3, 2, 2}, {1, 1, 0}, {5, 2, 4}, {5, 2, 4}};
    for (int t = 0; t < 4; t++) {
        data_options o = opts(S, DATA_RESIZE_PAD);
        o.limit = limits[t];
        data_dataset *ds = open_ok(&o, 2);
        long i = 0;
        for (int c = 0; c < 3; c++)
            for (int f = 0; f < kept[t][c]; f++, i++) {
                ck_assert_int_eq(ds->train.labels[i], c);
                ck_assert_int_eq(image_at(&ds->train, i)[5], 10 * f + 60 * c + 5);
            }
        ck_assert_int_eq(ds->train.count, i);
        ck_assert_int_eq(ds->test.count, 3); /* the test folder is never limited */
        ck_assert_int_eq(ds->classes, 3);
        data_close(ds);
    }
    tu_remove_tree(root);
}
END_TEST

/* ---- unreadable files: skipped with one warning ---- */

START_TEST(unreadable_files_are_skipped)
{
    new_root();
    const int S = 8;
    noise_png("train/a/1.png", 12, 12, 1);
    write_bytes("train/a/0bad.jpg", "hello, not a picture", 20);
    noise_png("train/a/2.png", 12, 12, 2);
    /* a PNG cut in half: libpng runs out of data, an error */
    noise_png("train/b/full.png", 40, 40, 3);
    FILE *f = fopen(at("train/b/full.png"), "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes("train/b/cut.png", buf, n / 2);
    /* a JPEG cut short decodes with a warning ("premature end"): kept, as PIL would keep it */
    uint8_t *sm = noise(64 * 64 * 3, 0, 255, 4);
    write_jpeg("train/b/short.jpg", 64, 64, TJPF_RGB, sm, TJSAMP_444, 90);
    free(sm);
    f = fopen(at("train/b/short.jpg"), "rb");
    uint8_t jbuf[65536];
    n = fread(jbuf, 1, sizeof jbuf, f);
    fclose(f);
    write_bytes("train/b/short.jpg", jbuf, n * 2 / 3);
    /* a JPEG named .png: told by content, so it loads */
    solid_jpeg("train/b/really_a_jpeg.png", 20, 20, COLOURS[0]);
    write_bytes("train/b/empty.png", "", 0);
    noise_png("val/a/t.png", 8, 8, 5);
    noise_png("val/b/t.png", 8, 8, 6);

    data_options o = opts(S, DATA_RESIZE_BILINEAR);
    capture_stderr();
    char err[CT_ERR_LEN] = "";
    data_dataset *ds = data_open_images(root, &o, 2, err, sizeof err);
    char *log = release_stderr();
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_int_eq(ds->train.count, 2 + 3); /* a: 1, 2; b: full, really_a_jpeg, short */
    const int32_t want[5] = {0, 0, 1, 1, 1};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ds->train.labels[i], want[i]);
    char line[1024];
    snprintf(line, sizeof line,
             "skipped 3 unreadable images, first: %s/train/a/0bad.jpg: neither a JPEG nor a PNG", root);
    ck_assert_msg(strstr(log, line) != NULL, "stderr: %s", log);
    ck_assert_msg(strchr(log, '\n') == strrchr(log, '\n'), "more than one line: %s", log);
    free(log);
    data_close(ds);

    /* every image of a class unreadable: an error naming the class folder */
    write_bytes("train/c/x.jpg", "junk", 4);
    make_dir("val/c");
    noise_png("val/c/t.png", 8, 8, 7);
    capture_stderr();
    ck_assert(data_open_images(root, &o, 2, err, sizeof err) == NULL);
    free(release_stderr());
    char want_err[600];
    snprintf(want_err, sizeof want_err, "none of the 1 images in %s/train/c could be read", root);
    ck_assert_msg(strstr(err, want_err) != NULL, "%s", err);
    tu_remove_tree(root);
}
END_TEST

/* ---- bad layouts and options: errors that name the path ---- */

static void expect_refused(const data_options *o, const char *word)
{
    char err[CT_ERR_LEN] = "";
    ck_assert(data_open_images(root, o, 0, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, word) != NULL, "expected \"%s\" in: %s", word, err);
}

START_TEST(bad_layouts_are_refused)
{
    new_root();
    data_options o = opts(8, DATA_RESIZE_PAD);
    char want[600];
    /* data_path: missing, a file */
    char base[96];
    memcpy(base, root, sizeof base);
    snprintf(root, sizeof root, "%s/nothing", base);
    snprintf(want, sizeof want, "data_path %s cannot be read", root);
    expect_refused(&o, want);
    snprintf(root, sizeof root, "%s", base);
    write_bytes("file", "x", 1);
    snprintf(root, sizeof root, "%s/file", base);
    snprintf(want, sizeof want, "data_path %s is not a folder", root);
    expect_refused(&o, want);
    snprintf(root, sizeof root, "%s/set", base);
    /* no train/ */
    noise_png("val/a/t.png", 8, 8, 1);
    snprintf(want, sizeof want, "%s has no train/ folder", root);
    expect_refused(&o, want);
    /* train/ without classes, then one class */
    make_dir("train");
    write_bytes("train/loose.png", "x", 1);
    snprintf(want, sizeof want, "%s/train has no class folders", root);
    expect_refused(&o, want);
    noise_png("train/a/1.png", 8, 8, 2);
    snprintf(want, sizeof want, "%s/train has only one class folder (a)", root);
    expect_refused(&o, want);
    /* a class the test folder lacks, and one only it has */
    noise_png("train/b/1.png", 8, 8, 3);
    snprintf(want, sizeof want, "b is only in %s/train", root);
    expect_refused(&o, want);
    noise_png("val/b/t.png", 8, 8, 4);
    noise_png("val/dog/t.png", 8, 8, 5);
    snprintf(want, sizeof want, "dog is only in %s/val", root);
    expect_refused(&o, want);
    snprintf(want, sizeof want, "%s/val/dog", root);
    rename(want, at("val/.dog")); /* hidden: ignored */
    data_dataset *ds = open_ok(&o, 1);
    data_close(ds);
    /* an empty class folder, in train and in the test folder */
    make_dir("train/c");
    write_bytes("train/c/notes.txt", "x", 1);
    noise_png("val/c/t.png", 8, 8, 6);
    snprintf(want, sizeof want, "the class folder %s/train/c has no .jpg, .jpeg or .png files", root);
    expect_refused(&o, want);
    noise_png("train/c/1.png", 8, 8, 7);
    unlink(at("val/a/t.png"));
    snprintf(want, sizeof want, "the class folder %s/val/a has no", root);
    expect_refused(&o, want);
    noise_png("val/a/t.png", 8, 8, 8);
    ds = open_ok(&o, 1);
    ck_assert_int_eq(ds->test.count, 3);
    data_close(ds);
    /* test/ wins over val/ when both are there; neither: an error */
    for (int c = 0; c < 3; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "test/%c/1.png", 'a' + c);
        noise_png(rel, 8, 8, (uint64_t)(20 + c));
        snprintf(rel, sizeof rel, "test/%c/2.png", 'a' + c);
        noise_png(rel, 8, 8, (uint64_t)(30 + c));
    }
    ds = open_ok(&o, 1);
    ck_assert_int_eq(ds->test.count, 6);
    data_close(ds);
    tu_remove_tree(at("test"));
    tu_remove_tree(at("val"));
    snprintf(want, sizeof want, "%s has neither a val/ nor a test/ folder", root);
    expect_refused(&o, want);
    noise_png("val/a/t.png", 8, 8, 8);
    noise_png("val/b/t.png", 8, 8, 8);
    noise_png("val/c/t.png", 8, 8, 8);
    /* options */
    data_options bad = o;
    bad.image_size = 0;
    expect_refused(&bad, "image_size 0");
    bad = o;
    bad.limit = -1;
    expect_refused(&bad, "limit -1");
    bad = o;
    bad.val_split = 0.95;
    expect_refused(&bad, "val_split");
    char err[CT_ERR_LEN];
    ck_assert(data_open_images(root, &o, -1, err, sizeof err) == NULL && strstr(err, "threads"));
    /* one shade everywhere cannot be normalised */
    tu_remove_tree(at("train"));
    uint8_t v = 9, *p = solid(8, 8, 3, (uint8_t[3]){v, v, v});
    for (int c = 0; c < 3; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "train/%c/1.png", 'a' + c);
        write_png(rel, 8, 8, PNG_FORMAT_RGB, p);
    }
    free(p);
    bad = o;
    bad.normalize = DATA_NORMALIZE_DATASET;
    expect_refused(&bad, "all the same shade");
    snprintf(root, sizeof root, "%s", base);
    tu_remove_tree(root);
}
END_TEST

/* ---- through the config, the loader and the binary ---- */

static void set_key(config *c, const char *key, const char *value)
{
    char err[CT_ERR_LEN];
    ck_assert_msg(config_set(c, key, value, 0, err, sizeof err) == 0, "%s", err);
}

START_TEST(from_config_and_loader)
{
    new_root();
    const int sizes[3] = {6, 4, 5};
    make_classes(sizes, 3, 12);
    config c;
    config_init(&c);
    set_key(&c, "dataset_type", "images");
    set_key(&c, "data_path", root);
    set_key(&c, "image_size", "8");
    set_key(&c, "resize", "bilinear");
    set_key(&c, "normalize", "dataset");
    set_key(&c, "val_split", "0.5");
    set_key(&c, "limit", "12");
    set_key(&c, "seed", "3");
    char err[CT_ERR_LEN] = "";
    data_dataset *ds = data_open_from_config(&c, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert(ds->options.image_size == 8 && ds->options.resize == DATA_RESIZE_BILINEAR &&
              ds->options.normalize == DATA_NORMALIZE_DATASET && ds->options.limit == 12 &&
              ds->options.seed == 3);
    ck_assert_int_eq(ds->train.count, 12); /* 4 of each class */
    ck_assert_int_eq(ds->val_count, 6);    /* 2 of each */
    ck_assert_str_eq(ds->class_names[2], "c2");
    set_key(&c, "batch_size", "4");
    set_key(&c, "data_augmentation", "true");
    data_loader_options lo;
    data_loader_options_from_config(&c, DATA_TRAIN, 2, &lo);
    data_loader *l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_int_eq(data_loader_start_epoch(l, 0), 0);
    float *x;
    int32_t *y;
    int n, total = 0;
    double sum = 0;
    while (data_loader_next(l, &x, &y, &n) == 0 && n > 0) {
        for (int i = 0; i < n * 3 * 64; i++) {
            ck_assert(isfinite(x[i]));
            sum += x[i];
        }
        total += n;
    }
    ck_assert_int_eq(total, 6);
    ck_assert(sum != 0);
    data_loader_destroy(l);
    data_close(ds);
    /* the probe `cltrain summary` uses reads the layout only */
    int channels = 0, classes = 0;
    ck_assert_msg(data_probe_from_config(&c, &channels, &classes, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(channels, 3);
    ck_assert_int_eq(classes, 3);
    set_key(&c, "data_path", "/nonexistent-cltrain-photos");
    ck_assert(data_open_from_config(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent-cltrain-photos") != NULL, "%s", err);
    err[0] = '\0';
    ck_assert(data_probe_from_config(&c, &channels, &classes, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "/nonexistent-cltrain-photos") != NULL, "%s", err);
    tu_remove_tree(root);
}
END_TEST

START_TEST(cli_trains_on_photos)
{
    if (!getenv("CLTRAIN_BIN")) {
        printf("cli_trains_on_photos: skipped, CLTRAIN_BIN is not set (run through ctest)\n");
        return;
    }
    new_root();
    char rel[64];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 12; i++) {
            snprintf(rel, sizeof rel, "%s/%s/%d.%s", i < 8 ? "train" : "val", c ? "dog" : "cat", i,
                     i % 2 ? "png" : "jpg");
            uint8_t *p = noise(40 * 30 * 3, 40 * c, 150 + 100 * c, (uint64_t)(c * 100 + i));
            if (i % 2)
                write_png(rel, 40, 30, PNG_FORMAT_RGB, p);
            else
                write_jpeg(rel, 40, 30, TJPF_RGB, p, TJSAMP_420, 90);
            free(p);
        }
    char cfg[256], out[256], log[256];
    snprintf(cfg, sizeof cfg, "%s/run.yaml", root);
    snprintf(out, sizeof out, "%s/out", root);
    snprintf(log, sizeof log, "%s/run.log", root);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "dataset:\n  type: images\n  path: %s\n  image_size: 32\n  resize: bilinear\n  val_split: 0.25\n"
            "num_filters: 4\nfilter_strategy: same\nactivation: relu\ndense_neurons: 8\nbatch_size: 4\n"
            "epochs: 1\nseed: 1\n",
            root);
    fclose(f);
    int rc = tu_wait_cli(tu_start_cli(log, (const char *[]){"train", cfg, "--output", out, NULL}));
    char *text = tu_read_text(log);
    ck_assert_msg(rc == 0 && strstr(text, "epoch 1/1: train_loss"), "cltrain train exited %d: %s", rc,
                  text ? text : "");
    free(text);
    /* summary: 2 classes from the folders, the output layer sized for them */
    rc = tu_wait_cli(tu_start_cli(log, (const char *[]){"summary", cfg, NULL}));
    text = tu_read_text(log);
    ck_assert_msg(rc == 0 && strstr(text, "Linear       2 "), "cltrain summary exited %d: %s", rc,
                  text ? text : "");
    free(text);
    tu_remove_tree(root);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("images");
    TCase *t = tcase_create("images");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, layout_labels_and_pixels);
    tcase_add_test(t, jpeg_colours);
    tcase_add_test(t, resize_matches_reference);
    tcase_add_test(t, deterministic_split_and_stats);
    tcase_add_test(t, limit_is_per_class_fair);
    tcase_add_test(t, unreadable_files_are_skipped);
    tcase_add_test(t, bad_layouts_are_refused);
    tcase_add_test(t, from_config_and_loader);
    tcase_add_test(t, cli_trains_on_photos);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
