/* safetensors.c: checkpoints in the safetensors format with PyTorch's names and layouts, so
 * `torch.nn.Module.load_state_dict(safetensors.torch.load_file(path))` takes them, and with the flat
 * config in __metadata__ so a checkpoint alone rebuilds its model.
 *
 * Format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets},
 * "__metadata__": {string: string}}, padded with spaces to a multiple of 8, then the raw tensors. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensors as the file holds them: every plan tensor, then num_batches_tracked per batch norm. */
typedef struct {
    char name[64];
    const model_tensor *t; /* NULL for num_batches_tracked */
} file_tensor;

static int file_tensors(const model_plan *p, file_tensor *out)
{
    int n = 0;
    for (int i = 0; i < p->ntensors; i++) {
        snprintf(out[n].name, sizeof out[n].name, "%s", p->tensors[i].name);
        out[n++].t = &p->tensors[i];
    }
    for (int i = 0; i < p->nlayers; i++)
        if (p->layers[i].kind == LAYER_BATCHNORM) {
            snprintf(out[n].name, sizeof out[n].name, "%s.num_batches_tracked", p->layers[i].name);
            out[n++].t = NULL;
        }
    return n;
}

static size_t tensor_bytes(const file_tensor *f)
{
    return f->t ? f->t->count * sizeof(float) : sizeof(long long);
}

static cJSON *shape_json(const file_tensor *f)
{
    cJSON *a = cJSON_CreateArray();
    if (f->t)
        for (int i = 0; i < f->t->ndim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(f->t->shape[i]));
    return a;
}

int model_save(model *m, const config *c, const char *path, char *err, size_t errlen)
{
    const model_plan *p = &m->plan;
    file_tensor ft[MODEL_MAX_TENSORS + MODEL_MAX_LAYERS];
    int nt = file_tensors(p, ft);
    float *params = malloc(p->param_floats * sizeof(float) + 1);
    float *stats = malloc(p->stat_floats * sizeof(float) + 1);
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    int rc = -1;
    FILE *f = NULL;
    char *text = NULL;
    if (!params || !stats || !h || !meta) {
        snprintf(err, errlen, "out of host memory saving %s", path);
        goto out;
    }
    if (device_read(m->d, m->params, 0, p->param_floats * sizeof(float), params) != 0 ||
        (p->stat_floats && device_read(m->d, m->stats, 0, p->stat_floats * sizeof(float), stats) != 0)) {
        snprintf(err, errlen, "saving %s: %s", path, m->d->error);
        goto out;
    }
    char value[CONFIG_STR_LEN + 8];
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        config_format(c, (config_key_id)k, value, sizeof value);
        cJSON_AddStringToObject(meta, config_key_info((config_key_id)k)->name, value);
    }
    snprintf(value, sizeof value, "%d", p->in_c);
    cJSON_AddStringToObject(meta, "in_channels", value);
    snprintf(value, sizeof value, "%d", p->classes);
    cJSON_AddStringToObject(meta, "num_classes", value);
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "producer", "cltrain");
    size_t at = 0;
    for (int i = 0; i < nt; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, ft[i].name);
        cJSON_AddStringToObject(e, "dtype", ft[i].t ? "F32" : "I64");
        cJSON_AddItemToObject(e, "shape", shape_json(&ft[i]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
        at += tensor_bytes(&ft[i]);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
    }
    text = cJSON_PrintUnformatted(h);
    if (!text) {
        snprintf(err, errlen, "out of host memory saving %s", path);
        goto out;
    }
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", tmp);
        goto out;
    }
    unsigned char lenle[8];
    for (int i = 0; i < 8; i++) lenle[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenle, 1, 8, f) == 8 && fwrite(text, 1, len, f) == len;
    for (size_t i = len; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; i < nt && ok; i++) {
        if (ft[i].t) {
            const float *src = (ft[i].t->is_stat ? stats : params) + ft[i].t->offset;
            ok = fwrite(src, sizeof(float), ft[i].t->count, f) == ft[i].t->count;
        } else {
            long long batches = m->bn_batches;
            ok = fwrite(&batches, sizeof batches, 1, f) == 1;
        }
    }
    if (fclose(f) != 0) ok = 0;
    f = NULL;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, errlen, "writing %s failed (disk full?)", path);
        goto out;
    }
    rc = 0;
out:
    if (f) fclose(f);
    free(text);
    cJSON_Delete(h);
    free(params);
    free(stats);
    return rc;
}

/* Reads the header; returns the parsed JSON and the file position where data starts. */
static cJSON *read_header(const char *path, FILE **fp, long *data_start, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open checkpoint %s", path);
        return NULL;
    }
    unsigned char lenle[8];
    uint64_t len = 0;
    if (fread(lenle, 1, 8, f) == 8)
        for (int i = 0; i < 8; i++) len |= (uint64_t)lenle[i] << (8 * i);
    if (len == 0 || len > (100u << 20)) {
        snprintf(err, errlen, "%s is not a safetensors file (bad header length)", path);
        fclose(f);
        return NULL;
    }
    char *text = malloc(len + 1);
    if (!text || fread(text, 1, len, f) != len) {
        snprintf(err, errlen, "%s is truncated (header)", path);
        free(text);
        fclose(f);
        return NULL;
    }
    text[len] = '\0';
    cJSON *h = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(h)) {
        snprintf(err, errlen, "%s is not a safetensors file (header is not a JSON object)", path);
        cJSON_Delete(h);
        fclose(f);
        return NULL;
    }
    *fp = f;
    *data_start = (long)(8 + len);
    return h;
}

