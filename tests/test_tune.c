/* test_tune.c: tuned CLBlast GEMM parameters: the per-device file (round trip, bad files ignored),
 * installing a set (CLBlast really recompiles, results stay right), a tiny tuning run, the default
 * search space, and `cltrain tune`'s usage errors.
 *
 * Every new parameter set costs a CLBlast compile (~8 s under PoCL the first time, then PoCL's own
 * cache makes it fast), so the tests share three small sets. CLBlast's overrides last for the whole
 * process, so the test that needs a fresh CLBlast state runs first (Check forks each test anyway). */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cltrain/tune.h"
/* the subcommand is not in the library; it only needs the library, so it is compiled in here */
#include "../host/cli/tune.c"

/* GEMMK=1, 8x8 threads, 32x32 tiles; GEMMK=0 with small tiles; a direct set */
static const size_t SET_K1[TUNE_XGEMM_N] = {1, 4, 1, 1, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 2, 2};
static const size_t SET_K0[TUNE_XGEMM_N] = {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 2, 2};
static const size_t SET_DIRECT[TUNE_DIRECT_N] = {2, 8, 8, 8, 8, 1, 1, 2, 2, 16};

static char cache_dir[256];

/* A fresh cache directory per test, so nothing stored by a user or another test is seen. */
static void setup(void)
{
    tu_private_cache(cache_dir, sizeof cache_dir, "tune-test");
}

static void teardown(void)
{
    tu_remove_tree(cache_dir);
}

