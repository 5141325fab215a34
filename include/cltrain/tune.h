/* tune.h: CLBlast SGEMM parameters measured per device (`cltrain tune`), stored beside the kernel
 * cache and installed with CLBlastOverrideParameters whenever a later process opens that device.
 *
 * CLBlast ships a database of tuned parameters, but a device it does not know (PoCL on a CPU, a new
 * GPU) gets a generic set that can be several times slower than what a short search finds. Tuned
 * parameters are data: one JSON file per device, `<cache dir>/clblast-<hash>.json`, keyed like the
 * kernel cache by platform, device and driver version, plus the CLBlast version whose parameter
 * names it holds. A file that does not parse, belongs to another device or CLBlast, or holds a set
 * the device cannot run is ignored with a one-line warning: CLBlast's own parameters always work.
 *
 * Three CLBlast "kernels" are tuned: "Xgemm" (the fast kernel behind the indirect path, which pads
 * and transposes its operands first), "XgemmDirect" (one kernel for any shape, better for small
 * GEMMs) and "GemmRoutine", whose XGEMM_MIN_INDIRECT_SIZE picks between them: a GEMM runs direct
 * when m*n*k < XGEMM_MIN_INDIRECT_SIZE^3. */
#ifndef CLTRAIN_TUNE_H
#define CLTRAIN_TUNE_H

#include <stddef.h>
#include <stdio.h>
#include "cltrain/device.h"

/* Positions of the "Xgemm" parameters in tune_params.xgemm (CLBlast's names, alphabetical). */
enum {
    TUNE_GEMMK,
    TUNE_KREG,
    TUNE_KWG,
    TUNE_KWI,
    TUNE_MDIMA,
    TUNE_MDIMC,
    TUNE_MWG,
    TUNE_NDIMB,
    TUNE_NDIMC,
    TUNE_NWG,
    TUNE_SA,
    TUNE_SB,
    TUNE_STRM,
    TUNE_STRN,
    TUNE_VWM,
    TUNE_VWN,
    TUNE_XGEMM_N
};
/* Positions of the "XgemmDirect" parameters in tune_params.direct. */
enum {
    TUNE_KWID,
    TUNE_MDIMAD,
    TUNE_MDIMCD,
    TUNE_NDIMBD,
    TUNE_NDIMCD,
    TUNE_PADA,
    TUNE_PADB,
    TUNE_VWMD,
    TUNE_VWND,
    TUNE_WGD,
    TUNE_DIRECT_N
};

/* CLBlast's parameter names, indexed by the enums above. */
extern const char *const tune_xgemm_names[TUNE_XGEMM_N];
extern const char *const tune_direct_names[TUNE_DIRECT_N];

/* A parameter set; a kernel whose has_ flag is 0 keeps CLBlast's own parameters. */
typedef struct {
    int has_xgemm, has_direct, has_min_indirect;
    size_t xgemm[TUNE_XGEMM_N];
    size_t direct[TUNE_DIRECT_N];
    size_t min_indirect; /* XGEMM_MIN_INDIRECT_SIZE */
} tune_params;

/* One GEMM the tuner times: row-major C[m,n] = op(A) op(B), op = 'N' or 'T' (A^T: A stored [k,m]). */
typedef struct {
    char ta, tb;
    size_t m, n, k;
    const char *what; /* where the study's models produce it, for the report */
} tune_shape;

#define TUNE_MAX_SHAPES 16

/* What the tuner tries. Candidate lists are tried in order; refine_* more are then drawn one at a
 * time from the valid single-parameter neighbours of the best so far (a short hill climb). With no
 * direct candidates the direct kernel and the direct/indirect threshold are left alone. */
typedef struct {
    const tune_shape *shapes;
    int nshapes;
    const size_t (*xgemm)[TUNE_XGEMM_N];
    int nxgemm;
    const size_t (*direct)[TUNE_DIRECT_N];
    int ndirect;
    int refine_xgemm, refine_direct;
    int reps;      /* timed repetitions per shape (median), after one untimed warm-up call */
    unsigned seed; /* for the neighbour draws */
    FILE *log;     /* one line per candidate; NULL: quiet */
    /* owned by tune_default_space (freed by tune_space_free); NULL for a caller-built space */
    void *owned;
} tune_space;

