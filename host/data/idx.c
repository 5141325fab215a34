/* idx.c: the IDX reader for MNIST-family data sets (MNIST, Fashion-MNIST, KMNIST, ...).
 *
 * An IDX file is a big-endian header (magic 0x00000803 for [n, rows, cols] ubyte images, 0x00000801
 * for [n] ubyte labels) followed by the raw bytes. Debian ships them gzip'd; zlib's gzread reads
 * both gzip'd and plain files, so `name` and `name.gz` go through the same code. Every check names
 * the file it failed on, because a user pointing data_path at the wrong folder must see which file
 * is wrong and why. */
#include "cltrain/data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
/* Sides beyond this are not MNIST-like images but a corrupt header. */
#define IDX_MAX_SIDE 16384

typedef struct {
    gzFile f;
    char path[4100]; /* the plain name and ".gz" */
} idx_file;

/* Opens `<dir>/<name>` or, failing that, `<dir>/<name>.gz`. */
static int idx_open(const char *dir, const char *name, idx_file *out, char *err, size_t errlen)
{
    char plain[4096];
    if (snprintf(plain, sizeof plain, "%s/%s", dir, name) >= (int)sizeof plain) {
        snprintf(err, errlen, "the data path %.200s... is too long", dir);
        return -1;
    }
    snprintf(out->path, sizeof out->path, "%s", plain);
    if (access(plain, F_OK) != 0) {
        snprintf(out->path, sizeof out->path, "%s.gz", plain);
        if (access(out->path, F_OK) != 0) {
            snprintf(err, errlen, "neither %s nor %s exists (is data_path an IDX data set folder?)", plain,
                     out->path);
            return -1;
        }
    }
    out->f = gzopen(out->path, "rb");
    if (!out->f) {
        snprintf(err, errlen, "cannot open %s: %s", out->path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    return 0;
}

/* Reads exactly n bytes; a short read is a truncated file, a gzip error a corrupt one. */
static int idx_read(idx_file *fl, void *buf, size_t n, const char *what, char *err, size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        /* gzread takes an unsigned count: read in chunks well under its limit */
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(fl->f, (char *)buf + got, (unsigned)chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(fl->f, &code);
            snprintf(err, errlen, "cannot read %s: %s", fl->path, code == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < n) {
        snprintf(err, errlen, "%s is truncated: its %s needs %zu bytes but only %zu are there", fl->path,
                 what, n, got);
        return -1;
    }
    return 0;
}

static int idx_header(idx_file *fl, uint32_t magic, uint32_t *dims, int ndims, char *err, size_t errlen)
{
    unsigned char h[16];
    if (idx_read(fl, h, 4 + 4 * (size_t)ndims, "header", err, errlen) != 0) return -1;
    uint32_t got = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (got != magic) {
        snprintf(err, errlen, "%s is not an IDX %s file: its magic number is 0x%08x, expected 0x%08x",
                 fl->path, magic == IDX_MAGIC_IMAGES ? "image" : "label", got, magic);
        return -1;
    }
    for (int i = 0; i < ndims; i++) {
        const unsigned char *p = h + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    return 0;
}

void data_images_free(data_images *im)
{
    if (!im) return;
    free(im->pixels);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

int data_idx_read(const char *dir, const char *prefix, long limit, data_images *out, int *max_label,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char name[256];
    idx_file im = {0}, lb = {0};
    uint8_t *raw = NULL;
    int rc = -1;
    uint32_t idims[3], ldims[1];

    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (idx_open(dir, name, &im, err, errlen) != 0) goto done;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (idx_open(dir, name, &lb, err, errlen) != 0) goto done;
    if (idx_header(&im, IDX_MAGIC_IMAGES, idims, 3, err, errlen) != 0) goto done;
    if (idx_header(&lb, IDX_MAGIC_LABELS, ldims, 1, err, errlen) != 0) goto done;

    if (idims[0] == 0 || idims[0] > INT32_MAX) {
        snprintf(err, errlen, "%s says it holds %u images; expected 1 to %d", im.path, idims[0], INT32_MAX);
        goto done;
    }
    if (idims[1] == 0 || idims[2] == 0 || idims[1] > IDX_MAX_SIDE || idims[2] > IDX_MAX_SIDE) {
        snprintf(err, errlen, "%s says its images are %u x %u pixels; expected sides of 1 to %d", im.path,
                 idims[1], idims[2], IDX_MAX_SIDE);
        goto done;
    }
    if (ldims[0] != idims[0]) {
        snprintf(err, errlen, "%s holds %u labels but %s holds %u images", lb.path, ldims[0], im.path,
                 idims[0]);
        goto done;
    }

    long n = (long)idims[0];
    long keep = limit > 0 && limit < n ? limit : n;
    size_t pixels = (size_t)idims[1] * idims[2];
    out->count = keep;
    out->channels = 1;
    out->height = (int)idims[1];
    out->width = (int)idims[2];
    out->pixels = malloc((size_t)keep * pixels);
    out->labels = malloc((size_t)keep * sizeof(int32_t));
    raw = malloc((size_t)n);
    if (!out->pixels || !out->labels || !raw) {
        snprintf(err, errlen, "out of host memory reading %s (%ld images of %u x %u)", im.path, keep,
                 idims[1], idims[2]);
        goto done;
    }
    if (idx_read(&im, out->pixels, (size_t)keep * pixels, "image data", err, errlen) != 0) goto done;
    /* All labels are read even under a limit: the class count must not depend on the limit. */
    if (idx_read(&lb, raw, (size_t)n, "label data", err, errlen) != 0) goto done;
    int top = 0;
    for (long i = 0; i < n; i++)
        if (raw[i] > top) top = raw[i];
    for (long i = 0; i < keep; i++)
        out->labels[i] = raw[i];
    if (max_label) *max_label = top;
    rc = 0;
done:
    free(raw);
    if (im.f) gzclose(im.f);
    if (lb.f) gzclose(lb.f);
    if (rc != 0) data_images_free(out);
    return rc;
}
