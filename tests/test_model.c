/* test_model.c: the CNN builder: filter strategies, the parameter and multiply-add counts against
 * PyTorch's closed form, configs that cannot work, the whole network's gradient against finite
 * differences of its loss, and safetensors checkpoints (round trip, and mismatches named). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cltrain/model.h"

static void set(config *c, const char *key, const char *value)
{
    char err[CT_ERR_LEN];
    ck_assert_msg(config_set(c, key, value, 0, err, sizeof err) == 0, "%s", err);
}

/* PyTorch's parameter count of the same network (nn.Conv2d, nn.BatchNorm2d, nn.Linear), written from
 * the layer formulas, independent of the plan's code. */
static void closed_form(const int f[5], int in_c, int size, int k, int bn, int dense, int classes,
                        long long *params, long long *macs)
{
    long long p = 0, m = 0;
    int c = in_c, s = size;
    for (int i = 0; i < 5; i++) {
        p += (long long)f[i] * c * k * k + f[i] + (bn ? 2LL * f[i] : 0);
        m += (long long)f[i] * c * k * k * s * s;
        c = f[i];
        s /= 2;
    }
    long long flat = (long long)c * s * s;
    p += flat * dense + dense + (long long)dense * classes + classes;
    m += flat * dense + (long long)dense * classes;
    *params = p;
    *macs = m;
}

