/* tune_search.c: the search behind `cltrain tune`: candidate sets drawn from CLBlast's own tuner
 * spaces (src/tuning/kernels/xgemm.cpp, xgemm_direct.cpp), each installed and timed with real
 * CLBlastSgemm calls on the GEMM shapes the study's models produce.
 *
 * Every candidate costs one CLBlast compile (the GEMM program is keyed by all its parameters), about
 * 8 s on a 2-core CPU under PoCL, which dwarfs the timing itself; so the space is small: a seeded
 * draw of valid sets, then a short hill climb over single-parameter neighbours of the best. The
 * order is: the baseline (what is installed now), Xgemm candidates with every GEMM forced through
 * the indirect path, XgemmDirect candidates with every GEMM forced direct, then the direct/indirect
 * threshold chosen from those two measurements without further runs, and the final set measured.
 * A candidate is scored by the mean over shapes of log(time / baseline time), so the 1024^3 GEMM
 * does not drown the small ones the models actually run. */
#include "cltrain/tune.h"

#include <clblast_c.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const tune_shape STUDY_SHAPES[] = {
    {'N', 'N', 32, 4096, 288, "conv forward: W[32, 32*3*3] x columns (64x64 pixels)"},
    {'N', 'T', 32, 288, 4096, "conv weight gradient: dY x columns^T"},
    {'T', 'N', 288, 4096, 32, "conv input gradient: W^T x dY"},
    {'N', 'N', 32, 1024, 9, "first conv: 1 channel, 3x3, 32x32 pixels"},
    {'N', 'T', 64, 128, 2048, "dense forward: x W^T, batch 64, 2048 -> 128"},
    {'T', 'N', 128, 2048, 64, "dense weight gradient: dY^T x"},
    {'N', 'N', 64, 2048, 128, "dense input gradient: dY W"},
    {'N', 'N', 1024, 1024, 1024, "reference 1024^3"},
};

const tune_shape *tune_study_shapes(int *count)
{
    *count = (int)(sizeof STUDY_SHAPES / sizeof STUDY_SHAPES[0]);
    return STUDY_SHAPES;
}

/* ---- the spaces: CLBlast's tuner value lists (variations 2 and 12 for Xgemm, 2 for direct) ---- */

typedef struct {
    int n;
    size_t v[6];
} choices;

static const choices XGEMM_K0[TUNE_XGEMM_N] = {
    [TUNE_GEMMK] = {1, {0}},
    [TUNE_KREG] = {1, {1}},
    [TUNE_KWG] = {2, {16, 32}},
    [TUNE_KWI] = {1, {2}},
    [TUNE_MDIMA] = {3, {8, 16, 32}},
    [TUNE_MDIMC] = {3, {8, 16, 32}},
    [TUNE_MWG] = {4, {16, 32, 64, 128}},
    [TUNE_NDIMB] = {3, {8, 16, 32}},
    [TUNE_NDIMC] = {3, {8, 16, 32}},
    [TUNE_NWG] = {4, {16, 32, 64, 128}},
    [TUNE_SA] = {2, {0, 1}},
    [TUNE_SB] = {2, {0, 1}},
    [TUNE_STRM] = {2, {0, 1}},
    [TUNE_STRN] = {2, {0, 1}},
    [TUNE_VWM] = {4, {1, 2, 4, 8}},
    [TUNE_VWN] = {4, {1, 2, 4, 8}},
};
/* GEMMK=1: 2-D register tiling, no local memory; MDIMA/NDIMB follow MDIMC/NDIMC */
static const choices XGEMM_K1[TUNE_XGEMM_N] = {
    [TUNE_GEMMK] = {1, {1}},
    [TUNE_KREG] = {4, {1, 2, 4, 8}},
    [TUNE_KWG] = {1, {1}},
    [TUNE_KWI] = {1, {1}},
    [TUNE_MDIMA] = {5, {2, 4, 8, 16, 32}},
    [TUNE_MDIMC] = {5, {2, 4, 8, 16, 32}},
    [TUNE_MWG] = {5, {8, 16, 32, 64, 128}},
    [TUNE_NDIMB] = {5, {2, 4, 8, 16, 32}},
    [TUNE_NDIMC] = {5, {2, 4, 8, 16, 32}},
    [TUNE_NWG] = {5, {8, 16, 32, 64, 128}},
    [TUNE_SA] = {1, {0}},
    [TUNE_SB] = {1, {0}},
    [TUNE_STRM] = {1, {0}},
    [TUNE_STRN] = {1, {0}},
    [TUNE_VWM] = {4, {1, 2, 4, 8}},
    [TUNE_VWN] = {4, {1, 2, 4, 8}},
};
static const choices DIRECT[TUNE_DIRECT_N] = {
    [TUNE_KWID] = {3, {2, 8, 16}},     [TUNE_MDIMAD] = {3, {8, 16, 32}}, [TUNE_MDIMCD] = {3, {8, 16, 32}},
    [TUNE_NDIMBD] = {3, {8, 16, 32}},  [TUNE_NDIMCD] = {3, {8, 16, 32}}, [TUNE_PADA] = {2, {0, 1}},
    [TUNE_PADB] = {2, {0, 1}},         [TUNE_VWMD] = {4, {1, 2, 4, 8}},  [TUNE_VWND] = {4, {1, 2, 4, 8}},
    [TUNE_WGD] = {4, {8, 16, 32, 64}},
};

