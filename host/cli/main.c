/* main.c: `cltrain [--device SPEC] SWEEP.yaml` and the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tune.h"

static const char USAGE[] =
    "usage: cltrain [--device SPEC] SWEEP.yaml [--count N] [--output DIR]\n"
    "                                                run or resume a sweep (same as `cltrain sweep`)\n"
    "       cltrain train [--device SPEC] CONFIG.yaml [--set key=value]... [--init FILE.safetensors]\n"
    "                                                train one model (runs/train/<run-id>/)\n"
    "       cltrain eval [--device SPEC] CHECKPOINT [--data PATH]\n"
    "                                                test loss, accuracy and per-class accuracy\n"
    "       cltrain summary CONFIG.yaml              layers, shapes, parameters, multiply-adds\n"
    "       cltrain devices [--device SPEC]          list OpenCL devices with their indices\n"
    "       cltrain tune [--device SPEC] [--budget N] [--only gemm|kernels] [--show]\n"
    "                                                measure and store the fastest CLBlast GEMM parameters\n"
    "                                                and kernel launch choices for a device; later runs on\n"
    "                                                it use them\n"
    "\n"
    "SPEC: an index (0), a comma list (0,1), all, cpu, gpu, or part of a device's name.\n"
    "Environment: CLTRAIN_CACHE_DIR moves the kernel cache ($XDG_CACHE_HOME/cltrain by default),\n"
    "CLTRAIN_NO_CACHE=1 bypasses it; CLTRAIN_NO_TUNE=1 ignores `cltrain tune`'s parameters;\n"
    "CLTRAIN_CONV_ALGO=direct|gemm forces conv and dense kernels (default: what `cltrain tune` chose, else\n"
    "direct on CPUs and CLBlast GEMMs elsewhere).\n"
    "Weights & Biases: WANDB_API_KEY (or netrc) logs runs online, WANDB_MODE=offline|disabled.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("cltrain 0.1.0");
        return 0;
    }
    if (!strcmp(argv[1], "devices")) return cli_devices(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return cli_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return cli_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "summary")) return cli_summary(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sweep")) return cli_sweep(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tune")) return cli_tune(argc - 1, argv + 1);
    /* `cltrain [--device SPEC] SWEEP.yaml`: anything else that is not a command is a sweep */
    if (argv[1][0] == '-' || strstr(argv[1], ".yaml") || strstr(argv[1], ".yml"))
        return cli_sweep(argc, argv);
    fprintf(stderr, "cltrain: unknown command \"%s\"\n%s", argv[1], USAGE);
    return 2;
}
