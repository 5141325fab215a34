/* wandb_http.c: one HTTP POST to the wandb API through libcurl, the SDK's retry policy (which
 * statuses to retry, how long to back off) and GraphQL requests built on them. */
#include "wandb_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *data;
    size_t len;
    int failed;
} body_buf;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown) {
        b->failed = 1;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
    double *retry_after = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(buffer, name, sizeof name - 1) == 0) {
        char text[64];
        size_t len = n - (sizeof name - 1);
        if (len >= sizeof text) len = sizeof text - 1;
        memcpy(text, buffer + sizeof name - 1, len);
        text[len] = '\0';
        char *end;
        double v = strtod(text, &end);
        /* only the delay-seconds form; an HTTP date falls back to the computed backoff */
        if (end != text && v >= 0 && isfinite(v)) *retry_after = v;
    }
    return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    atomic_int *abort = clientp;
    return abort && atomic_load(abort) ? 1 : 0;
}

void wandb_http_post(CURL *c, const char *url, const char *key, const char *body, long timeout_s,
                     atomic_int *abort, wandb_http_result *res)
{
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    body_buf b = {0};
    struct curl_slist *headers = NULL, *h;
    char userpwd[WANDB_STR_LEN + 8];
    snprintf(userpwd, sizeof userpwd, "api:%s", key ? key : "");

    /* "Expect:" turns off 100-continue, which would stall every larger body for a second */
    const char *lines[] = {"Content-Type: application/json", "Accept: application/json",
                           "Expect:", "User-Agent: cltrain"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        h = curl_slist_append(headers, lines[i]);
        if (!h) {
            snprintf(res->error, sizeof res->error, "out of memory building the request headers");
            curl_slist_free_all(headers);
            return;
        }
        headers = h;
    }
    curl_easy_reset(c);
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                                     \
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    SETOPT(CURLOPT_HTTPHEADER, headers);
    SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    SETOPT(CURLOPT_USERPWD, userpwd);
    SETOPT(CURLOPT_TIMEOUT, timeout_s);
    SETOPT(CURLOPT_CONNECTTIMEOUT, timeout_s < 20 ? timeout_s : 20L);
    SETOPT(CURLOPT_NOSIGNAL, 1L); /* we run in a thread: no SIGALRM for DNS timeouts */
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &b);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, &res->retry_after);
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, abort);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
#undef SETOPT
    if (rc == CURLE_OK) rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        res->status = status;
    } else if (b.failed) {
        snprintf(res->error, sizeof res->error, "out of memory reading the response");
    } else {
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(headers);
    res->body = b.data;
}

void wandb_http_result_free(wandb_http_result *res)
{
    free(res->body);
    res->body = NULL;
}

int wandb_http_classify(const wandb_http_result *res)
{
    long s = res->status;
    if (s >= 200 && s < 300) return 0;
    if (s == 0 || s == 429) return 1;
    if (s >= 500 && s != 501) return 1;
    return -1;
}

double wandb_backoff(const wandb_settings *s, int attempt, double retry_after, uint64_t *rng)
{
    if (retry_after >= 0) return retry_after;
    double wait = s->backoff_base_s * pow(2.0, attempt > 60 ? 60 : attempt);
    if (wait > s->backoff_max_s) wait = s->backoff_max_s;
    /* xorshift64*: jitter only, so runs that failed together do not retry together */
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    double u = (double)((*rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
    return wait * (1.0 + 0.25 * u);
}

/* The server's own words, when its body is JSON with an error message in one of the usual places. */
static void server_message(const char *body, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!body) return;
    cJSON *j = cJSON_Parse(body);
    if (!j) {
        snprintf(out, outlen, "%.160s", body);
        return;
    }
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(msg)) msg = cJSON_GetObjectItemCaseSensitive(msg, "message");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    if (!cJSON_IsString(msg) && cJSON_IsArray(errors))
        msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(errors, 0), "message");
    if (cJSON_IsString(msg)) snprintf(out, outlen, "%.200s", msg->valuestring);
    cJSON_Delete(j);
}

void wandb_http_describe(const wandb_http_result *res, const char *url, char *out, size_t outlen)
{
    if (res->status == 0) {
        snprintf(out, outlen, "no answer from %s (%s)", url, res->error[0] ? res->error : "network error");
        return;
    }
    char msg[256];
    server_message(res->body, msg, sizeof msg);
    const char *hint = "";
    if (res->status == 401 || res->status == 403)
        hint = "; check WANDB_API_KEY or the netrc entry for this host";
    else if (res->status == 404)
        hint = "; check WANDB_BASE_URL, WANDB_ENTITY and WANDB_PROJECT";
    snprintf(out, outlen, "HTTP %ld from %s%s%s%s", res->status, url, msg[0] ? ": " : "", msg, hint);
}

int wandb_graphql(CURL *c, const wandb_settings *s, const char *query, const char *operation,
                  cJSON *variables, atomic_int *abort, int (*wait)(void *ctx, double seconds), void *ctx,
                  uint64_t *rng, cJSON **data, char *err, size_t errlen)
{
    char url[WANDB_STR_LEN + 16];
    snprintf(url, sizeof url, "%s/graphql", s->base_url);
    *data = NULL;

    cJSON *req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "query", query) ||
        !cJSON_AddItemReferenceToObject(req, "variables", variables) ||
        !cJSON_AddStringToObject(req, "operationName", operation)) {
        cJSON_Delete(req);
        snprintf(err, errlen, "wandb: out of memory building the %s request.", operation);
        return -1;
    }
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req); /* the reference does not free `variables` */
    if (!body) {
        snprintf(err, errlen, "wandb: out of memory building the %s request.", operation);
        return -1;
    }

    int result = -1;
    for (int attempt = 0;; attempt++) {
        wandb_http_result res;
        wandb_http_post(c, url, s->api_key, body, s->graphql_timeout_s, abort, &res);
        int kind = wandb_http_classify(&res);
        if (kind == 0) {
            cJSON *j = res.body ? cJSON_Parse(res.body) : NULL;
            const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
            cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(j, "data");
            if (cJSON_IsArray(errors) && cJSON_GetArraySize(errors) > 0) {
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(errors, 0), "message");
                snprintf(err, errlen, "wandb: %s was refused by %s: %.200s.", operation, url,
                         cJSON_IsString(m) ? m->valuestring : "(no message)");
                cJSON_Delete(d);
            } else if (!cJSON_IsObject(d)) {
                snprintf(err, errlen, "wandb: %s got an answer from %s without data.", operation, url);
                cJSON_Delete(d);
            } else {
                *data = d;
                result = 0;
            }
            cJSON_Delete(j);
            wandb_http_result_free(&res);
            break;
        }
        char why[512];
        wandb_http_describe(&res, url, why, sizeof why);
        double retry_after = res.retry_after;
        wandb_http_result_free(&res);
        if (kind < 0) {
            snprintf(err, errlen, "wandb: %s failed, not retried: %s.", operation, why);
            break;
        }
        if (wait(ctx, wandb_backoff(s, attempt, retry_after, rng)) != 0) {
            snprintf(err, errlen, "wandb: %s gave up after %d attempts: %s.", operation, attempt + 1, why);
            break;
        }
    }
    free(body);
    return result;
}

void wandb_app_url(const char *base_url, char *out, size_t outlen)
{
    const char *p = strstr(base_url, "://api.");
    if (p)
        snprintf(out, outlen, "%.*s://%s", (int)(p - base_url), base_url, p + 7);
    else
        snprintf(out, outlen, "%s", base_url);
}
