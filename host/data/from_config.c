/* from_config.c: the thin glue between the flat config and the data module. The keys' types,
 * ranges and choices are checked by the config module; this file only maps them onto options. */
#include "cltrain/data.h"

#include <stdio.h>
#include <string.h>

data_dataset *data_open_from_config(const config *c, char *err, size_t errlen)
{
    const char *type = config_str(c, CFG_DATASET_TYPE);
    const char *path = config_str(c, CFG_DATA_PATH);
    if (strcmp(type, "idx") != 0 && strcmp(type, "images") != 0) {
        snprintf(err, errlen, "dataset_type %s is unknown: expected idx or images", type);
        return NULL;
    }
    data_options o = {
        .image_size = (int)config_int(c, CFG_IMAGE_SIZE),
        .resize = strcmp(config_str(c, CFG_RESIZE), "bilinear") == 0 ? DATA_RESIZE_BILINEAR : DATA_RESIZE_PAD,
        .normalize =
            strcmp(config_str(c, CFG_NORMALIZE), "none") == 0 ? DATA_NORMALIZE_NONE : DATA_NORMALIZE_DATASET,
        .val_split = config_float(c, CFG_VAL_SPLIT),
        .limit = (long)config_int(c, CFG_LIMIT),
        .seed = (uint64_t)config_int(c, CFG_SEED),
    };
    if (strcmp(type, "images") == 0) return data_open_images(path, &o, 0, err, errlen);
    return data_open_idx(path, &o, err, errlen);
}

void data_loader_options_from_config(const config *c, data_split split, int threads, data_loader_options *out)
{
    memset(out, 0, sizeof *out);
    out->batch_size = (int)config_int(c, CFG_BATCH_SIZE);
    out->threads = threads;
    out->seed = (uint64_t)config_int(c, CFG_SEED);
    out->shuffle = split == DATA_TRAIN && config_bool(c, CFG_SHUFFLE);
    out->augment = split == DATA_TRAIN && config_bool(c, CFG_DATA_AUGMENTATION);
}

int data_probe_from_config(const config *c, int *channels, int *classes, char *err, size_t errlen)
{
    if (strcmp(config_str(c, CFG_DATASET_TYPE), "images") == 0)
        return data_images_probe(config_str(c, CFG_DATA_PATH), channels, classes, err, errlen);
    /* an IDX set's classes are its labels: reading it is the probe (seconds at most) */
    config probe = *c;
    config_set(&probe, "val_split", "0", 0, err, errlen);
    data_dataset *ds = data_open_from_config(&probe, err, errlen);
    if (!ds) return -1;
    *channels = data_split_images(ds, DATA_TRAIN)->channels;
    *classes = ds->classes;
    data_close(ds);
    return 0;
}
