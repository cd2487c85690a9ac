/*
 * Small blocking HTTP calls (Ollama's inventory endpoints, the
 * orchestrator's heartbeat) for the agent's background threads, on the
 * agent's own client, within a total timeout.
 */

#ifndef ECHO_AGENT_HTTP_FETCH_H
#define ECHO_AGENT_HTTP_FETCH_H

#include <stddef.h>

#include "http_client.h"


/* receives the reply body as it arrives; return -1 to stop the transfer */
typedef int (*fetch_sink_pt)(void *ud, const char *p, size_t n);


typedef struct {
    const char     *url;
    const char     *body;
    size_t          body_len;
    const char     *auth;           /* a whole "Authorization: ..." line */
    long            timeout_ms;
    fetch_sink_pt   sink;
    void           *ud;
    /* when set, the value of this reply header (the last one sent, ""
       when none) goes into header_out, cut to header_outlen - 1 */
    const char     *header;
    char           *header_out;
    size_t          header_outlen;
} fetch_req_t;


int http_fetch(hc_conn_t *conn, const fetch_req_t *req, long *status,
    char *err, size_t errlen);


#endif /* ECHO_AGENT_HTTP_FETCH_H */
