/* test_device.c: device listing and --device parsing, kernel builds, the binary cache and its
 * failure modes, and the CLI's answer when no OpenCL platform exists. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static device_info *all;
static int count;

static void list_setup(void)
{
    char err[CT_ERR_LEN];
    ck_assert_msg(device_list(&all, &count, err, sizeof err) == 0, "%s", err);
}

static void list_teardown(void)
{
    free(all);
}

START_TEST(lists_devices_with_properties)
{
    ck_assert_int_ge(count, 1);
    for (int i = 0; i < count; i++) {
        ck_assert_int_eq(all[i].index, i);
        ck_assert(strlen(all[i].name) > 0);
        ck_assert(all[i].compute_units > 0);
        ck_assert(all[i].global_mem > 0);
        ck_assert(all[i].max_alloc > 0 && all[i].max_alloc <= all[i].global_mem);
        ck_assert(strstr(all[i].c_version, "OpenCL C") != NULL);
    }
}
END_TEST

static int select_spec(const char *spec, int *sel, int *nsel, char *err)
{
    return device_select(spec, all, count, sel, 16, nsel, err, CT_ERR_LEN);
}

START_TEST(selects_by_index_type_and_name)
{
    int sel[16], n;
    char err[CT_ERR_LEN];
    ck_assert_int_eq(select_spec("0", sel, &n, err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(sel[0], 0);
    ck_assert_int_eq(select_spec("all", sel, &n, err), 0);
    ck_assert_int_eq(n, count);
    ck_assert_int_eq(select_spec("", sel, &n, err), 0);
    ck_assert_int_eq(sel[0], 0);
    /* a substring of the first device's name, in another case */
    char part[8];
    snprintf(part, sizeof part, "%.4s", all[0].name);
    for (char *c = part; *c; c++)
        *c = (char)((*c >= 'a' && *c <= 'z') ? *c - 32 : *c);
    ck_assert_msg(select_spec(part, sel, &n, err) == 0, "%s", err);
    ck_assert_int_eq(sel[0], 0);
    const char *type = (all[0].type & CL_DEVICE_TYPE_GPU) ? "gpu" : "cpu";
    ck_assert_int_eq(select_spec(type, sel, &n, err), 0);
    ck_assert_int_ge(n, 1);
    if (count >= 2) {
        ck_assert_int_eq(select_spec("1,0", sel, &n, err), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(sel[0], 1);
        ck_assert_int_eq(sel[1], 0);
    }
}
END_TEST

START_TEST(bad_specs_list_the_devices)
{
    int sel[16], n;
    char err[CT_ERR_LEN];
    const char *bad[] = {"99", "0,99", "no-such-device-xyz", ",", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(select_spec(bad[i], sel, &n, err) != 0, "spec \"%s\" accepted", bad[i]);
        ck_assert_msg(strstr(err, all[0].name) != NULL, "error for \"%s\" does not list devices: %s", bad[i],
                      err);
    }
    int has_gpu = 0;
    for (int i = 0; i < count; i++)
        has_gpu |= (all[i].type & CL_DEVICE_TYPE_GPU) != 0;
    if (!has_gpu) {
        ck_assert(select_spec("gpu", sel, &n, err) != 0);
        ck_assert(strstr(err, "no gpu device") != NULL);
    }
}
END_TEST

static char cache_dir[256];

static void cache_setup(void)
{
    tu_private_cache(cache_dir, sizeof cache_dir, "test-cache");
}

static void cache_teardown(void)
{
    DIR *dir = opendir(cache_dir);
    if (dir) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(dir)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
                unlink(path);
            }
        closedir(dir);
    }
    rmdir(cache_dir);
}

static int cache_files(char *first, size_t len)
{
    int n = 0;
    DIR *dir = opendir(cache_dir);
    if (!dir) return 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strstr(e->d_name, ".bin")) {
            if (n++ == 0 && first) snprintf(first, len, "%s/%s", cache_dir, e->d_name);
        }
    closedir(dir);
    return n;
}

static device_ctx *open_first(void)
{
    char err[CT_ERR_LEN];
    device_info *l;
    int n;
    ck_assert_msg(device_list(&l, &n, err, sizeof err) == 0, "%s", err);
    device_ctx *d = device_open(&l[0], err, sizeof err);
    free(l);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* Runs scale_add on random data and checks it against the host: a kernel that loaded is one that works. */
static void check_scale_add(device_ctx *d, cl_kernel k)
{
    enum { N = 1000 };
    float x[N], y[N];
    tu_fill_uniform(x, N, 0.5f, 2.0f, 1);
    tu_fill_uniform(y, N, -2.0f, -0.5f, 2);
    cl_mem bx = tu_upload(d, x, N), by = tu_upload(d, y, N);
    float a = 1.5f, b = -0.25f;
    int n = N;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, by);
    DEVICE_ARG(st, k, 1, bx);
    DEVICE_ARG(st, k, 2, a);
    DEVICE_ARG(st, k, 3, b);
    DEVICE_ARG(st, k, 4, n);
    TU_OK(d, device_check(d, st, "setting arguments"));
    TU_OK(d, device_run_1d(d, k, N, "scale_add"));
    float *got = tu_download(d, by, N);
    double ref[N];
    for (int i = 0; i < N; i++)
        ref[i] = 1.5 * (double)x[i] - 0.25 * (double)y[i];
    ck_assert_double_le(tu_max_rel_err(got, ref, N), 1e-6);
    free(got);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
}

