/* test_optim.c: every optimizer over five steps against a double-precision implementation of
 * torch.optim's algorithm boxes (written from the documentation's formulas, not from the kernels:
 * Adam and NAdam through m-hat and v-hat), with weight decay off and on, momentum and nesterov, and
 * an eps large enough that where it sits matters; parameters and state within 1e-4, the host state
 * exact. Also names, PyTorch's defaults, state sizes, n = 0 and bad input. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cltrain/ops.h"

/* The reference: params p [n], state s [2n], nadam's running product, step t (from 1). */
typedef struct {
    double *p, *s;
    double mu_product;
    long t;
} ref_state;

static void ref_step(const ops_optim_params *o, ref_state *r, const float *grad, size_t n)
{
    double lr = o->lr, wd = o->weight_decay, mom = o->momentum, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    long t = ++r->t;
    if (o->kind == OPS_NADAM) {
        if (t == 1) r->mu_product = 1.0;
    }
    double mu = b1 * (1 - 0.5 * pow(0.96, t * (double)o->momentum_decay));
    double mu_next = b1 * (1 - 0.5 * pow(0.96, (t + 1) * (double)o->momentum_decay));
    double prod = r->mu_product * mu, prod_next = prod * mu_next;
    for (size_t i = 0; i < n; i++) {
        double *p = &r->p[i], *s0 = &r->s[i], *s1 = &r->s[n + i];
        double g = grad[i];
        if (o->kind == OPS_ADAMW)
            *p *= 1 - lr * wd;
        else
            g += wd * *p;
        switch (o->kind) {
        case OPS_SGD:
            if (mom != 0) {
                *s0 = t == 1 ? g : mom * *s0 + g; /* b_1 = g_1, then b_t = mu b_{t-1} + g_t */
                g = o->nesterov ? g + mom * *s0 : *s0;
            }
            *p -= lr * g;
            break;
        case OPS_ADAM:
        case OPS_ADAMW: {
            *s0 = b1 * *s0 + (1 - b1) * g;
            *s1 = b2 * *s1 + (1 - b2) * g * g;
            double mhat = *s0 / (1 - pow(b1, t)), vhat = *s1 / (1 - pow(b2, t));
            *p -= lr * mhat / (sqrt(vhat) + eps);
            break;
        }
        case OPS_NADAM: {
            *s0 = b1 * *s0 + (1 - b1) * g;
            *s1 = b2 * *s1 + (1 - b2) * g * g;
            double mhat = mu_next * *s0 / (1 - prod_next) + (1 - mu) * g / (1 - prod);
            double vhat = *s1 / (1 - pow(b2, t));
            *p -= lr * mhat / (sqrt(vhat) + eps);
            break;
        }
        case OPS_RMSPROP: {
            double a = o->alpha;
            *s0 = a * *s0 + (1 - a) * g * g;
            double step = g / (sqrt(*s0) + eps);
            if (mom > 0) {
                *s1 = mom * *s1 + step;
                step = *s1;
            }
            *p -= lr * step;
            break;
        }
        default:
            ck_abort_msg("no reference for optimizer %d", (int)o->kind);
        }
    }
    r->mu_product = prod;
}

/* Values with magnitude in [lo, hi) and random signs: never 0, both signs. */
static void fill_signed(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    tu_fill_uniform(x, n, lo, hi, seed);
    uint64_t s = seed + 1000;
    for (size_t i = 0; i < n; i++)
        if (tu_uniform(&s) < 0.5) x[i] = -x[i];
}

