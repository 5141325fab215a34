/* test_sweep_spec.c: sweep files -> sweep_spec: every key of wandb's schema and cltrain's, each
 * distribution's keys and defaults, the trial config a spec gives, values as text, and every kind
 * of bad input ending in one sentence that names the file, the line and the key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cltrain/sweep.h"
#include "testutil.h"

static char err[1024];

static sweep_spec *parse(const char *text)
{
    err[0] = '\0';
    return sweep_spec_parse(text, strlen(text), "sweep.yaml", err, sizeof err);
}

static const sweep_param *param(const sweep_spec *s, const char *key)
{
    for (int i = 0; i < s->nparams; i++)
        if (strcmp(config_key_info(s->params[i].id)->name, key) == 0) return &s->params[i];
    ck_abort_msg("no parameter %s", key);
    return NULL;
}

/* Parsing must fail with a message that starts with "sweep.yaml:<line>:" and contains each of
 * the given fragments (the key, the offending value, the suggestion). */
static void expect_error(const char *text, int line, const char *frag1, const char *frag2)
{
    sweep_spec *s = parse(text);
    if (s) sweep_spec_destroy(s);
    ck_assert_msg(s == NULL, "parsed although it should fail:\n%s", text);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sweep.yaml:%d: ", line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "expected '%s...', got '%s'", prefix, err);
    ck_assert_msg(!frag1 || strstr(err, frag1), "'%s' lacks '%s'", err, frag1);
    ck_assert_msg(!frag2 || strstr(err, frag2), "'%s' lacks '%s'", err, frag2);
    /* one sentence: no line breaks, ends with a full stop or question mark */
    ck_assert_msg(!strchr(err, '\n'), "'%s' has a line break", err);
    char last = err[strlen(err) - 1];
    ck_assert_msg(last == '.' || last == '?', "'%s' does not end a sentence", err);
}

static const char *full = "name: study\n"
                          "description: the iNaturalist CNN study\n"
                          "program: train.py\n"
                          "command: [python, train.py]\n"
                          "entity: me\n"
                          "project: inat\n"
                          "method: bayes\n"
                          "metric:\n"
                          "  name: val_accuracy\n"
                          "  goal: maximize\n"
                          "  target: 0.95\n"
                          "run_cap: 50\n"
                          "count: 10\n"
                          "seed: 7\n"
                          "devices: [0, 1]\n"
                          "output: out/sweeps\n"
                          "wandb: {project: p, entity: e, mode: offline, tags: [a, b], group: g}\n"
                          "dataset:\n"
                          "  type: images\n"
                          "  path: /data/inat\n"
                          "  image_size: 64\n"
                          "defaults:\n"
                          "  epochs: 3\n"
                          "  use_batch_norm: false\n"
                          "early_terminate: {type: hyperband, min_iter: 2}\n"
                          "parameters:\n"
                          "  lr:\n"
                          "    distribution: log_uniform_values\n"
                          "    min: 0.0001\n"
                          "    max: 0.01\n"
                          "  activation:\n"
                          "    values: [relu, silu, gelu]\n"
                          "  batch_size: {values: [32, 64, 128], probabilities: [0.25, 0.5, 0.25]}\n"
                          "  num_filters: {min: 16, max: 64}\n"
                          "  dropout: {min: 0.1, max: 0.5}\n"
                          "  optimizer: {value: adamw}\n";

