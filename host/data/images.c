/* images.c: the image-folder reader: a data set of photos in class folders, as iNaturalist-12K and
 * Keras' image_dataset_from_directory lay them out:
 *
 *   <data_path>/train/<class>/<name>.jpg|jpeg|png    training images (train + stratified val split)
 *   <data_path>/test/<class>/...                the test set, or, when there is no test/, val/
 *
 * The rule for the test folder: test/ if it exists, otherwise val/ (iNaturalist-12K ships train/ and
 * val/ and its val/ is the study's test set; a data set with train/, val/ and test/ is tested on
 * test/, and its val/ is not read since validation is always held out of train/).
 *
 * Classes are the sub-folders of train/ in byte order of their names (labels 0..n-1); the test
 * folder must have the same ones. Images are the files directly in a class folder whose names end
 * in .jpg, .jpeg or .png in any case, in byte order of their names, so the order, the split and
 * the results never depend on the file system. Hidden entries (a leading '.') and other files are
 * ignored; sub-folders of a class folder are not searched.
 *
 * Every image is decoded to RGB and resized to S x S once, at load, by a pool of threads, and kept
 * as uint8 [n, 3, S, S], the layout the IDX reader gives: the loader's per-batch resize is then the
 * identity and training never touches a JPEG again. pad: a centre crop/zero pad as
 * data_resize_pad, done on the uint8 pixels directly. bilinear: data_resize_bilinear on a float
 * copy (values 0..255) rounded to the nearest integer, from a JPEG decoded at the smallest DCT
 * scale that keeps both sides at least S (see decode.c). EXIF orientation is not applied (PIL's
 * open and Keras' and torchvision's folder loaders do not apply it either).
 *
 * limit: that many training images, taken from the classes in turn (each class's first files in
 * name order), so a small limit still sees every class as evenly as the class sizes allow; the test
 * folder is always read whole. Unreadable files (corrupt, truncated beyond use, not JPEG or PNG)
 * are skipped with one warning line naming their count and the first one; a class left with no
 * image at all is an error, as is any problem with the layout. */
#include "cltrain/data.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define IMAGES_MAX_THREADS 64

