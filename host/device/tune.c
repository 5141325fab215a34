/* tune.c: tuned CLBlast GEMM parameters as data: which sets are valid on a device, the per-device
 * JSON file beside the kernel cache, and installing a set with CLBlastOverrideParameters. The
 * search that produces a set is tune_search.c.
 *
 * CLBlastOverrideParameters replaces CLBlast's database entry for (device, precision, kernel) for
 * the rest of the process; the GEMM program is keyed by all its parameter values, so the next
 * SGEMM compiles a new one. Nothing is ever half applied from a bad file: the whole file is checked
 * (identity, names, values, constraints) before the first override. */
#include "cltrain/tune.h"
#include "internal.h"

#include <clblast_c.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const tune_xgemm_names[TUNE_XGEMM_N] = {"GEMMK", "KREG",  "KWG",   "KWI", "MDIMA", "MDIMC",
                                                    "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                                    "STRM",  "STRN",  "VWM",   "VWN"};
const char *const tune_direct_names[TUNE_DIRECT_N] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                                      "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};

static const char FILE_FORMAT[] = "cltrain-clblast-parameters";
#define FILE_VERSION 1
/* the parameter names and their meaning belong to one CLBlast version */
#define CLBLAST_VERSION_STRING_(a, b, c) #a "." #b "." #c
#define CLBLAST_VERSION_STRING(a, b, c) CLBLAST_VERSION_STRING_(a, b, c)
static const char CLBLAST_VERSION[] =
    CLBLAST_VERSION_STRING(CLBLAST_VERSION_MAJOR, CLBLAST_VERSION_MINOR, CLBLAST_VERSION_PATCH);
/* no real parameter comes near this; larger values in a file mean it is not ours */
#define MAX_VALUE 65536

