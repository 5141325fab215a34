/* tune.c: `cltrain tune [--device SPEC] [--budget N] [--seed N] [--only gemm|kernels] [--show]`: tunes
 * CLBlast's SGEMM parameters on each selected device (GFLOP/s per shape before and after), then the
 * launch choices of cltrain's own kernels (training-step times before and after), and stores both
 * where every later process that opens the device picks them up (tune_apply, launch_load).
 *
 * It uses only the library (no other cli/ file), so the test suite can drive it directly. */
#include "tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/device.h"
#include "cltrain/launch_tune.h"
#include "cltrain/tune.h"

static const char TUNE_USAGE[] =
    "usage: cltrain tune [--device SPEC] [--budget N] [--seed N] [--only gemm|kernels] [--show]\n"
    "  gemm: measures CLBlast SGEMM parameter sets on the device (N candidates, default 20; each costs\n"
    "  one CLBlast compile, ~8 s on a small CPU); kernels: times training steps of the study's CNN under\n"
    "  each launch choice of cltrain's own kernels (conv algorithm, vector widths, work-group sizes;\n"
    "  a minute or two on a small CPU). Both by default. The fastest are stored in the kernel cache\n"
    "  directory and used by every later command on that device; --show prints what is stored.\n"
    "  CLTRAIN_NO_TUNE=1 makes other commands ignore what is stored.\n";

enum { TUNE_GEMM = 1, TUNE_KERNELS = 2 };