static tune_params sample_params(void)
{
    tune_params p;
    memset(&p, 0, sizeof p);
    p.has_xgemm = p.has_direct = p.has_min_indirect = 1;
    memcpy(p.xgemm, SET_K1, sizeof p.xgemm);
    memcpy(p.direct, SET_DIRECT, sizeof p.direct);
    p.min_indirect = 16;
    return p;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static cl_uint context_refs(device_ctx *d)
{
    cl_uint refs = 0;
    ck_assert_int_eq(clGetContextInfo(d->context, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    return refs;
}

/* Row-major C = op(A) op(B) on the device vs a double-precision reference; returns the error. */
static double gemm_error(device_ctx *d, char ta, char tb, size_t m, size_t n, size_t k, uint64_t seed)
{
    float *a = tu_alloc(m * k * sizeof *a), *b = tu_alloc(k * n * sizeof *b);
    double *ref = tu_alloc(m * n * sizeof *ref);
    tu_fill_uniform(a, m * k, -1.0f, 2.0f, seed);
    tu_fill_uniform(b, k * n, 0.25f, 1.25f, seed + 1);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++)
                s += (double)(ta == 'T' ? a[p * m + i] : a[i * k + p]) *
                     (double)(tb == 'T' ? b[j * k + p] : b[p * n + j]);
            ref[i * n + j] = s;
        }
    cl_mem da = tu_upload(d, a, m * k), db = tu_upload(d, b, k * n);
    cl_mem dc = device_alloc(d, m * n * sizeof(float), "C");
    ck_assert_msg(dc != NULL, "%s", d->error);
    CLBlastStatusCode st =
        CLBlastSgemm(CLBlastLayoutRowMajor, ta == 'T' ? CLBlastTransposeYes : CLBlastTransposeNo,
                     tb == 'T' ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 1.0f, da, 0,
                     ta == 'T' ? m : k, db, 0, tb == 'T' ? k : n, 0.0f, dc, 0, n, &d->queue, NULL);
    ck_assert_msg(st == CLBlastSuccess, "CLBlastSgemm: %s", device_clblast_error(st));
    float *c = tu_download(d, dc, m * n);
    double err = tu_max_rel_err(c, ref, m * n);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(c);
    free(ref);
    return err;
}

START_TEST(applied_parameters_change_what_clblast_runs)
{
    device_ctx *d = tu_device();
    /* with CLBlast's own parameters first, so the program it builds now is the default one */
    ck_assert_double_le(gemm_error(d, 'N', 'N', 67, 45, 33, 1), 1e-4);
    cl_uint before = context_refs(d);
    tune_params p = sample_params();
    p.has_direct = 0;
    char err[256];
    ck_assert_msg(tune_store(&d->info, &p, NULL, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(tune_apply(d), 2);
    /* 67*45*33 > 16^3, so these run the indirect path with SET_K1; odd sizes exercise padding */
    static const char ops[][2] = {{'N', 'N'}, {'N', 'T'}, {'T', 'N'}, {'T', 'T'}};
    for (int o = 0; o < 4; o++) {
        double e = gemm_error(d, ops[o][0], ops[o][1], 67, 45, 33, 10 + (uint64_t)o);
        ck_assert_msg(e <= 1e-4, "%c%c: relative error %g", ops[o][0], ops[o][1], e);
    }
    /* CLBlast keeps each program it builds (holding a context reference): one more program means
     * the override took effect, and no more after that means it is built once, not per call */
    cl_uint after = context_refs(d);
    ck_assert_uint_eq(after, before + 1);
    ck_assert_double_le(gemm_error(d, 'N', 'N', 7, 5, 3, 20), 1e-4);
    ck_assert_double_le(gemm_error(d, 'N', 'N', 1, 1, 1, 21), 1e-4);
    ck_assert_uint_eq(context_refs(d), after);
    ck_assert_msg(tune_verify(d) == 0, "%s", d->error);
    /* CLTRAIN_NO_TUNE leaves CLBlast alone */
    setenv("CLTRAIN_NO_TUNE", "1", 1);
    ck_assert_int_eq(tune_apply(d), 0);
}
END_TEST

START_TEST(store_load_round_trip)
{
    device_ctx *d = tu_device();
    tune_params p = sample_params(), q;
    char err[256], why[256], path[1200];
    ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), 0); /* nothing stored yet */
    ck_assert_msg(tune_store(&d->info, &p, NULL, NULL, err, sizeof err) == 0, "%s", err);
    tune_file_path(&d->info, path, sizeof path);
    ck_assert_msg(strncmp(path, cache_dir, strlen(cache_dir)) == 0 && strstr(path, "/clblast-") &&
                      strstr(path, ".json"),
                  "%s", path);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), 1);
    ck_assert_mem_eq(&p, &q, sizeof p);
    /* a set with only some kernels keeps the others at CLBlast's values */
    p.has_direct = p.has_min_indirect = 0;
    memcpy(p.xgemm, SET_K0, sizeof p.xgemm);
    ck_assert_msg(tune_store(&d->info, &p, NULL, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), 1);
    ck_assert_int_eq(q.has_direct + q.has_min_indirect, 0);
    ck_assert_mem_eq(q.xgemm, SET_K0, sizeof q.xgemm);
    /* the key: another device, or another driver version, has its own file */
    device_info other = d->info;
    char path2[1200];
    other.name[0] ^= 1; /* any other name */
    tune_file_path(&other, path2, sizeof path2);
    ck_assert_str_ne(path, path2);
    ck_assert_int_eq(tune_load(&other, &q, why, sizeof why), 0);
    other = d->info;
    other.driver_version[0] ^= 1;
    tune_file_path(&other, path2, sizeof path2);
    ck_assert_str_ne(path, path2);
    /* no cache, no file: nothing loaded, and storing says why */
    setenv("CLTRAIN_NO_CACHE", "1", 1);
    tune_file_path(&d->info, path2, sizeof path2);
    ck_assert_str_eq(path2, "");
    ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), 0);
    ck_assert_int_eq(tune_store(&d->info, &p, NULL, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "CLTRAIN_NO_CACHE") != NULL, "%s", err);
    unsetenv("CLTRAIN_NO_CACHE");
}
END_TEST

