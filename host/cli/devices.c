/* devices.c: `cltrain devices`, and the --device resolution every subcommand shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cltrain/device.h"

int cli_devices(int argc, char **argv)
{
    const char *spec = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            spec = argv[++i];
        } else {
            fprintf(stderr, "cltrain devices: unknown argument \"%s\"; usage: cltrain devices [--device SPEC]\n",
                    argv[i]);
            return 2;
        }
    }
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    int sel[64], nsel;
    if (device_select(spec, all, n, sel, 64, &nsel, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        free(all);
        return 2;
    }
    for (int s = 0; s < nsel; s++) {
        int i = sel[s];
        const device_info *d = &all[i];
        printf("%d: %s\n", i, d->name);
        printf("    platform:        %s\n", d->platform_name);
        printf("    type:            %s\n", device_type_name(d->type));
        printf("    compute units:   %u\n", d->compute_units);
        printf("    global memory:   %.0f MiB\n", d->global_mem / 1048576.0);
        printf("    max allocation:  %.0f MiB\n", d->max_alloc / 1048576.0);
        printf("    OpenCL C:        %s\n", d->c_version);
        printf("    driver:          %s (%s)\n", d->driver_version, d->device_version);
    }
    free(all);
    return 0;
}

int cli_select_devices(const char *spec, int *sel, int max_sel, int *nsel)
{
    char err[CT_ERR_LEN];
    device_info *all;
    int n;
    if (device_list(&all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    int rc = device_select(spec, all, n, sel, max_sel, nsel, err, sizeof err);
    free(all);
    if (rc != 0) {
        fprintf(stderr, "cltrain: %s\n", err);
        return 2;
    }
    return 0;
}
