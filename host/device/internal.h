/* internal.h: what device.c and program.c share and no other module needs. */
#ifndef CLTRAIN_DEVICE_INTERNAL_H
#define CLTRAIN_DEVICE_INTERNAL_H

#include "cltrain/device.h"

/* Releases every program and kernel built on the device (program.c). */
void device_release_programs(device_ctx *d);

/* mkdir -p, best effort: a cache directory that cannot be made only costs speed. */
void device_make_dirs(const char *path);

#endif
