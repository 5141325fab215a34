/* program.c: building the embedded kernels at run time, once per device and option set, with a
 * binary cache on disk so that later runs skip the compiler.
 *
 * A cache entry is keyed by a 128-bit hash of platform, device, driver version, source text and
 * options; the file holds a header (magic, key, size, checksum) so a truncated, corrupt or foreign
 * file is detected and rebuilt from source, never fatal. Files are written to a temporary name and
 * renamed, so concurrent processes never read half an entry. */
#include "internal.h"
#include "cltrain/cl_sources.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct device_program_entry {
    char *file;
    char *options;
    cl_program program;
    int nkernels;
    struct {
        char name[64];
        cl_kernel kernel;
    } kernels[32];
    device_program_entry *next;
};

static const char CACHE_MAGIC[8] = {'C', 'L', 'T', 'R', 'B', 'I', 'N', '1'};

typedef struct {
    uint64_t h[2];
} hash128;

static void hash_bytes(hash128 *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h->h[0] = (h->h[0] ^ p[i]) * 0x100000001b3ULL;
        h->h[1] = (h->h[1] ^ p[i]) * 0x100000001b3ULL;
        h->h[1] ^= h->h[1] >> 29;
    }
    /* separator, so ("ab","c") and ("a","bc") differ */
    h->h[0] = (h->h[0] ^ 0xff) * 0x100000001b3ULL;
    h->h[1] = (h->h[1] ^ 0xfe) * 0x100000001b3ULL;
}

static void hash_string(hash128 *h, const char *s)
{
    hash_bytes(h, s, strlen(s));
}

static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t c = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) c = (c ^ p[i]) * 0x100000001b3ULL;
    return c;
}

void device_cache_dir(char *out, size_t len)
{
    out[0] = '\0';
    const char *off = getenv("CLTRAIN_NO_CACHE");
    if (off && *off && strcmp(off, "0") != 0) return;
    const char *dir = getenv("CLTRAIN_CACHE_DIR");
    if (dir && *dir) {
        snprintf(out, len, "%s", dir);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(out, len, "%s/cltrain", xdg);
        return;
    }
    const char *home = getenv("HOME");
    if (home && *home) snprintf(out, len, "%s/.cache/cltrain", home);
}

void device_make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(tmp, 0755);
        *p = '/';
    }
    mkdir(tmp, 0755);
}

const char *device_source(const char *file)
{
    for (const cl_source *s = cl_embedded; s->name; s++)
        if (!strcmp(s->name, file)) return s->text;
    return NULL;
}

static hash128 cache_key(device_ctx *d, const char *source, const char *options)
{
    hash128 h = {{0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL}};
    hash_string(&h, d->info.platform_name);
    hash_string(&h, d->info.name);
    hash_string(&h, d->info.driver_version);
    hash_string(&h, d->info.device_version);
    hash_string(&h, source);
    hash_string(&h, options);
    return h;
}

static void cache_path(char *out, size_t len, const char *dir, hash128 key)
{
    snprintf(out, len, "%s/%016llx%016llx.bin", dir, (unsigned long long)key.h[0], (unsigned long long)key.h[1]);
}

/* Returns a binary from the cache, or NULL when there is none or it does not check out. */
static unsigned char *cache_load(const char *path, hash128 key, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[8];
    uint64_t k[2], n, sum;
    unsigned char *bin = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0 || fread(k, 8, 2, f) != 2 ||
        k[0] != key.h[0] || k[1] != key.h[1] || fread(&n, 8, 1, f) != 1 || fread(&sum, 8, 1, f) != 1 ||
        n == 0 || n > ((uint64_t)1 << 30))
        goto bad;
    bin = malloc(n);
    if (!bin || fread(bin, 1, n, f) != n || checksum(bin, n) != sum) goto bad;
    fclose(f);
    *size = n;
    return bin;
bad:
    free(bin);
    fclose(f);
    return NULL;
}

static void cache_store(const char *dir, const char *path, hash128 key, const unsigned char *bin, size_t n)
{
    device_make_dirs(dir);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return; /* a cache we cannot write is only slower */
    uint64_t n64 = n, sum = checksum(bin, n);
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(key.h, 8, 2, f) == 2 && fwrite(&n64, 8, 1, f) == 1 &&
             fwrite(&sum, 8, 1, f) == 1 && fwrite(bin, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) == 0) return;
    unlink(tmp);
}