/* Rewrites one field of a stored file through cJSON. */
static char *edited(const char *good, const char *kernel, const char *key, cJSON *value)
{
    cJSON *root = cJSON_Parse(good);
    ck_assert_ptr_nonnull(root);
    cJSON *obj = kernel ? cJSON_GetObjectItem(cJSON_GetObjectItem(root, "kernels"), kernel) : root;
    ck_assert_ptr_nonnull(obj);
    if (value)
        cJSON_ReplaceItemInObject(obj, key, value);
    else
        cJSON_DeleteItemFromObject(obj, key);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

START_TEST(bad_files_are_ignored)
{
    device_ctx *d = tu_device();
    tune_params p = sample_params(), q;
    char err[256], why[256], path[1200];
    ck_assert_msg(tune_store(&d->info, &p, NULL, NULL, err, sizeof err) == 0, "%s", err);
    tune_file_path(&d->info, path, sizeof path);
    char *good = strdup(read_text(path));
    char *half = strdup(good);
    half[strlen(half) / 2] = '\0';
    struct {
        char *text;
        const char *reason;
    } cases[] = {
        {strdup("garbage\x01\x02"), "not JSON"},
        {strdup(""), "not JSON"},
        {half, "not JSON"},
        {strdup("[1, 2, 3]"), "not JSON"},
        {edited(good, NULL, "format", cJSON_CreateString("something-else")), "not a cltrain parameter file"},
        {edited(good, NULL, "version", cJSON_CreateNumber(99)), "not a cltrain parameter file"},
        {edited(good, NULL, "clblast", cJSON_CreateString("0.1.0")), "another CLBlast version"},
        {edited(good, NULL, "device", cJSON_CreateString("Some GPU")), "another device"},
        {edited(good, NULL, "driver", cJSON_CreateString("0.0")), "another device"},
        {edited(good, NULL, "kernels", cJSON_CreateString("x")), "no \"kernels\""},
        {edited(good, "Xgemm", "MWG", NULL), "Xgemm"},
        {edited(good, "Xgemm", "MWG", cJSON_CreateNumber(24)), "MWG=24"},
        {edited(good, "Xgemm", "MDIMC", cJSON_CreateNumber(-8)), "Xgemm.MDIMC"},
        {edited(good, "Xgemm", "KREG", cJSON_CreateNumber(2.5)), "Xgemm.KREG"},
        {edited(good, "Xgemm", "VWM", cJSON_CreateString("4")), "Xgemm.VWM"},
        {edited(good, "Xgemm", "NWG", cJSON_CreateNumber(1e12)), "Xgemm.NWG"},
        {edited(good, "XgemmDirect", "WGD", cJSON_CreateNumber(12)), "XgemmDirect"},
        {edited(good, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE", cJSON_CreateBool(1)),
         "XGEMM_MIN_INDIRECT_SIZE"},
        {edited(good, NULL, "kernels", cJSON_Parse("{\"Xgemv\": {\"WGS\": 64}}")), "unknown CLBlast kernel"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ptr_nonnull(cases[i].text);
        write_text(path, cases[i].text);
        why[0] = '\0';
        ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), -1);
        ck_assert_msg(strstr(why, cases[i].reason) != NULL, "case %zu: \"%s\" does not mention \"%s\"", i,
                      why, cases[i].reason);
        ck_assert_int_eq(q.has_xgemm + q.has_direct + q.has_min_indirect, 0);
        /* never fatal: tune_apply warns and installs nothing */
        ck_assert_int_eq(tune_apply(d), 0);
        free(cases[i].text);
    }
    /* a set valid in general but not on a device with less local memory than it needs */
    write_text(path, good);
    device_info small = d->info;
    p.xgemm[TUNE_GEMMK] = 0;
    memcpy(p.xgemm, SET_K0, sizeof p.xgemm);
    p.xgemm[TUNE_SA] = p.xgemm[TUNE_SB] = 1;
    ck_assert_msg(tune_store(&d->info, &p, NULL, NULL, err, sizeof err) == 0, "%s", err);
    small.local_mem = 1024;
    ck_assert_int_eq(tune_load(&small, &q, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "local memory") != NULL, "%s", why);
    free(good);
}
END_TEST

START_TEST(validity_rules)
{
    device_info info = tu_device()->info;
    char why[256];
    size_t v[TUNE_XGEMM_N];
    ck_assert_int_eq(tune_xgemm_valid(SET_K1, &info, why, sizeof why), 1);
    ck_assert_int_eq(tune_xgemm_valid(SET_K0, &info, why, sizeof why), 1);
    ck_assert_int_eq(tune_direct_valid(SET_DIRECT, &info, why, sizeof why), 1);
    struct {
        int at;
        size_t value;
        const char *reason;
    } bad0[] = {
        {TUNE_GEMMK, 2, "GEMMK"},  {TUNE_MWG, 24, "MWG"},  {TUNE_NWG, 8, "NWG"},    {TUNE_KWG, 4, "KWG"},
        {TUNE_KWI, 0, "KWI is 0"}, {TUNE_KREG, 2, "KREG"}, {TUNE_VWM, 3, "vector"}, {TUNE_SA, 2, "SA"},
    };
    for (size_t i = 0; i < sizeof bad0 / sizeof bad0[0]; i++) {
        memcpy(v, SET_K0, sizeof v);
        v[bad0[i].at] = bad0[i].value;
        ck_assert_int_eq(tune_xgemm_valid(v, &info, why, sizeof why), 0);
        ck_assert_msg(strstr(why, bad0[i].reason) != NULL, "%s", why);
    }
    memcpy(v, SET_K1, sizeof v);
    v[TUNE_MDIMA] = 16; /* GEMMK=1 needs MDIMA == MDIMC */
    ck_assert_int_eq(tune_xgemm_valid(v, &info, why, sizeof why), 0);
    memcpy(v, SET_K1, sizeof v);
    v[TUNE_KREG] = 1; /* not a multiple of VWN=2 */
    ck_assert_int_eq(tune_xgemm_valid(v, &info, why, sizeof why), 0);
#if CLBLAST_VERSION_MAJOR * 10000 + CLBLAST_VERSION_MINOR * 100 + CLBLAST_VERSION_PATCH < 10603
    memcpy(v, SET_K1, sizeof v);
    v[TUNE_NWG] = 64; /* this CLBlast mis-sizes GEMMK=1 grids unless MWG == NWG */
    ck_assert_int_eq(tune_xgemm_valid(v, &info, why, sizeof why), 0);
    ck_assert_msg(strstr(why, "MWG=NWG") != NULL, "%s", why);
#endif
    info.max_work_group = 32; /* 8x8 threads do not fit */
    ck_assert_int_eq(tune_xgemm_valid(SET_K0, &info, why, sizeof why), 0);
    ck_assert_msg(strstr(why, "work groups") != NULL, "%s", why);
    ck_assert_int_eq(tune_direct_valid(SET_DIRECT, &info, why, sizeof why), 0);
    size_t dv[TUNE_DIRECT_N];
    memcpy(dv, SET_DIRECT, sizeof dv);
    dv[TUNE_WGD] = 12;
    ck_assert_int_eq(tune_direct_valid(dv, NULL, why, sizeof why), 0);
}
END_TEST

START_TEST(default_space_is_valid_and_distinct)
{
    device_info info = tu_device()->info;
    tune_space s;
    char err[256];
    ck_assert_msg(tune_default_space(&info, 20, 7, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.nxgemm + s.refine_xgemm + s.ndirect + s.refine_direct, 20);
    ck_assert_int_ge(s.ndirect, 1);
    int kinds[2] = {0, 0};
    for (int i = 0; i < s.nxgemm; i++) {
        ck_assert_int_eq(tune_xgemm_valid(s.xgemm[i], &info, err, sizeof err), 1);
        kinds[s.xgemm[i][TUNE_GEMMK]]++;
        for (int j = 0; j < i; j++)
            ck_assert(memcmp(s.xgemm[i], s.xgemm[j], sizeof s.xgemm[i]) != 0);
    }
    ck_assert_msg(kinds[0] > 0 && kinds[1] > 0, "both Xgemm kernels are tried");
    for (int i = 0; i < s.ndirect; i++)
        ck_assert_int_eq(tune_direct_valid(s.direct[i], &info, err, sizeof err), 1);
    int n;
    const tune_shape *study = tune_study_shapes(&n);
    ck_assert_ptr_eq(s.shapes, study);
    ck_assert_int_eq(s.nshapes, n);
    tune_space_free(&s);
    /* a tiny budget skips the direct kernel; a bad budget is an error */
    ck_assert_int_eq(tune_default_space(&info, 1, 7, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.nxgemm, 1);
    ck_assert_int_eq(s.ndirect, 0);
    tune_space_free(&s);
    ck_assert_int_eq(tune_default_space(&info, 0, 7, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "budget") != NULL, "%s", err);
}
END_TEST

START_TEST(tiny_tuning_run_picks_the_fastest)
{
    device_ctx *d = tu_device();
    static const tune_shape shapes[] = {{'N', 'T', 96, 80, 72, "test"}};
    size_t xg[3][TUNE_XGEMM_N];
    memcpy(xg[0], SET_K1, sizeof xg[0]);
    memcpy(xg[1], SET_K0, sizeof xg[1]);
    memcpy(xg[2], SET_K0, sizeof xg[2]);
    xg[2][TUNE_MWG] = 24; /* invalid: skipped, counted as failed */
    size_t dr[1][TUNE_DIRECT_N];
    memcpy(dr[0], SET_DIRECT, sizeof dr[0]);
    tune_space s = {.shapes = shapes,
                    .nshapes = 1,
                    .xgemm = (const size_t(*)[TUNE_XGEMM_N])xg,
                    .nxgemm = 3,
                    .direct = (const size_t(*)[TUNE_DIRECT_N])dr,
                    .ndirect = 1,
                    .reps = 1,
                    .seed = 1};
    tune_result r;
    ck_assert_msg(tune_run(d, &s, &r) == 0, "%s", d->error);
    ck_assert_int_eq(r.ntrials, 4);
    ck_assert_int_eq(r.failed, 1);
    ck_assert(isinf(r.trials[2].score));
    /* the fastest of the candidates and CLBlast's own set wins; CLBlast's own is simply not stored */
    ck_assert(isfinite(r.own_score[0]) && isfinite(r.own_score[1]));
    int fastest = r.trials[0].score <= r.trials[1].score ? 0 : 1;
    if (r.trials[fastest].score < r.own_score[0]) {
        ck_assert(r.best.has_xgemm);
        ck_assert_mem_eq(r.best.xgemm, r.trials[fastest].values, sizeof r.best.xgemm);
    } else {
        ck_assert(!r.best.has_xgemm);
    }
    ck_assert_int_eq(r.best.has_direct, r.trials[3].score < r.own_score[1]);
    if (r.best.has_direct) ck_assert_mem_eq(r.best.direct, SET_DIRECT, sizeof r.best.direct);
    ck_assert(r.best.has_min_indirect && r.best.min_indirect >= 1);
    ck_assert(r.before_s[0] > 0 && r.after_s[0] > 0 && isfinite(r.speedup) && r.speedup > 0);
    char err[256], why[256], path[1200];
    ck_assert_msg(tune_store(&d->info, &r.best, &r, &s, err, sizeof err) == 0, "%s", err);
    tune_params q;
    ck_assert_int_eq(tune_load(&d->info, &q, why, sizeof why), 1);
    ck_assert_mem_eq(&q, &r.best, sizeof q);
    tune_file_path(&d->info, path, sizeof path);
    ck_assert_msg(strstr(read_text(path), "\"NT 96x80x72\"") != NULL, "the measurements are stored");
    tune_result_free(&r);
    /* a space without candidates or with a bad shape is refused */
    s.nxgemm = 0;
    ck_assert_int_eq(tune_run(d, &s, &r), -1);
    static const tune_shape bad_shape[] = {{'X', 'N', 4, 4, 4, "bad"}};
    s.nxgemm = 1;
    s.shapes = bad_shape;
    ck_assert_int_eq(tune_run(d, &s, &r), -1);
    ck_assert_msg(strstr(d->error, "shape 1") != NULL, "%s", d->error);
}
END_TEST

static int run_tune(const char *a1, const char *a2, const char *a3)
{
    char *argv[] = {"tune", (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
    return cli_tune(argc, argv);
}

START_TEST(cli_usage_errors_exit_2)
{
    ck_assert_int_eq(run_tune("--device", "99", NULL), 2);
    ck_assert_int_eq(run_tune("--device", "no-such-device", NULL), 2);
    ck_assert_int_eq(run_tune("--budget", "0", NULL), 2);
    ck_assert_int_eq(run_tune("--budget", "many", NULL), 2);
    ck_assert_int_eq(run_tune("--seed", "-3", NULL), 2);
    ck_assert_int_eq(run_tune("--frobnicate", NULL, NULL), 2);
    ck_assert_int_eq(run_tune("--only", "everything", NULL), 2);
    ck_assert_int_eq(run_tune("--only", NULL, NULL), 2);
    setenv("CLTRAIN_NO_CACHE", "1", 1);
    ck_assert_int_eq(run_tune("--device", "0", NULL),
                     2); /* nowhere to store: refused before minutes of work */
    unsetenv("CLTRAIN_NO_CACHE");
    ck_assert_int_eq(run_tune("--device", "0", "--show"), 0);
    ck_assert_int_eq(run_tune("--help", NULL, NULL), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tune");
    TCase *t = tcase_create("tune");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, applied_parameters_change_what_clblast_runs);
    tcase_add_test(t, store_load_round_trip);
    tcase_add_test(t, bad_files_are_ignored);
    tcase_add_test(t, validity_rules);
    tcase_add_test(t, default_space_is_valid_and_distinct);
    tcase_add_test(t, tiny_tuning_run_picks_the_fastest);
    tcase_add_test(t, cli_usage_errors_exit_2);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