static int parse_int(const char *opt, const char *text, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "cltrain tune: %s %s: expected a whole number from %d to %d\n", opt, text, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void gflops_line(const tune_shape *sh, double before, double after)
{
    double flop = 2.0 * (double)sh->m * (double)sh->n * (double)sh->k;
    char name[64];
    snprintf(name, sizeof name, "%c%c %zux%zux%zu", sh->ta, sh->tb, sh->m, sh->n, sh->k);
    printf("  %-18s %8.1f %8.1f %7.2fx  %s\n", name, flop / before / 1e9, flop / after / 1e9, before / after,
           sh->what ? sh->what : "");
}

static void print_params(const tune_params *p)
{
    char text[400];
    if (p->has_xgemm) {
        tune_format(text, sizeof text, 0, p->xgemm);
        printf("  Xgemm:       %s\n", text);
    }
    if (p->has_direct) {
        tune_format(text, sizeof text, 1, p->direct);
        printf("  XgemmDirect: %s\n", text);
    }
    if (p->has_min_indirect)
        printf("  GemmRoutine: XGEMM_MIN_INDIRECT_SIZE=%zu (m*n*k below %zu^3 runs the direct kernel)\n",
               p->min_indirect, p->min_indirect);
}

static int show(const device_info *info)
{
    char path[1200], why[512];
    tune_params p;
    tune_file_path(info, path, sizeof path);
    printf("device %d: %s\n", info->index, info->name);
    int rc = tune_load(info, &p, why, sizeof why);
    if (rc == 0)
        printf("  no tuned parameters stored%s%s\n", path[0] ? " in " : " (the cache is disabled)", path);
    if (rc < 0) printf("  %s is ignored: %s\n", path, why);
    if (rc > 0) {
        printf("  %s\n", path);
        print_params(&p);
    }
    launch_set ls;
    char text[512];
    launch_file_path(info, path, sizeof path);
    rc = launch_load(info, &ls, why, sizeof why);
    if (rc == 0) printf("  no tuned launch choices stored: the defaults\n");
    if (rc < 0) printf("  %s is ignored: %s\n", path, why);
    if (rc > 0) printf("  %s\n", path);
    launch_format(&ls, text, sizeof text);
    printf("  launch choices: %s\n", text);
    return 0;
}

/* The launch choices of cltrain's own kernels, timed on training steps (launch_tune.h). */
static int tune_kernels(device_ctx *d)
{
    launch_search s = {.reps = 5, .min_gain = 0.03, .log = stdout};
    s.workloads = launch_tune_default_workloads(&s.nworkloads);
    printf("\ntuning cltrain's kernels: one training step per candidate and workload (");
    for (int i = 0; i < s.nworkloads; i++)
        printf("%s%dx%dx%d batch %d", i ? ", " : "", s.workloads[i].channels, s.workloads[i].size,
               s.workloads[i].size, s.workloads[i].batch);
    printf("), median of %d\n", s.reps);
    fflush(stdout);
    launch_result r;
    if (launch_tune(d, &s, &r) != 0) {
        fprintf(stderr, "cltrain: %s\n", d->error);
        return -1;
    }
    char text[512], path[1200], err[CT_ERR_LEN];
    for (int i = 0; i < s.nworkloads; i++)
        printf("  %dx%dx%d batch %-4d step %8.1f ms -> %8.1f ms  %.2fx\n", s.workloads[i].channels,
               s.workloads[i].size, s.workloads[i].size, s.workloads[i].batch, r.before_ms[i], r.after_ms[i],
               r.before_ms[i] / r.after_ms[i]);
    launch_format(&r.best, text, sizeof text);
    printf("  %d candidates (%d failed), geometric mean speedup %.2fx\n  launch choices: %s\n", r.tried,
           r.failed, r.speedup, text);
    if (!memcmp(&r.best, &r.before, sizeof r.best))
        printf("  no candidate beat the defaults twice: they are the fastest here\n");
    launch_file_path(&d->info, path, sizeof path);
    char *notes = launch_tune_notes(&s, &r);
    int rc = launch_store(&d->info, &r.best, notes, err, sizeof err);
    free(notes);
    if (rc != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return -1;
    }
    printf("stored in %s: every process that opens this device now uses them\n", path);
    return 0;
}

/* CLBlast's SGEMM parameters (tune.h). */
static int tune_gemm(device_ctx *d, int budget, unsigned seed)
{
    char err[CT_ERR_LEN];
    tune_space s;
    if (tune_default_space(&d->info, budget, seed, &s, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return -1;
    }
    s.log = stdout;
    printf(
        "tuning CLBlast SGEMM: %d Xgemm + %d XgemmDirect candidates, then %d + %d neighbours of the best\n",
        s.nxgemm, s.ndirect, s.refine_xgemm, s.refine_direct);
    fflush(stdout);
    tune_result r;
    int rc = tune_run(d, &s, &r);
    if (rc != 0) {
        fprintf(stderr, "cltrain: %s\n", d->error);
    } else {
        printf("\n  %-18s %8s %8s %8s\n", "shape (row-major)", "before", "after", "speedup");
        printf("  %-18s %8s %8s\n", "", "GFLOP/s", "GFLOP/s");
        for (int i = 0; i < s.nshapes; i++)
            gflops_line(&s.shapes[i], r.before_s[i], r.after_s[i]);
        printf("  geometric mean speedup %.2fx over CLBlast's own parameters (%d candidates, %d failed)\n",
               r.speedup, r.ntrials, r.failed);
        print_params(&r.best);
        char path[1200];
        tune_file_path(&d->info, path, sizeof path);
        if (r.speedup <= 1.0) {
            printf("no faster set than CLBlast's own: nothing stored (%s is left as it was)\n", path);
        } else if (tune_store(&d->info, &r.best, &r, &s, err, sizeof err) != 0) {
            fprintf(stderr, "cltrain: %s\n", err);
            rc = -1;
        } else {
            printf("stored in %s: every process that opens this device now uses it\n", path);
        }
    }
    tune_result_free(&r);
    tune_space_free(&s);
    return rc;
}

static int tune_one(const device_info *info, int budget, unsigned seed, int what)
{
    char err[CT_ERR_LEN];
    device_ctx *d = device_open(info, err, sizeof err);
    if (!d) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 1;
    }
    printf("device %d: %s (%s, driver %s)\n", info->index, info->name, info->platform_name,
           info->driver_version);
    int rc = what & TUNE_GEMM ? tune_gemm(d, budget, seed) : 0;
    if (rc == 0 && (what & TUNE_KERNELS)) rc = tune_kernels(d);
    device_close(d);
    return rc == 0 ? 0 : 1;
}

int cli_tune(int argc, char **argv)
{
    const char *spec = "0";
    int budget = 20, seed = 1, only_show = 0, what = TUNE_GEMM | TUNE_KERNELS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            spec = argv[++i];
        } else if (!strcmp(argv[i], "--budget") && i + 1 < argc) {
            if (parse_int("--budget", argv[++i], 1, 96, &budget) != 0) return 2;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (parse_int("--seed", argv[++i], 0, 1 << 30, &seed) != 0) return 2;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            const char *w = argv[++i];
            what = !strcmp(w, "gemm") ? TUNE_GEMM : !strcmp(w, "kernels") ? TUNE_KERNELS : 0;
            if (!what) {
                fprintf(stderr, "cltrain tune: --only %s: expected gemm or kernels\n", w);
                return 2;
            }
        } else if (!strcmp(argv[i], "--show")) {
            only_show = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(TUNE_USAGE, stdout);
            return 0;
        } else {
            fprintf(stderr, "cltrain tune: unknown argument \"%s\"\n%s", argv[i], TUNE_USAGE);
            return 2;
        }
    }
    char err[CT_ERR_LEN];
    device_info *all;
    int n, sel[64], nsel;
    if (device_list(&all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    if (device_select(spec, all, n, sel, 64, &nsel, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        free(all);
        return 2;
    }
    char path[1200];
    tune_file_path(&all[sel[0]], path, sizeof path);
    if (!only_show && !path[0]) {
        fprintf(stderr,
                "cltrain: the kernel cache is disabled (CLTRAIN_NO_CACHE), so tuned parameters would have "
                "nowhere to go\n");
        free(all);
        return 2;
    }
    /* the baseline is CLBlast's own parameters and the default launch choices, not what an earlier
     * run stored */
    setenv("CLTRAIN_NO_TUNE", "1", 1);
    int rc = 0;
    for (int i = 0; i < nsel && rc == 0; i++)
        rc = only_show ? show(&all[sel[i]]) : tune_one(&all[sel[i]], budget, (unsigned)seed, what);
    free(all);
    return rc;
}
