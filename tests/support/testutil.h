/* testutil.h: what every Check suite shares: the device under test, seeded random inputs, host <->
 * device copies, and the error measure kernels are compared with. */
#ifndef CLTRAIN_TESTUTIL_H
#define CLTRAIN_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cltrain/device.h"

/* The device tests run on: index $CLTRAIN_TEST_DEVICE (default 0), opened once per process. */
device_ctx *tu_device(void);

/* Fails the test with d->error when rc != 0. */
#define TU_OK(d, rc) ck_assert_msg((rc) == 0, "%s", (d)->error)

/* Deterministic uniform floats in [lo, hi) from a seeded xorshift; use ranges that exclude 0 where a
 * zero input could hide a bug. */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);
/* Same, but doubles (for references that need inputs in double). */
double tu_uniform(uint64_t *state);

/* A device buffer holding a copy of host[n]; and reading n floats back into a new host array. */
cl_mem tu_upload(device_ctx *d, const float *host, size_t n);
float *tu_download(device_ctx *d, cl_mem buf, size_t n);

/* max_i |got_i - ref_i| / max(|ref_i|, floor) with floor = 1e-3 * max_i |ref_i|, so elements near
 * zero are judged on the tensor's scale instead of their own. */
double tu_max_rel_err(const float *got, const double *ref, size_t n);

/* A new double copy of f[n]; the dot product of a[n] and b[n] in double. */
double *tu_to_double(const float *f, size_t n);
double tu_dot(const double *a, const double *b, size_t n);

/* Expects rc == -1 and a sentence in d->error that contains `word`; clears the error after. */
void tu_expect_refused(device_ctx *d, int rc, const char *word);

/* The i-th of every non-default candidate of the choices ps[np] (launch.h), counted in order: sets
 * it on d (the others at their defaults) and returns 1, or returns 0 past the last one. A loop test
 * over 0 .. tu_launch_count(ps, np) - 1 thus checks an op under each value `cltrain tune` may store. */
int tu_launch_count(const launch_param *ps, int np);
int tu_launch_pick(device_ctx *d, const launch_param *ps, int np, int i, char *what, size_t whatlen);

/* malloc that fails the test instead of returning NULL. */
void *tu_alloc(size_t bytes);

/* A whole file as a NUL-terminated string (free it), or NULL when it cannot be read. */
char *tu_read_text(const char *path);

/* Starts the cltrain binary ($CLTRAIN_BIN, set by ctest) with args (NULL-terminated), its stdout and
 * stderr into the file `log`; returns the child's pid. tu_wait_cli returns its exit code (128 + the
 * signal when killed by one). */
pid_t tu_start_cli(const char *log, const char *const *args);
int tu_wait_cli(pid_t pid);

/* Makes a fresh directory /tmp/cltrain-<tag>-XXXXXX into dir and points the cache at it
 * (CLTRAIN_CACHE_DIR), with caching and stored launch choices on: nothing a user or another test
 * stored is seen. tu_remove_tree(dir) undoes it. */
void tu_private_cache(char *dir, size_t len, const char *tag);

/* Removes a directory tree the test made (best effort: a test's leftovers are not its failure). */
void tu_remove_tree(const char *path);

/* Runs one suite and returns the process exit status (0 when all passed). */
int tu_run_suite(Suite *s);

#endif