START_TEST(second_build_hits_the_disk_cache)
{
    device_ctx *d = open_first();
    cl_kernel k = device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=1");
    ck_assert_msg(k != NULL, "%s", d->error);
    ck_assert_int_eq(d->builds_from_source, 1);
    ck_assert_ptr_eq(device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=1"), k); /* in memory */
    check_scale_add(d, k);
    device_close(d);
    ck_assert_int_eq(cache_files(NULL, 0), 1);

    d = open_first();
    k = device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=1");
    ck_assert_msg(k != NULL, "%s", d->error);
    ck_assert_int_eq(d->builds_from_cache, 1);
    ck_assert_int_eq(d->builds_from_source, 0);
    check_scale_add(d, k);
    /* other options are another program */
    ck_assert_ptr_nonnull(device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=2"));
    ck_assert_int_eq(d->builds_from_source, 1);
    device_close(d);
}
END_TEST

START_TEST(corrupt_cache_entry_is_rebuilt)
{
    device_ctx *d = open_first();
    ck_assert_ptr_nonnull(device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=3"));
    device_close(d);
    char path[600];
    ck_assert_int_eq(cache_files(path, sizeof path), 1);
    const char *damage[] = {"truncate", "garbage"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(path, i == 0 ? "r+b" : "wb");
        ck_assert_ptr_nonnull(f);
        if (i == 0) {
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            ck_assert_int_eq(ftruncate(fileno(f), size / 2), 0);
        } else {
            fputs("CLTRBIN1 this is not a program binary", f);
        }
        fclose(f);
        d = open_first();
        cl_kernel k = device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=3");
        ck_assert_msg(k != NULL, "after %s: %s", damage[i], d->error);
        ck_assert_int_eq(d->builds_from_source, 1);
        check_scale_add(d, k);
        device_close(d);
    }
    /* the rebuilt entry is good again */
    d = open_first();
    ck_assert_ptr_nonnull(device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=3"));
    ck_assert_int_eq(d->builds_from_cache, 1);
    device_close(d);
}
END_TEST

START_TEST(no_cache_switch_bypasses_the_cache)
{
    setenv("CLTRAIN_NO_CACHE", "1", 1);
    for (int round = 0; round < 2; round++) {
        device_ctx *d = open_first();
        ck_assert_ptr_nonnull(device_kernel(d, "util.cl", "scale_add", "-DCACHE_TEST=4"));
        ck_assert_int_eq(d->builds_from_source, 1);
        ck_assert_int_eq(d->builds_from_cache, 0);
        device_close(d);
    }
    ck_assert_int_eq(cache_files(NULL, 0), 0);
    unsetenv("CLTRAIN_NO_CACHE");
}
END_TEST

START_TEST(failed_build_reports_file_and_log)
{
    device_ctx *d = open_first();
    ck_assert_ptr_null(device_kernel(d, "util.cl", "scale_add", "-DCLTRAIN_TEST_BUILD_ERROR"));
    ck_assert_msg(strstr(d->error, "cl/util.cl") != NULL, "%s", d->error);
    ck_assert_msg(strstr(d->error, "compiler log") != NULL, "%s", d->error);
    ck_assert_msg(strstr(d->error, "error") != NULL, "no compiler message: %s", d->error);
    ck_assert_ptr_null(device_kernel(d, "no_such_file.cl", "k", ""));
    ck_assert(strstr(d->error, "no_such_file.cl") != NULL);
    ck_assert_ptr_null(device_kernel(d, "util.cl", "no_such_kernel", ""));
    ck_assert(strstr(d->error, "no_such_kernel") != NULL);
    device_close(d);
}
END_TEST

/* Runs the binary with a shell command line; returns its exit status and its stderr in out. */
static int run_cli(const char *args, const char *env, char *out, size_t len)
{
    const char *bin = getenv("CLTRAIN_BIN");
    ck_assert_msg(bin != NULL, "CLTRAIN_BIN is not set (run the tests through ctest)");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s %s 2>&1 >/dev/null", env ? env : "", bin, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_without_platform_says_how_to_get_one)
{
    char out[2048];
    int rc = run_cli("devices", "OCL_ICD_VENDORS=/nonexistent-vendors-dir OPENCL_VENDOR_PATH=/nonexistent",
                     out, sizeof out);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(out, "pocl-opencl-icd") != NULL, "%s", out);
}
END_TEST

START_TEST(cli_bad_device_exits_2)
{
    char out[2048];
    int rc = run_cli("devices --device 99", NULL, out, sizeof out);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(out, "there is no device 99") != NULL, "%s", out);
    rc = run_cli("devices --device nosuchdevice", NULL, out, sizeof out);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(out, "the devices are 0 (") != NULL, "%s", out);
    rc = run_cli("devices", NULL, out, sizeof out);
    ck_assert_int_eq(rc, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("device");
    TCase *list = tcase_create("list");
    tcase_add_checked_fixture(list, list_setup, list_teardown);
    tcase_add_test(list, lists_devices_with_properties);
    tcase_add_test(list, selects_by_index_type_and_name);
    tcase_add_test(list, bad_specs_list_the_devices);
    suite_add_tcase(s, list);
    TCase *cache = tcase_create("cache");
    tcase_add_checked_fixture(cache, cache_setup, cache_teardown);
    tcase_add_test(cache, second_build_hits_the_disk_cache);
    tcase_add_test(cache, corrupt_cache_entry_is_rebuilt);
    tcase_add_test(cache, no_cache_switch_bypasses_the_cache);
    tcase_add_test(cache, failed_build_reports_file_and_log);
    suite_add_tcase(s, cache);
    TCase *cli = tcase_create("cli");
    tcase_add_test(cli, cli_without_platform_says_how_to_get_one);
    tcase_add_test(cli, cli_bad_device_exits_2);
    suite_add_tcase(s, cli);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