/* accumulators per thread above this compile for minutes and spill everywhere */
#define MAX_ACCUMULATORS 256

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static const choices *space_of(int direct, const size_t *v)
{
    return direct ? DIRECT : v[TUNE_GEMMK] ? XGEMM_K1 : XGEMM_K0;
}

/* GEMMK=1 shares one thread layout between computing and loading, and uses square tiles: CLBlast
 * before 1.6.3 mis-sizes its grid otherwise (see tune_xgemm_valid), and it keeps the space small */
static void tie(int direct, size_t *v)
{
    if (!direct && v[TUNE_GEMMK] == 1) {
        v[TUNE_MDIMA] = v[TUNE_MDIMC];
        v[TUNE_NDIMB] = v[TUNE_NDIMC];
        v[TUNE_NWG] = v[TUNE_MWG];
    }
}

static int acceptable(int direct, const size_t *v, const device_info *info)
{
    if (direct) return tune_direct_valid(v, info, NULL, 0);
    if (!tune_xgemm_valid(v, info, NULL, 0)) return 0;
    return (v[TUNE_MWG] / v[TUNE_MDIMC]) * (v[TUNE_NWG] / v[TUNE_NDIMC]) <= MAX_ACCUMULATORS;
}

static int same(const size_t *a, const size_t *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Draws a valid set not in list[0..have); 0 when the draws keep failing. */
static int draw(int direct, const choices *sp, const device_info *info, uint64_t *rng,
                size_t (*list)[TUNE_XGEMM_N], int have, size_t *out)
{
    int n = direct ? TUNE_DIRECT_N : TUNE_XGEMM_N;
    for (int attempt = 0; attempt < 200000; attempt++) {
        for (int i = 0; i < n; i++)
            out[i] = sp[i].v[next_random(rng) % (uint64_t)sp[i].n];
        tie(direct, out);
        if (!acceptable(direct, out, info)) continue;
        int dup = 0;
        for (int j = 0; j < have && !dup; j++)
            dup = same(list[j], out, n);
        if (!dup) return 1;
    }
    return 0;
}

typedef struct {
    size_t xgemm[64][TUNE_XGEMM_N];
    size_t direct[64][TUNE_DIRECT_N];
} owned_lists;

int tune_default_space(const device_info *info, int budget, unsigned seed, tune_space *s, char *err,
                       size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (budget < 1 || budget > 96) {
        snprintf(err, errlen, "a tuning budget of %d candidates is outside 1..96", budget);
        return -1;
    }
    owned_lists *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of host memory planning the tuning run");
        return -1;
    }
    /* a fifth of the budget for the direct kernel (it only matters for small GEMMs); of each part,
     * about a third goes to the hill climb */
    int nd = budget / 5, nx = budget - nd;
    int rand_d = nd - nd / 3, rand_x = nx - nx * 3 / 8;
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed * 0xD1B54A32D192ED03ULL);
    if (!rng) rng = 1;
    size_t tmp[TUNE_XGEMM_N];
    int have = 0;
    for (int i = 0; i < rand_x; i++) {
        /* alternate the two Xgemm kernels: CPUs and GPUs each favour a different one */
        memset(tmp, 0, sizeof tmp);
        if (!draw(0, i % 2 ? XGEMM_K1 : XGEMM_K0, info, &rng, o->xgemm, have, tmp)) continue;
        memcpy(o->xgemm[have++], tmp, sizeof o->xgemm[0]);
    }
    int haved = 0;
    size_t(*dl)[TUNE_XGEMM_N] = calloc(64, sizeof *dl);
    if (!dl) {
        free(o);
        snprintf(err, errlen, "out of host memory planning the tuning run");
        return -1;
    }
    for (int i = 0; i < rand_d; i++) {
        memset(tmp, 0, sizeof tmp);
        if (!draw(1, DIRECT, info, &rng, dl, haved, tmp)) continue;
        memcpy(dl[haved], tmp, sizeof dl[0]);
        memcpy(o->direct[haved++], tmp, sizeof o->direct[0]);
    }
    free(dl);
    if (have == 0) {
        free(o);
        snprintf(
            err, errlen,
            "no CLBlast Xgemm parameter set fits device %d (%s): work groups of %zu, %.0f KiB local memory",
            info->index, info->name, info->max_work_group, info->local_mem / 1024.0);
        return -1;
    }
    s->shapes = tune_study_shapes(&s->nshapes);
    s->xgemm = (const size_t(*)[TUNE_XGEMM_N])o->xgemm;
    s->nxgemm = have;
    s->direct = (const size_t(*)[TUNE_DIRECT_N])o->direct;
    s->ndirect = haved;
    s->refine_xgemm = nx - rand_x;
    s->refine_direct = haved ? nd - rand_d : 0;
    s->reps = 3;
    s->seed = seed;
    s->owned = o;
    return 0;
}

