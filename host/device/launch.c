/* launch.c: the launch choices of cltrain's own kernels (launch.h): the table of defaults and
 * candidates, and the per-device file `cltrain tune` writes and device_open reads. */
#include "cltrain/launch.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The defaults are the rules the ops used before they were data (each measured in perf/RESULTS.md);
 * the candidates are the values around them that every op test runs correctly. */
const launch_choice launch_choices[LAUNCH_N] = {
    [LAUNCH_CONV_ALGO] =
        {"conv_algo", 0, 3, {0, 1, 2}, "conv/dense: 0 by device type, 1 direct kernels, 2 GEMMs"},
    [LAUNCH_CONV_VW] = {"conv_vw", 16, 3, {16, 8, 4}, "direct conv: widest pixel vector"},
    [LAUNCH_CONV_FB] = {"conv_fb", 8, 5, {8, 4, 16, 2, 1}, "direct conv: most filters per work-item"},
    [LAUNCH_CONV_GROUP] = {"conv_group",
                           0,
                           6,
                           {0, -1, 32, 64, 128, 256},
                           "direct conv: most work-items per group (0 rule, -1 driver)"},
    [LAUNCH_WGRAD_FB] = {"wgrad_fb", 2, 3, {2, 1, 4}, "weight gradient: most filters per work-item"},
    [LAUNCH_WGRAD_PIXELS] =
        {"wgrad_pixels", 65536, 4, {65536, 16384, 32768, 131072}, "weight gradient: pixels per partial sum"},
    [LAUNCH_POOL_GROUP] =
        {"pool_group", 64, 5, {64, -1, 32, 128, 256}, "max pool: most work-items per group (-1 driver)"},
    [LAUNCH_BN_CHUNK] =
        {"bn_chunk", 8192, 5, {8192, 2048, 4096, 16384, 32768}, "batch norm: elements per stage-1 work-item"},
    [LAUNCH_WG_1D] =
        {"wg_1d", 64, 6, {64, -1, 16, 32, 128, 256}, "element-wise kernels: work-group size (-1 driver)"},
};

static const char FILE_FORMAT[] = "cltrain-launch-choices";
#define FILE_VERSION 1

void launch_defaults(launch_set *s)
{
    for (int p = 0; p < LAUNCH_N; p++)
        s->v[p] = launch_choices[p].defaults;
}

int launch_valid(launch_param p, int value)
{
    if ((int)p < 0 || p >= LAUNCH_N) return 0;
    for (int i = 0; i < launch_choices[p].ncandidates; i++)
        if (launch_choices[p].candidates[i] == value) return 1;
    return 0;
}

void launch_format(const launch_set *s, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int p = 0; p < LAUNCH_N && used < len; p++) {
        int n = snprintf(out + used, len - used, "%s%s=%d", p ? " " : "", launch_choices[p].name, s->v[p]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

void launch_file_path(const device_info *info, char *out, size_t len)
{
    device_cache_file(info, "kernels", out, len);
}

int launch_store(const device_info *info, const launch_set *s, const char *notes, char *err, size_t errlen)
{
    char path[1200];
    launch_file_path(info, path, sizeof path);
    if (!path[0]) {
        snprintf(err, errlen,
                 "the kernel cache is disabled (CLTRAIN_NO_CACHE), so launch choices cannot be stored");
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *choices = root ? cJSON_AddObjectToObject(root, "choices") : NULL;
    int ok = choices != NULL;
    if (ok) {
        cJSON_AddStringToObject(root, "format", FILE_FORMAT);
        cJSON_AddNumberToObject(root, "version", FILE_VERSION);
        device_identity_add(root, info);
        for (int p = 0; p < LAUNCH_N && ok; p++)
            ok = cJSON_AddNumberToObject(choices, launch_choices[p].name, s->v[p]) != NULL;
    }
    if (ok && notes) {
        cJSON *m = cJSON_Parse(notes);
        ok = m != NULL;
        if (ok) cJSON_AddItemToObject(root, "measured", m);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "cannot write %s: out of host memory or bad measurements", path);
        return -1;
    }
    int rc = device_cache_write(path, text, err, errlen);
    free(text);
    return rc;
}

/* Checks the file's identity and reads every choice; a choice the file lacks keeps its default (a
 * newer cltrain may add choices), an unknown one or a value that is not a candidate is refused. */
static int parse_file(const char *text, const device_info *info, launch_set *s, char *why, size_t len)
{
    cJSON *root = cJSON_Parse(text);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    int rc = -1;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(why, len, "it is not JSON");
    } else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FILE_FORMAT) || !cJSON_IsNumber(ver) ||
               ver->valuedouble != FILE_VERSION) {
        snprintf(why, len, "it is not a cltrain launch-choice file of this version");
    } else if (!device_identity_same(root, info)) {
        snprintf(why, len, "it belongs to another device or driver");
    } else if (!cJSON_IsObject(choices)) {
        snprintf(why, len, "it has no \"choices\" object");
    } else {
        rc = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, choices)
        {
            int p = 0;
            while (p < LAUNCH_N && (!c->string || strcmp(c->string, launch_choices[p].name)))
                p++;
            if (p == LAUNCH_N) {
                snprintf(why, len, "it names an unknown choice \"%s\"", c->string ? c->string : "");
                rc = -1;
                break;
            }
            if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) ||
                !launch_valid((launch_param)p, (int)c->valuedouble)) {
                snprintf(why, len, "%s is not one of its candidates", c->string);
                rc = -1;
                break;
            }
            s->v[p] = (int)c->valuedouble;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int launch_load(const device_info *info, launch_set *s, char *why, size_t whylen)
{
    launch_defaults(s);
    char path[1200];
    launch_file_path(info, path, sizeof path);
    if (!path[0]) return 0;
    int missing;
    char *text = device_cache_read(path, &missing);
    if (!text) {
        if (!missing) snprintf(why, whylen, "it cannot be read");
        return missing ? 0 : -1;
    }
    int rc = parse_file(text, info, s, why, whylen);
    free(text);
    if (rc != 0) launch_defaults(s);
    return rc == 0 ? 1 : -1;
}
