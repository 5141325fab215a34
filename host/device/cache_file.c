/* cache_file.c: the small per-device JSON files beside the kernel cache (tuned CLBlast parameters,
 * tuned launch choices): their names, the identity they are keyed by, and atomic writes, so a
 * process opening the device reads the old file or the new one, never half of one. */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* separator, so ("ab","c") and ("a","bc") differ */
}

void device_cache_file(const device_info *info, const char *stem, char *out, size_t len)
{
    char dir[1024];
    device_cache_dir(dir, sizeof dir);
    out[0] = '\0';
    if (!dir[0]) return;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, info->platform_name);
    h = fnv(h, info->name);
    h = fnv(h, info->driver_version);
    h = fnv(h, info->device_version);
    snprintf(out, len, "%s/%s-%016llx.json", dir, stem, (unsigned long long)h);
}

void device_identity_add(cJSON *root, const device_info *info)
{
    cJSON_AddStringToObject(root, "platform", info->platform_name);
    cJSON_AddStringToObject(root, "device", info->name);
    cJSON_AddStringToObject(root, "driver", info->driver_version);
    cJSON_AddStringToObject(root, "device_version", info->device_version);
}

static int same_string(const cJSON *root, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) && !strcmp(v->valuestring, want);
}

int device_identity_same(const cJSON *root, const device_info *info)
{
    return same_string(root, "platform", info->platform_name) && same_string(root, "device", info->name) &&
           same_string(root, "driver", info->driver_version) &&
           same_string(root, "device_version", info->device_version);
}

int device_cache_write(const char *path, const char *text, char *err, size_t errlen)
{
    char dir[1024];
    device_cache_dir(dir, sizeof dir);
    device_make_dirs(dir);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    if (fclose(f) != 0) ok = 0;
    /* rename is atomic: a reader sees the old file or the new one */
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

char *device_cache_read(const char *path, int *missing)
{
    *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        return NULL;
    }
    char *text = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    /* these files are a few kilobytes; anything near a megabyte is not ours */
    if (n < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET) != 0 || !(text = malloc((size_t)n + 1)) ||
        fread(text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(text);
        return NULL;
    }
    fclose(f);
    text[n] = '\0';
    return text;
}