void tune_space_free(tune_space *s)
{
    free(s->owned);
    memset(s, 0, sizeof *s);
}

/* ---- timing ---- */

typedef struct {
    device_ctx *d;
    const tune_space *s;
    tune_result *r;
    cl_mem a, b, c;
    int cap; /* room in r->trials */
} run_ctx;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static CLBlastTranspose op(char t)
{
    return t == 'T' ? CLBlastTransposeYes : CLBlastTransposeNo;
}

static CLBlastStatusCode gemm(device_ctx *d, cl_mem a, cl_mem b, cl_mem c, const tune_shape *sh)
{
    size_t lda = sh->ta == 'T' ? sh->m : sh->k, ldb = sh->tb == 'T' ? sh->k : sh->n;
    return CLBlastSgemm(CLBlastLayoutRowMajor, op(sh->ta), op(sh->tb), sh->m, sh->n, sh->k, 1.0f, a, 0, lda,
                        b, 0, ldb, 0.0f, c, 0, sh->n, &d->queue, NULL);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Median seconds per call of one shape after a warm-up call (which pays any compile). Small GEMMs
 * are called several times per repetition so the timer sees milliseconds, not launch noise. */
static CLBlastStatusCode time_shape(run_ctx *c, const tune_shape *sh, double *median, double *first)
{
    double t0 = now_s();
    CLBlastStatusCode st = gemm(c->d, c->a, c->b, c->c, sh);
    if (st == CLBlastSuccess) st = (CLBlastStatusCode)clFinish(c->d->queue);
    *first = now_s() - t0;
    if (st != CLBlastSuccess) return st;
    t0 = now_s();
    st = gemm(c->d, c->a, c->b, c->c, sh);
    if (st == CLBlastSuccess) st = (CLBlastStatusCode)clFinish(c->d->queue);
    if (st != CLBlastSuccess) return st;
    double one = now_s() - t0;
    int calls = one > 0 ? (int)(0.004 / one) : 32;
    calls = calls < 1 ? 1 : calls > 32 ? 32 : calls;
    double t[16];
    int reps = c->s->reps < 1 ? 1 : c->s->reps > 16 ? 16 : c->s->reps;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        for (int i = 0; i < calls && st == CLBlastSuccess; i++)
            st = gemm(c->d, c->a, c->b, c->c, sh);
        if (st == CLBlastSuccess) st = (CLBlastStatusCode)clFinish(c->d->queue);
        if (st != CLBlastSuccess) return st;
        t[r] = (now_s() - t0) / calls;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    *median = t[reps / 2];
    return CLBlastSuccess;
}

/* Times every shape; a shape 4x slower than the best so far (cut[], may be NULL) ends the candidate
 * early with an infinite score. Returns the score, or NAN when CLBlast failed (status in *st). */
static double measure(run_ctx *c, double *times, const double *cut, double *first, CLBlastStatusCode *st)
{
    double score = 0, f = 0;
    *first = 0;
    for (int i = 0; i < c->s->nshapes; i++) {
        *st = time_shape(c, &c->s->shapes[i], &times[i], &f);
        if (i == 0) *first = f;
        if (*st != CLBlastSuccess) {
            clFinish(c->d->queue);
            return NAN;
        }
        if (cut && times[i] > 4 * cut[i]) return INFINITY;
        score += log(times[i] / c->r->before_s[i]);
    }
    return score / c->s->nshapes;
}

static int record(run_ctx *c, int direct, const size_t *v, double score, double first)
{
    if (c->r->ntrials == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        tune_trial *t = realloc(c->r->trials, (size_t)cap * sizeof *t);
        if (!t) return device_fail(c->d, "out of host memory while tuning");
        c->r->trials = t;
        c->cap = cap;
    }
    tune_trial *t = &c->r->trials[c->r->ntrials++];
    memset(t, 0, sizeof *t);
    t->direct = direct;
    memcpy(t->values, v, (direct ? TUNE_DIRECT_N : TUNE_XGEMM_N) * sizeof *v);
    t->score = isnan(score) ? INFINITY : score;
    t->first_call_s = first;
    if (isnan(score)) c->r->failed++;
    return 0;
}

static int tried(run_ctx *c, int direct, const size_t *v)
{
    for (int i = 0; i < c->r->ntrials; i++)
        if (c->r->trials[i].direct == direct &&
            same(c->r->trials[i].values, v, direct ? TUNE_DIRECT_N : TUNE_XGEMM_N))
            return 1;
    return 0;
}

/* A random untried valid set that differs from `from` in one parameter (one step along its list). */
static int neighbour(run_ctx *c, int direct, const size_t *from, uint64_t *rng, size_t *out)
{
    int n = direct ? TUNE_DIRECT_N : TUNE_XGEMM_N;
    const choices *sp = space_of(direct, from);
    size_t cand[2 * TUNE_XGEMM_N][TUNE_XGEMM_N];
    int nc = 0;
    for (int p = 0; p < n; p++) {
        if (!direct && from[TUNE_GEMMK] == 1 && (p == TUNE_MDIMA || p == TUNE_NDIMB || p == TUNE_NWG))
            continue;
        int at = -1;
        for (int j = 0; j < sp[p].n; j++)
            if (sp[p].v[j] == from[p]) at = j;
        if (at < 0) continue;
        for (int step = -1; step <= 1; step += 2) {
            int j = at + step;
            if (j < 0 || j >= sp[p].n) continue;
            memcpy(cand[nc], from, sizeof cand[0]);
            cand[nc][p] = sp[p].v[j];
            tie(direct, cand[nc]);
            if (acceptable(direct, cand[nc], &c->d->info) && !tried(c, direct, cand[nc])) nc++;
        }
    }
    if (nc == 0) return 0;
    memcpy(out, cand[next_random(rng) % (uint64_t)nc], sizeof cand[0]);
    return 1;
}

static void set_kernel(tune_params *p, int direct, const size_t *v)
{
    if (direct) {
        memcpy(p->direct, v, sizeof p->direct);
        p->has_direct = 1;
    } else {
        memcpy(p->xgemm, v, sizeof p->xgemm);
        p->has_xgemm = 1;
    }
}

static void log_trial(run_ctx *c, int direct, int i, int total, const size_t *v, double score, double first,
                      const double *times, CLBlastStatusCode st)
{
    if (!c->s->log) return;
    char text[400];
    tune_format(text, sizeof text, direct, v);
    /* the largest shape's rate, so the log reads in familiar units */
    int big = 0;
    double flop = 0;
    for (int j = 0; j < c->s->nshapes; j++) {
        const tune_shape *sh = &c->s->shapes[j];
        double f = 2.0 * (double)sh->m * (double)sh->n * (double)sh->k;
        if (f > flop) {
            flop = f;
            big = j;
        }
    }
    if (isnan(score))
        fprintf(c->s->log, "  %-6s %2d/%-2d failed (%s): %s\n", direct ? "direct" : "xgemm", i + 1, total,
                device_clblast_error(st), text);
    else if (isinf(score))
        fprintf(c->s->log, "  %-6s %2d/%-2d   cut   compile %4.1f s: %s\n", direct ? "direct" : "xgemm",
                i + 1, total, first, text);
    else
        fprintf(c->s->log, "  %-6s %2d/%-2d %5.2fx %6.1f GFLOP/s  compile %4.1f s: %s\n",
                direct ? "direct" : "xgemm", i + 1, total, exp(-score), flop / times[big] / 1e9, first, text);
    fflush(c->s->log);
}

/* Tries the listed candidates of one kernel, then `refine` neighbours of the best. CLBlast's own
 * set (timed already: base_t, base_score) is the one to beat; a candidate must be faster to replace
 * it. Leaves the winner in cur (has_ flag 0 when CLBlast's own won) and installed, and its
 * per-shape times in best_t. */
static int search(run_ctx *c, int direct, const size_t *list, int nlist, int refine, tune_params *cur,
                  const double *base_t, double base_score, double *best_t)
{
    int n = direct ? TUNE_DIRECT_N : TUNE_XGEMM_N;
    size_t best[TUNE_XGEMM_N] = {0}, v[TUNE_XGEMM_N] = {0};
    double best_score = base_score, times[TUNE_MAX_SHAPES] = {0};
    int found = 0, total = nlist + refine;
    memcpy(best_t, base_t, TUNE_MAX_SHAPES * sizeof *best_t);
    uint64_t rng = 0xA0761D6478BD642FULL ^ ((uint64_t)c->s->seed << 1 | (uint64_t)direct);
    for (int i = 0; i < total; i++) {
        if (i < nlist) {
            memcpy(v, list + (size_t)i * (size_t)n, (size_t)n * sizeof *v);
            if (tried(c, direct, v)) continue;
        } else if (!found || !neighbour(c, direct, best, &rng, v)) {
            break; /* CLBlast's own set has no known neighbours: nothing to climb from */
        }
        char why[200];
        if (!(direct ? tune_direct_valid(v, &c->d->info, why, sizeof why)
                     : tune_xgemm_valid(v, &c->d->info, why, sizeof why))) {
            if (c->s->log)
                fprintf(c->s->log, "  %-6s %2d/%-2d skipped: %s\n", direct ? "direct" : "xgemm", i + 1, total,
                        why);
            if (record(c, direct, v, NAN, 0) != 0) return -1;
            continue;
        }
        CLBlastStatusCode st = CLBlastOverrideParameters(
            c->d->info.id, direct ? "XgemmDirect" : "Xgemm", CLBlastPrecisionSingle, (size_t)n,
            (const char **)(direct ? tune_direct_names : tune_xgemm_names), v);
        double first = 0, score = NAN;
        if (st == CLBlastSuccess) score = measure(c, times, best_t, &first, &st);
        log_trial(c, direct, i, total, v, score, first, times, st);
        if (record(c, direct, v, score, first) != 0) return -1;
        if (!isnan(score) && score < best_score) {
            best_score = score;
            memcpy(best, v, sizeof best);
            memcpy(best_t, times, TUNE_MAX_SHAPES * sizeof *best_t);
            found = 1;
        }
    }
    if (!found) {
        /* CLBlast's own set won. It cannot be reinstalled in this process (its values are not
         * exposed to C), but it is what every later process gets when the kernel is not stored */
        if (direct)
            cur->has_direct = 0;
        else
            cur->has_xgemm = 0;
        return 0;
    }
    /* the last candidate tried is what CLBlast holds now; put the best back (compiled already) */
    set_kernel(cur, direct, best);
    if (tune_install(c->d, cur) != 0) return -1;
    return tune_verify(c->d);
}

/* The direct/indirect threshold: GEMMs with m*n*k below min^3 go direct. Shapes with the same m*n*k
 * form one class that cannot be split; among the splits between classes, the one with the lowest
 * total log time wins, and the threshold goes to the geometric middle of its gap. */
static size_t choose_threshold(const tune_space *s, const double *t_ind, const double *t_dir)
{
    int n = s->nshapes;
    double mnk[TUNE_MAX_SHAPES];
    for (int i = 0; i < n; i++)
        mnk[i] = (double)s->shapes[i].m * (double)s->shapes[i].n * (double)s->shapes[i].k;
    double best_cost = INFINITY, best_cut = 0;
    /* candidate cuts: below everything, between each pair of distinct sizes, above everything */
    double cuts[TUNE_MAX_SHAPES + 1];
    int nc = 0;
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        lo = fmin(lo, mnk[i]);
        hi = fmax(hi, mnk[i]);
    }
    cuts[nc++] = lo / 8;
    for (int i = 0; i < n; i++) {
        double next = INFINITY;
        for (int j = 0; j < n; j++)
            if (mnk[j] > mnk[i] && mnk[j] < next) next = mnk[j];
        if (isfinite(next)) cuts[nc++] = sqrt(mnk[i] * next);
    }
    cuts[nc++] = hi * 8;
    for (int c = 0; c < nc; c++) {
        double cost = 0;
        for (int i = 0; i < n; i++)
            cost += log(mnk[i] < cuts[c] ? t_dir[i] : t_ind[i]);
        if (cost < best_cost - 1e-12) {
            best_cost = cost;
            best_cut = cuts[c];
        }
    }
    size_t t = (size_t)llround(cbrt(best_cut));
    return t < 1 ? 1 : t;
}

