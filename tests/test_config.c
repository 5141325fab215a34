/* test_config.c: the flat config: every type's bad input, ranges, choices, aliases, the nearest-key
 * suggestion, YAML files (errors with their line, the dataset: block, duplicates), the round trip
 * through config_save_yaml, --set assignments and the JSON view. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cltrain/config.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cltrain-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    tu_remove_tree(dir);
}

static const char *file_with(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(defaults_are_the_documented_ones)
{
    config c;
    config_init(&c);
    ck_assert_int_eq(config_int(&c, CFG_NUM_FILTERS), 32);
    ck_assert_int_eq(config_int(&c, CFG_BATCH_SIZE), 64);
    ck_assert_str_eq(config_str(&c, CFG_ACTIVATION), "relu");
    ck_assert_str_eq(config_str(&c, CFG_OPTIMIZER), "adam");
    ck_assert_str_eq(config_str(&c, CFG_INIT), "torch");
    ck_assert_int_eq(config_bool(&c, CFG_BATCH_NORM), 1);
    ck_assert_double_eq(config_float(&c, CFG_LEARNING_RATE), 0.001);
    ck_assert_str_eq(config_str(&c, CFG_DATA_PATH), "/usr/share/datasets/fashion-mnist");
}
END_TEST

START_TEST(bad_values_are_one_sentence_naming_the_key)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    struct {
        const char *key, *value;
    } bad[] = {{"batch_size", "3.5"}, {"batch_size", "abc"},    {"batch_size", "0"},
               {"batch_size", "-4"},  {"batch_size", "99999999999999999999"},
               {"learning_rate", "abc"}, {"learning_rate", "nan"}, {"learning_rate", "inf"},
               {"learning_rate", "-0.1"}, {"dropout", "1.5"},     {"batch_norm", "maybe"},
               {"activation", "swish2"}, {"filter_strategy", "triple"}, {"optimizer", "lamb"},
               {"num_filters", ""},     {"data_path", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        config before = c;
        ck_assert_msg(config_set(&c, bad[i].key, bad[i].value, 0, err, sizeof err) != 0, "%s=%s accepted",
                      bad[i].key, bad[i].value);
        ck_assert_msg(strstr(err, bad[i].key) != NULL, "%s=%s: %s", bad[i].key, bad[i].value, err);
        ck_assert_msg(err[strlen(err) - 1] == '.', "not a sentence: %s", err);
        ck_assert_msg(memcmp(&before, &c, sizeof c) == 0, "a refused value changed the config");
    }
    /* every refusal is the same whether or not a line is given, and names the line when it is */
    ck_assert(config_set(&c, "lr", "abc", 7, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "learning_rate") && strstr(err, "line 7") && strstr(err, "\"abc\""), "%s", err);
    /* what the message offers */
    config_set(&c, "activation", "swish2", 0, err, sizeof err);
    ck_assert_msg(strstr(err, "relu") && strstr(err, "leaky_relu"), "%s", err);
    config_set(&c, "batch_size", "0", 3, err, sizeof err);
    ck_assert_msg(strstr(err, "line 3") && strstr(err, "1 to 65536"), "%s", err);
}
END_TEST

START_TEST(good_values_types_and_aliases)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    const char *good[][2] = {{"lr", "1e-3"},         {"learning_rate", "2"}, {"use_batch_norm", "No"},
                             {"batch_norm", "ON"},   {"dropout_rate", "0.3"}, {"use_augmentation", "yes"},
                             {"batch_size", " 128 "}, {"num_filters", "16"}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(config_set(&c, good[i][0], good[i][1], 0, err, sizeof err) == 0, "%s=%s: %s", good[i][0],
                      good[i][1], err);
    ck_assert_double_eq(config_float(&c, CFG_LEARNING_RATE), 2.0);
    ck_assert_int_eq(config_bool(&c, CFG_BATCH_NORM), 1);
    ck_assert_double_eq_tol(config_float(&c, CFG_DROPOUT), 0.3, 1e-12);
    ck_assert_int_eq(config_bool(&c, CFG_DATA_AUGMENTATION), 1);
    ck_assert_int_eq(config_int(&c, CFG_BATCH_SIZE), 128);
    ck_assert_int_eq(config_key_find("lr"), CFG_LEARNING_RATE);
    ck_assert_int_eq(config_key_find("no_such_key"), -1);
}
END_TEST