/* A growing list of malloc'd names. */
typedef struct {
    char **v;
    long n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (long i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_add(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return -1;
    l->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

/* The sorted names in `dir` of its sub-folders (dirs) or of its image files (!dirs). A broken
 * link with an image's name is listed: decoding it fails and it is reported as unreadable, not
 * silently lost. */
static int list_dir(const char *dir, int dirs, name_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read the folder %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!dirs && !is_image_name(e->d_name)) continue;
        char *path = join(dir, e->d_name);
        if (!path) {
            rc = -1;
            break;
        }
        int keep = dirs ? is_dir(path) : !is_dir(path);
        free(path);
        if (keep && names_add(out, e->d_name) != 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (rc != 0) {
        snprintf(err, errlen, "out of host memory listing %s", dir);
        names_free(out);
        return -1;
    }
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_name);
    return 0;
}

/* ---- the threaded decode ---- */

typedef struct {
    char *path;
    int32_t label;
    int test;  /* 0: training image, 1: test image */
    long slot; /* its index in its split's pixels before unreadable images are dropped */
} load_item;

typedef struct {
    const load_item *items;
    long n;
    int size;
    data_resize resize;
    uint8_t *pixels[2]; /* train, test: [slots, 3, S, S] */
    unsigned char *ok;  /* [n]: 1 once decoded */
    atomic_long next, done;
    pthread_mutex_t mu;
    pthread_cond_t finished;
    int running;
    long first_bad;      /* the lowest unreadable item, so the warning names the same file every run */
    char first_why[512]; /* and why */
    long bad;
    char fatal[400]; /* a worker that could not work at all: the load fails */
} load_job;

/* One decoded RGB image [h, w, 3] into dst [3, S, S]. scratch grows as the largest image needs. */
static int resize_into(const uint8_t *rgb, int h, int w, int S, data_resize resize, float **scratch,
                       size_t *cap, uint8_t *dst)
{
    size_t plane = (size_t)S * S;
    if (resize == DATA_RESIZE_PAD) {
        /* data_resize_pad's offsets: positive pads, negative crops, centred, rounded down */
        int oy = h <= S ? (S - h) / 2 : -((h - S) / 2);
        int ox = w <= S ? (S - w) / 2 : -((w - S) / 2);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++) {
                uint8_t *row = dst + c * plane + (size_t)y * S;
                int sy = y - oy;
                for (int x = 0; x < S; x++) {
                    int sx = x - ox;
                    row[x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? rgb[((size_t)sy * w + sx) * 3 + c] : 0;
                }
            }
        return 0;
    }
    size_t n = (size_t)3 * h * w, need = n + 3 * plane;
    if (need > *cap) {
        float *p = realloc(*scratch, need * sizeof(float));
        if (!p) return -1;
        *scratch = p;
        *cap = need;
    }
    float *src = *scratch, *out = *scratch + n;
    for (size_t i = 0; i < (size_t)h * w; i++)
        for (int c = 0; c < 3; c++)
            src[c * (size_t)h * w + i] = rgb[3 * i + c];
    data_resize_bilinear(src, 3, h, w, S, out);
    /* to nearest, ties to even (lrintf, as torch.round): a tie is common, bilinear weights of 1/2 */
    for (size_t i = 0; i < 3 * plane; i++) {
        float v = out[i];
        dst[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrintf(v);
    }
    return 0;
}

static void *load_worker(void *p)
{
    load_job *job = p;
    char why[400];
    float *scratch = NULL;
    size_t cap = 0;
    data_decoder *dec = data_decoder_create(why, sizeof why);
    size_t per = (size_t)3 * job->size * job->size;
    int min_side = job->resize == DATA_RESIZE_BILINEAR ? job->size : 0;
    while (dec) {
        long i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n) break;
        const load_item *it = &job->items[i];
        const uint8_t *rgb;
        int h, w, rc = data_decoder_read(dec, it->path, min_side, &rgb, &h, &w, why, sizeof why);
        if (rc == 0) {
            rc = resize_into(rgb, h, w, job->size, job->resize, &scratch, &cap,
                             job->pixels[it->test] + (size_t)it->slot * per);
            if (rc != 0) snprintf(why, sizeof why, "out of host memory resizing %d x %d pixels", w, h);
        }
        if (rc == 0)
            job->ok[i] = 1;
        else {
            pthread_mutex_lock(&job->mu);
            job->bad++;
            if (job->first_bad < 0 || i < job->first_bad) {
                job->first_bad = i;
                snprintf(job->first_why, sizeof job->first_why, "%s", why);
            }
            pthread_mutex_unlock(&job->mu);
        }
        atomic_fetch_add(&job->done, 1);
    }
    free(scratch);
    pthread_mutex_lock(&job->mu);
    if (!dec && !job->fatal[0]) snprintf(job->fatal, sizeof job->fatal, "%s", why);
    job->running--;
    pthread_cond_signal(&job->finished);
    pthread_mutex_unlock(&job->mu);
    data_decoder_destroy(dec);
    return NULL;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits for the workers, showing progress on stderr: a line rewritten in place on a terminal (from
 * half a second on), otherwise one line every 10 seconds, so a log file gets a few lines, not
 * thousands. Loads that end sooner print nothing. */
static void wait_with_progress(load_job *job, const char *dir)
{
    int tty = isatty(STDERR_FILENO);
    double start = now_seconds(), next_print = start + (tty ? 0.5 : 10.0);
    int printed = 0;
    pthread_mutex_lock(&job->mu);
    while (job->running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&job->finished, &job->mu, &until);
        double t = now_seconds();
        if (job->running > 0 && t >= next_print) {
            long done = atomic_load(&job->done);
            fprintf(stderr, "%scltrain: decoding the images in %s: %ld of %ld (%.0f%%)%s", tty ? "\r" : "",
                    dir, done, job->n, 100.0 * (double)done / (double)job->n, tty ? "" : "\n");
            fflush(stderr);
            printed = 1;
            next_print = t + (tty ? 0.2 : 10.0);
        }
    }
    pthread_mutex_unlock(&job->mu);
    if (printed)
        fprintf(stderr, "%scltrain: decoded %ld images in %s in %.1f s\n", tty ? "\r\033[K" : "", job->n, dir,
                now_seconds() - start);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > IMAGES_MAX_THREADS ? IMAGES_MAX_THREADS : (int)n;
}

/* Decodes every item into its split's pixels with `threads` workers; job->ok says which worked. */
static int run_load(load_job *job, int threads, const char *dir, char *err, size_t errlen)
{
    if (threads > job->n) threads = (int)job->n;
    if (threads < 1) threads = 1;
    pthread_t tid[IMAGES_MAX_THREADS];
    int started = 0;
    pthread_mutex_lock(&job->mu);
    for (; started < threads; started++) {
        int rc = pthread_create(&tid[started], NULL, load_worker, job);
        if (rc != 0) {
            if (started == 0) {
                pthread_mutex_unlock(&job->mu);
                snprintf(err, errlen, "cannot start an image decoding thread: %s", strerror(rc));
                return -1;
            }
            break; /* fewer threads than asked still decode everything */
        }
        job->running++;
    }
    pthread_mutex_unlock(&job->mu);
    wait_with_progress(job, dir);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (job->fatal[0]) {
        snprintf(err, errlen, "cannot decode the images in %s: %s", dir, job->fatal);
        return -1;
    }
    return 0;
}

/* ---- the data set ---- */

/* The files of each class folder of one split folder. */
typedef struct {
    name_list files[DATA_MAX_CLASSES];
} split_files;

static void split_files_free(split_files *s, int classes)
{
    for (int c = 0; c < classes; c++)
        names_free(&s->files[c]);
}

static int list_split(const char *split_dir, const name_list *classes, split_files *out, char *err,
                      size_t errlen)
{
    for (int c = 0; c < classes->n; c++) {
        char *path = join(split_dir, classes->v[c]);
        if (!path) {
            snprintf(err, errlen, "out of host memory listing %s", split_dir);
            return -1;
        }
        int rc = list_dir(path, 0, &out->files[c], err, errlen);
        if (rc == 0 && out->files[c].n == 0) {
            snprintf(err, errlen,
                     "the class folder %s has no .jpg, .jpeg or .png files: every class needs at least one "
                     "image",
                     path);
            rc = -1;
        }
        free(path);
        if (rc != 0) return -1;
    }
    return 0;
}

/* The first name of a that b lacks, or NULL. Both sorted. */
static const char *first_missing(const name_list *a, const name_list *b)
{
    for (long i = 0; i < a->n; i++)
        if (!bsearch(&a->v[i], b->v, (size_t)b->n, sizeof *b->v, cmp_name)) return a->v[i];
    return NULL;
}

/* How many of each class's files a limit keeps: one from each class in turn, so the classes stay
 * as even as their sizes allow; each class keeps its first files in name order. */
static void limit_per_class(const split_files *train, int classes, long limit, long *take)
{
    long total = 0;
    for (int c = 0; c < classes; c++) {
        take[c] = train->files[c].n;
        total += take[c];
    }
    if (limit <= 0 || limit >= total) return;
    for (int c = 0; c < classes; c++)
        take[c] = 0;
    long kept = 0;
    for (long round = 0; kept < limit; round++)
        for (int c = 0; c < classes && kept < limit; c++)
            if (round < train->files[c].n) {
                take[c]++;
                kept++;
            }
}

/* The folder layout: data_path a folder with train/ and test/ or val/; the class lists. */
static int read_layout(const char *dir, char **train_dir, char **test_dir, name_list *classes, char *err,
                       size_t errlen)
{
    static const char expect[] = "expected a folder holding train/ and val/ (or test/), each with one "
                                 "sub-folder of .jpg/.png images per class";
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "data_path %s cannot be read (%s): %s", dir, strerror(errno), expect);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data_path %s is not a folder: %s", dir, expect);
        return -1;
    }
    char *tr = join(dir, "train"), *te = join(dir, "test"), *va = join(dir, "val");
    if (!tr || !te || !va) {
        free(tr);
        free(te);
        free(va);
        snprintf(err, errlen, "out of host memory opening %s", dir);
        return -1;
    }
    *train_dir = tr;
    if (is_dir(te)) {
        *test_dir = te;
        free(va);
    } else {
        *test_dir = va;
        free(te);
    }
    if (!is_dir(tr)) {
        snprintf(err, errlen, "%s has no train/ folder: %s", dir, expect);
        return -1;
    }
    if (!is_dir(*test_dir)) {
        snprintf(err, errlen, "%s has neither a val/ nor a test/ folder for the test set: %s", dir, expect);
        return -1;
    }
    if (list_dir(tr, 1, classes, err, errlen) != 0) return -1;
    if (classes->n < 2) {
        if (classes->n == 0)
            snprintf(err, errlen, "%s has no class folders: expected one sub-folder of images per class", tr);
        else
            snprintf(
                err, errlen,
                "%s has only one class folder (%s): a classifier needs at least 2, one sub-folder per class",
                tr, classes->v[0]);
        return -1;
    }
    if (classes->n > DATA_MAX_CLASSES) {
        snprintf(err, errlen, "%s has %ld class folders; at most %d are supported", tr, classes->n,
                 DATA_MAX_CLASSES);
        return -1;
    }
    name_list test_classes;
    if (list_dir(*test_dir, 1, &test_classes, err, errlen) != 0) return -1;
    const char *only_train = first_missing(classes, &test_classes);
    const char *only_test = first_missing(&test_classes, classes);
    if (only_train || only_test)
        snprintf(err, errlen, "the class folders of %s and %s differ: %s is only in %s", tr, *test_dir,
                 only_train ? only_train : only_test, only_train ? tr : *test_dir);
    names_free(&test_classes);
    return only_train || only_test ? -1 : 0;
}

