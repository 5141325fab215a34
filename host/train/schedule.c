/* schedule.c: learning-rate schedules, per epoch (see schedule.h). */
#include "cltrain/schedule.h"

#include <math.h>
#include <string.h>

double schedule_lr(const config *c, int epoch)
{
    double lr = config_float(c, CFG_LEARNING_RATE);
    int epochs = (int)config_int(c, CFG_EPOCHS), warmup = (int)config_int(c, CFG_WARMUP_EPOCHS);
    if (epoch < warmup) return lr * (epoch + 1) / (warmup + 1);
    const char *kind = config_str(c, CFG_LR_SCHEDULE);
    int t = epoch - warmup, span = epochs - warmup;
    if (!strcmp(kind, "step")) return lr * pow(config_float(c, CFG_LR_GAMMA), t / (int)config_int(c, CFG_LR_STEP_EPOCHS));
    /* as torch.optim.lr_scheduler.CosineAnnealingLR with T_max = the epochs after warmup */
    if (!strcmp(kind, "cosine") && span > 0) return lr * 0.5 * (1.0 + cos(M_PI * t / span));
    return lr;
}
