/* schedule.h: the learning rate of each epoch: constant, step (times lr_gamma every lr_step_epochs)
 * or cosine (PyTorch's CosineAnnealingLR over the epochs after warmup), after an optional linear warmup over warmup_epochs. */
#ifndef CLTRAIN_SCHEDULE_H
#define CLTRAIN_SCHEDULE_H

#include "cltrain/config.h"

/* The rate for 0-based `epoch` of the config's `epochs`. */
double schedule_lr(const config *c, int epoch);

#endif
