/* runlog_config.c: the run's config.yaml, written through the config module (which owns the YAML
 * form), kept apart from runlog.c so the run log itself needs nothing from config/. */
#include "cltrain/runlog.h"

#include <stdio.h>

int runlog_save_config(runlog *r, const config *c, char *err, size_t errlen)
{
    char path[4096];
    if (runlog_path(r, "config.yaml", path, sizeof path) != 0) {
        snprintf(err, errlen, "The path of config.yaml in %s is too long.", runlog_dir(r));
        return -1;
    }
    return config_save_yaml(c, path, err, errlen);
}
