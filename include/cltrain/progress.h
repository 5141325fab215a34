/* progress.h: what a run shows while it trains. On a terminal, one bar redrawn in place (batch n/N,
 * loss, accuracy, images/s, ETA); otherwise one line per epoch. Several trials printing to one
 * console share a lock and a prefix each, and never draw bars, so lines never interleave. */
#ifndef CLTRAIN_PROGRESS_H
#define CLTRAIN_PROGRESS_H

#include <pthread.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    int bar;                /* draw the in-place bar (a terminal, one run) */
    char prefix[96];        /* e.g. "[trial 3 ab12cd34 dev 1] " */
    pthread_mutex_t *lock;  /* shared console lock, or NULL */
    double epoch_start;     /* seconds */
    double last_draw;
    int drawn;              /* a bar is on screen */
} progress;

void progress_init(progress *p, FILE *out, int bar, const char *prefix, pthread_mutex_t *lock);
void progress_epoch_start(progress *p);
/* At most ~8 redraws a second; nothing without a bar. */
void progress_batch(progress *p, int epoch, int epochs, long batch, long nbatches, double loss, double accuracy,
                    double images_per_sec);
/* One line (ends a bar first). */
void progress_line(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds on a monotonic clock. */
double progress_now(void);

#endif
