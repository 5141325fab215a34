/* test_launch.c: the launch choices of cltrain's own kernels as data: the table, the per-device file
 * (round trip, applied when a device opens, CLTRAIN_NO_TUNE, every kind of bad file ignored), and the
 * search behind `cltrain tune --only kernels` on a tiny workload. That every candidate computes the
 * right numbers is tested with each op (test_conv_direct, test_pool, test_batchnorm, test_activation). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cltrain/launch.h"
#include "cltrain/launch_tune.h"

static char cache_dir[256];

/* A fresh cache directory per test, so nothing stored by a user or another test is seen. */
static void setup(void)
{
    tu_private_cache(cache_dir, sizeof cache_dir, "launch-test");
}

static void teardown(void)
{
    tu_remove_tree(cache_dir);
}

static launch_set sample_set(void)
{
    launch_set s;
    launch_defaults(&s);
    s.v[LAUNCH_CONV_FB] = 4;
    s.v[LAUNCH_CONV_GROUP] = -1;
    s.v[LAUNCH_BN_CHUNK] = 2048;
    s.v[LAUNCH_WG_1D] = 128;
    return s;
}

static void expect_defaults(const launch_set *s)
{
    launch_set def;
    launch_defaults(&def);
    for (int p = 0; p < LAUNCH_N; p++)
        ck_assert_msg(s->v[p] == def.v[p], "%s is %d, default %d", launch_choices[p].name, s->v[p], def.v[p]);
}

START_TEST(defaults_are_candidates_and_nothing_else_is)
{
    for (int p = 0; p < LAUNCH_N; p++) {
        const launch_choice *c = &launch_choices[p];
        ck_assert_msg(c->name && c->what && c->ncandidates > 1 && c->ncandidates <= LAUNCH_MAX_CANDIDATES,
                      "choice %d is incomplete", p);
        ck_assert_msg(launch_valid((launch_param)p, c->defaults), "%s: default %d is not a candidate",
                      c->name, c->defaults);
        ck_assert_msg(!launch_valid((launch_param)p, 12345), "%s accepts 12345", c->name);
        for (int q = 0; q < p; q++)
            ck_assert_msg(strcmp(c->name, launch_choices[q].name), "two choices are named %s", c->name);
        for (int i = 0; i < c->ncandidates; i++)
            for (int j = 0; j < i; j++)
                ck_assert_msg(c->candidates[i] != c->candidates[j], "%s lists %d twice", c->name,
                              c->candidates[i]);
    }
    ck_assert(!launch_valid(LAUNCH_N, 0));
    ck_assert(!launch_valid((launch_param)-1, 0));
    launch_set s;
    launch_defaults(&s);
    char text[512];
    launch_format(&s, text, sizeof text);
    ck_assert_msg(strstr(text, "conv_fb=8") && strstr(text, "wg_1d=64"), "%s", text);
}
END_TEST