START_TEST(test_full_spec)
{
    sweep_spec *s = parse(full);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->method, SWEEP_BAYES);
    ck_assert(s->has_metric);
    ck_assert_str_eq(s->metric, "val_accuracy");
    ck_assert_int_eq(s->goal, SWEEP_MAXIMIZE);
    ck_assert(s->has_target && s->target == 0.95);
    ck_assert_int_eq(s->run_cap, 50);
    ck_assert_int_eq(s->count, 10);
    ck_assert_int_eq((int)s->seed, 7);
    ck_assert_str_eq(s->devices, "0,1");
    ck_assert_str_eq(s->output, "out/sweeps");
    ck_assert_str_eq(s->wandb_project, "p");
    ck_assert_str_eq(s->wandb_entity, "e");
    ck_assert_str_eq(s->wandb_mode, "offline");
    ck_assert_str_eq(s->wandb_tags, "a,b");
    ck_assert_str_eq(s->wandb_group, "g");
    ck_assert_str_eq(s->name, "study");
    ck_assert_str_eq(s->description, "the iNaturalist CNN study");
    ck_assert_str_eq(s->program, "train.py");
    ck_assert_str_eq(s->command, "python train.py");
    ck_assert_str_eq(s->entity, "me");
    ck_assert_str_eq(s->project, "inat");
    ck_assert(s->hyperband.enabled);
    ck_assert_int_eq(s->hyperband.min_iter, 2);
    ck_assert(s->hyperband.eta == 3);
    ck_assert_int_eq(s->hyperband.strict, 1); /* wandb's schema default */

    /* dataset keys flattened, defaults by canonical name */
    ck_assert_int_eq(s->ndataset, 3);
    ck_assert_int_eq(s->dataset[0].id, CFG_DATASET_TYPE);
    ck_assert_int_eq(s->dataset[1].id, CFG_DATA_PATH);
    ck_assert_int_eq(s->dataset[2].id, CFG_IMAGE_SIZE);
    ck_assert_int_eq(s->dataset[1].line, 20);
    ck_assert_int_eq(s->ndefaults, 2);
    ck_assert_int_eq(s->defaults[1].id, CFG_BATCH_NORM);

    /* parameters sorted by canonical name; alias lr -> learning_rate */
    ck_assert_int_eq(s->nparams, 6);
    static const char *order[] = {"activation",    "batch_size",  "dropout",
                                  "learning_rate", "num_filters", "optimizer"};
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(config_key_info(s->params[i].id)->name, order[i]);
    const sweep_param *lr = param(s, "learning_rate");
    ck_assert_str_eq(lr->name, "lr");
    ck_assert_int_eq(lr->dist, SWEEP_DIST_LOG_UNIFORM_VALUES);
    ck_assert(lr->min == 0.0001 && lr->max == 0.01);
    ck_assert_int_eq(lr->line, 27);
    ck_assert_int_eq(param(s, "activation")->dist, SWEEP_DIST_CATEGORICAL);
    ck_assert_int_eq(param(s, "activation")->nvalues, 3);
    ck_assert_str_eq(param(s, "activation")->values[2].text, "gelu");
    const sweep_param *bs = param(s, "batch_size");
    ck_assert(bs->probs && bs->probs[1] == 0.5);
    ck_assert(bs->values[2].num == 128);
    ck_assert_int_eq(param(s, "num_filters")->dist, SWEEP_DIST_INT_UNIFORM); /* both ints */
    ck_assert_int_eq(param(s, "dropout")->dist, SWEEP_DIST_UNIFORM);
    ck_assert_int_eq(param(s, "optimizer")->dist, SWEEP_DIST_CONSTANT);

    /* a trial's config: defaults, dataset, then values */
    sweep_param_values v = {0};
    v.n = s->nparams;
    for (int i = 0; i < s->nparams; i++)
        sweep_param_ppf(&s->params[i], 0.999, &v.v[i]);
    config cfg;
    ck_assert_msg(sweep_spec_apply(s, &v, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(config_int(&cfg, CFG_EPOCHS), 3);
    ck_assert_int_eq(config_bool(&cfg, CFG_BATCH_NORM), 0);
    ck_assert_str_eq(config_str(&cfg, CFG_DATASET_TYPE), "images");
    ck_assert_str_eq(config_str(&cfg, CFG_DATA_PATH), "/data/inat");
    ck_assert_int_eq(config_int(&cfg, CFG_IMAGE_SIZE), 64);
    ck_assert_str_eq(config_str(&cfg, CFG_ACTIVATION), "gelu");
    ck_assert_str_eq(config_str(&cfg, CFG_OPTIMIZER), "adamw");
    ck_assert_int_eq(config_int(&cfg, CFG_NUM_FILTERS), 64);
    ck_assert(fabs(config_float(&cfg, CFG_LEARNING_RATE) - 0.01 * pow(0.01, 0.001)) < 1e-9);

    /* text for --set and the leaderboard, and back from a config */
    char text[512];
    int n = sweep_param_values_format(s, &v, " ", text, sizeof text);
    ck_assert_int_eq(n, (int)strlen(text));
    ck_assert_msg(strstr(text, "activation=gelu batch_size=128 dropout=") == text, "%s", text);
    ck_assert_msg(strstr(text, " num_filters=64 optimizer=adamw"), "%s", text);
    char small[8];
    ck_assert_int_eq(sweep_param_values_format(s, &v, " ", small, sizeof small), n);
    ck_assert_int_eq((int)strlen(small), 7);
    for (int i = 0; i < s->nparams; i++) {
        char a[300];
        snprintf(a, sizeof a, "%s=%s", config_key_info(s->params[i].id)->name, v.v[i].text);
        config c2;
        config_init(&c2);
        ck_assert_msg(config_set_assignment(&c2, a, err, sizeof err) == 0, "%s: %s", a, err);
    }
    sweep_param_values back;
    ck_assert_msg(sweep_param_values_from_config(s, &cfg, &back, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < s->nparams; i++) {
        ck_assert_str_eq(back.v[i].text, v.v[i].text);
        if (s->params[i].dist == SWEEP_DIST_CATEGORICAL) ck_assert_int_eq(back.v[i].index, v.v[i].index);
    }
    /* a config whose activation is not among the values */
    ck_assert(config_set(&cfg, "activation", "tanh", 0, err, sizeof err) == 0);
    ck_assert(sweep_param_values_from_config(s, &cfg, &back, err, sizeof err) == -1);
    ck_assert_msg(strstr(err, "sweep.yaml:") && strstr(err, "activation=tanh"), "%s", err);

    /* target per goal */
    ck_assert(sweep_target_reached(s, 0.96));
    ck_assert(!sweep_target_reached(s, 0.9));
    ck_assert(!sweep_target_reached(s, NAN));
    sweep_spec_destroy(s);
}
END_TEST

START_TEST(test_defaults_of_a_minimal_spec)
{
    sweep_spec *s = parse("method: random\nparameters:\n  dropout: {values: [0.2, 0.3]}\n");
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->method, SWEEP_RANDOM);
    ck_assert(!s->has_metric && !s->has_target && !s->hyperband.enabled);
    ck_assert_int_eq(s->goal, SWEEP_MINIMIZE);
    ck_assert_int_eq((int)s->seed, 42);
    ck_assert_str_eq(s->output, "runs/");
    ck_assert(s->devices == NULL && s->wandb_project == NULL && s->name == NULL);
    ck_assert_int_eq(s->run_cap, 0);
    ck_assert_int_eq(s->count, 0);
    config cfg, def;
    ck_assert(sweep_spec_apply(s, NULL, &cfg, err, sizeof err) == 0);
    config_init(&def);
    ck_assert(config_int(&cfg, CFG_BATCH_SIZE) == config_int(&def, CFG_BATCH_SIZE));
    sweep_spec_destroy(s);
    /* no parameters at all: one config, the defaults */
    s = parse("method: grid\ndefaults: {epochs: 2}\n");
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->nparams, 0);
    sweep_spec_destroy(s);
}
END_TEST