/* Times every shape with CLBlast's own kernels forced down one path (min_indirect 0: all indirect,
 * a huge one: all direct); each is a program CLBlast builds with its own Xgemm and XgemmDirect. */
static int measure_path(run_ctx *c, size_t min_indirect, double *times, double *score)
{
    tune_params p;
    memset(&p, 0, sizeof p);
    p.has_min_indirect = 1;
    p.min_indirect = min_indirect;
    if (tune_install(c->d, &p) != 0) return -1;
    double first;
    CLBlastStatusCode st;
    *score = measure(c, times, NULL, &first, &st);
    if (isnan(*score))
        return device_fail(c->d, "CLBlast SGEMM with its own parameters failed on device %d (%s): %s",
                           c->d->info.index, c->d->info.name, device_clblast_error(st));
    if (c->s->log)
        fprintf(c->s->log, "  CLBlast's own %s kernel on every shape: %.2fx\n",
                min_indirect ? "direct" : "Xgemm", exp(-*score));
    return 0;
}

#define ALL_DIRECT 100000 /* its cube exceeds any m*n*k a device holds */

static int run_search(run_ctx *c, tune_result *r)
{
    device_ctx *d = c->d;
    const tune_space *s = c->s;
    double first;
    CLBlastStatusCode st;
    for (int i = 0; i < s->nshapes; i++) {
        st = time_shape(c, &s->shapes[i], &r->before_s[i], &first);
        if (st != CLBlastSuccess)
            return device_fail(d, "CLBlast SGEMM %c%c %zux%zux%zu on device %d (%s) failed before tuning: %s",
                               s->shapes[i].ta, s->shapes[i].tb, s->shapes[i].m, s->shapes[i].n,
                               s->shapes[i].k, d->info.index, d->info.name, device_clblast_error(st));
    }
    /* CLBlast's own sets on each path, before anything replaces them */
    double own_ind[TUNE_MAX_SHAPES] = {0}, own_dir[TUNE_MAX_SHAPES] = {0};
    if (measure_path(c, 0, own_ind, &r->own_score[0]) != 0) return -1;
    if (measure_path(c, ALL_DIRECT, own_dir, &r->own_score[1]) != 0) return -1;
    tune_params cur;
    memset(&cur, 0, sizeof cur);
    cur.has_min_indirect = 1;
    double t_ind[TUNE_MAX_SHAPES], t_dir[TUNE_MAX_SHAPES];
    /* every GEMM indirect while Xgemm is tuned, every GEMM direct while XgemmDirect is */
    cur.min_indirect = 0;
    if (tune_install(d, &cur) != 0) return -1;
    if (search(c, 0, &s->xgemm[0][0], s->nxgemm, s->refine_xgemm, &cur, own_ind, r->own_score[0], t_ind) != 0)
        return -1;
    cur.min_indirect = ALL_DIRECT;
    if (tune_install(d, &cur) != 0) return -1;
    if (s->ndirect > 0 && search(c, 1, &s->direct[0][0], s->ndirect, s->refine_direct, &cur, own_dir,
                                 r->own_score[1], t_dir) != 0)
        return -1;
    if (s->ndirect == 0) memcpy(t_dir, own_dir, sizeof t_dir);
    cur.min_indirect = choose_threshold(s, t_ind, t_dir);
    /* after = the measured time of the kernel each shape now takes: the whole set cannot be timed
     * together here when one of CLBlast's own sets won, as those cannot be reinstalled in-process */
    double score = 0;
    for (int i = 0; i < s->nshapes; i++) {
        double mnk = (double)s->shapes[i].m * (double)s->shapes[i].n * (double)s->shapes[i].k;
        double t = (double)cur.min_indirect;
        r->after_s[i] = mnk < t * t * t ? t_dir[i] : t_ind[i];
        score += log(r->after_s[i] / r->before_s[i]);
    }
    if (tune_install(d, &cur) != 0) return -1;
    r->best = cur;
    r->speedup = exp(-score / s->nshapes);
    return 0;
}