/* Five steps of o over n parameters, on the device and in the reference, then compared. */
static void check_optimizer(const ops_optim_params *o, size_t n, const char *label)
{
    device_ctx *d = tu_device();
    const int STEPS = 5;
    int spp = ops_optim_state_per_param(o);
    float *p0 = tu_alloc(n * sizeof(float)), *g = tu_alloc(STEPS * n * sizeof(float));
    fill_signed(p0, n, 0.5f, 1.5f, 100 + n);
    /* gradients of a few magnitudes, so that eps and the second moment both matter */
    fill_signed(g, STEPS * n, 0.05f, 2.0f, 200 + n);
    ref_state r = {tu_alloc(n * sizeof(double)), tu_alloc(2 * n * sizeof(double)), 0, 0};
    for (size_t i = 0; i < n; i++)
        r.p[i] = p0[i];

    cl_mem bp = tu_upload(d, p0, n), bg = device_alloc(d, n * sizeof(float), "grads");
    cl_mem bs = device_alloc(d, (size_t)spp * n * sizeof(float), "state");
    ck_assert_msg(bg && bs, "%s", d->error);
    TU_OK(d, device_fill(d, bs, 0.0f, 0, (size_t)spp * n));
    ops_optim_host_state hs;
    memset(&hs, 0, sizeof hs);
    for (int t = 0; t < STEPS; t++) {
        TU_OK(d, device_write(d, bg, 0, n * sizeof(float), g + (size_t)t * n));
        TU_OK(d, ops_optim_step(d, o, &hs, bp, bg, bs, n));
        ref_step(o, &r, g + (size_t)t * n, n);
    }
    float *p = tu_download(d, bp, n), *s = tu_download(d, bs, (size_t)spp * n);
    double perr = tu_max_rel_err(p, r.p, n);
    ck_assert_msg(perr <= 1e-4, "%s n=%zu: parameters rel err %.2g", label, n, perr);
    /* the state that the rule keeps: sgd's buffer only with momentum, rmsprop's second only with it */
    int kept = o->kind == OPS_SGD ? (o->momentum != 0) : o->kind == OPS_RMSPROP ? 1 + (o->momentum > 0) : 2;
    for (int k = 0; k < kept; k++) {
        double serr = tu_max_rel_err(s + (size_t)k * n, r.s + (size_t)k * n, n);
        ck_assert_msg(serr <= 1e-4, "%s n=%zu: state block %d rel err %.2g", label, n, k, serr);
    }
    ck_assert_int_eq(hs.step, STEPS);
    if (o->kind == OPS_NADAM)
        ck_assert_msg(fabs(hs.mu_product - r.mu_product) <= 1e-12, "%s: mu_product %.15g, reference %.15g",
                      label, hs.mu_product, r.mu_product);
    /* the update must have moved the parameters well beyond the tolerance, or the test proves little */
    double moved = 0;
    for (size_t i = 0; i < n; i++)
        moved = fmax(moved, fabs(r.p[i] - p0[i]) / fabs(p0[i]));
    ck_assert_msg(moved > 1e-2, "%s: the reference moved parameters by only %.2g", label, moved);
    free(p0);
    free(g);
    free(r.p);
    free(r.s);
    free(p);
    free(s);
    clReleaseMemObject(bp);
    clReleaseMemObject(bg);
    clReleaseMemObject(bs);
}

static const size_t SIZES[] = {1, 7, 4097};

static void check_sizes(const ops_optim_params *o, const char *label)
{
    for (size_t k = 0; k < sizeof SIZES / sizeof *SIZES; k++)
        check_optimizer(o, SIZES[k], label);
}

START_TEST(sgd_matches_reference)
{
    ops_optim_params o = ops_optim_defaults(OPS_SGD, 0.1f);
    check_sizes(&o, "sgd");
    o.weight_decay = 0.1f;
    check_sizes(&o, "sgd wd");
    o.momentum = 0.9f;
    check_sizes(&o, "sgd momentum wd");
    o.weight_decay = 0.0f;
    check_sizes(&o, "sgd momentum");
    o.nesterov = 1;
    check_sizes(&o, "sgd nesterov");
    o.weight_decay = 0.1f;
    check_sizes(&o, "sgd nesterov wd");
}
END_TEST

START_TEST(adam_matches_reference)
{
    ops_optim_params o = ops_optim_defaults(OPS_ADAM, 0.05f);
    check_sizes(&o, "adam");
    o.weight_decay = 0.1f;
    check_sizes(&o, "adam wd");
    o.eps = 0.1f; /* where eps sits against the bias correction now changes the step by ~10% */
    check_sizes(&o, "adam wd eps");
    o.beta1 = 0.5f, o.beta2 = 0.9f;
    check_sizes(&o, "adam betas");
}
END_TEST

START_TEST(adamw_matches_reference)
{
    ops_optim_params o = ops_optim_defaults(OPS_ADAMW, 0.05f);
    check_sizes(&o, "adamw default wd");
    o.weight_decay = 0.0f;
    check_sizes(&o, "adamw no wd");
    o.weight_decay = 0.5f;
    o.eps = 0.1f;
    check_sizes(&o, "adamw wd eps");
}
END_TEST

START_TEST(nadam_matches_reference)
{
    ops_optim_params o = ops_optim_defaults(OPS_NADAM, 0.05f);
    check_sizes(&o, "nadam");
    o.weight_decay = 0.1f;
    check_sizes(&o, "nadam wd");
    o.eps = 0.1f;
    check_sizes(&o, "nadam wd eps");
    o.momentum_decay = 0.5f; /* a fast schedule, so mu_t changes visibly over five steps */
    check_sizes(&o, "nadam momentum decay");
}
END_TEST

