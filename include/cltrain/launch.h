/* launch.h: how cltrain's own kernels are launched on a device: the conv algorithm, work-group
 * sizes, vector widths and work per item, as data instead of constants in the ops.
 *
 * Every choice has a default that reproduces the rule measured best on PoCL (perf/RESULTS.md), and a
 * short list of candidates that are all correct on any device (the op tests run each). `cltrain
 * tune` times the candidates on training steps of the study's model and stores the fastest as
 * `<cache dir>/kernels-<hash>.json`, keyed like the kernel cache by platform, device and driver;
 * device_open loads it. A file that does not parse, belongs to another device, or holds a value that
 * is not a candidate is ignored with a one-line warning: the defaults always work. */
#ifndef CLTRAIN_LAUNCH_H
#define CLTRAIN_LAUNCH_H

#include <stddef.h>

/* The choices. Where a value of 0 or -1 is a candidate, its meaning is given. */
typedef enum {
    LAUNCH_CONV_ALGO,    /* conv and dense: 0 by device type (direct on CPUs), 1 direct kernels, 2 im2col +
                            CLBlast GEMMs */
    LAUNCH_CONV_VW,      /* direct conv: widest vector of pixels per work-item (4, 8, 16) */
    LAUNCH_CONV_FB,      /* direct conv: most output channels per work-item (1, 2, 4, 8, 16) */
    LAUNCH_CONV_GROUP,   /* direct conv: most work-items per group of whole rows; 0 only on rows of 64+
                            pixels (the rule), -1 the driver's choice */
    LAUNCH_WGRAD_FB,     /* direct weight gradient: most filters per work-item, at k <= 3 (1, 2, 4) */
    LAUNCH_WGRAD_PIXELS, /* direct weight gradient: pixels each partial sum covers */
    LAUNCH_POOL_GROUP,   /* max pool: most work-items per group of whole rows; -1 the driver's choice */
    LAUNCH_BN_CHUNK,     /* batch norm: elements each stage-1 work-item reduces */
    LAUNCH_WG_1D,        /* element-wise kernels (activations, dropout, optimizer): work-group size; -1
                            the driver's choice */
    LAUNCH_N
} launch_param;

#define LAUNCH_MAX_CANDIDATES 8

typedef struct {
    const char *name; /* in the file and in `cltrain tune`'s report, e.g. "conv_fb" */
    int defaults;
    int ncandidates;
    int candidates[LAUNCH_MAX_CANDIDATES]; /* in the order the tuner tries them */
    const char *what;                      /* one line for the report */
} launch_choice;

extern const launch_choice launch_choices[LAUNCH_N];

/* One value per choice; device_ctx holds the set in force for its device. */
typedef struct {
    int v[LAUNCH_N];
} launch_set;

void launch_defaults(launch_set *s);

/* Whether value is one of the choice's candidates (and thus safe to run). */
int launch_valid(launch_param p, int value);

/* "conv_algo=0 conv_vw=16 ..." */
void launch_format(const launch_set *s, char *out, size_t len);

/* The file for a device; empty when the cache is disabled. */
typedef struct device_info device_info; /* device.h */
void launch_file_path(const device_info *info, char *out, size_t len);

/* Writes s to the device's file atomically, with `notes` (a JSON object text of measurements, may be
 * NULL) kept beside it for people to read. */
int launch_store(const device_info *info, const launch_set *s, const char *notes, char *err, size_t errlen);

/* Reads the device's file: 1 loaded, 0 none (or the cache is disabled), -1 present but unusable, with
 * the reason in why. s is set to the defaults unless 1 is returned. */
int launch_load(const device_info *info, launch_set *s, char *why, size_t whylen);

#endif