/* Records why a set is invalid and returns 0 (invalid), so checks read `return say(...)`. */
__attribute__((format(printf, 3, 4))) static int say(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int multiple(size_t x, size_t of)
{
    return of != 0 && x % of == 0;
}

static int vector_width(size_t v)
{
    return v == 1 || v == 2 || v == 4 || v == 8 || v == 16;
}

int tune_xgemm_valid(const size_t *v, const device_info *info, char *why, size_t whylen)
{
    for (int i = 0; i < TUNE_XGEMM_N; i++) {
        if (v[i] > MAX_VALUE) return say(why, whylen, "%s=%zu is out of range", tune_xgemm_names[i], v[i]);
        if (i >= TUNE_SA && i <= TUNE_STRN && v[i] > 1)
            return say(why, whylen, "%s=%zu is neither 0 nor 1", tune_xgemm_names[i], v[i]);
        if (i != TUNE_GEMMK && (i < TUNE_SA || i > TUNE_STRN) && v[i] == 0)
            return say(why, whylen, "%s is 0", tune_xgemm_names[i]);
    }
    if (v[TUNE_GEMMK] > 1) return say(why, whylen, "GEMMK=%zu is neither 0 nor 1", v[TUNE_GEMMK]);
    if (!vector_width(v[TUNE_VWM]) || !vector_width(v[TUNE_VWN]))
        return say(why, whylen, "vector widths VWM=%zu, VWN=%zu are not 1, 2, 4, 8 or 16", v[TUNE_VWM],
                   v[TUNE_VWN]);
    size_t mwg = v[TUNE_MWG], nwg = v[TUNE_NWG], kwg = v[TUNE_KWG];
    size_t mdimc = v[TUNE_MDIMC], ndimc = v[TUNE_NDIMC], mdima = v[TUNE_MDIMA], ndimb = v[TUNE_NDIMB];
    size_t threads = mdimc * ndimc;
    /* the kernels split tiles among threads and vector lanes without remainders */
    if (!multiple(kwg, v[TUNE_KWI]))
        return say(why, whylen, "KWG=%zu is not a multiple of KWI=%zu", kwg, v[TUNE_KWI]);
    if (!multiple(mwg, mdimc * v[TUNE_VWM]) || !multiple(mwg, mdima * v[TUNE_VWM]))
        return say(why, whylen, "MWG=%zu is not a multiple of MDIMC*VWM and MDIMA*VWM", mwg);
    if (!multiple(nwg, ndimc * v[TUNE_VWN]) || !multiple(nwg, ndimb * v[TUNE_VWN]))
        return say(why, whylen, "NWG=%zu is not a multiple of NDIMC*VWN and NDIMB*VWN", nwg);
    if (v[TUNE_GEMMK] == 0) {
        if (v[TUNE_KREG] != 1) return say(why, whylen, "KREG=%zu must be 1 with GEMMK=0", v[TUNE_KREG]);
        /* each thread loads its share of the A and B tiles: KWG divisible by MDIMC*NDIMC/MDIMA, /NDIMB */
        if (threads % mdima || threads % ndimb || !multiple(kwg, threads / mdima) ||
            !multiple(kwg, threads / ndimb))
            return say(why, whylen, "KWG=%zu does not split among MDIMC*NDIMC=%zu threads", kwg, threads);
    } else {
        if (kwg != 1 || v[TUNE_KWI] != 1 || mdima != mdimc || ndimb != ndimc || v[TUNE_SA] || v[TUNE_SB] ||
            v[TUNE_STRM] || v[TUNE_STRN])
            return say(why, whylen, "GEMMK=1 needs KWG=KWI=1, MDIMA=MDIMC, NDIMB=NDIMC, SA=SB=STRM=STRN=0");
        if (!multiple(v[TUNE_KREG], v[TUNE_VWN]))
            return say(why, whylen, "KREG=%zu is not a multiple of VWN=%zu", v[TUNE_KREG], v[TUNE_VWN]);
#if CLBLAST_VERSION_MAJOR * 10000 + CLBLAST_VERSION_MINOR * 100 + CLBLAST_VERSION_PATCH < 10603
        /* before 1.6.3 CLBlast sizes the GEMMK=1 grid with MWG and NWG swapped (fixed by its PR #543):
         * unless they are equal, the kernel reads and writes out of bounds */
        if (mwg != nwg)
            return say(why, whylen, "GEMMK=1 needs MWG=NWG with CLBlast before 1.6.3 (MWG=%zu, NWG=%zu)", mwg,
                       nwg);
#endif
    }
    if (info) {
        if (threads > info->max_work_group)
            return say(why, whylen, "work groups of MDIMC*NDIMC=%zu exceed the device's %zu", threads,
                       info->max_work_group);
        size_t local = 4 * (v[TUNE_SA] * kwg * mwg + v[TUNE_SB] * kwg * nwg);
        if (local > info->local_mem)
            return say(why, whylen, "%zu bytes of local memory exceed the device's %zu", local,
                       (size_t)info->local_mem);
    }
    return 1;
}

int tune_direct_valid(const size_t *v, const device_info *info, char *why, size_t whylen)
{
    for (int i = 0; i < TUNE_DIRECT_N; i++) {
        if (v[i] > MAX_VALUE) return say(why, whylen, "%s=%zu is out of range", tune_direct_names[i], v[i]);
        if (i != TUNE_PADA && i != TUNE_PADB && v[i] == 0)
            return say(why, whylen, "%s is 0", tune_direct_names[i]);
    }
    if (v[TUNE_PADA] > 1 || v[TUNE_PADB] > 1) return say(why, whylen, "PADA and PADB must be 0 or 1");
    if (!vector_width(v[TUNE_VWMD]) || !vector_width(v[TUNE_VWND]))
        return say(why, whylen, "vector widths VWMD=%zu, VWND=%zu are not 1, 2, 4, 8 or 16", v[TUNE_VWMD],
                   v[TUNE_VWND]);
    size_t wgd = v[TUNE_WGD], mdimcd = v[TUNE_MDIMCD], ndimcd = v[TUNE_NDIMCD];
    size_t mdimad = v[TUNE_MDIMAD], ndimbd = v[TUNE_NDIMBD], threads = mdimcd * ndimcd;
    if (!multiple(wgd, v[TUNE_KWID]))
        return say(why, whylen, "WGD=%zu is not a multiple of KWID=%zu", wgd, v[TUNE_KWID]);
    if (!multiple(wgd, mdimcd * v[TUNE_VWMD]) || !multiple(wgd, mdimad * v[TUNE_VWMD]) ||
        !multiple(wgd, ndimcd * v[TUNE_VWND]) || !multiple(wgd, ndimbd * v[TUNE_VWND]))
        return say(why, whylen, "WGD=%zu does not split into threads times vector widths", wgd);
    if (threads % mdimad || threads % ndimbd || !multiple(wgd, threads / mdimad) ||
        !multiple(wgd, threads / ndimbd))
        return say(why, whylen, "WGD=%zu does not split among MDIMCD*NDIMCD=%zu threads", wgd, threads);
    if (info) {
        if (threads > info->max_work_group)
            return say(why, whylen, "work groups of MDIMCD*NDIMCD=%zu exceed the device's %zu", threads,
                       info->max_work_group);
        size_t local = 4 * (wgd * (wgd + v[TUNE_PADA]) + wgd * (wgd + v[TUNE_PADB]));
        if (local > info->local_mem)
            return say(why, whylen, "%zu bytes of local memory exceed the device's %zu", local,
                       (size_t)info->local_mem);
    }
    return 1;
}

void tune_format(char *out, size_t len, int direct, const size_t *values)
{
    const char *const *names = direct ? tune_direct_names : tune_xgemm_names;
    int n = direct ? TUNE_DIRECT_N : TUNE_XGEMM_N;
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s=%zu", i ? " " : "", names[i], values[i]);
}

int tune_install(device_ctx *d, const tune_params *p)
{
    struct {
        int on;
        const char *kernel;
        const char *const *names;
        const size_t *values;
        size_t n;
    } sets[] = {
        {p->has_xgemm, "Xgemm", tune_xgemm_names, p->xgemm, TUNE_XGEMM_N},
        {p->has_direct, "XgemmDirect", tune_direct_names, p->direct, TUNE_DIRECT_N},
        {p->has_min_indirect, "GemmRoutine", (const char *const[]){"XGEMM_MIN_INDIRECT_SIZE"},
         &p->min_indirect, 1},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!sets[i].on) continue;
        CLBlastStatusCode st =
            CLBlastOverrideParameters(d->info.id, sets[i].kernel, CLBlastPrecisionSingle, sets[i].n,
                                      (const char **)sets[i].names, sets[i].values);
        if (st != CLBlastSuccess)
            return device_fail(d, "installing CLBlast's %s parameters on device %d (%s) failed: %s",
                               sets[i].kernel, d->info.index, d->info.name, device_clblast_error(st));
    }
    return 0;
}

