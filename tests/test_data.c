/* test_data.c: the data module: the IDX reader and its error paths (on fixture files written to a
 * temporary folder at test time), limit, the stratified split, resize against hand-computed
 * references, normalisation, augmentation and the threaded loader; and a quick look at the real
 * Fashion-MNIST when the system has it. */
#include "testutil.h"
#include "cltrain/data.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define TRAIN_N 50
#define TEST_N 20
#define FH 5
#define FW 7
#define FCLASSES 5

/* Class sizes of the fixture's training file: unequal, so a split that ignored classes would show. */
static const int class_sizes[FCLASSES] = {4, 8, 10, 12, 16};

/* ---- fixture files ---- */

typedef struct {
    int gz;
    uint32_t image_magic, label_magic;
    uint32_t label_count_delta; /* labels file says count + delta */
    long truncate_images;       /* keep only this many bytes of the train image file (0: all) */
    int test_label_max;         /* largest label in t10k (FCLASSES - 1 normally) */
    uint32_t rows;              /* image rows in the train header (FH normally) */
    int skip_file;              /* 1: no train labels file */
} fixture;

static fixture good_fixture(int gz)
{
    return (fixture){gz, 0x803, 0x801, 0, 0, FCLASSES - 1, FH, 0};
}

static uint8_t fixture_pixel(long i, int y, int x)
{
    return (uint8_t)((i * 37 + y * 11 + x * 23 + (i * y * x) % 7) % 256);
}