START_TEST(stored_choices_apply_when_the_device_opens)
{
    device_ctx *d = tu_device();
    launch_set want = sample_set(), got;
    char err[CT_ERR_LEN], why[512];
    ck_assert_int_eq(launch_load(&d->info, &got, why, sizeof why), 0); /* nothing stored yet */
    expect_defaults(&got);
    ck_assert_msg(launch_store(&d->info, &want, "{\"note\": 1}", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(launch_load(&d->info, &got, why, sizeof why) == 1, "%s", why);
    ck_assert_mem_eq(&got, &want, sizeof want);

    device_ctx *d2 = device_open(&d->info, err, sizeof err);
    ck_assert_msg(d2 != NULL, "%s", err);
    ck_assert_mem_eq(&d2->launch, &want, sizeof want);
    device_close(d2);

    setenv("CLTRAIN_NO_TUNE", "1", 1);
    d2 = device_open(&d->info, err, sizeof err);
    ck_assert_msg(d2 != NULL, "%s", err);
    expect_defaults(&d2->launch);
    device_close(d2);
    unsetenv("CLTRAIN_NO_TUNE");

    /* bad measurements are refused rather than stored half */
    ck_assert_int_eq(launch_store(&d->info, &want, "{not json", err, sizeof err), -1);
    setenv("CLTRAIN_NO_CACHE", "1", 1);
    ck_assert_int_eq(launch_store(&d->info, &want, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "disabled") != NULL, "%s", err);
    ck_assert_int_eq(launch_load(&d->info, &got, why, sizeof why), 0);
    unsetenv("CLTRAIN_NO_CACHE");
}
END_TEST

/* The stored file with `from` replaced by `to` (first occurrence). */
static void write_edited(const device_info *info, const char *from, const char *to)
{
    char path[1200];
    launch_file_path(info, path, sizeof path);
    char *text = tu_read_text(path);
    char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "\"%s\" is not in %s", from, path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(f);
    free(text);
}

START_TEST(bad_files_are_ignored_with_a_reason)
{
    device_ctx *d = tu_device();
    launch_set want = sample_set(), got;
    char err[CT_ERR_LEN], why[512], path[1200];
    launch_file_path(&d->info, path, sizeof path);
    static const struct {
        const char *from, *to, *reason;
    } cases[] = {
        {"{", "[", "not JSON"},
        {"cltrain-launch-choices", "cltrain-clblast-parameters", "launch-choice file"},
        {"\"version\":\t1", "\"version\":\t2", "launch-choice file"},
        {"\"device\":\t\"", "\"device\":\t\"another ", "another device"},
        {"\"conv_fb\":\t4", "\"conv_fb\":\t3", "conv_fb is not one of its candidates"},
        {"\"conv_fb\":\t4", "\"conv_fb\":\t4.5", "conv_fb is not one of its candidates"},
        {"\"conv_fb\":\t4", "\"conv_fb\":\t\"4\"", "conv_fb is not one of its candidates"},
        {"\"conv_fb\":\t4", "\"conv_fbb\":\t4", "unknown choice \"conv_fbb\""},
        {"\"choices\":", "\"choice\":", "no \"choices\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(launch_store(&d->info, &want, NULL, err, sizeof err) == 0, "%s", err);
        write_edited(&d->info, cases[i].from, cases[i].to);
        why[0] = '\0';
        ck_assert_msg(launch_load(&d->info, &got, why, sizeof why) == -1, "case %zu was accepted", i);
        ck_assert_msg(strstr(why, cases[i].reason) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, why,
                      cases[i].reason);
        expect_defaults(&got);
        /* opening the device warns and runs with the defaults */
        device_ctx *d2 = device_open(&d->info, err, sizeof err);
        ck_assert_msg(d2 != NULL, "%s", err);
        expect_defaults(&d2->launch);
        device_close(d2);
    }
    /* a choice the file does not name (a newer cltrain's) keeps its default */
    ck_assert_msg(launch_store(&d->info, &want, NULL, err, sizeof err) == 0, "%s", err);
    write_edited(&d->info, "\"wg_1d\":\t128", "\"conv_vw\":\t16");
    ck_assert_msg(launch_load(&d->info, &got, why, sizeof why) == 1, "%s", why);
    ck_assert_int_eq(got.v[LAUNCH_WG_1D], 64);
    ck_assert_int_eq(got.v[LAUNCH_CONV_FB], 4);
    /* an unreadable file */
    ck_assert_int_eq(remove(path), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(launch_load(&d->info, &got, why, sizeof why), -1);
    rmdir(path);
}
END_TEST

/* The search on a tiny workload: it tries every non-default candidate once, none fails on PoCL, and it
 * leaves a valid set in force and its measurements filled. */
START_TEST(search_tries_every_candidate_and_keeps_a_valid_set)
{
    device_ctx *d = tu_device();
    launch_defaults(&d->launch);
    static const launch_workload tiny[] = {{1, 32, 4}};
    launch_search s = {.workloads = tiny, .nworkloads = 1, .reps = 1, .min_gain = 0.03, .log = NULL};
    launch_result r;
    TU_OK(d, launch_tune(d, &s, &r));
    int all = 0;
    for (int p = 0; p < LAUNCH_N; p++)
        all += launch_choices[p].ncandidates - 1;
    ck_assert_int_eq(r.tried, all);
    ck_assert_int_eq(r.failed, 0);
    for (int p = 0; p < LAUNCH_N; p++)
        ck_assert_msg(launch_valid((launch_param)p, r.best.v[p]), "%s=%d", launch_choices[p].name,
                      r.best.v[p]);
    ck_assert_mem_eq(&d->launch, &r.best, sizeof r.best);
    expect_defaults(&r.before);
    ck_assert(r.before_ms[0] > 0 && r.after_ms[0] > 0 && r.speedup > 0);
    char *notes = launch_tune_notes(&s, &r);
    ck_assert_ptr_nonnull(notes);
    ck_assert_msg(strstr(notes, "1x32x32 batch 4") != NULL, "%s", notes);
    free(notes);
    /* a search it cannot run is refused */
    s.reps = 0;
    tu_expect_refused(d, launch_tune(d, &s, &r), "timed step");
    launch_defaults(&d->launch);
}
END_TEST

/* A work-group larger than a kernel takes runs with the driver's choice instead of failing: relu over
 * twice the kernel's largest group, asked for in one group. */
START_TEST(a_group_too_large_for_the_kernel_falls_back)
{
    device_ctx *d = tu_device();
    cl_kernel k = device_kernel(d, "activation.cl", "relu_forward", "");
    ck_assert_msg(k, "%s", d->error);
    size_t most = 0;
    ck_assert_int_eq(
        clGetKernelWorkGroupInfo(k, d->info.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, NULL),
        CL_SUCCESS);
    size_t n = 2 * most;
    float *x = tu_alloc(n * sizeof(float));
    tu_fill_uniform(x, n, -1.0f, 1.0f, 31);
    cl_mem bx = tu_upload(d, x, n), by = device_alloc(d, n * sizeof(float), "y");
    ck_assert_msg(by, "%s", d->error);
    cl_ulong nn = n;
    cl_int st = 0;
    DEVICE_ARG(st, k, 0, by);
    DEVICE_ARG(st, k, 1, bx);
    DEVICE_ARG(st, k, 2, nn);
    ck_assert_int_eq(st, CL_SUCCESS);
    TU_OK(d, device_run(d, k, 1, &n, &n, "relu in one oversized group"));
    float *y = tu_download(d, by, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == (x[i] > 0 ? x[i] : 0.0f), "element %zu: relu(%g) gave %g", i, x[i], y[i]);
    free(x);
    free(y);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("launch");
    TCase *tc = tcase_create("launch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, defaults_are_candidates_and_nothing_else_is);
    tcase_add_test(tc, stored_choices_apply_when_the_device_opens);
    tcase_add_test(tc, bad_files_are_ignored_with_a_reason);
    tcase_add_test(tc, search_tries_every_candidate_and_keeps_a_valid_set);
    tcase_add_test(tc, a_group_too_large_for_the_kernel_falls_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