START_TEST(counts_match_pytorch_closed_form)
{
    struct {
        const char *strategy;
        int n, k, bn, dense, size, in_c;
        int f[5];
    } cases[] = {
        {"same", 32, 3, 1, 128, 32, 1, {32, 32, 32, 32, 32}},
        {"double", 16, 3, 0, 256, 64, 3, {16, 32, 64, 128, 256}},
        {"half", 64, 5, 1, 128, 33, 3, {64, 32, 16, 8, 8}},
        {"pyramid", 8, 7, 1, 64, 224, 3, {8, 16, 32, 16, 8}},
        {"half", 4, 1, 0, 10, 40, 2, {4, 4, 4, 4, 4}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config c;
        config_init(&c);
        char v[32];
        set(&c, "filter_strategy", cases[i].strategy);
        snprintf(v, sizeof v, "%d", cases[i].n);
        set(&c, "num_filters", v);
        snprintf(v, sizeof v, "%d", cases[i].k);
        set(&c, "filter_size", v);
        set(&c, "batch_norm", cases[i].bn ? "true" : "false");
        snprintf(v, sizeof v, "%d", cases[i].dense);
        set(&c, "dense_neurons", v);
        model_plan p;
        char err[CT_ERR_LEN];
        ck_assert_msg(model_plan_build(&c, cases[i].in_c, cases[i].size, 10, 1, &p, err, sizeof err) == 0, "%s",
                      err);
        for (int b = 0; b < 5; b++) ck_assert_int_eq(p.filters[b], cases[i].f[b]);
        long long params, macs;
        closed_form(cases[i].f, cases[i].in_c, cases[i].size, cases[i].k, cases[i].bn, cases[i].dense, 10, &params,
                    &macs);
        ck_assert_int_eq(p.total_params, params);
        ck_assert_int_eq(p.total_macs, macs);
        long long layer_sum = 0;
        for (int l = 0; l < p.nlayers; l++) layer_sum += p.layers[l].params;
        ck_assert_int_eq(layer_sum, params);
    }
    /* the base model (32 same, bn, dense 128, 1x32x32, 10), worked out by hand from the parameter
     * shapes of nn.Conv2d, nn.BatchNorm2d and nn.Linear: 384 + 4 * 9312 + 4224 + 1290 */
    config c;
    config_init(&c);
    set(&c, "num_filters", "32");
    set(&c, "filter_strategy", "same");
    set(&c, "batch_norm", "true");
    set(&c, "dense_neurons", "128");
    model_plan p;
    char err[CT_ERR_LEN];
    ck_assert(model_plan_build(&c, 1, 32, 10, 1, &p, err, sizeof err) == 0);
    ck_assert_int_eq(p.total_params, 43146);
}
END_TEST

START_TEST(unworkable_configs_are_refused_by_name)
{
    model_plan p;
    char err[CT_ERR_LEN];
    config c;
    config_init(&c);
    ck_assert(model_plan_build(&c, 1, 16, 10, 1, &p, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "image_size") != NULL, "%s", err);
    ck_assert(model_plan_build(&c, 1, 32, 1, 1, &p, err, sizeof err) != 0);
    ck_assert(model_plan_build(&c, 0, 32, 10, 1, &p, err, sizeof err) != 0);
    /* keys the config module itself refuses */
    ck_assert(config_set(&c, "num_filters", "0", 0, err, sizeof err) != 0);
    ck_assert(strstr(err, "num_filters") != NULL);
    ck_assert(config_set(&c, "activation", "swish2", 0, err, sizeof err) != 0);
    ck_assert(strstr(err, "activation") != NULL);
    ck_assert(config_set(&c, "filter_strategy", "triple", 0, err, sizeof err) != 0);
    ck_assert(config_set(&c, "optimizer", "lamb", 0, err, sizeof err) != 0);
    ck_assert(config_set(&c, "learning_rate", "-0.1", 0, err, sizeof err) != 0);
    ck_assert(config_set(&c, "dropout", "-0.2", 0, err, sizeof err) != 0);
    config_init(&c);
    set(&c, "filter_size", "4");
    ck_assert(model_plan_build(&c, 1, 32, 10, 1, &p, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "filter_size") != NULL, "%s", err);
}
END_TEST

/* A small network with every kind of layer: batch norm, a smooth activation (finite differences
 * need no kinks), conv dropout and dense dropout (masks fixed by seed and step). */
static model *small_model_with(config *c, int batch, const char *activation);

static model *small_model(config *c, int batch)
{
    return small_model_with(c, batch, "tanh");
}

static model *small_model_with(config *c, int batch, const char *activation)
{
    config_init(c);
    set(c, "num_filters", "3");
    set(c, "filter_strategy", "double");
    set(c, "dense_neurons", "8");
    set(c, "activation", activation);
    set(c, "batch_norm", "true");
    set(c, "dropout", "0.25");
    set(c, "conv_dropout", "0.1");
    char err[CT_ERR_LEN];
    model *m = model_create(tu_device(), c, 2, 32, 5, batch, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    TU_OK(tu_device(), model_init(m, "torch", 7));
    return m;
}

/* The loss of one training forward, in double from the device's float. Batch norm's running
 * statistics change with each forward but do not enter a training forward's output. */
static double loss_of(model *m, cl_mem x, cl_mem labels, cl_mem stats, int N)
{
    device_ctx *d = tu_device();
    TU_OK(d, model_forward(m, x, N, 1, 11, 3));
    TU_OK(d, model_loss(m, labels, stats, 0, N, 0));
    float s[2];
    TU_OK(d, device_read(d, stats, 0, sizeof s, s));
    return s[0];
}

/* tanh goes backward from its input; elu runs in place and goes backward from its output */
static const char *const FD_ACTIVATIONS[] = {"tanh", "elu"};

START_TEST(whole_network_gradient_matches_finite_differences)
{
    device_ctx *d = tu_device();
    config c;
    enum { N = 4 };
    model *m = small_model_with(&c, N, FD_ACTIVATIONS[_i]);
    const model_plan *p = model_get_plan(m);
    size_t nx = (size_t)N * 2 * 32 * 32;
    float *x = tu_alloc(nx * sizeof(float));
    tu_fill_uniform(x, nx, -1.5f, 1.5f, 5);
    int lab[N] = {0, 3, 4, 1};
    cl_mem bx = tu_upload(d, x, nx), stats = tu_upload(d, (float[2]){1, 1}, 2);
    cl_mem labels = device_alloc(d, sizeof lab, "labels");
    TU_OK(d, device_write(d, labels, 0, sizeof lab, lab));

    TU_OK(d, model_forward(m, bx, N, 1, 11, 3));
    TU_OK(d, model_loss(m, labels, stats, 0, N, 1));
    TU_OK(d, model_backward(m, bx, N, 11, 3));
    float *g = tu_download(d, model_grads(m), p->param_floats);
    float *theta = tu_download(d, model_params(m), p->param_floats);
    float *probe = tu_alloc(p->param_floats * sizeof(float));

    /* Per tensor, the directional derivative along its own gradient, v = g / |g|, which must equal
     * |g|: a gradient that is scaled, misrouted or of the wrong sign fails. Finite differences of a
     * float32 loss (~1.6, rounding ~2e-7 per evaluation) with a step of 1e-3 along a unit vector are
     * good to ~2e-4 absolute, and the network is close to linear at that step (max pool switches
     * and tanh curvature make larger steps unreliable: at 1e-2 per element the quotient drifts by
     * tens of percent). Bound: 2% of |g| plus 5e-4. Tensors whose gradient is below 1e-3 (a conv
     * bias under batch norm has none) are checked to be that small only. */
    int bad = 0;
    for (int t = 0; t < p->ntensors; t++) {
        const model_tensor *mt = &p->tensors[t];
        if (mt->is_stat) continue;
        double norm = 0;
        for (size_t j = 0; j < mt->count; j++) norm += (double)g[mt->offset + j] * g[mt->offset + j];
        norm = sqrt(norm);
        if (norm < 1e-3) continue;
        double eps = 1e-3, lp = 0, lm = 0;
        for (int sign = -1; sign <= 1; sign += 2) {
            memcpy(probe, theta, p->param_floats * sizeof(float));
            for (size_t j = 0; j < mt->count; j++) probe[mt->offset + j] += (float)(sign * eps * g[mt->offset + j] / norm);
            TU_OK(d, device_write(d, model_params(m), 0, p->param_floats * sizeof(float), probe));
            double l = loss_of(m, bx, labels, stats, N);
            if (sign < 0)
                lm = l;
            else
                lp = l;
        }
        double fd = (lp - lm) / (2 * eps);
        if (!(fabs(fd - norm) <= 2e-2 * norm + 5e-4)) {
            fprintf(stderr, "tensor %s: |g| = %.6g, finite difference along g %.6g\n", mt->name, norm, fd);
            bad++;
        }
    }
    ck_assert_msg(bad == 0, "%d tensors' gradients disagree with finite differences (listed above)", bad);
    free(g);
    free(theta);
    free(probe);
    free(x);
    clReleaseMemObject(bx);
    clReleaseMemObject(stats);
    clReleaseMemObject(labels);
    model_destroy(m);
}
END_TEST

START_TEST(same_inputs_give_the_same_gradients)
{
    device_ctx *d = tu_device();
    config c;
    enum { N = 3 };
    model *m = small_model(&c, N);
    size_t nx = (size_t)N * 2 * 32 * 32, np = model_get_plan(m)->param_floats;
    float *x = tu_alloc(nx * sizeof(float));
    tu_fill_uniform(x, nx, -1, 1, 8);
    int lab[N] = {1, 2, 0};
    cl_mem bx = tu_upload(d, x, nx), stats = tu_upload(d, (float[2]){1, 1}, 2);
    cl_mem labels = device_alloc(d, sizeof lab, "labels");
    TU_OK(d, device_write(d, labels, 0, sizeof lab, lab));
    float *g[2];
    for (int r = 0; r < 2; r++) {
        TU_OK(d, model_forward(m, bx, N, 1, 1, 1));
        TU_OK(d, model_loss(m, labels, stats, 0, N, 1));
        TU_OK(d, model_backward(m, bx, N, 1, 1));
        g[r] = tu_download(d, model_grads(m), np);
    }
    ck_assert(memcmp(g[0], g[1], np * sizeof(float)) == 0);
    /* another step draws other dropout masks, so other gradients */
    TU_OK(d, model_forward(m, bx, N, 1, 1, 2));
    TU_OK(d, model_loss(m, labels, stats, 0, N, 1));
    TU_OK(d, model_backward(m, bx, N, 1, 2));
    float *g2 = tu_download(d, model_grads(m), np);
    ck_assert(memcmp(g[0], g2, np * sizeof(float)) != 0);
    free(g[0]);
    free(g[1]);
    free(g2);
    free(x);
    clReleaseMemObject(bx);
    clReleaseMemObject(stats);
    clReleaseMemObject(labels);
    model_destroy(m);
}
END_TEST

START_TEST(checkpoint_round_trip_and_mismatch)
{
    device_ctx *d = tu_device();
    config c;
    model *m = small_model(&c, 2);
    char path[] = "/tmp/cltrain-test-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char err[CT_ERR_LEN];
    ck_assert_msg(model_save(m, &c, path, err, sizeof err) == 0, "%s", err);

    /* the config comes back from the checkpoint alone */
    config back;
    int in_c, classes;
    ck_assert_msg(model_read_checkpoint_config(path, &back, &in_c, &classes, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(in_c, 2);
    ck_assert_int_eq(classes, 5);
    ck_assert_int_eq(config_int(&back, CFG_NUM_FILTERS), 3);
    ck_assert_str_eq(config_str(&back, CFG_ACTIVATION), "tanh");

    model *m2 = model_create(d, &back, in_c, 32, classes, 2, err, sizeof err);
    ck_assert_msg(m2 != NULL, "%s", err);
    TU_OK(d, model_init(m2, "keras", 123));
    ck_assert_msg(model_load(m2, path, err, sizeof err) == 0, "%s", err);
    size_t np = model_get_plan(m)->param_floats, ns = model_get_plan(m)->stat_floats;
    float *a = tu_download(d, model_params(m), np), *b = tu_download(d, model_params(m2), np);
    ck_assert(memcmp(a, b, np * sizeof(float)) == 0);
    free(a);
    free(b);
    a = tu_download(d, model_stats(m), ns);
    b = tu_download(d, model_stats(m2), ns);
    ck_assert(memcmp(a, b, ns * sizeof(float)) == 0);
    free(a);
    free(b);
    model_destroy(m2);

    /* another width: the first conv's weight is named with its shape */
    set(&back, "num_filters", "4");
    m2 = model_create(d, &back, in_c, 32, classes, 2, err, sizeof err);
    ck_assert_ptr_nonnull(m2);
    ck_assert(model_load(m2, path, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "blocks.0.conv.weight") != NULL && strstr(err, "[4,2,3,3]") != NULL, "%s", err);
    model_destroy(m2);
    /* without batch norm the file holds tensors the model lacks */
    set(&back, "num_filters", "3");
    set(&back, "batch_norm", "false");
    m2 = model_create(d, &back, in_c, 32, classes, 2, err, sizeof err);
    ck_assert(model_load(m2, path, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, ".bn.") != NULL, "%s", err);
    model_destroy(m2);

    /* a truncated file, and one that is not safetensors */
    ck_assert_int_eq(truncate(path, 300), 0);
    m2 = model_create(d, &c, 2, 32, 5, 2, err, sizeof err);
    ck_assert(model_load(m2, path, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    FILE *f = fopen(path, "wb");
    fputs("hello, this is not a checkpoint", f);
    fclose(f);
    ck_assert(model_load(m2, path, err, sizeof err) != 0);
    ck_assert(strstr(err, "not a safetensors file") != NULL);
    ck_assert(model_read_checkpoint_config("/nonexistent/x.safetensors", &back, &in_c, &classes, err, sizeof err) !=
              0);
    model_destroy(m2);
    model_destroy(m);
    unlink(path);
}
END_TEST

/* torch: U(-1/sqrt(fan_in), +) for weights and biases; keras: U(-sqrt(6/(fan_in+fan_out)), +) and zero
 * biases; batch norm weight 1, bias 0, running mean 0, var 1. Each conv/dense weight is checked to
 * stay inside its bound and to fill it (its largest magnitude above 0.9 of the bound, its standard
 * deviation within 10% of bound/sqrt(3)); the same seed gives the same values, another seed others. */
START_TEST(initialisation_follows_torch_and_keras)
{
    device_ctx *d = tu_device();
    const char *schemes[] = {"torch", "keras"};
    for (int sch = 0; sch < 2; sch++) {
        config c;
        config_init(&c);
        set(&c, "num_filters", "8");
        set(&c, "filter_strategy", "double");
        char err[CT_ERR_LEN];
        model *m = model_create(d, &c, 3, 32, 10, 2, err, sizeof err);
        ck_assert_msg(m != NULL, "%s", err);
        TU_OK(d, model_init(m, schemes[sch], 5));
        const model_plan *p = model_get_plan(m);
        float *v = tu_download(d, model_params(m), p->param_floats);
        float *st = tu_download(d, model_stats(m), p->stat_floats);
        for (int i = 0; i < p->nlayers; i++) {
            const model_layer *l = &p->layers[i];
            if (l->kind == LAYER_BATCHNORM) {
                for (int j = 0; j < l->out_c; j++) {
                    ck_assert(v[p->tensors[l->weight].offset + j] == 1.0f && v[p->tensors[l->bias].offset + j] == 0.0f);
                    ck_assert(st[p->tensors[l->mean].offset + j] == 0.0f && st[p->tensors[l->var].offset + j] == 1.0f);
                }
                continue;
            }
            if (l->kind != LAYER_CONV && l->kind != LAYER_DENSE) continue;
            const model_tensor *w = &p->tensors[l->weight], *b = &p->tensors[l->bias];
            double rf = l->kind == LAYER_CONV ? (double)l->k * l->k : 1;
            double fan_in = w->shape[1] * rf, fan_out = w->shape[0] * rf;
            double bound = sch == 0 ? 1 / sqrt(fan_in) : sqrt(6 / (fan_in + fan_out));
            double mx = 0, ss = 0;
            for (size_t j = 0; j < w->count; j++) {
                double x = v[w->offset + j];
                mx = fmax(mx, fabs(x));
                ss += x * x;
            }
            double sd = sqrt(ss / w->count);
            ck_assert_msg(mx <= bound && mx > 0.9 * bound, "%s %s: max %g, bound %g", schemes[sch], w->name, mx, bound);
            if (w->count >= 1000)
                ck_assert_msg(fabs(sd - bound / sqrt(3)) < 0.1 * bound / sqrt(3), "%s %s: std %g", schemes[sch], w->name, sd);
            for (size_t j = 0; j < b->count; j++) {
                double x = v[b->offset + j];
                if (sch == 0)
                    ck_assert(fabs(x) <= 1 / sqrt(fan_in));
                else
                    ck_assert(x == 0.0);
            }
        }
        TU_OK(d, model_init(m, schemes[sch], 5));
        float *again = tu_download(d, model_params(m), p->param_floats);
        ck_assert(memcmp(v, again, p->param_floats * sizeof(float)) == 0);
        TU_OK(d, model_init(m, schemes[sch], 6));
        free(again);
        again = tu_download(d, model_params(m), p->param_floats);
        ck_assert(memcmp(v, again, p->param_floats * sizeof(float)) != 0);
        ck_assert(model_init(m, "xavier", 5) != 0);
        ck_assert(strstr(d->error, "xavier") != NULL);
        free(again);
        free(v);
        free(st);
        model_destroy(m);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *plan = tcase_create("plan");
    tcase_add_test(plan, counts_match_pytorch_closed_form);
    tcase_add_test(plan, unworkable_configs_are_refused_by_name);
    suite_add_tcase(s, plan);
    TCase *dev = tcase_create("device");
    tcase_set_timeout(dev, 300);
    tcase_add_loop_test(dev, whole_network_gradient_matches_finite_differences, 0, 2);
    tcase_add_test(dev, same_inputs_give_the_same_gradients);
    tcase_add_test(dev, checkpoint_round_trip_and_mismatch);
    tcase_add_test(dev, initialisation_follows_torch_and_keras);
    suite_add_tcase(s, dev);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