START_TEST(rmsprop_matches_reference)
{
    ops_optim_params o = ops_optim_defaults(OPS_RMSPROP, 0.01f);
    check_sizes(&o, "rmsprop");
    o.weight_decay = 0.1f;
    check_sizes(&o, "rmsprop wd");
    o.momentum = 0.9f;
    check_sizes(&o, "rmsprop momentum wd");
    o.weight_decay = 0.0f;
    o.eps = 0.1f;
    o.alpha = 0.9f;
    check_sizes(&o, "rmsprop momentum eps alpha");
}
END_TEST

START_TEST(names_defaults_and_state_sizes)
{
    const char *names[] = {"sgd", "adam", "adamw", "nadam", "rmsprop"};
    for (int i = 0; i < OPS_OPTIMIZER_COUNT; i++) {
        ops_optimizer o;
        ck_assert_int_eq(ops_optimizer_parse(names[i], &o), 0);
        ck_assert_int_eq(o, i);
        ck_assert_str_eq(ops_optimizer_name(o), names[i]);
    }
    ops_optimizer o = OPS_SGD;
    ck_assert_int_eq(ops_optimizer_parse("adagrad", &o), -1);
    ck_assert_int_eq(ops_optimizer_parse("Adam", &o), -1);
    ck_assert_int_eq(ops_optimizer_parse("", &o), -1);
    ck_assert_int_eq(ops_optimizer_parse(NULL, &o), -1);
    ck_assert_int_eq(o, OPS_SGD);
    ck_assert_ptr_null(ops_optimizer_name(OPS_OPTIMIZER_COUNT));
    ck_assert_ptr_null(ops_optimizer_name((ops_optimizer)-1));

    /* torch.optim's defaults */
    ops_optim_params p = ops_optim_defaults(OPS_SGD, 0.1f);
    ck_assert(p.kind == OPS_SGD && p.lr == 0.1f && p.momentum == 0 && p.weight_decay == 0 && !p.nesterov);
    p = ops_optim_defaults(OPS_ADAM, 1e-3f);
    ck_assert(p.beta1 == 0.9f && p.beta2 == 0.999f && p.eps == 1e-8f && p.weight_decay == 0);
    p = ops_optim_defaults(OPS_ADAMW, 1e-3f);
    ck_assert(p.beta1 == 0.9f && p.beta2 == 0.999f && p.eps == 1e-8f && p.weight_decay == 1e-2f);
    p = ops_optim_defaults(OPS_NADAM, 2e-3f);
    ck_assert(p.beta1 == 0.9f && p.beta2 == 0.999f && p.eps == 1e-8f && p.weight_decay == 0 &&
              p.momentum_decay == 4e-3f);
    p = ops_optim_defaults(OPS_RMSPROP, 1e-2f);
    ck_assert(p.alpha == 0.99f && p.eps == 1e-8f && p.momentum == 0 && p.weight_decay == 0);

    const int spp[] = {1, 2, 2, 2, 2};
    for (int i = 0; i < OPS_OPTIMIZER_COUNT; i++) {
        p = ops_optim_defaults((ops_optimizer)i, 1e-3f);
        ck_assert_int_eq(ops_optim_state_per_param(&p), spp[i]);
    }
    p.kind = OPS_OPTIMIZER_COUNT;
    ck_assert_int_eq(ops_optim_state_per_param(&p), 0);
    ck_assert_int_eq(ops_optim_state_per_param(NULL), 0);
}
END_TEST

/* A parameter and its state outside the first n stay as they are; n = 0 changes nothing. */
START_TEST(n_zero_is_a_no_op)
{
    device_ctx *d = tu_device();
    float v[8];
    fill_signed(v, 8, 0.5f, 1.5f, 3);
    cl_mem b = tu_upload(d, v, 8);
    ops_optim_params o = ops_optim_defaults(OPS_ADAM, 0.1f);
    ops_optim_host_state hs = {0, 0};
    TU_OK(d, ops_optim_step(d, &o, &hs, b, b, b, 0));
    TU_OK(d, ops_optim_step(d, &o, &hs, NULL, NULL, NULL, 0));
    ck_assert_int_eq(hs.step, 0);
    float back[8];
    TU_OK(d, device_read(d, b, 0, sizeof back, back));
    ck_assert(memcmp(v, back, sizeof v) == 0);
    clReleaseMemObject(b);
}
END_TEST