int model_read_checkpoint_config(const char *path, config *c, int *in_c, int *classes, char *err, size_t errlen)
{
    FILE *f;
    long start;
    cJSON *h = read_header(path, &f, &start, err, errlen);
    if (!h) return -1;
    fclose(f);
    int rc = -1;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    cJSON *ic = cJSON_GetObjectItemCaseSensitive(meta, "in_channels");
    cJSON *nc = cJSON_GetObjectItemCaseSensitive(meta, "num_classes");
    if (!cJSON_IsObject(meta) || !cJSON_IsString(ic) || !cJSON_IsString(nc)) {
        snprintf(err, errlen, "%s holds no cltrain config in its __metadata__ (in_channels, num_classes)", path);
        goto out;
    }
    config_init(c);
    cJSON *e;
    cJSON_ArrayForEach(e, meta)
    {
        if (config_key_find(e->string) < 0 || !cJSON_IsString(e)) continue; /* in_channels, format, ... */
        char why[CT_ERR_LEN];
        if (config_set(c, e->string, e->valuestring, 0, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: its config does not load: %s", path, why);
            goto out;
        }
    }
    *in_c = atoi(ic->valuestring);
    *classes = atoi(nc->valuestring);
    rc = 0;
out:
    cJSON_Delete(h);
    return rc;
}

int model_load(model *m, const char *path, char *err, size_t errlen)
{
    const model_plan *p = &m->plan;
    file_tensor ft[MODEL_MAX_TENSORS + MODEL_MAX_LAYERS];
    int nt = file_tensors(p, ft);
    FILE *f;
    long start;
    cJSON *h = read_header(path, &f, &start, err, errlen);
    if (!h) return -1;
    int rc = -1;
    float *params = calloc(p->param_floats + 1, sizeof(float));
    float *stats = calloc(p->stat_floats + 1, sizeof(float));
    if (!params || !stats) {
        snprintf(err, errlen, "out of host memory loading %s", path);
        goto out;
    }
    /* every tensor in the file must be one the model has */
    cJSON *e;
    cJSON_ArrayForEach(e, h)
    {
        if (!strcmp(e->string, "__metadata__")) continue;
        int found = 0;
        for (int i = 0; i < nt && !found; i++) found = !strcmp(ft[i].name, e->string);
        if (!found) {
            snprintf(err, errlen, "%s holds tensor %s, which this model (its config) does not have", path,
                     e->string);
            goto out;
        }
    }
    for (int i = 0; i < nt; i++) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(h, ft[i].name);
        if (!t) {
            snprintf(err, errlen, "%s lacks tensor %s that this model's config needs", path, ft[i].name);
            goto out;
        }
        cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        const char *want = ft[i].t ? "F32" : "I64";
        if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, want) != 0) {
            snprintf(err, errlen, "tensor %s in %s is not %s", ft[i].name, path, want);
            goto out;
        }
        int ndim = ft[i].t ? ft[i].t->ndim : 0, fits = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == ndim;
        for (int d = 0; fits && d < ndim; d++)
            fits = cJSON_GetArrayItem(shape, d)->valueint == ft[i].t->shape[d];
        if (!fits) {
            char s[64] = "";
            for (int d = 0; d < ndim; d++)
                snprintf(s + strlen(s), sizeof s - strlen(s), "%s%d", d ? "," : "", ft[i].t->shape[d]);
            snprintf(err, errlen, "tensor %s in %s has another shape than this model's [%s]", ft[i].name, path, s);
            goto out;
        }
        if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
            snprintf(err, errlen, "tensor %s in %s has no data_offsets", ft[i].name, path);
            goto out;
        }
        double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t bytes = tensor_bytes(&ft[i]);
        if (b < 0 || en - b != (double)bytes || fseek(f, start + (long)b, SEEK_SET) != 0) {
            snprintf(err, errlen, "tensor %s in %s has bad data_offsets", ft[i].name, path);
            goto out;
        }
        size_t got;
        if (ft[i].t)
            got = fread((ft[i].t->is_stat ? stats : params) + ft[i].t->offset, 1, bytes, f);
        else {
            long long batches;
            got = fread(&batches, 1, bytes, f);
            m->bn_batches = batches;
        }
        if (got != bytes) {
            snprintf(err, errlen, "%s is truncated (tensor %s)", path, ft[i].name);
            goto out;
        }
    }
    if (device_write(m->d, m->params, 0, p->param_floats * sizeof(float), params) != 0 ||
        (p->stat_floats && device_write(m->d, m->stats, 0, p->stat_floats * sizeof(float), stats) != 0)) {
        snprintf(err, errlen, "loading %s: %s", path, m->d->error);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    cJSON_Delete(h);
    free(params);
    free(stats);
    return rc;
}