int tune_run(device_ctx *d, const tune_space *s, tune_result *r)
{
    memset(r, 0, sizeof *r);
    if (s->nshapes < 1 || s->nshapes > TUNE_MAX_SHAPES || s->nxgemm < 1 || s->ndirect < 0 ||
        s->refine_xgemm < 0 || s->refine_direct < 0)
        return device_fail(d, "a tuning run needs 1 to %d shapes and at least one Xgemm candidate",
                           TUNE_MAX_SHAPES);
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < s->nshapes; i++) {
        const tune_shape *sh = &s->shapes[i];
        if (sh->m == 0 || sh->n == 0 || sh->k == 0 || (sh->ta != 'N' && sh->ta != 'T') ||
            (sh->tb != 'N' && sh->tb != 'T'))
            return device_fail(d, "tuning shape %d is not a valid GEMM (m, n, k >= 1, op N or T)", i + 1);
        if (sh->m * sh->k > na) na = sh->m * sh->k;
        if (sh->k * sh->n > nb) nb = sh->k * sh->n;
        if (sh->m * sh->n > nc) nc = sh->m * sh->n;
    }
    run_ctx c = {.d = d, .s = s, .r = r};
    size_t most = na > nb ? na : nb;
    float *host = malloc(most * sizeof *host);
    if (!host) return device_fail(d, "out of host memory while tuning");
    /* values away from zero and denormals: the timing must not depend on the data */
    uint64_t rng = 12345;
    for (size_t i = 0; i < most; i++)
        host[i] = 0.5f + (float)(next_random(&rng) >> 40) / (float)(1 << 24);
    int rc = -1;
    if ((c.a = device_alloc(d, na * sizeof(float), "the tuner's A matrix")) &&
        (c.b = device_alloc(d, nb * sizeof(float), "the tuner's B matrix")) &&
        (c.c = device_alloc(d, nc * sizeof(float), "the tuner's C matrix")) &&
        device_write(d, c.a, 0, na * sizeof(float), host) == 0 &&
        device_write(d, c.b, 0, nb * sizeof(float), host) == 0)
        rc = run_search(&c, r);
    free(host);
    if (c.a) clReleaseMemObject(c.a);
    if (c.b) clReleaseMemObject(c.b);
    if (c.c) clReleaseMemObject(c.c);
    return rc;
}