START_TEST(ranges_are_inclusive_and_choices_exact)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    struct {
        const char *key, *value;
        int ok;
    } cases[] = {{"batch_size", "1", 1},        {"batch_size", "65536", 1},    {"batch_size", "65537", 0},
                 {"dropout", "0", 1},           {"dropout", "0.99", 1},        {"dropout", "0.9901", 0},
                 {"learning_rate", "1e-9", 1},  {"learning_rate", "0", 0},     {"learning_rate", "10", 1},
                 {"learning_rate", "10.0001", 0}, {"seed", "0", 1},            {"seed", "4294967295", 1},
                 {"seed", "4294967296", 0},     {"seed", "-1", 0},             {"val_split", "0.9", 1},
                 {"val_split", "0.95", 0},      {"filter_size", "15", 1},      {"filter_size", "17", 0},
                 {"activation", "ReLU", 0},     {"activation", "relu ", 1},    {"lr_schedule", "cosine", 1},
                 {"lr_schedule", "linear", 0},  {"momentum", "1e-3", 1},       {"momentum", "1E-3", 1},
                 {"momentum", "0.5x", 0},       {"epochs", "1e3", 0},          {"epochs", "0x10", 0},
                 {"batch_norm", "TRUE", 1},     {"batch_norm", "Off", 1},      {"batch_norm", "1", 1},
                 {"batch_norm", "0", 1},        {"batch_norm", "2", 0},        {"batch_norm", "", 0},
                 {"data_path", "relative/dir", 1}, {"data_path", "   ", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = config_set(&c, cases[i].key, cases[i].value, 0, err, sizeof err);
        ck_assert_msg((rc == 0) == cases[i].ok, "%s=\"%s\": %s", cases[i].key, cases[i].value,
                      rc == 0 ? "accepted" : err);
        if (!cases[i].ok) ck_assert_msg(strstr(err, cases[i].key) != NULL, "%s", err);
    }
    /* a range message says what is allowed */
    config_set(&c, "dropout", "1.5", 0, err, sizeof err);
    ck_assert_msg(strstr(err, "0 to 0.99") != NULL, "%s", err);
    /* every listed choice of every string key is accepted, and stored as given */
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        const config_key *key = config_key_info((config_key_id)k);
        if (key->type != CONFIG_STRING || !key->choices) continue;
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", key->choices);
        for (char *w = strtok_r(list, "|", &save); w; w = strtok_r(NULL, "|", &save)) {
            ck_assert_msg(config_set(&c, key->name, w, 0, err, sizeof err) == 0, "%s=%s: %s", key->name, w, err);
            ck_assert_str_eq(config_str(&c, (config_key_id)k), w);
        }
    }
    ck_assert_str_eq(config_str(&c, CFG_ACTIVATION), "elu");
    ck_assert_int_eq(config_int(&c, CFG_SEED), 4294967295LL);
    ck_assert_ptr_null(config_key_info(CFG_KEY_COUNT));
    /* the longest string kept is CONFIG_STR_LEN - 1 characters; longer is refused, not cut */
    char path[CONFIG_STR_LEN + 2];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    ck_assert(config_set(&c, "data_path", path, 0, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "data_path") && strstr(err, "longer than 255"), "%s", err);
    path[CONFIG_STR_LEN - 1] = '\0';
    ck_assert(config_set(&c, "data_path", path, 0, err, sizeof err) == 0);
    ck_assert_str_eq(config_str(&c, CFG_DATA_PATH), path);
}
END_TEST

START_TEST(every_default_is_valid_and_every_alias_unique)
{
    /* the table itself: defaults load (config_init aborts otherwise), no name or alias twice */
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert_msg(config_validate(&c, err, sizeof err) == 0, "%s", err);
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        const config_key *key = config_key_info((config_key_id)k);
        ck_assert_int_eq(config_key_find(key->name), k);
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", key->aliases ? key->aliases : "");
        for (char *w = strtok_r(list, "|", &save); w; w = strtok_r(NULL, "|", &save))
            ck_assert_msg(config_key_find(w) == k, "alias %s of %s", w, key->name);
    }
}
END_TEST

START_TEST(unknown_keys_suggest_the_nearest)
{
    ck_assert_str_eq(config_key_nearest("batchsize"), "batch_size");
    ck_assert_str_eq(config_key_nearest("learning_rat"), "learning_rate");
    ck_assert_str_eq(config_key_nearest("activaton"), "activation");
    ck_assert_ptr_null(config_key_nearest("zzzzzzzzzzzz"));
    ck_assert_ptr_null(config_key_nearest("x"));
    ck_assert_ptr_null(config_key_nearest("abc"));
    ck_assert_str_eq(config_key_nearest("epoch"), "epochs");
    ck_assert_str_eq(config_key_nearest("lt"), "learning_rate");
    /* a near miss of an alias suggests the canonical key */
    ck_assert_str_eq(config_key_nearest("use_batchnorm"), "batch_norm");
    ck_assert_str_eq(config_key_nearest("dropout_rat"), "dropout");
    ck_assert_str_eq(config_key_nearest("dense_unit"), "dense_neurons");
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert(config_set(&c, "batchsize", "3", 0, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "did you mean \"batch_size\"") != NULL, "%s", err);
}
END_TEST

