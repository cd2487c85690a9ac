/*
 * Each background thread owns one easy handle and reuses it, so the
 * connection to Ollama or the orchestrator stays open between calls.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "http_fetch.h"


typedef struct {
    const fetch_req_t  *req;
    int                 stopped;
} fetch_ctx_t;


static size_t fetch_on_body(char *p, size_t size, size_t n, void *ud);
static size_t fetch_on_header(char *p, size_t size, size_t n, void *ud);


void
http_no_proxy(CURL *easy)
{
    /* Ollama and the mesh are local: never go through a proxy that the
     * environment (http_proxy) may name */
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
}


static size_t
fetch_on_body(char *p, size_t size, size_t n, void *ud)
{
    fetch_ctx_t  *ctx = ud;

    if (ctx->req->sink != NULL
        && ctx->req->sink(ctx->req->ud, p, size * n) != 0)
    {
        ctx->stopped = 1;
        return 0;
    }

    return size * n;
}


static size_t
fetch_on_header(char *p, size_t size, size_t n, void *ud)
{
    fetch_ctx_t       *ctx = ud;
    const fetch_req_t  *req = ctx->req;
    size_t             len = size * n, name, v;

    /* a new status line (after a 1xx) starts a new set of headers */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        req->header_out[0] = '\0';
        return len;
    }

    name = strlen(req->header);
    if (len <= name || p[name] != ':' || strncasecmp(p, req->header, name))
    {
        return len;
    }

    for (v = name + 1; v < len && (p[v] == ' ' || p[v] == '\t'); v++) {
        /* void */
    }

    while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n'
                       || p[len - 1] == ' ' || p[len - 1] == '\t'))
    {
        len--;
    }

    snprintf(req->header_out, req->header_outlen, "%.*s", (int) (len - v),
             p + v);
    return size * n;
}


int
http_fetch(CURL *easy, const fetch_req_t *req, long *status, char *err,
    size_t errlen)
{
    char                curl_err[CURL_ERROR_SIZE];
    struct curl_slist  *hdrs = NULL, *tmp = NULL;
    fetch_ctx_t         ctx;
    CURLcode            rc;
    int                 ret = -1;

    ctx.req = req;
    ctx.stopped = 0;
    curl_err[0] = '\0';
    *status = 0;

    curl_easy_reset(easy);
    http_no_proxy(easy);
    curl_easy_setopt(easy, CURLOPT_URL, req->url);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms < 2000 ? req->timeout_ms : 2000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, fetch_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_err);

    if (req->header != NULL && req->header_outlen > 0) {
        req->header_out[0] = '\0';
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, fetch_on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, &ctx);
    }

    /* "Expect:" turns off curl's 100-continue round trip */
    hdrs = curl_slist_append(NULL, "Expect:");
    if (hdrs == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    if (req->body != NULL) {
        tmp = curl_slist_append(hdrs, "Content-Type: application/json");
        if (tmp == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        hdrs = tmp;
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) req->body_len);
    }

    if (req->auth != NULL) {
        tmp = curl_slist_append(hdrs, req->auth);
        if (tmp == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        hdrs = tmp;
    }

    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);

    rc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", ctx.stopped ? "reply refused by reader"
                 : curl_err[0] ? curl_err : curl_easy_strerror(rc));
        goto done;
    }

    ret = 0;

done:

    /* the header list holds a one-time signature and is not reused */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    return ret;
}