START_TEST(test_every_distribution_parses)
{
    static const struct {
        const char *yaml;
        sweep_dist dist;
    } cases[] = {
        {"{value: 0.3}", SWEEP_DIST_CONSTANT},
        {"{distribution: constant, value: 0.3}", SWEEP_DIST_CONSTANT},
        {"{values: [0.1, 0.2]}", SWEEP_DIST_CATEGORICAL},
        {"{distribution: categorical, values: [0.1, 0.2]}", SWEEP_DIST_CATEGORICAL},
        {"{min: 0.1, max: 0.5}", SWEEP_DIST_UNIFORM},
        {"{min: 0, max: 0.5}", SWEEP_DIST_UNIFORM},
        {"{distribution: uniform, min: 0, max: 0.9}", SWEEP_DIST_UNIFORM},
        {"{distribution: q_uniform, min: 0, max: 0.75, q: 0.25}", SWEEP_DIST_Q_UNIFORM},
        {"{distribution: log_uniform, min: -9, max: -2}", SWEEP_DIST_LOG_UNIFORM},
        {"{distribution: log_uniform_values, min: 0.001, max: 0.5}", SWEEP_DIST_LOG_UNIFORM_VALUES},
        {"{distribution: q_log_uniform, min: -5, max: -1, q: 0.01}", SWEEP_DIST_Q_LOG_UNIFORM},
        {"{distribution: q_log_uniform_values, min: 0.01, max: 0.9, q: 0.01}",
         SWEEP_DIST_Q_LOG_UNIFORM_VALUES},
        {"{distribution: inv_log_uniform, min: 1, max: 5}", SWEEP_DIST_INV_LOG_UNIFORM},
        {"{distribution: inv_log_uniform_values, min: 0.01, max: 0.9}", SWEEP_DIST_INV_LOG_UNIFORM_VALUES},
        {"{distribution: normal, mu: 0.5, sigma: 0.1}", SWEEP_DIST_NORMAL},
        {"{distribution: q_normal, mu: 0.5, sigma: 0.1, q: 0.05}", SWEEP_DIST_Q_NORMAL},
        {"{distribution: log_normal, mu: -1, sigma: 0.5}", SWEEP_DIST_LOG_NORMAL},
        {"{distribution: q_log_normal, mu: -1, sigma: 0.5, q: 0.01}", SWEEP_DIST_Q_LOG_NORMAL},
        {"{distribution: beta, a: 2, b: 5}", SWEEP_DIST_BETA},
        {"{distribution: q_beta, a: 2, b: 5, q: 0.1}", SWEEP_DIST_Q_BETA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "method: random\nparameters:\n  dropout: %s\n", cases[i].yaml);
        sweep_spec *s = parse(text);
        ck_assert_msg(s != NULL, "%s: %s", cases[i].yaml, err);
        ck_assert_msg(s->params[0].dist == cases[i].dist, "%s gave %s", cases[i].yaml,
                      sweep_dist_name(s->params[0].dist));
        sweep_spec_destroy(s);
    }
    /* defaults of the distribution keys, as wandb's schema fills them */
    sweep_spec *s = parse("method: random\nparameters:\n  dropout: {distribution: q_beta}\n"
                          "  momentum: {distribution: normal}\n");
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert(s->params[0].a == 1 && s->params[0].b == 1 && s->params[0].q == 1);
    ck_assert(s->params[1].mu == 0 && s->params[1].sigma == 1);
    sweep_spec_destroy(s);
    /* integer keys take int_uniform and whole-q distributions */
    s = parse("method: random\nparameters:\n  batch_size: {distribution: q_log_uniform_values, "
              "min: 16, max: 256, q: 16}\n  num_filters: {distribution: int_uniform, min: 8, max: 64}\n");
    ck_assert_msg(s != NULL, "%s", err);
    sweep_spec_destroy(s);
}
END_TEST