static int build_log(device_ctx *d, cl_program prog, const char *file, const char *options, cl_int st)
{
    size_t len = 0;
    clGetProgramBuildInfo(prog, d->info.id, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, d->info.id, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = '\0';
    }
    device_fail(d, "building cl/%s with options \"%s\" on device %d (%s) failed (%s); compiler log:\n%s", file,
                options, d->info.index, d->info.name, device_cl_error(st), log ? log : "(none)");
    free(log);
    return -1;
}

static cl_program build_from_binary(device_ctx *d, const unsigned char *bin, size_t n, const char *options)
{
    cl_int st, bst;
    cl_program p = clCreateProgramWithBinary(d->context, 1, &d->info.id, &n, &bin, &bst, &st);
    if (st != CL_SUCCESS || bst != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &d->info.id, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static cl_program build_program(device_ctx *d, const char *file, const char *options)
{
    const char *source = device_source(file);
    if (!source) {
        device_fail(d, "no kernel file cl/%s is embedded in this binary", file);
        return NULL;
    }
    char dir[1024], path[1200];
    device_cache_dir(dir, sizeof dir);
    hash128 key = cache_key(d, source, options);
    if (dir[0]) {
        cache_path(path, sizeof path, dir, key);
        size_t n;
        unsigned char *bin = cache_load(path, key, &n);
        if (bin) {
            cl_program p = build_from_binary(d, bin, n, options);
            free(bin);
            if (p) {
                d->builds_from_cache++;
                return p;
            }
        }
    }
    cl_int st;
    cl_program p = clCreateProgramWithSource(d->context, 1, &source, NULL, &st);
    if (st != CL_SUCCESS) {
        device_check(d, st, "creating a program");
        return NULL;
    }
    st = clBuildProgram(p, 1, &d->info.id, options, NULL, NULL);
    if (st != CL_SUCCESS) {
        build_log(d, p, file, options, st);
        clReleaseProgram(p);
        return NULL;
    }
    d->builds_from_source++;
    if (dir[0]) {
        size_t n = 0;
        if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) == CL_SUCCESS && n > 0) {
            unsigned char *bin = malloc(n);
            if (bin && clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
                cache_store(dir, path, key, bin, n);
            free(bin);
        }
    }
    return p;
}

cl_kernel device_kernel(device_ctx *d, const char *file, const char *name, const char *options)
{
    if (!options) options = "";
    device_program_entry *e = d->programs;
    while (e && (strcmp(e->file, file) != 0 || strcmp(e->options, options) != 0)) e = e->next;
    if (!e) {
        cl_program p = build_program(d, file, options);
        if (!p) return NULL;
        e = calloc(1, sizeof *e);
        if (!e || !(e->file = strdup(file)) || !(e->options = strdup(options))) {
            if (e) {
                free(e->file);
                free(e);
            }
            clReleaseProgram(p);
            device_fail(d, "out of host memory building cl/%s", file);
            return NULL;
        }
        e->program = p;
        e->next = d->programs;
        d->programs = e;
    }
    for (int i = 0; i < e->nkernels; i++)
        if (!strcmp(e->kernels[i].name, name)) return e->kernels[i].kernel;
    if (e->nkernels == (int)(sizeof e->kernels / sizeof e->kernels[0])) {
        device_fail(d, "too many kernels from cl/%s", file);
        return NULL;
    }
    cl_int st;
    cl_kernel k = clCreateKernel(e->program, name, &st);
    if (st != CL_SUCCESS) {
        device_fail(d, "kernel %s in cl/%s on device %d (%s): %s", name, file, d->info.index, d->info.name,
                    device_cl_error(st));
        return NULL;
    }
    snprintf(e->kernels[e->nkernels].name, sizeof e->kernels[0].name, "%s", name);
    e->kernels[e->nkernels++].kernel = k;
    return k;
}

void device_release_programs(device_ctx *d)
{
    device_program_entry *e = d->programs;
    while (e) {
        device_program_entry *next = e->next;
        for (int i = 0; i < e->nkernels; i++) clReleaseKernel(e->kernels[i].kernel);
        clReleaseProgram(e->program);
        free(e->file);
        free(e->options);
        free(e);
        e = next;
    }
    d->programs = NULL;
}
