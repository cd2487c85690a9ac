/*
 * The agent's own HTTP/1.1 client over sockets (and libssl for https://):
 * one connection object per thread, reused from request to request while
 * the server keeps it alive.  Everything is non-blocking: the caller
 * steps the exchange and waits in hc_wait() on the socket together with
 * its own descriptors, so no call can block a thread forever.
 */

#ifndef ECHO_AGENT_HTTP_CLIENT_H
#define ECHO_AGENT_HTTP_CLIENT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define HC_BUF          16384      /* reply headers and read buffer */
#define HC_ERR_MAX      256
#define HC_TYPE_MAX     127


typedef enum {
    HC_AGAIN = -1,                  /* wait in hc_wait() and step again */
    HC_ERROR = -2                   /* hc_error() says why */
} hc_rc_t;


typedef struct {
    const char     *url;
    const char     *body;           /* POST when set, else GET */
    size_t          body_len;
    const char     *auth;           /* a whole "Authorization: ..." line */
    long            connect_ms;
    /* when set, the value of this reply header (the last one sent, ""
       when none) goes into header_out, cut to header_outlen - 1 */
    const char     *header;
    char           *header_out;
    size_t          header_outlen;
} hc_req_t;


typedef struct hc_conn_s  hc_conn_t;


hc_conn_t *hc_new(void);
void hc_free(hc_conn_t *c);

/* starts a request: 0, or -1 with hc_error() set */
int hc_begin(hc_conn_t *c, const hc_req_t *req);
/* 0 once the reply's status and headers are in, HC_AGAIN or HC_ERROR */
int hc_head(hc_conn_t *c);
/* body bytes: > 0, 0 at its end, HC_AGAIN or HC_ERROR */
ssize_t hc_body(hc_conn_t *c, char *out, size_t max);
/* the exchange is over: an unfinished one closes the connection */
void hc_end(hc_conn_t *c);

/* polls the connection with extra descriptors; ms < 0 waits for ever,
 * but never past the connect timeout */
int hc_wait(hc_conn_t *c, struct pollfd *extra, unsigned nextra, int ms);

long hc_status(const hc_conn_t *c);
const char *hc_content_type(const hc_conn_t *c);
const char *hc_error(const hc_conn_t *c);
int hc_got_reply(const hc_conn_t *c);


#endif /* ECHO_AGENT_HTTP_CLIENT_H */