START_TEST(test_load_from_file)
{
    char path[] = "/tmp/test_sweep_specXXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(full, f);
    fclose(f);
    sweep_spec *s = sweep_spec_load(path, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_str_eq(s->path, path);
    ck_assert_int_eq(s->nparams, 6);
    sweep_spec_destroy(s);
    /* errors name the file */
    f = fopen(path, "w");
    fputs("method: bayes\nparameters:\n  dropout: {min: 0.5, max: 0.1}\n", f);
    fclose(f);
    ck_assert(sweep_spec_load(path, err, sizeof err) == NULL);
    char want[128];
    snprintf(want, sizeof want, "%s:3:", path);
    ck_assert_msg(strstr(err, want) == err, "%s", err);
    unlink(path);
    ck_assert(sweep_spec_load(path, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, path) && strstr(err, "cannot open"), "%s", err);
    /* the shipped sweep files, when present, must load */
    static const char *shipped[] = {"sweeps/base.yaml", "sweeps/inaturalist.yaml"};
    for (int i = 0; i < 2; i++) {
        if (access(shipped[i], R_OK) != 0) continue;
        s = sweep_spec_load(shipped[i], err, sizeof err);
        ck_assert_msg(s != NULL, "%s", err);
        sweep_spec_destroy(s);
    }
}
END_TEST

START_TEST(test_bad_files)
{
    /* an empty file, only a comment, not YAML, not a mapping */
    expect_error("", 1, "empty", "method");
    expect_error("# nothing here\n", 1, "empty", NULL);
    expect_error("method: grid\nparameters: {a: [1, 2\n", 3, "not valid YAML", NULL);
    expect_error("method: grid\n  bad: indent\n", 2, "not valid YAML", NULL);
    expect_error("- method\n- grid\n", 1, "must be a mapping", "a list");
    expect_error("just some words\n", 1, "must be a mapping", NULL);
    /* method */
    expect_error("parameters:\n  dropout: {value: 0.2}\n", 1, "no method", NULL);
    expect_error("method: bayesian\n", 1, "method 'bayesian'", "grid, random or bayes");
    expect_error("method: [grid]\n", 1, "method must be a single value", NULL);
    /* unknown and duplicated top-level keys */
    expect_error("method: grid\nparamters:\n  dropout: {value: 0.2}\n", 2, "'paramters'",
                 "did you mean 'parameters'?");
    expect_error("method: grid\nfoo: 1\n", 2, "unknown key 'foo'", NULL);
    expect_error("method: grid\nmethod: random\n", 2, "'method' twice", "line 1");
}
END_TEST

START_TEST(test_bad_parameters)
{
    /* an unknown parameter suggests the nearest config key */
    expect_error("method: grid\nparameters:\n  learning_rat: {values: [0.1]}\n", 3,
                 "'learning_rat' is not a config key", "did you mean 'learning_rate'?");
    /* nested parameters have no place in a flat config */
    expect_error("method: grid\nparameters:\n  optim:\n    parameters:\n      lr: {value: 1}\n", 3,
                 "nests parameters", NULL);
    /* unknown distribution, unknown key inside a parameter */
    expect_error("method: random\nparameters:\n  dropout:\n    distribution: gaussian\n    mu: 0\n", 4,
                 "'gaussian' is not a known distribution", "parameters.dropout");
    expect_error("method: random\nparameters:\n  dropout:\n    distribution: unifrom\n"
                 "    min: 0\n    max: 1\n",
                 4, "did you mean 'uniform'?", NULL);
    expect_error("method: random\nparameters:\n  dropout: {min: 0.1, maks: 0.2}\n", 3, "unknown key 'maks'",
                 "did you mean 'max'?");
    /* min above max (and equal) */
    expect_error("method: random\nparameters:\n  dropout:\n    min: 0.5\n    max: 0.1\n", 4,
                 "parameters.dropout: min 0.5 is not below max 0.1", NULL);
    expect_error("method: random\nparameters:\n  num_filters: {min: 8, max: 8}\n", 3,
                 "parameters.num_filters", "not below max");
    /* empty values */
    expect_error("method: grid\nparameters:\n  activation:\n    values: []\n", 4,
                 "parameters.activation.values is empty", NULL);
    expect_error("method: grid\nparameters:\n  activation:\n    values: relu\n", 4,
                 "parameters.activation.values must be a list", NULL);
    /* probabilities that do not sum to 1, or do not match the values */
    expect_error("method: random\nparameters:\n  activation:\n    values: [relu, gelu]\n"
                 "    probabilities: [0.5, 0.6]\n",
                 5, "parameters.activation.probabilities", "sum to 1.1");
    expect_error("method: random\nparameters:\n  activation:\n    values: [relu, gelu]\n"
                 "    probabilities: [1]\n",
                 5, "has 1 entries but values has 2", NULL);
    expect_error("method: random\nparameters:\n  activation:\n    values: [relu, gelu]\n"
                 "    probabilities: [1.5, -0.5]\n",
                 5, "cannot be negative", NULL);
    /* within 1e-6 is fine */
    sweep_spec *s = parse("method: random\nparameters:\n  activation:\n    values: [relu, gelu, "
                          "silu]\n    probabilities: [0.3333333, 0.3333333, 0.3333334]\n");
    ck_assert_msg(s != NULL, "%s", err);
    sweep_spec_destroy(s);
    /* grid over a continuous parameter names it */
    expect_error("method: grid\nparameters:\n  activation: {values: [relu]}\n  dropout: {min: "
                 "0.1, max: 0.5}\n",
                 4, "grid cannot enumerate parameter 'dropout'", "uniform");
    expect_error("method: grid\nparameters:\n  lr: {distribution: log_uniform_values, min: "
                 "0.001, max: 0.1}\n",
                 3, "parameter 'lr'", "log_uniform_values");
    expect_error("method: grid\nparameters:\n  activation: {values: [relu, gelu], probabilities: "
                 "[0.5, 0.5]}\n",
                 3, "'activation'", "with probabilities");
    /* a string where a number belongs */
    expect_error("method: random\nparameters:\n  dropout:\n    min: low\n    max: 0.5\n", 4,
                 "parameters.dropout.min must be a number", "'low'");
    expect_error("method: random\nparameters:\n  dropout: {min: 0.1, max: \"0.5\"}\n", 3,
                 "parameters.dropout.max must be a number", NULL);
    expect_error("method: random\nparameters:\n  momentum:\n    distribution: normal\n"
                 "    sigma: wide\n",
                 5, "parameters.momentum.sigma must be a number", NULL);
    expect_error("method: random\nparameters:\n  dropout: {values: [0.1, lots]}\n", 3,
                 "parameters.dropout.values", NULL);
    expect_error("method: random\nrun_cap: many\n", 2, "run_cap must be a number", NULL);
    /* a zero or negative batch_size, anywhere it can be set */
    expect_error("method: grid\nparameters:\n  batch_size:\n    values: [32, 0]\n", 4,
                 "parameters.batch_size.values", NULL);
    expect_error("method: grid\nparameters:\n  batch_size: {value: -8}\n", 3, "parameters.batch_size.value",
                 NULL);
    expect_error("method: random\nparameters:\n  batch_size: {min: -16, max: 64}\n", 3,
                 "parameters.batch_size.min", NULL);
    expect_error("method: random\ndefaults:\n  batch_size: 0\n", 3, "defaults.batch_size", NULL);
    /* an unknown activation */
    expect_error("method: grid\nparameters:\n  activation:\n    values:\n      - relu\n"
                 "      - swish\n",
                 6, "parameters.activation.values", NULL);
    expect_error("method: grid\ndefaults: {activation: swish}\n", 2, "defaults.activation", NULL);
    /* a distribution's keys and the key's type */
    expect_error("method: random\nparameters:\n  dropout: {distribution: uniform, min: 0, max: "
                 "0.5, q: 0.1}\n",
                 3, "'q' does not apply to distribution uniform", NULL);
    expect_error("method: random\nparameters:\n  dropout: {distribution: uniform, min: 0}\n", 3,
                 "needs 'max'", NULL);
    expect_error("method: random\nparameters:\n  dropout: {min: 0}\n", 3, "no max", NULL);
    expect_error("method: random\nparameters:\n  dropout: {}\n", 3, "needs value, values", NULL);
    expect_error("method: random\nparameters:\n  dropout: 0.3\n", 3, "must be a mapping", NULL);
    expect_error("method: random\nparameters:\n  activation: {distribution: uniform, min: 0, max: "
                 "1}\n",
                 3, "activation is a text key", NULL);
    expect_error("method: random\nparameters:\n  num_filters: {min: 8.5, max: 64}\n", 3,
                 "num_filters takes whole numbers", NULL);
    expect_error("method: random\nparameters:\n  num_filters: {distribution: int_uniform, min: 8, "
                 "max: 64.5}\n",
                 3, "whole numbers", NULL);
    expect_error("method: random\nparameters:\n  dropout: {distribution: log_uniform_values, min: "
                 "0, max: 0.5}\n",
                 3, "min must be above 0", NULL);
    expect_error("method: random\nparameters:\n  dropout: {distribution: q_uniform, min: 0, max: "
                 "0.5, q: 0}\n",
                 3, "q must be above 0", NULL);
    expect_error("method: random\nparameters:\n  dropout: {distribution: beta, a: -1}\n", 3,
                 "a must be above 0", NULL);
    /* a range the key does not accept, and a law whose middle is outside it */
    expect_error("method: random\nparameters:\n  dropout:\n    min: 0.1\n    max: 1.5\n", 5,
                 "parameters.dropout.max", "dropout");
    expect_error("method: random\nparameters:\n  dropout: {distribution: normal, mu: 5}\n", 3, "median",
                 NULL);
    /* the same key twice (via an alias), or both set and swept */
    expect_error("method: grid\nparameters:\n  lr: {value: 0.1}\n  learning_rate: {value: 0.2}\n", 4,
                 "already sets at line 3", NULL);
    expect_error("method: grid\ndefaults:\n  dropout: 0.1\nparameters:\n  dropout: {value: 0.2}\n", 5,
                 "defaults already sets", NULL);
    expect_error("method: grid\ndefaults:\n  epoch: 3\n", 3, "defaults key 'epoch'",
                 "did you mean 'epochs'?");
    expect_error("method: grid\ndataset:\n  type: images\n  dataset_type: idx\n", 4, "dataset already sets",
                 NULL);
}
END_TEST

START_TEST(test_bad_sections)
{
    expect_error("method: bayes\nparameters:\n  dropout: {min: 0.1, max: 0.5}\n", 1, "bayes needs a metric",
                 NULL);
    expect_error("method: bayes\nmetric: {name: val_loss}\nparameters:\n  dropout: {value: 0.1}\n", 1,
                 "at least one parameter that varies", NULL);
    expect_error("method: random\nmetric: {goal: maximize}\n", 2, "metric needs a name", NULL);
    expect_error("method: random\nmetric: {name: val_loss, goal: up}\n", 2, "metric.goal", "'up'");
    expect_error("method: random\nmetric: {name: val_loss, gaol: maximize}\n", 2, "'gaol'",
                 "did you mean 'goal'?");
    expect_error("method: random\nmetric: {name: val_loss, target: high}\n", 2, "metric.target", NULL);
    expect_error("method: random\nmetric: val_loss\n", 2, "metric must be a mapping", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: median, "
                 "min_iter: 1}\n",
                 3, "early_terminate.type must be hyperband", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband}\n", 3,
                 "needs min_iter", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "max_iter: 27}\n",
                 3, "max_iter needs s", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "min_iter: 0}\n",
                 3, "early_terminate.min_iter", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "min_iter: 1, eta: 1}\n",
                 3, "eta must be above 1", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "min_iter: 1, strict: maybe}\n",
                 3, "strict must be true or false", NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "max_iter: 2, s: 2, eta: 3}\n",
                 3, "no band", NULL);
    expect_error("method: random\nearly_terminate: {type: hyperband, min_iter: 1}\n", 2, "needs a metric",
                 NULL);
    expect_error("method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, "
                 "min_iter: 1, max_itr: 3}\n",
                 3, "'max_itr'", "did you mean 'max_iter'?");
    expect_error("method: random\nwandb: {mode: sometimes}\n", 2, "wandb.mode", NULL);
    expect_error("method: random\nwandb: {projekt: x}\n", 2, "'projekt'", "did you mean 'project'?");
    expect_error("method: random\ncount: 0\n", 2, "count must be a whole number of at least 1", NULL);
    expect_error("method: random\nrun_cap: 2.5\n", 2, "run_cap", NULL);
    expect_error("method: random\nseed: -1\n", 2, "seed", NULL);
    expect_error("method: random\ndevices: {a: 1}\n", 2, "devices must be a string or a list", NULL);
    expect_error("method: random\ndataset: /data\n", 2, "dataset must be a mapping", NULL);
    expect_error("method: random\ndataset:\n  kind: images\n", 3, "dataset key 'kind'", NULL);
    expect_error("method: random\ndataset:\n  type: jpeg\n", 3, "dataset.type", NULL);
    expect_error("method: random\nmetric: {name: val_loss, impute: best}\n", 2, "metric.impute", NULL);
    /* a grid too large to be meant */
    expect_error("method: grid\nparameters:\n  limit: {min: 0, max: 999999999}\n", 1, "more than", "'limit'");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sweep_spec");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, test_full_spec);
    tcase_add_test(tc, test_defaults_of_a_minimal_spec);
    tcase_add_test(tc, test_every_distribution_parses);
    tcase_add_test(tc, test_load_from_file);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_bad_sections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
