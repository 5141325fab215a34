/* fake_server.c: the fake wandb server's life in a test (see fake_server.h). */
#include "fake_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void tu_fake_start(tu_fake *f, const char *dir, const char *key, const char *const *extra)
{
    char script[1024], portfile[300];
    const char *src = getenv("CLTRAIN_SOURCE_DIR");
    snprintf(script, sizeof script, "%s/tests/fake_wandb.py", src && *src ? src : ".");
    ck_assert_msg(access(script, R_OK) == 0, "cannot find %s (run the tests from the repository root)", script);
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    snprintf(f->log, sizeof f->log, "%s/requests.json", dir);
    const char *argv[32] = {"python3", script, "--port-file", portfile, "--log", f->log, "--key", key};
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 30; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    unlink(portfile);
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    double until = now_s() + 15;
    char *text = NULL;
    while (now_s() < until && !(text = tu_read_text(portfile))) {
        int status;
        ck_assert_msg(waitpid(f->pid, &status, WNOHANG) == 0, "the fake wandb server (python3 %s) exited", script);
        usleep(20000);
    }
    ck_assert_msg(text != NULL, "the fake wandb server did not start");
    f->port = atoi(text);
    free(text);
    ck_assert_int_gt(f->port, 0);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
}

void tu_fake_stop(tu_fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

cJSON *tu_fake_record(const tu_fake *f)
{
    char *text = tu_read_text(f->log);
    ck_assert_msg(text != NULL, "no record at %s", f->log);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "the record is not JSON");
    free(text);
    return j;
}