/* ---- the file ---- */

void tune_file_path(const device_info *info, char *out, size_t len)
{
    device_cache_file(info, "clblast", out, len);
}

static cJSON *kernel_object(const char *const *names, const size_t *values, int n)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++)
        if (!cJSON_AddNumberToObject(o, names[i], (double)values[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

static cJSON *measurements(const tune_result *r, const tune_space *s)
{
    cJSON *m = cJSON_CreateObject();
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON_AddStringToObject(m, "date", date);
    cJSON_AddNumberToObject(m, "geomean_speedup", r->speedup);
    cJSON *arr = cJSON_AddArrayToObject(m, "shapes");
    for (int i = 0; arr && s && i < s->nshapes && i < TUNE_MAX_SHAPES; i++) {
        const tune_shape *sh = &s->shapes[i];
        double flop = 2.0 * (double)sh->m * (double)sh->n * (double)sh->k;
        char name[96];
        snprintf(name, sizeof name, "%c%c %zux%zux%zu", sh->ta, sh->tb, sh->m, sh->n, sh->k);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "shape", name);
        cJSON_AddStringToObject(e, "what", sh->what ? sh->what : "");
        cJSON_AddNumberToObject(e, "before_gflops",
                                r->before_s[i] > 0 ? round(flop / r->before_s[i] / 1e7) / 100 : 0);
        cJSON_AddNumberToObject(e, "after_gflops",
                                r->after_s[i] > 0 ? round(flop / r->after_s[i] / 1e7) / 100 : 0);
        cJSON_AddItemToArray(arr, e);
    }
    return m;
}

int tune_store(const device_info *info, const tune_params *p, const tune_result *r, const tune_space *s,
               char *err, size_t errlen)
{
    char path[1200];
    tune_file_path(info, path, sizeof path);
    if (!path[0]) {
        snprintf(err, errlen,
                 "the kernel cache is disabled (CLTRAIN_NO_CACHE), so tuned parameters cannot be stored");
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *kernels = root ? cJSON_CreateObject() : NULL;
    if (!kernels) {
        cJSON_Delete(root);
        snprintf(err, errlen, "out of host memory writing %s", path);
        return -1;
    }
    cJSON_AddStringToObject(root, "format", FILE_FORMAT);
    cJSON_AddNumberToObject(root, "version", FILE_VERSION);
    cJSON_AddStringToObject(root, "clblast", CLBLAST_VERSION);
    device_identity_add(root, info);
    cJSON_AddItemToObject(root, "kernels", kernels);
    if (p->has_xgemm)
        cJSON_AddItemToObject(kernels, "Xgemm", kernel_object(tune_xgemm_names, p->xgemm, TUNE_XGEMM_N));
    if (p->has_direct)
        cJSON_AddItemToObject(kernels, "XgemmDirect",
                              kernel_object(tune_direct_names, p->direct, TUNE_DIRECT_N));
    if (p->has_min_indirect) {
        const char *name = "XGEMM_MIN_INDIRECT_SIZE";
        cJSON_AddItemToObject(kernels, "GemmRoutine", kernel_object(&name, &p->min_indirect, 1));
    }
    if (r) cJSON_AddItemToObject(root, "measured", measurements(r, s));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "out of host memory writing %s", path);
        return -1;
    }
    int rc = device_cache_write(path, text, err, errlen);
    free(text);
    return rc;
}

static int bad(char *why, size_t len, const char *text)
{
    if (why && len) snprintf(why, len, "%s", text);
    return -1;
}

/* Reads the parameters of one kernel; every name must be there, as a whole number in range. */
static int read_kernel(const cJSON *kernels, const char *kernel, const char *const *names, size_t *values,
                       int n, int *has, char *why, size_t len)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(kernels, kernel);
    if (!o) return 0;
    if (!cJSON_IsObject(o)) {
        if (why) snprintf(why, len, "\"%s\" is not an object", kernel);
        return -1;
    }
    if (cJSON_GetArraySize(o) != n) {
        if (why)
            snprintf(why, len, "\"%s\" has %d parameters, CLBlast %s expects %d", kernel,
                     cJSON_GetArraySize(o), CLBLAST_VERSION, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_VALUE ||
            v->valuedouble != floor(v->valuedouble)) {
            if (why)
                snprintf(why, len, "%s.%s is %s", kernel, names[i],
                         v ? "not a whole number in range" : "missing");
            return -1;
        }
        values[i] = (size_t)v->valuedouble;
    }
    *has = 1;
    return 0;
}

