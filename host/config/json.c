/* json.c: the flat config as a cJSON object, typed (what wandb's run config and summaries take). */
#include <cjson/cJSON.h>

#include "cltrain/config.h"

void *config_to_json(const config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (int i = 0; i < CFG_KEY_COUNT; i++) {
        const config_key *k = config_key_info((config_key_id)i);
        cJSON *v = NULL;
        switch (k->type) {
        case CONFIG_INT: v = cJSON_CreateNumber((double)config_int(c, (config_key_id)i)); break;
        case CONFIG_FLOAT: v = cJSON_CreateNumber(config_float(c, (config_key_id)i)); break;
        case CONFIG_BOOL: v = cJSON_CreateBool(config_bool(c, (config_key_id)i)); break;
        case CONFIG_STRING: v = cJSON_CreateString(config_str(c, (config_key_id)i)); break;
        }
        if (!v) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, k->name, v);
    }
    return o;
}
