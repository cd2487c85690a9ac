/*
 * Each background thread owns one connection object and reuses it, so
 * the connection to Ollama or the orchestrator stays open between calls.
 * The timeout covers the whole call, connect (at most 2 s of it) to the
 * last body byte, as CURLOPT_TIMEOUT_MS did.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http_fetch.h"


static int fetch_wait(hc_conn_t *conn, const struct timespec *deadline,
    const fetch_req_t *req, char *err, size_t errlen);


/* waits for the connection until the call's deadline: -1 once past it */
static int
fetch_wait(hc_conn_t *conn, const struct timespec *deadline,
    const fetch_req_t *req, char *err, size_t errlen)
{
    struct timespec  now;
    long             left;

    clock_gettime(CLOCK_MONOTONIC, &now);
    left = (deadline->tv_sec - now.tv_sec) * 1000
           + (deadline->tv_nsec - now.tv_nsec) / 1000000;

    if (left <= 0) {
        snprintf(err, errlen, "operation timed out after %ld ms",
                 req->timeout_ms);
        return -1;
    }

    hc_wait(conn, NULL, 0, (int) left);
    return 0;
}


int
http_fetch(hc_conn_t *conn, const fetch_req_t *req, long *status, char *err,
    size_t errlen)
{
    hc_req_t         hr;
    struct timespec  deadline;
    char             chunk[4096];
    ssize_t          n;
    int              rc, ret = -1;

    *status = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += req->timeout_ms / 1000;
    deadline.tv_nsec += (req->timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }

    memset(&hr, 0, sizeof(hr));
    hr.url = req->url;
    hr.body = req->body;
    hr.body_len = req->body_len;
    hr.auth = req->auth;
    hr.connect_ms = req->timeout_ms < 2000 ? req->timeout_ms : 2000;
    hr.header = req->header;
    hr.header_out = req->header_out;
    hr.header_outlen = req->header_outlen;

    if (hc_begin(conn, &hr) != 0) {
        snprintf(err, errlen, "%s", hc_error(conn));
        goto done;
    }

    while ((rc = hc_head(conn)) == HC_AGAIN) {
        if (fetch_wait(conn, &deadline, req, err, errlen) != 0) {
            goto done;
        }
    }

    if (rc != 0) {
        snprintf(err, errlen, "%s", hc_error(conn));
        goto done;
    }

    *status = hc_status(conn);

    for ( ;; ) {
        n = hc_body(conn, chunk, sizeof(chunk));

        if (n > 0) {
            if (req->sink != NULL && req->sink(req->ud, chunk, (size_t) n)
                                     != 0)
            {
                snprintf(err, errlen, "reply refused by reader");
                goto done;
            }
            continue;
        }

        if (n == 0) {
            break;
        }

        if (n == HC_ERROR) {
            snprintf(err, errlen, "%s", hc_error(conn));
            goto done;
        }

        if (fetch_wait(conn, &deadline, req, err, errlen) != 0) {
            goto done;
        }
    }

    ret = 0;

done:

    hc_end(conn);
    return ret;
}
