/* wandb_netrc.c: the API key from a netrc file, the way `wandb login` stores it: an entry whose
 * machine is the API host (with :port when the base URL has one), the key as its password. */
#include "wandb_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wandb_url_host(const char *url, char *out, size_t outlen)
{
    const char *p;
    if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return -1;
    const char *at = NULL;
    size_t n = strcspn(p, "/?#");
    for (size_t i = 0; i < n; i++)
        if (p[i] == '@') at = p + i; /* user:pass@host: the host follows the last @ */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n == 0 || n >= outlen) return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* Next whitespace-separated token (a "quoted" token may hold spaces); 0 at end of file, -1 when a
 * token does not fit. */
static int next_token(FILE *f, char *tok, size_t len)
{
    int c;
    while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
    }
    if (c == EOF) return 0;
    size_t n = 0;
    int quoted = c == '"';
    if (quoted) c = fgetc(f);
    while (c != EOF) {
        if (quoted ? c == '"' : (c == ' ' || c == '\t' || c == '\n' || c == '\r')) break;
        if (quoted && c == '\\') {
            int next = fgetc(f);
            if (next != EOF) c = next;
        }
        if (n + 1 >= len) return -1;
        tok[n++] = (char)c;
        c = fgetc(f);
    }
    tok[n] = '\0';
    return 1;
}

/* macdef bodies run to the next empty line and hold no entries. */
static void skip_macdef(FILE *f)
{
    int c, prev = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n' && prev == '\n') return;
        if (c != '\r') prev = c;
    }
}

int wandb_netrc_lookup(const char *path, const char *machine, char *password, size_t passlen, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "Cannot read the netrc file %s: %s.", path, strerror(errno));
        return -1;
    }
    char tok[1024];
    char found[1024] = "", fallback[1024] = "";
    int in_match = 0, in_default = 0, have = 0, have_fallback = 0, rc;
    while ((rc = next_token(f, tok, sizeof tok)) > 0) {
        if (strcmp(tok, "machine") == 0) {
            if ((rc = next_token(f, tok, sizeof tok)) <= 0) break;
            in_match = !have && strcmp(tok, machine) == 0;
            in_default = 0;
        } else if (strcmp(tok, "default") == 0) {
            in_match = 0;
            in_default = !have_fallback;
        } else if (strcmp(tok, "macdef") == 0) {
            in_match = in_default = 0;
            skip_macdef(f);
        } else if (strcmp(tok, "password") == 0 || strcmp(tok, "login") == 0 || strcmp(tok, "account") == 0) {
            int is_password = strcmp(tok, "password") == 0;
            if ((rc = next_token(f, tok, sizeof tok)) <= 0) break;
            if (is_password && in_match) {
                snprintf(found, sizeof found, "%s", tok);
                have = 1;
            } else if (is_password && in_default) {
                snprintf(fallback, sizeof fallback, "%s", tok);
                have_fallback = 1;
            }
        }
    }
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "The netrc file %s has a token longer than %zu characters.", path,
                 sizeof tok - 1);
        return -1;
    }
    const char *key = have ? found : have_fallback ? fallback : NULL;
    if (!key) return 0;
    if (strlen(key) >= passlen) {
        snprintf(err, errlen, "The password for %s in %s is too long for an API key.", machine, path);
        return -1;
    }
    snprintf(password, passlen, "%s", key);
    return 1;
}
