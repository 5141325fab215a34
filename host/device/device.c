/* device.c: finding OpenCL devices, choosing them from a --device spec, opening a context and
 * queue on one, and the small buffer helpers every op uses. Program builds live in program.c. */
#include "internal.h"
#include "cltrain/tune.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cl_khr_icd: what the ICD loader answers when no vendor driver is installed */
#define PLATFORM_NOT_FOUND_KHR (-1001)

static void info_string(cl_device_id id, cl_device_info what, char *out, size_t len)
{
    out[0] = '\0';
    if (clGetDeviceInfo(id, what, len, out, NULL) != CL_SUCCESS) snprintf(out, len, "?");
    out[len - 1] = '\0';
    /* drivers pad some strings with spaces */
    size_t n = strlen(out);
    while (n && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
}

int device_list(device_info **out, int *count, char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_int st = clGetPlatformIDs(0, NULL, &np);
    if (st == PLATFORM_NOT_FOUND_KHR || np == 0) {
        snprintf(err, errlen,
                 "no OpenCL platform is installed: install your GPU vendor's OpenCL driver, or "
                 "Debian's pocl-opencl-icd to run on the CPU");
        return -1;
    }
    if (st != CL_SUCCESS) {
        snprintf(err, errlen, "listing OpenCL platforms failed: %s", device_cl_error(st));
        return -1;
    }
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats || clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        free(plats);
        snprintf(err, errlen, "listing OpenCL platforms failed");
        return -1;
    }
    device_info *all = NULL;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        device_info *grown = realloc(all, (size_t)(n + (int)nd) * sizeof *all);
        if (!ids || !grown) {
            free(ids);
            free(grown ? grown : all);
            free(plats);
            snprintf(err, errlen, "out of host memory listing devices");
            return -1;
        }
        all = grown;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        char pname[128] = "";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        pname[sizeof pname - 1] = '\0';
        for (cl_uint i = 0; i < nd; i++) {
            device_info *d = &all[n];
            memset(d, 0, sizeof *d);
            d->index = n;
            d->platform = plats[p];
            d->id = ids[i];
            snprintf(d->platform_name, sizeof d->platform_name, "%s", pname);
            info_string(ids[i], CL_DEVICE_NAME, d->name, sizeof d->name);
            info_string(ids[i], CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
            info_string(ids[i], CL_DRIVER_VERSION, d->driver_version, sizeof d->driver_version);
            info_string(ids[i], CL_DEVICE_VERSION, d->device_version, sizeof d->device_version);
            info_string(ids[i], CL_DEVICE_OPENCL_C_VERSION, d->c_version, sizeof d->c_version);
            clGetDeviceInfo(ids[i], CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units, &d->compute_units,
                            NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->global_mem, &d->global_mem, NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_work_group,
                            &d->max_work_group, NULL);
            clGetDeviceInfo(ids[i], CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof d->base_align_bits,
                            &d->base_align_bits, NULL);
            if (d->base_align_bits < 8) d->base_align_bits = 1024;
            n++;
        }
        free(ids);
    }
    free(plats);
    if (n == 0) {
        free(all);
        snprintf(
            err, errlen,
            "the OpenCL platforms installed offer no device: install your GPU vendor's OpenCL driver, or "
            "Debian's pocl-opencl-icd to run on the CPU");
        return -1;
    }
    *out = all;
    *count = n;
    return 0;
}

const char *device_type_name(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU) return "GPU";
    if (type & CL_DEVICE_TYPE_CPU) return "CPU";
    if (type & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (type & CL_DEVICE_TYPE_CUSTOM) return "custom";
    return "other";
}

static void list_devices_sentence(const device_info *all, int count, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < count && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%d (%s, %s)", i ? ", " : "", i, all[i].name,
                                 device_type_name(all[i].type));
}

static int add_selected(int idx, int *sel, int max_sel, int *nsel)
{
    for (int i = 0; i < *nsel; i++)
        if (sel[i] == idx) return 0;
    if (*nsel >= max_sel) return -1;
    sel[(*nsel)++] = idx;
    return 0;
}

static int select_by_type(cl_device_type type, const device_info *all, int count, int *sel, int max_sel,
                          int *nsel)
{
    for (int i = 0; i < count; i++)
        if (all[i].type & type) add_selected(i, sel, max_sel, nsel);
    return *nsel > 0 ? 0 : -1;
}

