/* testutil.c: shared helpers for the Check suites (see testutil.h). */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static device_ctx *the_device;

static void close_device(void)
{
    device_close(the_device);
    the_device = NULL;
}

device_ctx *tu_device(void)
{
    if (the_device) return the_device;
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0) ck_abort_msg("%s", err);
    const char *env = getenv("CLTRAIN_TEST_DEVICE");
    int idx = env ? atoi(env) : 0;
    ck_assert_msg(idx >= 0 && idx < n, "CLTRAIN_TEST_DEVICE=%d but there are %d devices", idx, n);
    the_device = device_open(&all[idx], err, sizeof err);
    free(all);
    if (!the_device) ck_abort_msg("%s", err);
    atexit(close_device);
    return the_device;
}

double tu_uniform(uint64_t *s)
{
    /* xorshift64*: plenty for test inputs, and the same on every machine */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * tu_uniform(&s));
}

void *tu_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    ck_assert_msg(p != NULL, "out of host memory (%zu bytes)", bytes);
    return p;
}

double *tu_to_double(const float *f, size_t n)
{
    double *d = tu_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

double tu_dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void tu_expect_refused(device_ctx *d, int rc, const char *word)
{
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(d->error, word) != NULL, "error \"%s\" does not mention \"%s\"", d->error, word);
    d->error[0] = 0;
}

cl_mem tu_upload(device_ctx *d, const float *host, size_t n)
{
    cl_mem m = device_alloc(d, n * sizeof(float), "a test tensor");
    ck_assert_msg(m != NULL, "%s", d->error);
    TU_OK(d, device_write(d, m, 0, n * sizeof(float), host));
    return m;
}

float *tu_download(device_ctx *d, cl_mem buf, size_t n)
{
    float *h = tu_alloc(n * sizeof(float));
    TU_OK(d, device_read(d, buf, 0, n * sizeof(float), h));
    return h;
}

double tu_max_rel_err(const float *got, const double *ref, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    double floor = 1e-3 * scale;
    if (floor == 0) floor = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i])) return INFINITY;
        double e = fabs(got[i] - ref[i]) / fmax(fabs(ref[i]), floor);
        if (e > worst) worst = e;
    }
    return worst;
}

char *tu_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = tu_alloc((size_t)n + 1);
    ck_assert_uint_eq(fread(t, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return t;
}

pid_t tu_start_cli(const char *log, const char *const *args)
{
    const char *bin = getenv("CLTRAIN_BIN");
    ck_assert_msg(bin != NULL, "CLTRAIN_BIN is not set (run the tests through ctest)");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)bin;
        for (; args[n - 1] && n < 31; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

int tu_wait_cli(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_private_cache(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "/tmp/cltrain-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("CLTRAIN_CACHE_DIR", dir, 1);
    unsetenv("CLTRAIN_NO_CACHE");
    unsetenv("CLTRAIN_NO_TUNE");
}

void tu_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int tu_launch_count(const launch_param *ps, int np)
{
    int n = 0;
    for (int j = 0; j < np; j++)
        n += launch_choices[ps[j]].ncandidates - 1;
    return n;
}

int tu_launch_pick(device_ctx *d, const launch_param *ps, int np, int i, char *what, size_t whatlen)
{
    launch_defaults(&d->launch);
    for (int j = 0; j < np; j++) {
        const launch_choice *c = &launch_choices[ps[j]];
        for (int k = 0; k < c->ncandidates; k++) {
            if (c->candidates[k] == c->defaults) continue;
            if (i-- == 0) {
                d->launch.v[ps[j]] = c->candidates[k];
                snprintf(what, whatlen, "%s=%d", c->name, c->candidates[k]);
                return 1;
            }
        }
    }
    return 0;
}
