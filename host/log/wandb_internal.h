/* wandb_internal.h: what the wandb client's files share (wandb.c: settings and runs,
 * wandb_http.c: one HTTP request and the retry policy, wandb_netrc.c: API keys from netrc). Not a
 * public header: callers use cltrain/wandb.h. */
#ifndef CLTRAIN_WANDB_INTERNAL_H
#define CLTRAIN_WANDB_INTERNAL_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include "cltrain/wandb.h"

typedef struct {
    long status;        /* HTTP status; 0 when no response came (network error, abort) */
    char *body;         /* the response body, malloc'd, NUL-terminated (may be NULL) */
    double retry_after; /* seconds from a Retry-After header, -1 when absent */
    char error[256];    /* libcurl's sentence for a network error */
} wandb_http_result;

/* POSTs a JSON body with HTTP Basic api:key. The transfer stops early once *abort is non-zero.
 * Always fills res (free res->body with wandb_http_result_free). */
void wandb_http_post(CURL *c, const char *url, const char *key, const char *body, long timeout_s,
                     atomic_int *abort, wandb_http_result *res);
void wandb_http_result_free(wandb_http_result *res);

/* The SDK's policy: 1 = retry (network error, 429, 5xx but 501), 0 = success (2xx),
 * -1 = give up (any other status). */
int wandb_http_classify(const wandb_http_result *res);

/* How long to wait before retry number `attempt` (0-based): Retry-After when the server gave one,
 * else min(max, base * 2^attempt) * (1 + 0.25 * u) with u uniform in [0, 1) from *rng. */
double wandb_backoff(const wandb_settings *s, int attempt, double retry_after, uint64_t *rng);

/* One sentence describing a failed result: "HTTP 401 from URL: <message>" or the network error. */
void wandb_http_describe(const wandb_http_result *res, const char *url, char *out, size_t outlen);

/* A GraphQL request with the retry policy. `wait(ctx, seconds)` sleeps between attempts and returns
 * non-zero to give up (deadline passed, run aborted). On success *data is the response's "data"
 * object (detached; cJSON_Delete it). "errors" in a 200 answer is a failure that is not retried.
 * Returns 0, or -1 with one sentence in err. */
int wandb_graphql(CURL *c, const wandb_settings *s, const char *query, const char *operation,
                  cJSON *variables, atomic_int *abort, int (*wait)(void *ctx, double seconds), void *ctx,
                  uint64_t *rng, cJSON **data, char *err, size_t errlen);

/* The web page host for an API base URL: https://api.wandb.ai -> https://wandb.ai; others as is. */
void wandb_app_url(const char *base_url, char *out, size_t outlen);

#endif
