/* bench_images.c: how fast a photo-folder data set opens (dataset_type images: decode, resize, split,
 * statistics), on synthetic photos written first in iNaturalist-12K's layout.
 *
 *   bench_images [--photos N] [--width W] [--height H] [--size S] [--classes K] [--threads T]
 *                [--resize pad|bilinear] [--keep DIR]
 *
 * Writes N JPEGs of W x H (smooth gradients plus noise, quality 90, 4:2:0: sizes like camera photos
 * after iNaturalist's downscale) into K class folders of train/ (and a tenth as many into val/), opens
 * them with data_open_images at S x S, times data_prepare (what each loader thread does per image:
 * to float, resize, augmentation, normalisation) with and without augmentation, prints one JSON object
 * and removes the folder unless --keep names where to leave it (for an end-to-end `cltrain train`). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "cltrain/data.h"
#include "cltrain/progress.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* one synthetic photo: a smooth colour gradient per class with pixel noise, so it compresses like one */
static void fill_photo(uint8_t *px, int w, int h, int cls, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            int n = (int)(s % 24) - 12;
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            int r = 40 + 150 * x / w + 15 * cls + n, g = 60 + 120 * y / h + n,
                b = 200 - 10 * cls - 90 * x / w + n;
            p[0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
            p[1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
            p[2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
        }
}

static int write_photos(const char *root, const char *split, int count, int classes, int w, int h,
                        long *bytes)
{
    tjhandle tj = tjInitCompress();
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!tj || !px) return -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", root, split);
    mkdir(path, 0755);
    for (int c = 0; c < classes; c++) {
        snprintf(path, sizeof path, "%s/%s/class%02d", root, split, c);
        mkdir(path, 0755);
    }
    for (int i = 0; i < count; i++) {
        int c = i % classes;
        fill_photo(px, w, h, c, (uint64_t)i + (split[0] == 'v' ? 1000000 : 0));
        unsigned char *buf = NULL;
        unsigned long size = 0;
        if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0) != 0) return -1;
        snprintf(path, sizeof path, "%s/%s/class%02d/%06d.jpg", root, split, c, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, size, f) != size || fclose(f) != 0) return -1;
        *bytes += (long)size;
        tjFree(buf);
    }
    free(px);
    tjDestroy(tj);
    return 0;
}

int main(int argc, char **argv)
{
    int photos = 1000, w = 800, h = 600, size = 224, classes = 10, threads = 0;
    const char *keep = NULL, *resize = "bilinear";
    for (int i = 1; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--photos") && has)
            photos = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--width") && has)
            w = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--height") && has)
            h = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && has)
            size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--classes") && has)
            classes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && has)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--resize") && has)
            resize = argv[++i];
        else if (!strcmp(argv[i], "--keep") && has)
            keep = argv[++i];
        else {
            fprintf(stderr, "bench_images: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (photos < 2 * classes || classes < 2 || w < 8 || h < 8 || size < 8) {
        fprintf(stderr, "bench_images: need at least 2 classes, 2 photos per class and sides of 8 or more\n");
        return 2;
    }
    char root[1024];
    if (keep) {
        snprintf(root, sizeof root, "%s", keep);
        if (mkdir(root, 0755) != 0) {
            perror(root);
            return 1;
        }
    } else {
        snprintf(root, sizeof root, "/tmp/cltrain-bench-images-XXXXXX");
        if (!mkdtemp(root)) {
            perror("mkdtemp");
            return 1;
        }
    }
    long bytes = 0;
    int nval = photos / 10 > classes ? photos / 10 : classes;
    if (write_photos(root, "train", photos, classes, w, h, &bytes) != 0 ||
        write_photos(root, "val", nval, classes, w, h, &bytes) != 0) {
        fprintf(stderr, "bench_images: cannot write the photos under %s\n", root);
        return 1;
    }
    data_options o = {.image_size = size,
                      .resize = strcmp(resize, "pad") ? DATA_RESIZE_BILINEAR : DATA_RESIZE_PAD,
                      .normalize = DATA_NORMALIZE_DATASET,
                      .val_split = 0.2,
                      .seed = 1};
    char err[1024];
    double t0 = progress_now();
    data_dataset *ds = data_open_images(root, &o, threads, err, sizeof err);
    double secs = progress_now() - t0;
    if (!ds) {
        fprintf(stderr, "bench_images: %s\n", err);
        return 1;
    }
    long total = ds->train.count + ds->test.count;
    /* one loader thread's work per image, the median of 5 passes over up to 64 images */
    double prep_ms[2];
    size_t floats = (size_t)3 * size * size;
    float *dst = malloc(floats * sizeof(float)), *scratch = malloc(data_scratch_floats(ds) * sizeof(float));
    long m = ds->train.count < 64 ? ds->train.count : 64;
    for (int aug = 0; aug < 2; aug++) {
        double t[5];
        for (int rep = 0; rep < 5; rep++) {
            double t1 = progress_now();
            for (long i = 0; i < m; i++)
                data_prepare(ds, &ds->train, i, aug, 1, rep, dst, scratch);
            t[rep] = (progress_now() - t1) / (double)m;
        }
        for (int a = 0; a < 5; a++) /* insertion sort of 5 */
            for (int b = a; b > 0 && t[b] < t[b - 1]; b--) {
                double x = t[b];
                t[b] = t[b - 1];
                t[b - 1] = x;
            }
        prep_ms[aug] = 1e3 * t[2];
    }
    free(dst);
    free(scratch);
    printf(
        "{\"photos\": %ld, \"width\": %d, \"height\": %d, \"size\": %d, \"resize\": \"%s\", \"threads\": %d, "
        "\"jpeg_mib\": %.1f, \"seconds\": %.3f, \"photos_per_sec\": %.1f, \"prepare_ms\": %.3f, "
        "\"prepare_augmented_ms\": %.3f}\n",
        total, w, h, size, resize, threads, bytes / 1048576.0, secs, total / secs, prep_ms[0], prep_ms[1]);
    data_close(ds);
    if (!keep) nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