/* One candidate measured: the kernel it set, its parameters, its score (mean log of time over the
 * baseline's, per shape: negative is faster; INFINITY when it failed or was cut short). */
typedef struct {
    int direct; /* 0: an Xgemm candidate, 1: an XgemmDirect candidate */
    size_t values[TUNE_XGEMM_N];
    double score;
    double first_call_s; /* the warm-up call that paid CLBlast's compile */
} tune_trial;

typedef struct {
    tune_params best;                 /* what was installed last and should be stored */
    double before_s[TUNE_MAX_SHAPES]; /* median seconds per shape with the parameters found installed */
    double after_s[TUNE_MAX_SHAPES];  /* same with `best`: the time of the kernel each shape takes */
    double speedup;                   /* geometric mean over the shapes of before/after */
    double own_score[2];              /* CLBlast's own Xgemm, XgemmDirect on every shape (as tune_trial) */
    tune_trial *trials;               /* every candidate in the order tried (tune_result_free) */
    int ntrials, failed;
} tune_result;

/* The shapes the study's models produce (conv forward and its two backward GEMMs, the first layer,
 * the dense layer and its weight gradient) plus 1024^3. */
const tune_shape *tune_study_shapes(int *count);

/* A default search for the device: about `budget` candidates (each costs a CLBlast compile, ~8 s on
 * a 2-core CPU under PoCL), drawn with `seed` from CLBlast's tuner spaces, valid for the device's
 * work-group size and local memory; shapes from tune_study_shapes. Free with tune_space_free. */
int tune_default_space(const device_info *info, int budget, unsigned seed, tune_space *s, char *err,
                       size_t errlen);
void tune_space_free(tune_space *s);

/* Whether a set obeys CLBlast's constraints (tile sizes divisible, as the kernels assume) and the
 * device's limits. 1 valid, 0 not, with the reason in why (may be NULL). */
int tune_xgemm_valid(const size_t *v, const device_info *info, char *why, size_t whylen);
int tune_direct_valid(const size_t *v, const device_info *info, char *why, size_t whylen);

/* Measures the parameters installed now (the baseline), CLBlast's own Xgemm and XgemmDirect with
 * every shape forced down their path, then the candidates of each (which must beat CLBlast's own to
 * be kept), and picks the direct/indirect threshold from those times. Installs the result (a kernel
 * where CLBlast's own won keeps the last candidate in this process: only the stored file is exact).
 * Call it on a process where no set was installed before. Fills r (free with tune_result_free). A
 * failing candidate is skipped; -1 with d->error when the device fails or a winner computes wrong
 * results. */
int tune_run(device_ctx *d, const tune_space *s, tune_result *r);
void tune_result_free(tune_result *r);

/* Installs p with CLBlastOverrideParameters for this process (CLBlast compiles on the next call). */
int tune_install(device_ctx *d, const tune_params *p);

/* Checks CLBlastSgemm against a double-precision host reference on odd shapes in all four
 * transpositions, with whatever parameters are installed. */
int tune_verify(device_ctx *d);

/* The file for a device: "<cache dir>/clblast-<hash>.json"; empty when the cache is disabled. */
void tune_file_path(const device_info *info, char *out, size_t len);

/* Writes p (and, when r is not NULL, the measurements) to the device's file, atomically. */
int tune_store(const device_info *info, const tune_params *p, const tune_result *r, const tune_space *s,
               char *err, size_t errlen);

/* Reads the device's file: 1 loaded, 0 none stored (or the cache is disabled), -1 present but
 * unusable (corrupt, foreign, invalid), with the reason in why. */
int tune_load(const device_info *info, tune_params *p, char *why, size_t whylen);

/* What the device layer calls when it opens a device: installs the stored parameters, if any.
 * Returns how many kernels it set (0 when none are stored, CLTRAIN_NO_TUNE=1 is set, or the file is
 * unusable: then one warning line on stderr). Never fails: CLBlast's defaults are always correct. */
int tune_apply(device_ctx *d);

/* Writes "NAME=value ..." for a kernel's parameters. */
void tune_format(char *out, size_t len, int direct, const size_t *values);

#endif