void tune_result_free(tune_result *r)
{
    free(r->trials);
    memset(r, 0, sizeof *r);
}

/* ---- correctness ---- */

static int verify_one(device_ctx *d, const tune_shape *sh, float *ha, float *hb, float *hc, cl_mem a,
                      cl_mem b, cl_mem c)
{
    size_t m = sh->m, n = sh->n, k = sh->k;
    if (device_write(d, a, 0, m * k * sizeof(float), ha) != 0 ||
        device_write(d, b, 0, k * n * sizeof(float), hb) != 0)
        return -1;
    CLBlastStatusCode st = gemm(d, a, b, c, sh);
    if (st != CLBlastSuccess)
        return device_fail(d, "CLBlast SGEMM %c%c %zux%zux%zu on device %d (%s) failed: %s", sh->ta, sh->tb,
                           m, n, k, d->info.index, d->info.name, device_clblast_error(st));
    if (device_read(d, c, 0, m * n * sizeof(float), hc) != 0) return -1;
    double worst = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double ref = 0;
            for (size_t p = 0; p < k; p++) {
                double x = sh->ta == 'T' ? ha[p * m + i] : ha[i * k + p];
                double y = sh->tb == 'T' ? hb[j * k + p] : hb[p * n + j];
                ref += x * y;
            }
            /* inputs are positive, so ref >= k/16 and the relative error is well defined */
            double e = fabs(hc[i * n + j] - ref) / ref;
            if (!(e <= worst)) worst = e;
        }
    if (!(worst <= 1e-4))
        return device_fail(d,
                           "CLBlast SGEMM %c%c %zux%zux%zu on device %d (%s) computes wrong results with the "
                           "installed parameters (relative error %.2g)",
                           sh->ta, sh->tb, m, n, k, d->info.index, d->info.name, worst);
    return 0;
}

