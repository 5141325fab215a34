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

START_TEST(unknown_keys_suggest_the_nearest)
{
    ck_assert_str_eq(config_key_nearest("batchsize"), "batch_size");
    ck_assert_str_eq(config_key_nearest("learning_rat"), "learning_rate");
    ck_assert_str_eq(config_key_nearest("activaton"), "activation");
    ck_assert_ptr_null(config_key_nearest("zzzzzzzzzzzz"));
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
    ck_assert(config_set_assignment(&c, "nokey", err, sizeof err) != 0);
    ck_assert(strstr(err, "key=value") != NULL);
    ck_assert(config_set_assignment(&c, "lr=abc", err, sizeof err) != 0);
    ck_assert(strstr(err, "learning_rate") != NULL);
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
}
END_TEST

START_TEST(save_then_load_gives_the_same_config)
{
    config a, b;
    config_init(&a);
    char err[CT_ERR_LEN];
    const char *sets[] = {"learning_rate=0.000409455928275238", "dropout=0.3", "activation=leaky_relu",
                          "data_path=/odd path/with: colon \"and quotes\"", "batch_norm=false", "seed=4294967295"};
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
    ck_assert(config_float(&a, CFG_LEARNING_RATE) == config_float(&b, CFG_LEARNING_RATE));
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
    tcase_add_test(t, unknown_keys_suggest_the_nearest);
    tcase_add_test(t, assignments);
    tcase_add_test(t, yaml_loads_with_dataset_block_and_aliases);
    tcase_add_test(t, yaml_errors_name_file_and_line);
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