int device_select(const char *spec, const device_info *all, int count, int *sel, int max_sel, int *nsel,
                  char *err, size_t errlen)
{
    char there[768];
    list_devices_sentence(all, count, there, sizeof there);
    *nsel = 0;
    if (!spec || !*spec) spec = "0";
    if (!strcasecmp(spec, "all")) {
        for (int i = 0; i < count && i < max_sel; i++)
            sel[(*nsel)++] = i;
        return 0;
    }
    if (!strcasecmp(spec, "cpu") || !strcasecmp(spec, "gpu")) {
        cl_device_type t = !strcasecmp(spec, "cpu") ? CL_DEVICE_TYPE_CPU : CL_DEVICE_TYPE_GPU;
        if (select_by_type(t, all, count, sel, max_sel, nsel) == 0) return 0;
        snprintf(err, errlen, "--device %s: there is no %s device; the devices are %s", spec, spec, there);
        return -1;
    }
    /* index or comma list of indices */
    int numeric = 1;
    for (const char *c = spec; *c; c++)
        if (!isdigit((unsigned char)*c) && *c != ',' && !isspace((unsigned char)*c)) numeric = 0;
    if (numeric) {
        const char *c = spec;
        while (*c) {
            while (*c == ',' || isspace((unsigned char)*c))
                c++;
            if (!*c) break;
            char *end;
            long v = strtol(c, &end, 10);
            if (end == c || v < 0 || v >= count) {
                snprintf(err, errlen, "--device %s: there is no device %.*s; the devices are %s", spec,
                         (int)(end > c ? end - c : 1), c, there);
                *nsel = 0;
                return -1;
            }
            if (add_selected((int)v, sel, max_sel, nsel) != 0) break;
            c = end;
        }
        if (*nsel == 0) {
            snprintf(err, errlen, "--device %s names no device; the devices are %s", spec, there);
            return -1;
        }
        return 0;
    }
    for (int i = 0; i < count; i++)
        if (strcasestr(all[i].name, spec) || strcasestr(all[i].platform_name, spec))
            add_selected(i, sel, max_sel, nsel);
    if (*nsel) return 0;
    snprintf(err, errlen, "--device %s: no device's name contains \"%s\"; the devices are %s", spec, spec,
             there);
    return -1;
}

int device_tuning_off(void)
{
    const char *off = getenv("CLTRAIN_NO_TUNE");
    return off && *off && strcmp(off, "0") != 0;
}

/* The launch choices `cltrain tune` stored for this device, else the defaults; a file that cannot be
 * used costs one warning, never the run. */
static void launch_apply(device_ctx *d)
{
    launch_defaults(&d->launch);
    if (device_tuning_off()) return;
    char why[512], path[1200];
    if (launch_load(&d->info, &d->launch, why, sizeof why) < 0) {
        launch_file_path(&d->info, path, sizeof path);
        fprintf(stderr, "cltrain: warning: ignoring tuned launch choices in %s: %s\n", path, why);
    }
}

device_ctx *device_open(const device_info *info, char *err, size_t errlen)
{
    device_ctx *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of host memory opening device %d", info->index);
        return NULL;
    }
    d->info = *info;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)info->platform, 0};
    cl_int st;
    d->context = clCreateContext(props, 1, &info->id, NULL, NULL, &st);
    if (st != CL_SUCCESS) {
        snprintf(err, errlen, "creating an OpenCL context on device %d (%s) failed: %s", info->index,
                 info->name, device_cl_error(st));
        free(d);
        return NULL;
    }
    d->queue = clCreateCommandQueue(d->context, info->id, 0, &st);
    if (st != CL_SUCCESS) {
        snprintf(err, errlen, "creating a command queue on device %d (%s) failed: %s", info->index,
                 info->name, device_cl_error(st));
        clReleaseContext(d->context);
        free(d);
        return NULL;
    }
    tune_apply(d); /* the CLBlast GEMM parameters `cltrain tune` stored for this device, if any */
    launch_apply(d);
    return d;
}