int tune_verify(device_ctx *d)
{
    /* odd sizes, so padding and edge tiles are exercised on both the direct and the indirect path */
    static const size_t sizes[][3] = {{29, 37, 23}, {131, 97, 75}};
    static const char ops[][2] = {{'N', 'N'}, {'N', 'T'}, {'T', 'N'}, {'T', 'T'}};
    size_t most = 131 * 97;
    float *ha = malloc(most * sizeof *ha), *hb = malloc(most * sizeof *hb), *hc = malloc(most * sizeof *hc);
    cl_mem a = NULL, b = NULL, c = NULL;
    int rc = -1;
    if (!ha || !hb || !hc) {
        device_fail(d, "out of host memory checking GEMM results");
        goto done;
    }
    uint64_t rng = 777;
    for (size_t i = 0; i < most; i++) {
        ha[i] = 0.25f + (float)(next_random(&rng) >> 40) / (float)(1 << 24);
        hb[i] = 0.25f + (float)(next_random(&rng) >> 40) / (float)(1 << 24);
    }
    if (!(a = device_alloc(d, most * sizeof(float), "a GEMM check")) ||
        !(b = device_alloc(d, most * sizeof(float), "a GEMM check")) ||
        !(c = device_alloc(d, most * sizeof(float), "a GEMM check")))
        goto done;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            tune_shape sh = {ops[o][0], ops[o][1], sizes[s][0], sizes[s][1], sizes[s][2], "check"};
            if (verify_one(d, &sh, ha, hb, hc, a, b, c) != 0) goto done;
        }
    rc = 0;
done:
    free(ha);
    free(hb);
    free(hc);
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    if (c) clReleaseMemObject(c);
    return rc;
}