/* Per-channel mean and std of the training split as the model sees it (x/255 after resize): the
 * images are already S x S, so that is the stored bytes, and integer sums make it exact. */
static int image_stats(data_dataset *ds, char *err, size_t errlen)
{
    size_t plane = (size_t)ds->options.image_size * ds->options.image_size;
    for (int c = 0; c < 3; c++) {
        uint64_t sum = 0, sq = 0;
        for (long k = 0; k < ds->train_count; k++) {
            const uint8_t *p = ds->train.pixels + ((size_t)ds->train_index[k] * 3 + c) * plane;
            for (size_t i = 0; i < plane; i++) {
                sum += p[i];
                sq += (uint32_t)p[i] * p[i];
            }
        }
        double count = (double)ds->train_count * (double)plane;
        double mean = (double)sum / count / 255.0;
        double var = (double)sq / count / (255.0 * 255.0) - mean * mean;
        double sd = sqrt(var > 0 ? var : 0);
        if (!(sd > 1e-6)) {
            snprintf(err, errlen,
                     "the training images are all the same shade in channel %d, so normalize: dataset cannot "
                     "scale them (use normalize: none)",
                     c);
            return -1;
        }
        ds->mean[c] = (float)mean;
        ds->std[c] = (float)sd;
    }
    return 0;
}

