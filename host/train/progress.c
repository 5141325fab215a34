/* progress.c: the training display (see progress.h). */
#include "cltrain/progress.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_init(progress *p, FILE *out, int bar, const char *prefix, pthread_mutex_t *lock)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = bar;
    p->lock = lock;
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix ? prefix : "");
}

void progress_epoch_start(progress *p)
{
    p->epoch_start = progress_now();
    p->last_draw = 0;
}

static void format_eta(double s, char *out, size_t len)
{
    if (s < 0 || s > 1e7) s = 0;
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(out, len, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, len, "%d:%02d", t / 60, t % 60);
}

void progress_batch(progress *p, int epoch, int epochs, long batch, long nbatches, double loss, double accuracy,
                    double images_per_sec)
{
    if (!p->bar) return;
    double now = progress_now();
    if (batch < nbatches && now - p->last_draw < 0.125) return;
    p->last_draw = now;
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int filled = nbatches ? (int)(WIDTH * batch / nbatches) : 0;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    double elapsed = now - p->epoch_start;
    char eta[16];
    format_eta(batch ? elapsed * (nbatches - batch) / batch : 0, eta, sizeof eta);
    if (p->lock) pthread_mutex_lock(p->lock);
    fprintf(p->out, "\r%sepoch %d/%d [%s] %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %s\033[K", p->prefix,
            epoch + 1, epochs, bar, batch, nbatches, loss, 100 * accuracy, images_per_sec, eta);
    fflush(p->out);
    p->drawn = 1;
    if (p->lock) pthread_mutex_unlock(p->lock);
}

void progress_line(progress *p, const char *fmt, ...)
{
    if (p->lock) pthread_mutex_lock(p->lock);
    if (p->drawn) fputs("\r\033[K", p->out);
    p->drawn = 0;
    fputs(p->prefix, p->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
    if (p->lock) pthread_mutex_unlock(p->lock);
}