void device_close(device_ctx *d)
{
    if (!d) return;
    if (d->queue) clFinish(d->queue);
    device_release_programs(d);
    if (d->workspace) clReleaseMemObject(d->workspace);
    if (d->queue) clReleaseCommandQueue(d->queue);
    if (d->context) clReleaseContext(d->context);
    free(d);
}

int device_fail(device_ctx *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
    return -1;
}

int device_check(device_ctx *d, cl_int status, const char *what)
{
    if (status == CL_SUCCESS) return 0;
    return device_fail(d, "%s on device %d (%s) failed: %s", what, d->info.index, d->info.name,
                       device_cl_error(status));
}

cl_mem device_alloc(device_ctx *d, size_t bytes, const char *what)
{
    if (bytes == 0) bytes = 4;
    if (bytes > d->info.max_alloc) {
        device_fail(d, "%s needs %.1f MiB in one buffer, more than device %d (%s) allows (%.1f MiB)", what,
                    bytes / 1048576.0, d->info.index, d->info.name, d->info.max_alloc / 1048576.0);
        return NULL;
    }
    cl_int st;
    cl_mem m = clCreateBuffer(d->context, CL_MEM_READ_WRITE, bytes, NULL, &st);
    if (st != CL_SUCCESS) {
        device_fail(d, "allocating %.1f MiB for %s on device %d (%s) failed: %s", bytes / 1048576.0, what,
                    d->info.index, d->info.name, device_cl_error(st));
        return NULL;
    }
    return m;
}

cl_mem device_workspace(device_ctx *d, size_t bytes)
{
    if (d->workspace && d->workspace_bytes >= bytes) return d->workspace;
    if (d->workspace) {
        clFinish(d->queue);
        clReleaseMemObject(d->workspace);
        d->workspace = NULL;
        d->workspace_bytes = 0;
    }
    d->workspace = device_alloc(d, bytes, "the op workspace");
    if (d->workspace) d->workspace_bytes = bytes;
    return d->workspace;
}

int device_write(device_ctx *d, cl_mem buf, size_t offset, size_t bytes, const void *src)
{
    if (bytes == 0) return 0;
    return device_check(d, clEnqueueWriteBuffer(d->queue, buf, CL_TRUE, offset, bytes, src, 0, NULL, NULL),
                        "writing a buffer");
}

int device_read(device_ctx *d, cl_mem buf, size_t offset, size_t bytes, void *dst)
{
    if (bytes == 0) return 0;
    return device_check(d, clEnqueueReadBuffer(d->queue, buf, CL_TRUE, offset, bytes, dst, 0, NULL, NULL),
                        "reading a buffer");
}

int device_fill(device_ctx *d, cl_mem buf, float value, size_t offset_floats, size_t count)
{
    if (count == 0) return 0;
    return device_check(d,
                        clEnqueueFillBuffer(d->queue, buf, &value, sizeof value,
                                            offset_floats * sizeof(float), count * sizeof(float), 0, NULL,
                                            NULL),
                        "filling a buffer");
}

int device_run(device_ctx *d, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
               const char *what)
{
    size_t items = 1, most = 0;
    for (cl_uint i = 0; i < dims; i++) {
        if (global[i] == 0) return 0;
        items *= local ? local[i] : 1;
    }
    /* A group larger than this kernel takes (a GPU caps it by the kernel's registers, below the
     * device's maximum that launch choices are clamped to) runs with the driver's choice instead of
     * failing: every kernel guards its range, so any group size gives the same result. The query
     * costs ~13 ns on PoCL, nothing beside a launch. */
    if (local &&
        clGetKernelWorkGroupInfo(k, d->info.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, NULL) ==
            CL_SUCCESS &&
        items > most)
        local = NULL;
    return device_check(d, clEnqueueNDRangeKernel(d->queue, k, dims, NULL, global, local, 0, NULL, NULL),
                        what);
}

int device_run_1d(device_ctx *d, cl_kernel k, size_t n, const char *what)
{
    int wg = d->launch.v[LAUNCH_WG_1D];
    if (wg < 0) return device_run(d, k, 1, &n, NULL, what); /* the driver's choice */
    size_t local = (size_t)wg < d->info.max_work_group ? (size_t)wg : d->info.max_work_group;
    size_t global = (n + local - 1) / local * local;
    return device_run(d, k, 1, &global, &local, what);
}
