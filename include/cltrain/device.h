/* device.h: OpenCL platforms and devices, one context and queue per opened device, run-time
 * kernel builds with an on-disk binary cache, and the error text every module reports through.
 *
 * Errors are values: a function that can fail returns 0 on success and -1 on failure, with one
 * sentence in the device's `error` buffer (or in the caller's `err` buffer where no device is open
 * yet). A device_ctx belongs to one thread at a time. */
#ifndef CLTRAIN_DEVICE_H
#define CLTRAIN_DEVICE_H

#include <stddef.h>
#include <stdarg.h>
#include <CL/cl.h>

#include "cltrain/launch.h"

#define CT_ERR_LEN 1024

typedef struct device_info {
    int index; /* position in device_list's order, what --device takes */
    cl_platform_id platform;
    cl_device_id id;
    char platform_name[128];
    char name[128];
    char vendor[128];
    char driver_version[128];
    char device_version[128];
    char c_version[64]; /* OpenCL C version */
    cl_device_type type;
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong max_alloc;
    cl_ulong local_mem;
    size_t max_work_group;
    cl_uint base_align_bits; /* CL_DEVICE_MEM_BASE_ADDR_ALIGN: sub-buffer offsets are multiples */
} device_info;

/* Every device of every platform, in platform order then device order. *out is malloc'd (free it).
 * No platform at all is an error whose sentence says how to get one. */
int device_list(device_info **out, int *count, char *err, size_t errlen);

/* Parses a --device SPEC: an index, a comma list ("0,1"), "all", "cpu", "gpu", or a name substring
 * (case-insensitive). Fills sel[] with indices into all[] (at most max_sel); an unknown or
 * out-of-range device is an error that lists the devices there are. */
int device_select(const char *spec, const device_info *all, int count, int *sel, int max_sel, int *nsel,
                  char *err, size_t errlen);

/* Writes a human name for a device type: "GPU", "CPU", "accelerator", ... */
const char *device_type_name(cl_device_type type);

/* Text for an OpenCL status code, e.g. "CL_OUT_OF_RESOURCES". */
const char *device_cl_error(cl_int status);

/* Text for a CLBlast status code. */
const char *device_clblast_error(int status);

typedef struct device_program_entry device_program_entry;

typedef struct {
    device_info info;
    cl_context context;
    cl_command_queue queue;
    char error[CT_ERR_LEN];
    /* in-memory program + kernel cache, keyed by file, options and kernel name */
    device_program_entry *programs;
    /* how the ops launch cltrain's own kernels here: defaults, or what `cltrain tune` stored */
    launch_set launch;
    /* scratch memory shared by ops within one step (im2col columns, reductions) */
    cl_mem workspace;
    size_t workspace_bytes;
    /* counters for tests and benchmarks */
    int builds_from_source;
    int builds_from_cache;
} device_ctx;

/* Creates a context and an in-order queue on the device. Returns NULL with err filled on failure. */
device_ctx *device_open(const device_info *info, char *err, size_t errlen);
void device_close(device_ctx *d);

/* Records one sentence in d->error and returns -1, so failures read `return device_fail(d, ...)`. */
int device_fail(device_ctx *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks an OpenCL status; on failure records "<what>: <CL error>" and returns -1. */
int device_check(device_ctx *d, cl_int status, const char *what);

/* The kernel `name` from cl/`file` built with `options` (e.g. "-DK=3"). Programs are built once per
 * device and options, from the disk cache when it holds a valid binary. The returned kernel is
 * owned by the device; NULL on failure (d->error holds the build log's first lines and the file). */
cl_kernel device_kernel(device_ctx *d, const char *file, const char *name, const char *options);

/* The embedded source text of cl/`file`, or NULL. */
const char *device_source(const char *file);

/* A buffer of at least `bytes` shared by ops as scratch; grows (never shrinks). NULL on failure. */
cl_mem device_workspace(device_ctx *d, size_t bytes);

/* Buffer helpers: allocation with a clear out-of-memory sentence, host copies (blocking). */
cl_mem device_alloc(device_ctx *d, size_t bytes, const char *what);
int device_write(device_ctx *d, cl_mem buf, size_t offset, size_t bytes, const void *src);
int device_read(device_ctx *d, cl_mem buf, size_t offset, size_t bytes, void *dst);
int device_fill(device_ctx *d, cl_mem buf, float value, size_t offset_floats, size_t count);

/* Sets kernel argument i to the lvalue v, OR-ing the status into st:
 *   cl_int st = 0; DEVICE_ARG(st, k, 0, buf); DEVICE_ARG(st, k, 1, n); device_check(d, st, "...") */
#define DEVICE_ARG(st, k, i, v) ((st) |= clSetKernelArg((k), (i), sizeof(v), &(v)))

/* Enqueues a 1-D kernel over n items in work-groups of the launch choice wg_1d (the global size rounded
 * up to it; kernels guard). */
int device_run_1d(device_ctx *d, cl_kernel k, size_t n, const char *what);
/* Enqueues a kernel with explicit global/local sizes (local may be NULL). */
int device_run(device_ctx *d, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
               const char *what);

/* The directory of the binary cache: $CLTRAIN_CACHE_DIR, else $XDG_CACHE_HOME/cltrain, else
 * ~/.cache/cltrain. Empty when CLTRAIN_NO_CACHE=1. */
void device_cache_dir(char *out, size_t len);

#endif