START_TEST(bad_input_fails_with_a_sentence)
{
    device_ctx *d = tu_device();
    float v[16];
    fill_signed(v, 16, 0.5f, 1.5f, 4);
    cl_mem p = tu_upload(d, v, 16), g = tu_upload(d, v, 16), s = tu_upload(d, v, 16);
    ops_optim_host_state hs = {0, 0};
    struct {
        ops_optimizer kind;
        const char *field;
        float value;
        const char *says;
    } cases[] = {
        {(ops_optimizer)7, "", 0, "not one of"},
        {(ops_optimizer)-1, "", 0, "not one of"},
        {OPS_ADAM, "lr", -0.1f, "learning rate"},
        {OPS_SGD, "lr", NAN, "learning rate"},
        {OPS_SGD, "lr", INFINITY, "learning rate"},
        {OPS_ADAMW, "wd", -1.0f, "weight decay"},
        {OPS_SGD, "momentum", -0.5f, "momentum"},
        {OPS_RMSPROP, "momentum", NAN, "momentum"},
        {OPS_SGD, "nesterov", 0, "nesterov needs a momentum"},
        {OPS_ADAM, "beta1", 1.0f, "betas"},
        {OPS_NADAM, "beta2", -0.5f, "betas"},
        {OPS_ADAMW, "beta2", NAN, "betas"},
        {OPS_ADAM, "eps", -1e-8f, "eps"},
        {OPS_RMSPROP, "alpha", 1.5f, "alpha"},
        {OPS_NADAM, "momentum_decay", -1.0f, "momentum decay"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ops_optim_params o = ops_optim_defaults(OPS_ADAM, 0.01f);
        o.kind = cases[i].kind;
        const char *f = cases[i].field;
        float x = cases[i].value;
        if (!strcmp(f, "lr")) o.lr = x;
        if (!strcmp(f, "wd")) o.weight_decay = x;
        if (!strcmp(f, "momentum")) o.momentum = x;
        if (!strcmp(f, "nesterov")) o.nesterov = 1, o.momentum = 0;
        if (!strcmp(f, "beta1")) o.beta1 = x;
        if (!strcmp(f, "beta2")) o.beta2 = x;
        if (!strcmp(f, "eps")) o.eps = x;
        if (!strcmp(f, "alpha")) o.alpha = x;
        if (!strcmp(f, "momentum_decay")) o.momentum_decay = x;
        d->error[0] = '\0';
        ck_assert_int_eq(ops_optim_step(d, &o, &hs, p, g, s, 8), -1);
        ck_assert_msg(strstr(d->error, cases[i].says) != NULL, "case %zu: %s", i, d->error);
        /* n = 0 does not excuse bad parameters */
        ck_assert_int_eq(ops_optim_step(d, &o, &hs, p, g, s, 0), -1);
    }
    ops_optim_params o = ops_optim_defaults(OPS_ADAM, 0.01f);
    struct {
        cl_mem p, g, s;
        size_t n;
        const char *says;
    } bufs[] = {
        {NULL, g, s, 8, "NULL"},
        {p, NULL, s, 8, "NULL"},
        {p, g, NULL, 8, "NULL"},
        {p, g, s, 9, "floats of state"}, /* adam needs 18 floats of state, the buffer holds 16 */
        {p, g, s, 17, "floats of parameters"},
        {p, g, s, (size_t)1 << 31, "can index"},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        d->error[0] = '\0';
        ck_assert_int_eq(ops_optim_step(d, &o, &hs, bufs[i].p, bufs[i].g, bufs[i].s, bufs[i].n), -1);
        ck_assert_msg(strstr(d->error, bufs[i].says) != NULL, "buffers case %zu: %s", i, d->error);
    }
    ck_assert_int_eq(ops_optim_step(d, NULL, &hs, p, g, s, 8), -1);
    ck_assert_int_eq(ops_optim_step(d, &o, NULL, p, g, s, 8), -1);
    ck_assert_int_eq(hs.step, 0); /* a refused step does not count */
    float back[16];
    TU_OK(d, device_read(d, p, 0, sizeof back, back));
    ck_assert(memcmp(v, back, sizeof v) == 0);
    clReleaseMemObject(p);
    clReleaseMemObject(g);
    clReleaseMemObject(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sgd_matches_reference);
    tcase_add_test(tc, adam_matches_reference);
    tcase_add_test(tc, adamw_matches_reference);
    tcase_add_test(tc, nadam_matches_reference);
    tcase_add_test(tc, rmsprop_matches_reference);
    tcase_add_test(tc, names_defaults_and_state_sizes);
    tcase_add_test(tc, n_zero_is_a_no_op);
    tcase_add_test(tc, bad_input_fails_with_a_sentence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
