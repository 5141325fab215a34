/* internal.h: what device.c and program.c share and no other module needs. */
#ifndef CLTRAIN_DEVICE_INTERNAL_H
#define CLTRAIN_DEVICE_INTERNAL_H

#include <cjson/cJSON.h>

#include "cltrain/device.h"

/* Releases every program and kernel built on the device (program.c). */
void device_release_programs(device_ctx *d);

/* mkdir -p, best effort: a cache directory that cannot be made only costs speed. */
void device_make_dirs(const char *path);

/* Whether CLTRAIN_NO_TUNE asks for the defaults instead of what `cltrain tune` stored. */
int device_tuning_off(void);

/* The per-device file "<cache dir>/<stem>-<hash>.json" (cache_file.c); empty when the cache is
 * disabled. The hash covers the identity device_identity_add writes into the file and
 * device_identity_same checks when reading it back. */
void device_cache_file(const device_info *info, const char *stem, char *out, size_t len);
void device_identity_add(cJSON *root, const device_info *info);
int device_identity_same(const cJSON *root, const device_info *info);

/* Writes text (and a newline) to path through a temporary file and rename. */
int device_cache_write(const char *path, const char *text, char *err, size_t errlen);
/* The whole file, malloc'd; NULL when it is missing (*missing = 1) or unreadable or too big. */
char *device_cache_read(const char *path, int *missing);

#endif