/* Drops the unreadable images of one split, keeping the order; counts the kept ones per class. */
static void compact(data_images *im, const load_item *items, const unsigned char *ok, long n, int test,
                    size_t per, long *kept_per_class)
{
    long w = 0;
    for (long i = 0; i < n; i++) {
        if (items[i].test != test || !ok[i]) continue;
        if (w != items[i].slot)
            memmove(im->pixels + (size_t)w * per, im->pixels + (size_t)items[i].slot * per, per);
        im->labels[w++] = items[i].label;
        kept_per_class[items[i].label]++;
    }
    im->count = w;
}

data_dataset *data_open_images(const char *dir, const data_options *opt, int threads, char *err,
                               size_t errlen)
{
    if (data_check_options(opt, err, errlen) != 0) return NULL;
    if (threads < 0 || threads > IMAGES_MAX_THREADS) {
        snprintf(err, errlen, "the image decoder takes 0 to %d threads, not %d", IMAGES_MAX_THREADS, threads);
        return NULL;
    }
    char *train_dir = NULL, *test_dir = NULL;
    name_list classes = {0};
    long total = 0;
    split_files *files = calloc(2, sizeof *files); /* [0] train, [1] test */
    load_item *items = NULL;
    unsigned char *ok = NULL;
    data_dataset *ds = calloc(1, sizeof *ds);
    load_job job;
    memset(&job, 0, sizeof job);
    pthread_mutex_init(&job.mu, NULL);
    pthread_cond_init(&job.finished, NULL);
    int ncls = 0;
    if (!files || !ds) {
        snprintf(err, errlen, "out of host memory opening %s", dir);
        goto fail;
    }
    ds->options = *opt;
    if (read_layout(dir, &train_dir, &test_dir, &classes, err, errlen) != 0) goto fail;
    ncls = (int)classes.n;
    if (list_split(train_dir, &classes, &files[0], err, errlen) != 0 ||
        list_split(test_dir, &classes, &files[1], err, errlen) != 0)
        goto fail;

    long take[2][DATA_MAX_CLASSES], count[2] = {0, 0};
    limit_per_class(&files[0], ncls, opt->limit, take[0]);
    for (int c = 0; c < ncls; c++) {
        take[1][c] = files[1].files[c].n;
        for (int s = 0; s < 2; s++)
            count[s] += take[s][c];
    }
    total = count[0] + count[1];
    size_t per = (size_t)3 * opt->image_size * opt->image_size;
    items = calloc((size_t)total, sizeof *items);
    ok = calloc((size_t)total, 1);
    ds->train.pixels = malloc((size_t)count[0] * per);
    ds->train.labels = malloc((size_t)count[0] * sizeof(int32_t));
    ds->test.pixels = malloc((size_t)count[1] * per);
    ds->test.labels = malloc((size_t)count[1] * sizeof(int32_t));
    if (!items || !ok || !ds->train.pixels || !ds->train.labels || !ds->test.pixels || !ds->test.labels) {
        snprintf(err, errlen, "out of host memory for %ld images of 3 x %d x %d from %s", total,
                 opt->image_size, opt->image_size, dir);
        goto fail;
    }
    long n = 0;
    for (int s = 0; s < 2; s++) {
        long slot = 0;
        const char *sd = s ? test_dir : train_dir;
        for (int c = 0; c < ncls; c++)
            for (long f = 0; f < take[s][c]; f++) {
                char *cls = join(sd, classes.v[c]);
                items[n].path = cls ? join(cls, files[s].files[c].v[f]) : NULL;
                free(cls);
                if (!items[n].path) {
                    snprintf(err, errlen, "out of host memory listing %s", dir);
                    goto fail;
                }
                items[n].label = c;
                items[n].test = s;
                items[n++].slot = slot++;
            }
    }

    job.items = items;
    job.n = total;
    job.size = opt->image_size;
    job.resize = opt->resize;
    job.pixels[0] = ds->train.pixels;
    job.pixels[1] = ds->test.pixels;
    job.ok = ok;
    job.first_bad = -1;
    if (run_load(&job, threads ? threads : online_cpus(), dir, err, errlen) != 0) goto fail;
    if (job.bad > 0)
        fprintf(stderr, "cltrain: skipped %ld unreadable image%s, first: %s: %s\n", job.bad,
                job.bad > 1 ? "s" : "", items[job.first_bad].path, job.first_why);

    long kept[2][DATA_MAX_CLASSES] = {{0}};
    for (int s = 0; s < 2; s++) {
        data_images *im = s ? &ds->test : &ds->train;
        im->channels = 3;
        im->height = im->width = opt->image_size;
        compact(im, items, ok, total, s, per, kept[s]);
        for (int c = 0; c < ncls; c++)
            if (take[s][c] > 0 && kept[s][c] == 0) {
                snprintf(err, errlen, "none of the %ld images in %s/%s could be read (see the warning above)",
                         take[s][c], s ? test_dir : train_dir, classes.v[c]);
                goto fail;
            }
    }
    ds->classes = ncls;
    for (int c = 0; c < ncls; c++)
        snprintf(ds->class_names[c], DATA_NAME_LEN, "%.*s", DATA_NAME_LEN - 1, classes.v[c]);

    if (data_split_stratified(ds->train.labels, ds->train.count, ds->classes, opt->val_split, opt->seed,
                              &ds->train_index, &ds->train_count, &ds->val_index, &ds->val_count, err,
                              errlen) != 0)
        goto fail;
    if (ds->train_count == 0) {
        snprintf(err, errlen, "no training images are left in %s after limit %ld and val_split %g", train_dir,
                 opt->limit, opt->val_split);
        goto fail;
    }
    ds->test_count = ds->test.count;
    if (!(ds->test_index = malloc((size_t)ds->test_count * sizeof(long)))) {
        snprintf(err, errlen, "out of host memory opening %s", dir);
        goto fail;
    }
    for (long i = 0; i < ds->test_count; i++)
        ds->test_index[i] = i;
    for (int c = 0; c < DATA_MAX_CHANNELS; c++) {
        ds->mean[c] = 0;
        ds->std[c] = 1;
    }
    if (opt->normalize == DATA_NORMALIZE_DATASET && image_stats(ds, err, errlen) != 0) goto fail;
    goto done;
fail:
    data_close(ds);
    ds = NULL;
done:
    for (long i = 0; items && i < total; i++)
        free(items[i].path);
    free(items);
    free(ok);
    if (files) {
        split_files_free(&files[0], ncls);
        split_files_free(&files[1], ncls);
    }
    free(files);
    names_free(&classes);
    free(train_dir);
    free(test_dir);
    pthread_mutex_destroy(&job.mu);
    pthread_cond_destroy(&job.finished);
    return ds;
}

int data_images_probe(const char *dir, int *channels, int *classes, char *err, size_t errlen)
{
    char *train_dir = NULL, *test_dir = NULL;
    name_list names = {0};
    int rc = read_layout(dir, &train_dir, &test_dir, &names, err, errlen);
    *channels = 3;
    *classes = (int)names.n;
    names_free(&names);
    free(train_dir);
    free(test_dir);
    return rc;
}