/* Training labels: classes interleaved round-robin until each reaches its size. */
static void fixture_train_labels(uint8_t *labels)
{
    int left[FCLASSES];
    memcpy(left, class_sizes, sizeof left);
    int n = 0;
    while (n < TRAIN_N)
        for (int c = 0; c < FCLASSES; c++)
            if (left[c] > 0) {
                labels[n++] = (uint8_t)c;
                left[c]--;
            }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_file(const char *dir, const char *name, int gz, const uint8_t *bytes, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        ck_assert_int_eq(gzwrite(f, bytes, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static void write_pair(const char *dir, const char *prefix, const fixture *fx, long n, const uint8_t *labels,
                       int corrupt)
{
    char name[128];
    size_t ib = 16 + (size_t)n * FH * FW;
    uint8_t *img = tu_alloc(ib);
    put32(img, corrupt ? fx->image_magic : 0x803);
    put32(img + 4, (uint32_t)n);
    put32(img + 8, corrupt ? fx->rows : FH);
    put32(img + 12, FW);
    for (long i = 0; i < n; i++)
        for (int y = 0; y < FH; y++)
            for (int x = 0; x < FW; x++)
                img[16 + (i * FH + y) * FW + x] = fixture_pixel(i, y, x);
    if (corrupt && fx->truncate_images) ib = (size_t)fx->truncate_images;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(dir, name, fx->gz, img, ib);
    free(img);

    uint8_t *lab = tu_alloc(8 + (size_t)n);
    put32(lab, corrupt ? fx->label_magic : 0x801);
    put32(lab + 4, (uint32_t)n + (corrupt ? fx->label_count_delta : 0));
    memcpy(lab + 8, labels, (size_t)n);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (!(corrupt && fx->skip_file)) write_file(dir, name, fx->gz, lab, 8 + (size_t)n);
    free(lab);
}

/* A fresh folder holding train-* (with fx's defects) and t10k-* files. */
static void make_fixture(char *dir, const fixture *fx)
{
    strcpy(dir, "/tmp/cltrain-test-data-XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "cannot make a temporary folder");
    uint8_t train_labels[TRAIN_N], test_labels[TEST_N];
    fixture_train_labels(train_labels);
    for (int i = 0; i < TEST_N; i++)
        test_labels[i] = (uint8_t)(i % FCLASSES);
    test_labels[TEST_N - 1] = (uint8_t)fx->test_label_max;
    write_pair(dir, "train", fx, TRAIN_N, train_labels, 1);
    write_pair(dir, "t10k", fx, TEST_N, test_labels, 0);
}

static void remove_fixture(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static data_options default_options(void)
{
    return (data_options){.image_size = 8,
                          .resize = DATA_RESIZE_PAD,
                          .normalize = DATA_NORMALIZE_NONE,
                          .val_split = 0.2,
                          .limit = 0,
                          .seed = 42};
}

/* Opening a broken fixture fails with one sentence holding `want` and the file's name. */
static void expect_open_error(const fixture *fx, const char *file, const char *want)
{
    char dir[64], err[CT_ERR_LEN] = "";
    make_fixture(dir, fx);
    data_options o = default_options();
    data_dataset *ds = data_open_idx(dir, &o, err, sizeof err);
    remove_fixture(dir);
    ck_assert_msg(ds == NULL, "a broken fixture (%s) opened", want);
    ck_assert_msg(strstr(err, file) != NULL, "error does not name %s: %s", file, err);
    ck_assert_msg(strstr(err, want) != NULL, "error does not say '%s': %s", want, err);
    ck_assert_msg(strchr(err, '\n') == NULL, "error is not one sentence: %s", err);
}

/* ---- reader ---- */

static void check_good_pair(int gz)
{
    char dir[64], err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(gz);
    make_fixture(dir, &fx);
    data_images im;
    int max_label = -1;
    int rc = data_idx_read(dir, "train", 0, &im, &max_label, err, sizeof err);
    remove_fixture(dir);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(im.count, TRAIN_N);
    ck_assert_int_eq(im.channels, 1);
    ck_assert_int_eq(im.height, FH);
    ck_assert_int_eq(im.width, FW);
    ck_assert_int_eq(max_label, FCLASSES - 1);
    uint8_t labels[TRAIN_N];
    fixture_train_labels(labels);
    for (long i = 0; i < TRAIN_N; i++) {
        ck_assert_int_eq(im.labels[i], labels[i]);
        for (int y = 0; y < FH; y++)
            for (int x = 0; x < FW; x++)
                ck_assert_int_eq(im.pixels[(i * FH + y) * FW + x], fixture_pixel(i, y, x));
    }
    data_images_free(&im);
}

START_TEST(test_idx_plain)
{
    check_good_pair(0);
}
END_TEST

START_TEST(test_idx_gz)
{
    check_good_pair(1);
}
END_TEST

START_TEST(test_idx_wrong_magic)
{
    fixture fx = good_fixture(1);
    fx.image_magic = 0x801;
    expect_open_error(&fx, "train-images-idx3-ubyte.gz", "magic");
    fx = good_fixture(0);
    fx.label_magic = 0x803;
    expect_open_error(&fx, "train-labels-idx1-ubyte", "magic");
}
END_TEST

START_TEST(test_idx_count_mismatch)
{
    fixture fx = good_fixture(0);
    fx.label_count_delta = 1;
    expect_open_error(&fx, "train-labels-idx1-ubyte", "holds 51 labels");
    /* fewer labels than images */
    fx = good_fixture(1);
    fx.label_count_delta = (uint32_t)-3;
    expect_open_error(&fx, "train-labels-idx1-ubyte.gz", "holds 47 labels");
}
END_TEST

START_TEST(test_idx_truncated)
{
    fixture fx = good_fixture(0);
    fx.truncate_images = 16 + 10 * FH * FW + 3;
    expect_open_error(&fx, "train-images-idx3-ubyte", "truncated");
    fx.gz = 1;
    expect_open_error(&fx, "train-images-idx3-ubyte.gz", "truncated");
    fx.truncate_images = 9; /* inside the header */
    expect_open_error(&fx, "train-images-idx3-ubyte.gz", "truncated");
}
END_TEST

START_TEST(test_idx_label_out_of_range)
{
    fixture fx = good_fixture(0);
    fx.test_label_max = FCLASSES + 2;
    expect_open_error(&fx, "t10k-labels-idx1-ubyte", "label 7");
}
END_TEST

START_TEST(test_idx_missing_file)
{
    fixture fx = good_fixture(1);
    fx.skip_file = 1;
    expect_open_error(&fx, "train-labels-idx1-ubyte.gz", "exists");
    char err[CT_ERR_LEN] = "";
    data_options o = default_options();
    ck_assert(data_open_idx("/nonexistent-cltrain-folder", &o, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent-cltrain-folder/train-images-idx3-ubyte") != NULL, "%s", err);
}
END_TEST

START_TEST(test_idx_insane_size)
{
    fixture fx = good_fixture(0);
    fx.rows = 0;
    expect_open_error(&fx, "train-images-idx3-ubyte", "0 x 7");
    fx.rows = 1u << 20;
    expect_open_error(&fx, "train-images-idx3-ubyte", "expected sides");
}
END_TEST

START_TEST(test_bad_options)
{
    char dir[64], err[CT_ERR_LEN];
    fixture fx = good_fixture(0);
    make_fixture(dir, &fx);
    data_options o = default_options();
    o.val_split = 0.95;
    ck_assert(data_open_idx(dir, &o, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "val_split") != NULL, "%s", err);
    o = default_options();
    o.image_size = 0;
    ck_assert(data_open_idx(dir, &o, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "image_size") != NULL, "%s", err);
    o = default_options();
    o.limit = -1;
    ck_assert(data_open_idx(dir, &o, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "limit") != NULL, "%s", err);
    /* a limit so small that the split leaves no training image */
    o = default_options();
    o.limit = 1;
    o.val_split = 0.9;
    ck_assert(data_open_idx(dir, &o, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "no training images") != NULL, "%s", err);
    remove_fixture(dir);
}
END_TEST

/* ---- limit and split ---- */

START_TEST(test_limit)
{
    char dir[64], err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(1);
    make_fixture(dir, &fx);
    data_images im;
    int max_label;
    ck_assert_msg(data_idx_read(dir, "train", 13, &im, &max_label, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(im.count, 13);
    ck_assert_int_eq(max_label, FCLASSES - 1); /* from the whole labels file */
    for (long i = 0; i < 13; i++)
        ck_assert_int_eq(im.pixels[i * FH * FW + 5], fixture_pixel(i, 0, 5));
    data_images_free(&im);

    data_options o = default_options();
    o.limit = 20;
    o.val_split = 0.25;
    data_dataset *ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_int_eq(ds->train_count + ds->val_count, 20);
    ck_assert_int_eq(ds->classes, FCLASSES);
    ck_assert_int_eq(ds->test_count, TEST_N);
    for (long i = 0; i < ds->train_count; i++)
        ck_assert(ds->train_index[i] < 20);
    for (long i = 0; i < ds->val_count; i++)
        ck_assert(ds->val_index[i] < 20);
    data_close(ds);

    o.limit = 1000; /* more than there are: all of them */
    ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_int_eq(ds->train_count + ds->val_count, TRAIN_N);
    data_close(ds);
    remove_fixture(dir);
}
END_TEST

static void split_of(const int32_t *labels, double v, uint64_t seed, long **tr, long *nt, long **va, long *nv)
{
    char err[CT_ERR_LEN];
    ck_assert_msg(
        data_split_stratified(labels, TRAIN_N, FCLASSES, v, seed, tr, nt, va, nv, err, sizeof err) == 0, "%s",
        err);
}

START_TEST(test_split_stratified)
{
    uint8_t l8[TRAIN_N];
    int32_t labels[TRAIN_N];
    fixture_train_labels(l8);
    for (int i = 0; i < TRAIN_N; i++)
        labels[i] = l8[i];
    const double shares[] = {0.0, 0.1, 0.25, 0.5, 0.9};
    for (size_t s = 0; s < sizeof shares / sizeof shares[0]; s++) {
        long *tr, *va, nt, nv;
        split_of(labels, shares[s], 7, &tr, &nt, &va, &nv);
        ck_assert_int_eq(nt + nv, TRAIN_N);
        int seen[TRAIN_N] = {0}, val_per[FCLASSES] = {0};
        for (long i = 0; i < nt; i++) {
            ck_assert(i == 0 || tr[i] > tr[i - 1]); /* ascending */
            seen[tr[i]]++;
        }
        for (long i = 0; i < nv; i++) {
            ck_assert(i == 0 || va[i] > va[i - 1]);
            seen[va[i]]++;
            val_per[labels[va[i]]]++;
        }
        for (int i = 0; i < TRAIN_N; i++)
            ck_assert_int_eq(seen[i], 1);
        for (int c = 0; c < FCLASSES; c++)
            ck_assert_int_eq(val_per[c], (int)floor(shares[s] * class_sizes[c] + 0.5));
        free(tr);
        free(va);
    }

    /* the same seed gives the same split, another seed another one */
    long *t1, *v1, *t2, *v2, *t3, *v3, n1, m1, n2, m2, n3, m3;
    split_of(labels, 0.5, 7, &t1, &n1, &v1, &m1);
    split_of(labels, 0.5, 7, &t2, &n2, &v2, &m2);
    split_of(labels, 0.5, 8, &t3, &n3, &v3, &m3);
    ck_assert_int_eq(m1, m2);
    ck_assert_int_eq(m1, m3);
    ck_assert(memcmp(v1, v2, (size_t)m1 * sizeof(long)) == 0);
    ck_assert(memcmp(v1, v3, (size_t)m1 * sizeof(long)) != 0);
    free(t1), free(v1), free(t2), free(v2), free(t3), free(v3);

    /* bad input */
    char err[CT_ERR_LEN];
    long *tr, *va, nt, nv;
    ck_assert(
        data_split_stratified(labels, TRAIN_N, FCLASSES, -0.1, 1, &tr, &nt, &va, &nv, err, sizeof err) != 0);
    ck_assert(data_split_stratified(labels, TRAIN_N, 3, 0.2, 1, &tr, &nt, &va, &nv, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "label 3") != NULL, "%s", err);
}
END_TEST

/* ---- resize ---- */

START_TEST(test_resize_pad)
{
    float src[2 * FH * FW];
    tu_fill_uniform(src, 2 * FH * FW, 0.1f, 1.0f, 3);
    /* 5 x 7 -> 8: rows pad (8 - 5) / 2 = 1 on top, columns (8 - 7) / 2 = 0 on the left */
    float dst[2 * 8 * 8];
    data_resize_pad(src, 2, FH, FW, 8, dst);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int sy = y - 1, sx = x;
                float want = sy >= 0 && sy < FH && sx < FW ? src[(c * FH + sy) * FW + sx] : 0.0f;
                ck_assert_float_eq(dst[(c * 8 + y) * 8 + x], want);
            }
    /* 5 x 7 -> 3: a centre crop, rows from (5 - 3) / 2 = 1, columns from (7 - 3) / 2 = 2 */
    float crop[2 * 3 * 3];
    data_resize_pad(src, 2, FH, FW, 3, crop);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++)
                ck_assert_float_eq(crop[(c * 3 + y) * 3 + x], src[(c * FH + y + 1) * FW + x + 2]);
    /* 28 -> 32 adds 2 on each side */
    float *m = tu_alloc(28 * 28 * sizeof(float)), *p = tu_alloc(32 * 32 * sizeof(float));
    tu_fill_uniform(m, 28 * 28, 0.1f, 1.0f, 4);
    data_resize_pad(m, 1, 28, 28, 32, p);
    double inside = 0, all = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            all += p[y * 32 + x];
            if (y >= 2 && y < 30 && x >= 2 && x < 30) {
                ck_assert_float_eq(p[y * 32 + x], m[(y - 2) * 28 + x - 2]);
                inside += p[y * 32 + x];
            }
        }
    ck_assert(all == inside);
    free(m);
    free(p);
}
END_TEST

START_TEST(test_resize_bilinear)
{
    /* PyTorch: F.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=4, mode="bilinear",
     * align_corners=False); source positions per output index: 0 -> -0.25 (clamped to 0), 1 -> 0.25,
     * 2 -> 0.75, 3 -> 1.25 (the last pixel), so the weights per axis are (1,0) (.75,.25) (.25,.75)
     * (0,1). */
    const float src[4] = {1, 2, 3, 4};
    const float want[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                            2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
    float got[16];
    data_resize_bilinear(src, 1, 2, 2, 4, got);
    for (int i = 0; i < 16; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) < 1e-6f, "pixel %d: %g, want %g", i, got[i], want[i]);

    /* downsampling 4 -> 2: source positions 0.5 and 2.5, the mean of each 2 x 2 block */
    float s4[16], d2[4];
    tu_fill_uniform(s4, 16, 0.5f, 2.0f, 5);
    data_resize_bilinear(s4, 1, 4, 4, 2, d2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) {
            double m = (s4[(2 * y) * 4 + 2 * x] + s4[(2 * y) * 4 + 2 * x + 1] + s4[(2 * y + 1) * 4 + 2 * x] +
                        s4[(2 * y + 1) * 4 + 2 * x + 1]) /
                       4.0;
            ck_assert_msg(fabs(d2[y * 2 + x] - m) < 1e-6, "%g vs %g", d2[y * 2 + x], m);
        }

    /* same size: the identity; non-square 5 x 7 -> 5: columns scale 1.4, rows 1 */
    float s[2 * FH * FW], d[2 * FH * FH];
    tu_fill_uniform(s, 2 * FH * FW, 0.1f, 1.0f, 6);
    data_resize_bilinear(s, 2, FH, FW, FH, d);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < FH; y++)
            for (int x = 0; x < FH; x++) {
                double sx = 1.4 * (x + 0.5) - 0.5;
                int x0 = (int)sx, x1 = x0 + 1 < FW ? x0 + 1 : x0;
                double l = sx - x0;
                double ref = (1 - l) * s[(c * FH + y) * FW + x0] + l * s[(c * FH + y) * FW + x1];
                ck_assert_msg(fabs(d[(c * FH + y) * FH + x] - ref) < 1e-6, "%g vs %g",
                              d[(c * FH + y) * FH + x], ref);
            }
}
END_TEST

/* ---- normalisation ---- */

START_TEST(test_normalize)
{
    char dir[64], err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(0);
    make_fixture(dir, &fx);
    data_options o = default_options();
    o.normalize = DATA_NORMALIZE_DATASET;
    o.image_size = 9; /* pads 2 rows and 1 column each side: the padding counts */
    data_dataset *ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);

    /* reference: the training split's pixels /255 on the padded 9 x 9 canvas, in double */
    double sum = 0, sq = 0, cnt = (double)ds->train_count * 81;
    for (long k = 0; k < ds->train_count; k++) {
        long i = ds->train_index[k];
        for (int y = 0; y < FH; y++)
            for (int x = 0; x < FW; x++) {
                double v = fixture_pixel(i, y, x) / 255.0;
                sum += v;
                sq += v * v;
            }
    }
    double mean = sum / cnt, sd = sqrt(sq / cnt - mean * mean);
    ck_assert_msg(fabs(ds->mean[0] - mean) < 1e-6 * mean, "mean %g, want %g", ds->mean[0], mean);
    ck_assert_msg(fabs(ds->std[0] - sd) < 1e-6 * sd, "std %g, want %g", ds->std[0], sd);

    /* every split uses the training split's constants; train itself comes out at mean 0, std 1 */
    float *img = tu_alloc(81 * sizeof(float)), *scratch = tu_alloc(data_scratch_floats(ds) * sizeof(float));
    data_prepare(ds, &ds->test, 3, 0, 0, 0, img, scratch);
    ck_assert_msg(fabs(img[2 * 9 + 1 + 4] - (fixture_pixel(3, 0, 4) / 255.0 - mean) / sd) < 1e-5, "%g",
                  img[23]);
    ck_assert_msg(fabs(img[0] - (0 - mean) / sd) < 1e-5, "%g", img[0]);
    double s2 = 0, q2 = 0;
    for (long k = 0; k < ds->train_count; k++) {
        data_prepare(ds, &ds->train, ds->train_index[k], 0, 0, 0, img, scratch);
        for (int i = 0; i < 81; i++) {
            s2 += img[i];
            q2 += (double)img[i] * img[i];
        }
    }
    ck_assert_msg(fabs(s2 / cnt) < 1e-5, "normalised mean %g", s2 / cnt);
    ck_assert_msg(fabs(q2 / cnt - 1) < 1e-4, "normalised variance %g", q2 / cnt);
    data_close(ds);

    /* none: pixel / 255 */
    o.normalize = DATA_NORMALIZE_NONE;
    o.image_size = FW;
    ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    data_prepare(ds, &ds->train, 11, 0, 0, 0, img, scratch);
    ck_assert_float_eq_tol(img[1 * FW + 6], fixture_pixel(11, 0, 6) / 255.0f, 1e-7);
    for (int x = 0; x < FW; x++)
        ck_assert_float_eq(img[x], 0.0f); /* pad row */
    free(img);
    free(scratch);
    data_close(ds);
    remove_fixture(dir);
}
END_TEST

/* ---- augmentation ---- */

START_TEST(test_augment)
{
    enum { S = 16 };
    float base[S * S], a[S * S], b[S * S], c[S * S], scratch[S * S];
    tu_fill_uniform(base, S * S, 0.05f, 0.95f, 9);
    memcpy(a, base, sizeof a);
    memcpy(b, base, sizeof b);
    memcpy(c, base, sizeof c);
    data_augment(a, 1, S, 42, 3, 17, scratch);
    data_augment(b, 1, S, 42, 3, 17, scratch);
    data_augment(c, 1, S, 42, 4, 17, scratch);
    ck_assert(memcmp(a, b, sizeof a) == 0);    /* deterministic */
    ck_assert(memcmp(a, base, sizeof a) != 0); /* changes the image */
    ck_assert(memcmp(a, c, sizeof a) != 0);    /* another epoch, another draw */
    memcpy(c, base, sizeof c);
    data_augment(c, 1, S, 43, 3, 17, scratch);
    ck_assert(memcmp(a, c, sizeof a) != 0); /* another seed */
    for (int i = 0; i < S * S; i++)
        ck_assert(a[i] >= 0 && a[i] <= 1);

    /* over many images the draws cover both flips and shifts both ways: the image's mass moves */
    int moved_left = 0, moved_right = 0;
    for (long k = 0; k < 64; k++) {
        float img[S * S];
        memset(img, 0, sizeof img);
        for (int y = 6; y < 10; y++)
            for (int x = 2; x < 6; x++)
                img[y * S + x] = 1; /* a square left of centre */
        data_augment(img, 1, S, 1, 0, k, scratch);
        double mx = 0, m = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                mx += x * img[y * S + x];
                m += img[y * S + x];
            }
        ck_assert(m > 0);
        if (mx / m > S / 2.0)
            moved_right++; /* flipped */
        else
            moved_left++;
    }
    ck_assert_msg(moved_left > 10 && moved_right > 10, "flips %d of 64", moved_right);
}
END_TEST

/* ---- loader ---- */

static data_dataset *open_fixture(char *dir, double val_split, int normalize)
{
    char err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(1);
    make_fixture(dir, &fx);
    data_options o = default_options();
    o.val_split = val_split;
    o.normalize = normalize ? DATA_NORMALIZE_DATASET : DATA_NORMALIZE_NONE;
    data_dataset *ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    return ds;
}

/* One epoch from a loader: all images and labels in order. */
static long read_epoch(data_loader *l, int epoch, float *images, int32_t *labels, size_t image_floats,
                       int batch)
{
    ck_assert_int_eq(data_loader_start_epoch(l, epoch), 0);
    long n = 0, batches = 0;
    float *im;
    int32_t *lb;
    int count;
    for (;;) {
        ck_assert_int_eq(data_loader_next(l, &im, &lb, &count), 0);
        if (count == 0) break;
        ck_assert_int_le(count, batch);
        if (count < batch) ck_assert_int_eq(batches, data_loader_batches(l) - 1); /* only the last */
        memcpy(images + (size_t)n * image_floats, im, (size_t)count * image_floats * sizeof(float));
        memcpy(labels + n, lb, (size_t)count * sizeof(int32_t));
        n += count;
        batches++;
    }
    ck_assert_int_eq(batches, data_loader_batches(l));
    ck_assert_int_eq(data_loader_next(l, &im, &lb, &count), 0); /* stays at the end */
    ck_assert_int_eq(count, 0);
    return n;
}

START_TEST(test_loader_epoch)
{
    char dir[64], err[CT_ERR_LEN] = "";
    data_dataset *ds = open_fixture(dir, 0.2, 1);
    const size_t F = 64;
    long n = ds->train_count;
    ck_assert_int_eq(n, 40);
    float *ref = tu_alloc((size_t)n * F * sizeof(float)), *got = tu_alloc((size_t)n * F * sizeof(float));
    float *scratch = tu_alloc(data_scratch_floats(ds) * sizeof(float));
    int32_t *labels = tu_alloc((size_t)n * sizeof(int32_t));
    long *first = tu_alloc((size_t)n * sizeof(long));

    data_loader_options lo = {.batch_size = 7, .threads = 3, .shuffle = 1, .augment = 0, .seed = 5};
    data_loader *l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    for (int epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(read_epoch(l, epoch, got, labels, F, 7), n);
        long cnt;
        const long *order = data_loader_order(l, &cnt);
        ck_assert_int_eq(cnt, n);
        /* every training index exactly once */
        int seen[TRAIN_N] = {0};
        for (long k = 0; k < n; k++)
            seen[order[k]]++;
        for (long k = 0; k < ds->train_count; k++)
            ck_assert_int_eq(seen[ds->train_index[k]], 1);
        /* batches hold the images of that order */
        for (long k = 0; k < n; k++) {
            data_prepare(ds, &ds->train, order[k], 0, 0, 0, ref + k * F, scratch);
            ck_assert_int_eq(labels[k], ds->train.labels[order[k]]);
        }
        ck_assert(memcmp(ref, got, (size_t)n * F * sizeof(float)) == 0);
        if (epoch == 0)
            memcpy(first, order, (size_t)n * sizeof(long));
        else
            ck_assert(memcmp(first, order, (size_t)n * sizeof(long)) != 0); /* reshuffled */
    }
    /* a fresh loader with the same seed repeats epoch 1's order */
    data_loader_destroy(l);
    lo.threads = 1;
    l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    read_epoch(l, 0, got, labels, F, 7);
    long cnt;
    ck_assert(memcmp(first, data_loader_order(l, &cnt), (size_t)n * sizeof(long)) == 0);
    data_loader_destroy(l);

    /* shuffle off: the split's own (file) order, batch 40 = one full batch */
    lo.shuffle = 0;
    lo.batch_size = 40;
    l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_int_eq(read_epoch(l, 3, got, labels, F, 40), n);
    ck_assert(memcmp(data_loader_order(l, &cnt), ds->train_index, (size_t)n * sizeof(long)) == 0);
    data_loader_destroy(l);

    /* val and test loaders */
    lo.batch_size = 6;
    l = data_loader_create(ds, DATA_VAL, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_int_eq(read_epoch(l, 0, got, labels, F, 6), 10);
    data_loader_destroy(l);
    l = data_loader_create(ds, DATA_TEST, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_int_eq(read_epoch(l, 0, got, labels, F, 6), TEST_N);
    for (int k = 0; k < TEST_N; k++)
        ck_assert_int_eq(labels[k], ds->test.labels[k]);
    data_loader_destroy(l);

    free(ref), free(got), free(scratch), free(labels), free(first);
    data_close(ds);
    remove_fixture(dir);
}
END_TEST

START_TEST(test_loader_threads_agree)
{
    char dir[64], err[CT_ERR_LEN] = "";
    data_dataset *ds = open_fixture(dir, 0.1, 1);
    const size_t F = 64;
    long n = ds->train_count;
    float *a = tu_alloc((size_t)n * F * sizeof(float)), *b = tu_alloc((size_t)n * F * sizeof(float));
    float *plain = tu_alloc((size_t)n * F * sizeof(float));
    int32_t *la = tu_alloc((size_t)n * sizeof(int32_t)), *lb = tu_alloc((size_t)n * sizeof(int32_t));
    const int threads[] = {0, 1, 3, 8};
    for (int aug = 0; aug < 2; aug++)
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            data_loader_options lo = {.batch_size = 4,
                                      .threads = threads[t],
                                      .queue_depth = t == 2 ? 2 : 0,
                                      .shuffle = 1,
                                      .augment = aug,
                                      .seed = 11};
            data_loader *l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
            ck_assert_msg(l != NULL, "%s", err);
            ck_assert_int_eq(read_epoch(l, 2, t == 0 ? a : b, t == 0 ? la : lb, F, 4), n);
            data_loader_destroy(l);
            if (t > 0) {
                ck_assert_msg(memcmp(a, b, (size_t)n * F * sizeof(float)) == 0, "%d threads differ",
                              threads[t]);
                ck_assert(memcmp(la, lb, (size_t)n * sizeof(int32_t)) == 0);
            }
        }
    /* (a holds the augmented epoch now) augmentation changed the images */
    data_loader_options lo = {.batch_size = 4, .threads = 2, .shuffle = 1, .augment = 0, .seed = 11};
    data_loader *l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    read_epoch(l, 2, plain, lb, F, 4);
    ck_assert(memcmp(la, lb, (size_t)n * sizeof(int32_t)) == 0);
    long changed = 0;
    for (long k = 0; k < n; k++)
        changed += memcmp(a + k * F, plain + k * F, F * sizeof(float)) != 0;
    ck_assert_int_eq(changed, n);

    /* restarting in the middle of an epoch drops its batches and starts clean */
    float *im;
    int32_t *lab;
    int count;
    ck_assert_int_eq(data_loader_start_epoch(l, 2), 0);
    ck_assert_int_eq(data_loader_next(l, &im, &lab, &count), 0);
    ck_assert_int_eq(data_loader_next(l, &im, &lab, &count), 0);
    ck_assert_int_eq(read_epoch(l, 2, b, lb, F, 4), n);
    ck_assert(memcmp(plain, b, (size_t)n * F * sizeof(float)) == 0);
    data_loader_destroy(l);

    free(a), free(b), free(plain), free(la), free(lb);
    data_close(ds);
    remove_fixture(dir);
}
END_TEST

START_TEST(test_loader_bad_input)
{
    char dir[64], err[CT_ERR_LEN] = "";
    data_dataset *ds = open_fixture(dir, 0.0, 0);
    ck_assert_int_eq(ds->val_count, 0);
    data_loader_options lo = {.batch_size = 0, .threads = 1, .seed = 1};
    ck_assert(data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "batch_size 0") != NULL, "%s", err);
    lo.batch_size = 4;
    lo.threads = -1;
    ck_assert(data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "threads") != NULL, "%s", err);
    lo.threads = 2;
    data_loader *l = data_loader_create(ds, DATA_TRAIN, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    float *im;
    int32_t *lab;
    int count;
    ck_assert_int_eq(data_loader_next(l, &im, &lab, &count), -1); /* no epoch started */
    data_loader_destroy(l);
    /* an empty val split: a loader with no batches */
    l = data_loader_create(ds, DATA_VAL, &lo, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_int_eq(data_loader_start_epoch(l, 0), 0);
    ck_assert_int_eq(data_loader_next(l, &im, &lab, &count), 0);
    ck_assert_int_eq(count, 0);
    data_loader_destroy(l);
    data_close(ds);
    remove_fixture(dir);
}
END_TEST

/* ---- the config glue ---- */

static void set_key(config *c, const char *key, const char *value)
{
    char err[CT_ERR_LEN];
    ck_assert_msg(config_set(c, key, value, 0, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_from_config)
{
    char dir[64], err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(1);
    make_fixture(dir, &fx);
    config c;
    config_init(&c);
    /* an IDX folder given as photo folders: the images reader (test_images.c) says what it expected */
    set_key(&c, "dataset_type", "images");
    set_key(&c, "data_path", dir);
    ck_assert(data_open_from_config(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "has no train/ folder") != NULL, "%s", err);

    set_key(&c, "dataset_type", "idx");
    set_key(&c, "data_path", dir);
    set_key(&c, "image_size", "6");
    set_key(&c, "resize", "bilinear");
    set_key(&c, "normalize", "none");
    set_key(&c, "val_split", "0.5");
    set_key(&c, "limit", "30");
    set_key(&c, "seed", "9");
    data_dataset *ds = data_open_from_config(&c, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_int_eq(ds->options.image_size, 6);
    ck_assert_int_eq(ds->options.resize, DATA_RESIZE_BILINEAR);
    ck_assert_int_eq(ds->options.normalize, DATA_NORMALIZE_NONE);
    ck_assert_int_eq(ds->options.limit, 30);
    ck_assert_int_eq(ds->options.seed, 9);
    ck_assert_int_eq(ds->train_count + ds->val_count, 30);
    ck_assert_int_eq(ds->val_count, 16); /* classes of the first 30: 4, 7, 7, 6, 6 */
    data_close(ds);

    set_key(&c, "batch_size", "16");
    set_key(&c, "shuffle", "true");
    set_key(&c, "data_augmentation", "true");
    data_loader_options lo;
    data_loader_options_from_config(&c, DATA_TRAIN, 3, &lo);
    ck_assert(lo.batch_size == 16 && lo.threads == 3 && lo.shuffle && lo.augment && lo.seed == 9);
    data_loader_options_from_config(&c, DATA_VAL, 2, &lo);
    ck_assert(lo.batch_size == 16 && lo.threads == 2 && !lo.shuffle && !lo.augment);

    set_key(&c, "data_path", "/nonexistent-cltrain-folder");
    ck_assert(data_open_from_config(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent-cltrain-folder/train-images-idx3-ubyte") != NULL, "%s", err);
    remove_fixture(dir);
}
END_TEST

/* ---- data sets shared between runs ---- */

typedef struct {
    data_share *share;
    const config *c;
    const data_dataset *got;
} share_arg;

static void *share_open_thread(void *p)
{
    share_arg *a = p;
    char err[CT_ERR_LEN];
    a->got = data_share_open(a->share, a->c, err, sizeof err);
    return NULL;
}

START_TEST(test_share)
{
    char dir[64], err[CT_ERR_LEN] = "";
    fixture fx = good_fixture(1);
    make_fixture(dir, &fx);
    config a, b;
    config_init(&a);
    set_key(&a, "data_path", dir);
    set_key(&a, "image_size", "6");
    set_key(&a, "val_split", "0.5");
    set_key(&a, "batch_size", "8"); /* not a data key: shares */
    b = a;
    set_key(&b, "seed", "5"); /* another split: another data set */
    data_share *s = data_share_create();
    ck_assert_ptr_nonnull(s);
    const data_dataset *a1 = data_share_open(s, &a, err, sizeof err);
    ck_assert_msg(a1 != NULL, "%s", err);
    config a2c = a;
    set_key(&a2c, "batch_size", "32");
    const data_dataset *a2 = data_share_open(s, &a2c, err, sizeof err);
    const data_dataset *b1 = data_share_open(s, &b, err, sizeof err);
    ck_assert_msg(a2 == a1, "the same data keys opened a second copy");
    ck_assert_msg(b1 && b1 != a1, "another seed shared the first split: %s", err);
    ck_assert_int_eq(b1->options.seed, 5);
    data_share_close(s, a1);
    data_share_close(s, a2);
    data_share_close(s, b1);
    /* idle data sets stay for the next run */
    const data_dataset *a3 = data_share_open(s, &a, err, sizeof err);
    ck_assert_msg(a3 == a1, "an idle data set was read again");
    data_share_close(s, a3);
    /* two runs asking at once get one copy */
    data_share *s2 = data_share_create();
    share_arg args[2] = {{s2, &b, NULL}, {s2, &b, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, share_open_thread, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_msg(args[0].got && args[0].got == args[1].got, "two threads got %p and %p", (void *)args[0].got,
                  (void *)args[1].got);
    data_share_close(s2, args[0].got);
    data_share_close(s2, args[1].got);
    data_share_destroy(s2);
    /* a data set that cannot be read is an error, and the share goes on */
    config bad = a;
    set_key(&bad, "data_path", "/nonexistent-cltrain-folder");
    ck_assert(data_share_open(s, &bad, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent-cltrain-folder") != NULL, "%s", err);
    const data_dataset *a4 = data_share_open(s, &a, err, sizeof err);
    ck_assert_msg(a4 != NULL, "%s", err);
    data_share_close(s, a4);
    data_share_destroy(s);
    remove_fixture(dir);
}
END_TEST

/* ---- the real thing ---- */

START_TEST(test_fashion_mnist)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (access(dir, R_OK) != 0) {
        printf("test_fashion_mnist: skipped, %s is not there (apt install dataset-fashion-mnist)\n", dir);
        return;
    }
    char err[CT_ERR_LEN] = "";
    data_options o = {.image_size = 32,
                      .resize = DATA_RESIZE_PAD,
                      .normalize = DATA_NORMALIZE_DATASET,
                      .val_split = 0.1,
                      .limit = 0,
                      .seed = 42};
    data_dataset *ds = data_open_idx(dir, &o, err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_int_eq(ds->train.count, 60000);
    ck_assert_int_eq(ds->test.count, 10000);
    ck_assert_int_eq(ds->train.height, 28);
    ck_assert_int_eq(ds->classes, 10);
    ck_assert_int_eq(ds->val_count, 6000); /* 6000 per class, 600 each held out */
    ck_assert_str_eq(ds->class_names[9], "Ankle boot");
    long per[10] = {0};
    for (long i = 0; i < ds->test.count; i++) {
        ck_assert(ds->test.labels[i] >= 0 && ds->test.labels[i] < 10);
        per[ds->test.labels[i]]++;
    }
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(per[c], 1000);
    /* Fashion-MNIST's pixel mean is about 0.286 on 28 x 28; the padding to 32 x 32 scales it by 784/1024 */
    ck_assert_msg(ds->mean[0] > 0.2 && ds->mean[0] < 0.24, "mean %g", ds->mean[0]);
    data_close(ds);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("data");
    TCase *t = tcase_create("data");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_idx_plain);
    tcase_add_test(t, test_idx_gz);
    tcase_add_test(t, test_idx_wrong_magic);
    tcase_add_test(t, test_idx_count_mismatch);
    tcase_add_test(t, test_idx_truncated);
    tcase_add_test(t, test_idx_label_out_of_range);
    tcase_add_test(t, test_idx_missing_file);
    tcase_add_test(t, test_idx_insane_size);
    tcase_add_test(t, test_bad_options);
    tcase_add_test(t, test_limit);
    tcase_add_test(t, test_split_stratified);
    tcase_add_test(t, test_resize_pad);
    tcase_add_test(t, test_resize_bilinear);
    tcase_add_test(t, test_normalize);
    tcase_add_test(t, test_augment);
    tcase_add_test(t, test_loader_epoch);
    tcase_add_test(t, test_loader_threads_agree);
    tcase_add_test(t, test_loader_bad_input);
    tcase_add_test(t, test_from_config);
    tcase_add_test(t, test_share);
    tcase_add_test(t, test_fashion_mnist);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