START_TEST(assignments)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert(config_set_assignment(&c, "batch_size=32", err, sizeof err) == 0);
    ck_assert_int_eq(config_int(&c, CFG_BATCH_SIZE), 32);
    ck_assert(config_set_assignment(&c, "data_path=/a=b", err, sizeof err) == 0);
    ck_assert_str_eq(config_str(&c, CFG_DATA_PATH), "/a=b");
    ck_assert(config_set_assignment(&c, "=3", err, sizeof err) != 0);
    ck_assert(strstr(err, "key=value") != NULL);
    ck_assert(config_set_assignment(&c, "nokey", err, sizeof err) != 0);
    ck_assert(strstr(err, "key=value") != NULL);
    ck_assert(config_set_assignment(&c, "lr=abc", err, sizeof err) != 0);
    ck_assert(strstr(err, "learning_rate") != NULL && strstr(err, "abc") != NULL);
    ck_assert(config_set_assignment(&c, "batchsize=3", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "did you mean \"batch_size\"") != NULL, "%s", err);
    ck_assert(config_set_assignment(&c, "batch_size=", err, sizeof err) != 0);
    ck_assert(config_set_assignment(&c, "  =3", err, sizeof err) != 0);
    ck_assert(config_set_assignment(&c, "", err, sizeof err) != 0);
    /* blanks around the key and value, as a shell line may carry them */
    ck_assert_msg(config_set_assignment(&c, " batch_size = 16 ", err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(config_int(&c, CFG_BATCH_SIZE), 16);
    ck_assert(config_set_assignment(&c, "lr=1e-4", err, sizeof err) == 0);
    ck_assert_double_eq(config_float(&c, CFG_LEARNING_RATE), 1e-4);
    ck_assert_int_eq(c.v[CFG_LEARNING_RATE].line, 0);
}
END_TEST

START_TEST(yaml_loads_with_dataset_block_and_aliases)
{
    const char *p = file_with("good.yaml", "# a comment\n"
                                           "dataset:\n  type: idx\n  path: /data/fm\n  image_size: 40\n  limit: 500\n"
                                           "lr: 0.01\nuse_batch_norm: false\nactivation: gelu\n");
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert_msg(config_load_yaml(&c, p, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(config_str(&c, CFG_DATA_PATH), "/data/fm");
    ck_assert_int_eq(config_int(&c, CFG_IMAGE_SIZE), 40);
    ck_assert_int_eq(config_int(&c, CFG_LIMIT), 500);
    ck_assert_double_eq(config_float(&c, CFG_LEARNING_RATE), 0.01);
    ck_assert_int_eq(config_bool(&c, CFG_BATCH_NORM), 0);
    ck_assert_str_eq(config_str(&c, CFG_ACTIVATION), "gelu");
    ck_assert_int_eq(c.v[CFG_ACTIVATION].line, 9);
}
END_TEST

START_TEST(yaml_errors_name_file_and_line)
{
    struct {
        const char *text, *expect;
    } cases[] = {
        {"", "is empty"},
        {"epochs: [1, 2\n", "not YAML"},
        {"- a\n- b\n", ":1: a config is a mapping"},
        {"epochs: 3\nbatchsize: 4\n", ":2: unknown key \"batchsize\"; did you mean \"batch_size\"?"},
        {"epochs: 3\nepochs: 4\n", ":2: epochs is set twice (first on line 1)"},
        {"epochs:\n  - 1\n", ":2: epochs must be a single value"},
        {"dataset: idx\n", ":1: dataset must be a mapping"},
        {"dataset:\n  kind: idx\n", ":2: unknown key \"kind\" under dataset"},
        {"\n\nbatch_size: 0\n", ":3: batch_size is 0"},
        {"dropout: lots\n", ":1: dropout must be a number"},
        {"method: grid\nparameters:\n  lr:\n    values: [1]\n", "is a sweep file"},
        {"# only a comment\n", "is empty"},
        {"just words\n", ":1: a config is a mapping of key: value, not a single value"},
        {"epochs: 3\n  batch_size: 4\n", ":2: not YAML"},
        {"epochs: 3\n\tbatch_size: 4\n", "not YAML"},
        {"lr: 0.1\nlearning_rate: 0.2\n", ":2: learning_rate is set twice (first on line 1)"},
        {"data_path: /a\ndataset:\n  path: /b\n", ":3: path is set twice (first on line 1)"},
        {"dataset:\n  limit: 3\ndataset:\n  image_size: 40\n", ":3: dataset is set twice (first on line 1)"},
        {"dataset:\n  image_size: [32]\n", ":2: image_size must be a single value"},
        {"? [a, b]\n: 1\n", ":1: a key must be a plain name"},
        {"epochs:\n", ":1: epochs has no value"},
        {"data_path: ~\n", ":1: data_path has no value"},
        {"epochs: 2\nactivation: null\n", ":2: activation has no value"},
        {"epochs: 2\n---\nepochs: 3\n", ":3: the file holds a second YAML document"},
        {"batch_size: 3.5\n", ":1: batch_size must be a whole number, not \"3.5\""},
        {"batch_norm: maybe\n", ":1: batch_norm must be true or false"},
        {"optimizer: lamb\n", ":1: optimizer is \"lamb\"; it must be adam, adamw, nadam, sgd or rmsprop."},
        {"epochs: 2\nactivation: \xc3\x28\n", "cannot be read as YAML text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.yaml", i);
        const char *p = file_with(name, cases[i].text);
        config c;
        config_init(&c);
        char err[CT_ERR_LEN];
        ck_assert_msg(config_load_yaml(&c, p, err, sizeof err) != 0, "case %zu loaded", i);
        ck_assert_msg(strstr(err, name) != NULL && strstr(err, cases[i].expect) != NULL, "case %zu: %s", i, err);
    }
    config c;
    char err[CT_ERR_LEN];
    ck_assert(config_load_yaml(&c, "/nonexistent/x.yaml", err, sizeof err) != 0);
    ck_assert(strstr(err, "/nonexistent/x.yaml") != NULL);
    /* a directory opens but cannot be read */
    ck_assert(config_load_yaml(&c, dir, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, dir) != NULL, "%s", err);
}
END_TEST

START_TEST(a_refused_file_leaves_the_config_as_it_was)
{
    const char *p = file_with("half.yaml", "epochs: 7\nbatch_size: 8\nactivaton: gelu\n");
    config c, before;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert(config_set(&c, "epochs", "2", 0, err, sizeof err) == 0);
    before = c;
    ck_assert(config_load_yaml(&c, p, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "half.yaml:3: unknown key \"activaton\"; did you mean \"activation\"?"), "%s", err);
    ck_assert(memcmp(&before, &c, sizeof c) == 0);
    /* quoted, the same words are text: "null" is a path, "3" a number */
    p = file_with("quoted.yaml", "data_path: \"null\"\nepochs: \"3\"\nbatch_norm: 'no'\n");
    ck_assert_msg(config_load_yaml(&c, p, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(config_str(&c, CFG_DATA_PATH), "null");
    ck_assert_int_eq(config_int(&c, CFG_EPOCHS), 3);
    ck_assert_int_eq(config_bool(&c, CFG_BATCH_NORM), 0);
    /* keys the file leaves out keep the value they had; an empty mapping changes nothing */
    ck_assert_int_eq(config_int(&c, CFG_BATCH_SIZE), 64);
    before = c;
    p = file_with("emptymap.yaml", "{}\n");
    ck_assert_msg(config_load_yaml(&c, p, err, sizeof err) == 0, "%s", err);
    ck_assert(memcmp(&before, &c, sizeof c) == 0);
}
END_TEST

START_TEST(save_then_load_gives_the_same_config)
{
    config a, b;
    config_init(&a);
    char err[CT_ERR_LEN];
    const char *sets[] = {"learning_rate=0.000409455928275238", "dropout=0.3", "activation=leaky_relu",
                          "data_path=/odd path/with: colon \"and quotes\" \\ # not a comment", "batch_norm=false",
                          "seed=4294967295", "momentum=0.30000000000000004", "val_split=0.3333333333333333",
                          "weight_decay=1e-9", "lr_gamma=0.1", "optimizer=rmsprop", "nesterov=yes",
                          "data_augmentation=on", "limit=1000000000", "filter_size=7"};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        ck_assert_msg(config_set_assignment(&a, sets[i], err, sizeof err) == 0, "%s", err);
    char path[128];
    snprintf(path, sizeof path, "%s/saved.yaml", dir);
    ck_assert_msg(config_save_yaml(&a, path, err, sizeof err) == 0, "%s", err);
    config_init(&b);
    ck_assert_msg(config_load_yaml(&b, path, err, sizeof err) == 0, "%s", err);
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        char x[CONFIG_STR_LEN + 8], y[CONFIG_STR_LEN + 8];
        config_format(&a, (config_key_id)k, x, sizeof x);
        config_format(&b, (config_key_id)k, y, sizeof y);
        ck_assert_msg(!strcmp(x, y), "%s: %s became %s", config_key_info((config_key_id)k)->name, x, y);
    }
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        ck_assert(a.v[k].i == b.v[k].i);
        ck_assert_msg(a.v[k].f == b.v[k].f, "%s", config_key_info((config_key_id)k)->name);
        ck_assert_str_eq(a.v[k].s, b.v[k].s);
    }
    /* canonical names, table order, one key a line */
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int next = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        ck_assert_int_lt(next, CFG_KEY_COUNT);
        const char *name = config_key_info((config_key_id)next)->name;
        ck_assert_msg(!strncmp(line, name, strlen(name)) && line[strlen(name)] == ':', "line %s", line);
        next++;
    }
    fclose(f);
    ck_assert_int_eq(next, CFG_KEY_COUNT);
    ck_assert(config_save_yaml(&a, "/nonexistent/dir/c.yaml", err, sizeof err) != 0);
}
END_TEST

START_TEST(json_has_every_key_typed)
{
    config c;
    config_init(&c);
    cJSON *j = config_to_json(&c);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetArraySize(j), CFG_KEY_COUNT);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "batch_size")));
    ck_assert(cJSON_IsBool(cJSON_GetObjectItem(j, "batch_norm")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "activation")));
    ck_assert_double_eq(cJSON_GetObjectItem(j, "learning_rate")->valuedouble, 0.001);
    cJSON_Delete(j);
    char err[CT_ERR_LEN];
    ck_assert(config_set_assignment(&c, "batch_norm=off", err, sizeof err) == 0);
    ck_assert(config_set_assignment(&c, "epochs=9", err, sizeof err) == 0);
    ck_assert(config_set_assignment(&c, "dropout=0.25", err, sizeof err) == 0);
    j = config_to_json(&c);
    ck_assert_ptr_nonnull(j);
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        const config_key *key = config_key_info((config_key_id)k);
        cJSON *v = cJSON_GetObjectItem(j, key->name);
        ck_assert_msg(v != NULL, "%s missing", key->name);
        switch (key->type) {
        case CONFIG_INT: ck_assert(cJSON_IsNumber(v) && v->valuedouble == (double)config_int(&c, (config_key_id)k)); break;
        case CONFIG_FLOAT: ck_assert(cJSON_IsNumber(v) && v->valuedouble == config_float(&c, (config_key_id)k)); break;
        case CONFIG_BOOL: ck_assert(cJSON_IsBool(v) && cJSON_IsTrue(v) == config_bool(&c, (config_key_id)k)); break;
        case CONFIG_STRING: ck_assert(cJSON_IsString(v) && !strcmp(v->valuestring, config_str(&c, (config_key_id)k))); break;
        }
    }
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "batch_norm")));
    ck_assert_double_eq(cJSON_GetObjectItem(j, "epochs")->valuedouble, 9);
    cJSON_Delete(j);
}
END_TEST

