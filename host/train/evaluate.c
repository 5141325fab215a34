/* evaluate.c: a checkpoint's test loss, accuracy and per-class accuracy. The model is rebuilt from
 * the checkpoint alone (its __metadata__ holds the config); logits come back to the host per batch,
 * which costs nothing next to the forward pass and gives the per-class counts. */
#include "cltrain/train.h"

#include <stdlib.h>
#include <string.h>

#include "cltrain/data.h"
#include "cltrain/model.h"

int train_evaluate_checkpoint(device_ctx *d, const char *checkpoint, const char *data_path, train_eval_result *out,
                              char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    config c;
    int in_c, classes;
    if (model_read_checkpoint_config(checkpoint, &c, &in_c, &classes, err, errlen) != 0) return -1;
    if (data_path && config_set(&c, "data_path", data_path, 0, err, errlen) != 0) return -1;
    data_dataset *ds = data_open_from_config(&c, err, errlen);
    if (!ds) return -1;
    int rc = -1;
    model *m = NULL;
    data_loader *l = NULL;
    cl_mem x = NULL, y = NULL, stats = NULL;
    float *logits = NULL;
    const data_images *im = data_split_images(ds, DATA_TEST);
    if (im->channels != in_c || ds->classes > classes) {
        snprintf(err, errlen, "the data in %s has %d channels and %d classes; the checkpoint %s expects %d and %d",
                 config_str(&c, CFG_DATA_PATH), im->channels, ds->classes, checkpoint, in_c, classes);
        goto out;
    }
    int batch = (int)config_int(&c, CFG_BATCH_SIZE), size = ds->options.image_size;
    size_t per = (size_t)in_c * size * size;
    data_loader_options lo;
    data_loader_options_from_config(&c, DATA_TEST, 2, &lo);
    if (!(l = data_loader_create(ds, DATA_TEST, &lo, err, errlen))) goto out;
    if (!(m = model_create(d, &c, in_c, size, classes, batch, err, errlen))) goto out;
    if (model_load(m, checkpoint, err, errlen) != 0) goto out;
    if (!(x = device_alloc(d, (size_t)batch * per * sizeof(float), "the input batch")) ||
        !(y = device_alloc(d, (size_t)batch * sizeof(int32_t), "the labels")) ||
        !(stats = device_alloc(d, 2 * sizeof(float), "the batch statistics")) ||
        !(logits = malloc((size_t)batch * classes * sizeof(float)))) {
        snprintf(err, errlen, "%s", d->error[0] ? d->error : "out of host memory");
        goto out;
    }
    out->classes = classes;
    for (int k = 0; k < classes && k < 256; k++)
        snprintf(out->class_names[k], sizeof out->class_names[k], "%s", k < ds->classes ? ds->class_names[k] : "?");
    data_loader_start_epoch(l, 0);
    float *images;
    int32_t *labels;
    int n;
    double loss_sum = 0, correct = 0;
    while (data_loader_next(l, &images, &labels, &n) == 0 && n > 0) {
        float st[2];
        if (device_write(d, x, 0, (size_t)n * per * sizeof(float), images) != 0 ||
            device_write(d, y, 0, (size_t)n * sizeof(int32_t), labels) != 0 || model_forward(m, x, n, 0, 0, 0) != 0 ||
            model_loss(m, y, stats, 0, n, 0) != 0 || device_read(d, stats, 0, sizeof st, st) != 0 ||
            device_read(d, model_logits(m), 0, (size_t)n * classes * sizeof(float), logits) != 0) {
            snprintf(err, errlen, "%s", d->error);
            goto out;
        }
        loss_sum += (double)st[0] * n;
        correct += st[1];
        for (int i = 0; i < n; i++) {
            const float *row = logits + (size_t)i * classes;
            int best = 0;
            for (int k = 1; k < classes; k++)
                if (row[k] > row[best]) best = k;
            int label = labels[i];
            if (label < 0 || label >= 256) continue;
            out->class_count[label]++;
            out->class_accuracy[label] += best == label;
        }
        out->count += n;
    }
    if (out->count == 0) {
        snprintf(err, errlen, "the test split of %s is empty", config_str(&c, CFG_DATA_PATH));
        goto out;
    }
    out->loss = loss_sum / out->count;
    out->accuracy = correct / out->count;
    for (int k = 0; k < classes && k < 256; k++)
        if (out->class_count[k]) out->class_accuracy[k] /= out->class_count[k];
    rc = 0;
out:
    free(logits);
    if (x) clReleaseMemObject(x);
    if (y) clReleaseMemObject(y);
    if (stats) clReleaseMemObject(stats);
    model_destroy(m);
    data_loader_destroy(l);
    data_close(ds);
    return rc;
}