static int same_string(const cJSON *root, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) && !strcmp(v->valuestring, want);
}

static int parse_file(const char *text, const device_info *info, tune_params *p, char *why, size_t len)
{
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(why, len, "it is not JSON");
    }
    int rc = -1;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(root, "kernels");
    static const char *const known[] = {"Xgemm", "XgemmDirect", "GemmRoutine"};
    const char *min_name = "XGEMM_MIN_INDIRECT_SIZE";
    if (!same_string(root, "format", FILE_FORMAT) || !cJSON_IsNumber(ver) || ver->valueint != FILE_VERSION) {
        bad(why, len, "it is not a cltrain parameter file of this version");
    } else if (!same_string(root, "clblast", CLBLAST_VERSION)) {
        snprintf(why, len, "it was tuned for another CLBlast version (this is %s); run `cltrain tune` again",
                 CLBLAST_VERSION);
    } else if (!device_identity_same(root, info)) {
        bad(why, len, "it belongs to another device or driver");
    } else if (!cJSON_IsObject(kernels)) {
        bad(why, len, "it has no \"kernels\" object");
    } else {
        rc = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, kernels)
        {
            int ok = 0;
            for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                ok |= k->string && !strcmp(k->string, known[i]);
            if (!ok) {
                snprintf(why, len, "it names an unknown CLBlast kernel \"%s\"", k->string ? k->string : "");
                rc = -1;
                break;
            }
        }
        if (rc == 0)
            rc = read_kernel(kernels, "Xgemm", tune_xgemm_names, p->xgemm, TUNE_XGEMM_N, &p->has_xgemm, why,
                             len);
        if (rc == 0)
            rc = read_kernel(kernels, "XgemmDirect", tune_direct_names, p->direct, TUNE_DIRECT_N,
                             &p->has_direct, why, len);
        if (rc == 0)
            rc = read_kernel(kernels, "GemmRoutine", &min_name, &p->min_indirect, 1, &p->has_min_indirect,
                             why, len);
        char reason[200];
        if (rc == 0 && p->has_xgemm && !tune_xgemm_valid(p->xgemm, info, reason, sizeof reason)) {
            snprintf(why, len, "its Xgemm set is invalid here: %s", reason);
            rc = -1;
        }
        if (rc == 0 && p->has_direct && !tune_direct_valid(p->direct, info, reason, sizeof reason)) {
            snprintf(why, len, "its XgemmDirect set is invalid here: %s", reason);
            rc = -1;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int tune_load(const device_info *info, tune_params *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    char path[1200];
    tune_file_path(info, path, sizeof path);
    if (!path[0]) return 0;
    int missing;
    char *text = device_cache_read(path, &missing);
    if (!text) return missing ? 0 : bad(why, whylen, "it cannot be read");
    int rc = parse_file(text, info, p, why, whylen);
    free(text);
    if (rc != 0) memset(p, 0, sizeof *p);
    return rc == 0 ? 1 : -1;
}

int tune_apply(device_ctx *d)
{
    if (device_tuning_off()) return 0;
    tune_params p;
    char why[512], path[1200];
    int rc = tune_load(&d->info, &p, why, sizeof why);
    if (rc == 0) return 0;
    tune_file_path(&d->info, path, sizeof path);
    if (rc < 0) {
        fprintf(stderr, "cltrain: warning: ignoring tuned GEMM parameters in %s: %s\n", path, why);
        return 0;
    }
    if (tune_install(d, &p) != 0) {
        fprintf(stderr, "cltrain: warning: %s (from %s)\n", d->error, path);
        d->error[0] = '\0';
        return 0;
    }
    return p.has_xgemm + p.has_direct + p.has_min_indirect;
}