START_TEST(validate_checks_across_keys)
{
    config c;
    config_init(&c);
    char err[CT_ERR_LEN];
    ck_assert(config_validate(&c, err, sizeof err) == 0);
    ck_assert(config_set(&c, "filter_size", "4", 0, err, sizeof err) == 0);
    ck_assert(config_validate(&c, err, sizeof err) != 0);
    ck_assert(strstr(err, "filter_size") != NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("config");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, defaults_are_the_documented_ones);
    tcase_add_test(t, bad_values_are_one_sentence_naming_the_key);
    tcase_add_test(t, good_values_types_and_aliases);
    tcase_add_test(t, ranges_are_inclusive_and_choices_exact);
    tcase_add_test(t, every_default_is_valid_and_every_alias_unique);
    tcase_add_test(t, unknown_keys_suggest_the_nearest);
    tcase_add_test(t, assignments);
    tcase_add_test(t, yaml_loads_with_dataset_block_and_aliases);
    tcase_add_test(t, yaml_errors_name_file_and_line);
    tcase_add_test(t, a_refused_file_leaves_the_config_as_it_was);
    tcase_add_test(t, save_then_load_gives_the_same_config);
    tcase_add_test(t, json_has_every_key_typed);
    tcase_add_test(t, validate_checks_across_keys);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
