/* errors.c: names for OpenCL and CLBlast status codes, so every failure reads as a sentence. */
#include "cltrain/device.h"

#include <clblast_c.h>
#include <stdio.h>

const char *device_cl_error(cl_int status)
{
    switch (status) {
#define E(x) \
    case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL driver installed)";
    default: {
        static _Thread_local char buf[48];
        snprintf(buf, sizeof buf, "OpenCL error %d", (int)status);
        return buf;
    }
    }
}

const char *device_clblast_error(int status)
{
    if (status > -1000 && status <= 0) return device_cl_error(status);
    switch (status) {
    case CLBlastNotImplemented: return "CLBlast: routine or option not implemented";
    case CLBlastInvalidMatrixA: return "CLBlast: invalid matrix A";
    case CLBlastInvalidMatrixB: return "CLBlast: invalid matrix B";
    case CLBlastInvalidMatrixC: return "CLBlast: invalid matrix C";
    case CLBlastInvalidVectorX: return "CLBlast: invalid vector X";
    case CLBlastInvalidVectorY: return "CLBlast: invalid vector Y";
    case CLBlastInvalidDimension: return "CLBlast: invalid dimension";
    case CLBlastInvalidLeadDimA: return "CLBlast: leading dimension of A too small";
    case CLBlastInvalidLeadDimB: return "CLBlast: leading dimension of B too small";
    case CLBlastInvalidLeadDimC: return "CLBlast: leading dimension of C too small";
    case CLBlastInvalidIncrementX: return "CLBlast: invalid increment of X";
    case CLBlastInvalidIncrementY: return "CLBlast: invalid increment of Y";
    case CLBlastInsufficientMemoryA: return "CLBlast: buffer A too small";
    case CLBlastInsufficientMemoryB: return "CLBlast: buffer B too small";
    case CLBlastInsufficientMemoryC: return "CLBlast: buffer C too small";
    case CLBlastInvalidBatchCount: return "CLBlast: invalid batch count";
    case CLBlastInvalidOverrideKernel: return "CLBlast: invalid override kernel";
    case CLBlastMissingOverrideParameter: return "CLBlast: missing override parameter";
    case CLBlastInvalidLocalMemUsage: return "CLBlast: too much local memory";
    case CLBlastNoHalfPrecision: return "CLBlast: no half precision";
    case CLBlastNoDoublePrecision: return "CLBlast: no double precision";
    case CLBlastInvalidVectorScalar: return "CLBlast: invalid vector scalar";
    case CLBlastInsufficientMemoryScalar: return "CLBlast: scalar buffer too small";
    case CLBlastDatabaseError: return "CLBlast: no tuning database entry for this device";
    case CLBlastUnknownError: return "CLBlast: unknown error";
    case CLBlastUnexpectedError: return "CLBlast: unexpected error";
    default: {
        static _Thread_local char buf[48];
        snprintf(buf, sizeof buf, "CLBlast error %d", status);
        return buf;
    }
    }
}
