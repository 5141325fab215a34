/* cl_sources.h: the OpenCL C kernel files embedded in the binary at build time (every .cl file in cl/). */
#ifndef CLTRAIN_CL_SOURCES_H
#define CLTRAIN_CL_SOURCES_H

typedef struct {
    const char *name; /* file name, e.g. "conv.cl" */
    const char *text; /* NUL-terminated source */
} cl_source;

/* Terminated by an entry whose name is NULL. */
extern const cl_source cl_embedded[];

#endif
