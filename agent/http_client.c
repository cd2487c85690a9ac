/*
 * One exchange at a time per connection: connect (non-blocking, each
 * address in turn, within the connect timeout, TLS included), send the
 * request head and body, read the reply head into a fixed buffer, then
 * hand out the body, Content-Length, chunked or up to the close.  A reply
 * read to its end leaves the connection open for the next request to the
 * same host and port; a connection the server closed while idle is found
 * before it is reused, and a request that fails on a reused connection
 * before any reply byte is sent once more on a new one (as curl did).
 */

/* memmem */
#define _GNU_SOURCE

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "http_tls.h"
#include "url.h"


#define HC_LINE_MAX     1024        /* a chunk size line or a trailer */


typedef enum {
    HC_IDLE = 0,
    HC_CONNECTING,
    HC_TLS,
    HC_SENDING,
    HC_READ_HEAD,
    HC_READ_BODY,
    HC_DONE,
    HC_FAILED
} hc_state_t;


typedef enum {
    HC_BODY_NONE = 0,
    HC_BODY_LENGTH,
    HC_BODY_CHUNKED,
    HC_BODY_CLOSE
} hc_framing_t;


typedef enum {
    HC_CHUNK_SIZE = 0,
    HC_CHUNK_DATA,
    HC_CHUNK_CRLF,
    HC_CHUNK_TRAILER
} hc_chunk_t;


struct hc_conn_s {
    int              fd;
    tls_t           *tls;
    char             key[URL_HOST_MAX + 16];    /* what fd is open to */
    hc_state_t       state;
    short            events;
    int              reused;
    int              retried;
    int              got_bytes;
    int              keep_alive;
    double           connect_deadline;
    long             connect_ms;
    struct addrinfo *ai;
    struct addrinfo *ai_next;
    url_t            url;

    char            *out;           /* the request head */
    size_t           out_len;
    size_t           out_off;
    const char      *body;
    size_t           body_len;
    size_t           body_off;

    long             status;
    hc_framing_t     framing;
    hc_chunk_t       chunk;
    uint64_t         left;          /* of the body or of this chunk */
    const char      *header;
    char            *header_out;
    size_t           header_outlen;
    char             content_type[HC_TYPE_MAX + 1];
    char             err[HC_ERR_MAX];

    size_t           rpos;
    size_t           rlen;
    char             rbuf[HC_BUF];
};


static double hc_now(void);
static void hc_close(hc_conn_t *c);
static int hc_fail(hc_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int hc_connect(hc_conn_t *c);
static int hc_connect_next(hc_conn_t *c);
static int hc_connected(hc_conn_t *c);
static int hc_retry(hc_conn_t *c);
static int hc_alive(hc_conn_t *c);
static ssize_t hc_recv(hc_conn_t *c, char *p, size_t n);
static ssize_t hc_send(hc_conn_t *c, const char *p, size_t n,
    const char *p2, size_t n2);
static int hc_fill(hc_conn_t *c);
static int hc_parse_head(hc_conn_t *c, size_t end);
static void hc_header(hc_conn_t *c, const char *name, size_t nlen,
    const char *v, size_t vlen);
static char *hc_line(hc_conn_t *c, size_t *len);


static double
hc_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


hc_conn_t *
hc_new(void)
{
    hc_conn_t  *c;

    /* the read buffer needs no clearing */
    c = malloc(sizeof(*c));
    if (c == NULL) {
        return NULL;
    }

    memset(c, 0, offsetof(hc_conn_t, rbuf));
    c->fd = -1;
    return c;
}


void
hc_free(hc_conn_t *c)
{
    if (c == NULL) {
        return;
    }

    hc_close(c);
    free(c->out);
    free(c);
}


static void
hc_close(hc_conn_t *c)
{
    tls_free(c->tls);
    c->tls = NULL;

    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }

    if (c->ai != NULL) {
        freeaddrinfo(c->ai);
        c->ai = NULL;
        c->ai_next = NULL;
    }

    c->key[0] = '\0';
    c->rpos = 0;
    c->rlen = 0;
}


static int
hc_fail(hc_conn_t *c, const char *fmt, ...)
{
    va_list  ap;
    char     msg[HC_ERR_MAX];

    /* through a copy: the message is often c->err itself */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    memcpy(c->err, msg, sizeof(msg));

    hc_close(c);
    c->state = HC_FAILED;
    return HC_ERROR;
}


const char *
hc_error(const hc_conn_t *c)
{
    return c->err[0] ? c->err : "request failed";
}


long
hc_status(const hc_conn_t *c)
{
    return c->status;
}


const char *
hc_content_type(const hc_conn_t *c)
{
    return c->content_type;
}


int
hc_got_reply(const hc_conn_t *c)
{
    return c->got_bytes;
}


/* an idle kept-alive connection is usable if nothing is waiting on it:
 * a readable idle socket is a close (or junk) from the server */
static int
hc_alive(hc_conn_t *c)
{
    struct pollfd  pfd;

    pfd.fd = c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    return poll(&pfd, 1, 0) == 0;
}


int
hc_begin(hc_conn_t *c, const hc_req_t *req)
{
    char    key[sizeof(c->key)];
    char    hostport[URL_HOST_MAX + 10];
    size_t  len;
    int     n;

    c->err[0] = '\0';
    c->status = 0;
    c->content_type[0] = '\0';
    c->got_bytes = 0;
    c->retried = 0;
    c->framing = HC_BODY_NONE;
    c->header = req->header;
    c->header_out = req->header_out;
    c->header_outlen = req->header_outlen;
    if (c->header != NULL && c->header_outlen > 0) {
        c->header_out[0] = '\0';
    } else {
        c->header = NULL;
    }

    if (url_parse(req->url, &c->url) != 0 || c->url.query) {
        hc_close(c);
        hc_fail(c, "invalid URL \"%.128s\"", req->url);
        return -1;
    }

    snprintf(hostport, sizeof(hostport), c->url.ipv6 ? "[%s]%s%s" : "%s%s%s",
             c->url.host,
             strcmp(c->url.port, c->url.tls ? "443" : "80") ? ":" : "",
             strcmp(c->url.port, c->url.tls ? "443" : "80") ? c->url.port
                                                              : "");

    /* the whole head is one allocation of its own size: Authorization
     * holds a one-time signature and is not kept */
    len = strlen(c->url.path) + strlen(hostport) + 160
          + (req->auth != NULL ? strlen(req->auth) : 0);
    free(c->out);
    c->out = malloc(len);
    if (c->out == NULL) {
        hc_fail(c, "out of memory");
        return -1;
    }

    if (req->body != NULL) {
        n = snprintf(c->out, len, "POST %s HTTP/1.1\r\nHost: %s\r\n"
                     "Accept: */*\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     c->url.path[0] ? c->url.path : "/", hostport,
                     req->body_len, req->auth ? req->auth : "",
                     req->auth ? "\r\n" : "");
    } else {
        n = snprintf(c->out, len, "GET %s HTTP/1.1\r\nHost: %s\r\n"
                     "Accept: */*\r\n%s%s\r\n",
                     c->url.path[0] ? c->url.path : "/", hostport,
                     req->auth ? req->auth : "", req->auth ? "\r\n" : "");
    }

    if (n < 0 || (size_t) n >= len) {
        hc_fail(c, "request head too large");
        return -1;
    }

    c->out_len = (size_t) n;
    c->out_off = 0;
    c->body = req->body;
    c->body_len = req->body != NULL ? req->body_len : 0;
    c->body_off = 0;
    c->connect_ms = req->connect_ms > 0 ? req->connect_ms : 3000;

    snprintf(key, sizeof(key), "%d|%s|%s", c->url.tls, c->url.host,
             c->url.port);

    if (c->fd >= 0 && c->state == HC_IDLE && strcmp(key, c->key) == 0
        && hc_alive(c))
    {
        c->reused = 1;
        c->state = HC_SENDING;
        c->events = POLLOUT;
        return 0;
    }

    hc_close(c);
    snprintf(c->key, sizeof(c->key), "%s", key);
    c->reused = 0;

    return hc_connect(c) == HC_ERROR ? -1 : 0;
}


static int
hc_connect(hc_conn_t *c)
{
    struct addrinfo  hints;
    int              rc;

    /* the first https:// URL loads libssl (http_tls.c): before the
     * connect timeout starts, which is the peer's, not the loader's */
    if (c->url.tls && tls_init(c->err, sizeof(c->err)) != 0) {
        return hc_fail(c, "%s", c->err);
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;

    /* a numeric host resolves at once; a name waits for the resolver's
     * own timeouts (resolv.conf), which are bounded */
    rc = getaddrinfo(c->url.host, c->url.port, &hints, &c->ai);
    if (rc != 0) {
        c->ai = NULL;
        return hc_fail(c, "cannot resolve host %.128s: %s", c->url.host,
                       gai_strerror(rc));
    }

    c->ai_next = c->ai;
    c->connect_deadline = hc_now() + (double) c->connect_ms / 1000;
    c->err[0] = '\0';

    return hc_connect_next(c);
}


static int
hc_connect_next(hc_conn_t *c)
{
    struct addrinfo  *a;
    int               fd, one = 1;

    while ((a = c->ai_next) != NULL) {
        c->ai_next = a->ai_next;

        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
            continue;
        }

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0
            || errno == EINPROGRESS)
        {
            c->fd = fd;
            c->state = HC_CONNECTING;
            c->events = POLLOUT;
            return 0;
        }

        snprintf(c->err, sizeof(c->err),
                 "cannot connect to %.128s port %s: %s", c->url.host,
                 c->url.port, strerror(errno));
        close(fd);
    }

    return hc_fail(c, "%s", c->err[0] ? c->err : "no address to connect to");
}


/* the socket is writable: connected, or refused (try the next address) */
static int
hc_connected(hc_conn_t *c)
{
    int        e = 0;
    socklen_t  len = sizeof(e);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) {
        e = errno;
    }

    if (e != 0) {
        snprintf(c->err, sizeof(c->err),
                 "cannot connect to %.128s port %s: %s", c->url.host,
                 c->url.port, strerror(e));
        close(c->fd);
        c->fd = -1;
        return hc_connect_next(c);
    }

    freeaddrinfo(c->ai);
    c->ai = NULL;
    c->ai_next = NULL;

    if (!c->url.tls) {
        c->state = HC_SENDING;
        return 0;
    }

    c->tls = tls_new(c->fd, c->url.host, c->err, sizeof(c->err));
    if (c->tls == NULL) {
        return hc_fail(c, "%s", c->err);
    }

    c->state = HC_TLS;
    return 0;
}


/* a reused connection the server had closed: once more on a new one */
static int
hc_retry(hc_conn_t *c)
{
    char  key[sizeof(c->key)];

    snprintf(key, sizeof(key), "%s", c->key);
    hc_close(c);
    snprintf(c->key, sizeof(c->key), "%s", key);

    c->reused = 0;
    c->retried = 1;
    c->out_off = 0;
    c->body_off = 0;
    c->err[0] = '\0';

    return hc_connect(c);
}


static ssize_t
hc_recv(hc_conn_t *c, char *p, size_t n)
{
    ssize_t  got;

    if (c->tls != NULL) {
        return tls_read(c->tls, p, n, &c->events, c->err, sizeof(c->err));
    }

    got = recv(c->fd, p, n, 0);
    if (got >= 0) {
        return got;
    }

    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->events = POLLIN;
        return -1;
    }

    snprintf(c->err, sizeof(c->err), "recv failure: %s", strerror(errno));
    return -2;
}


/* [p, n) then [p2, n2): in one segment when plain TCP, so the server has
 * a request's head and body in one read (one wake-up, not two) */
static ssize_t
hc_send(hc_conn_t *c, const char *p, size_t n, const char *p2, size_t n2)
{
    ssize_t        put;
    struct iovec   iov[2];
    struct msghdr  msg;

    if (c->tls != NULL) {
        return n > 0
               ? tls_write(c->tls, p, n, &c->events, c->err, sizeof(c->err))
               : tls_write(c->tls, p2, n2, &c->events, c->err,
                           sizeof(c->err));
    }

    memset(&msg, 0, sizeof(msg));
    iov[0].iov_base = (void *) p;
    iov[0].iov_len = n;
    iov[1].iov_base = (void *) p2;
    iov[1].iov_len = n2;
    msg.msg_iov = n > 0 ? iov : iov + 1;
    msg.msg_iovlen = (n > 0 && n2 > 0) ? 2 : 1;

    put = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (put >= 0) {
        return put;
    }

    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->events = POLLOUT;
        return -1;
    }

    snprintf(c->err, sizeof(c->err), "send failure: %s", strerror(errno));
    return -2;
}


/* more reply bytes into the buffer: > 0, 0 at the close, HC_AGAIN, HC_ERROR
 * (the caller fails the exchange) */
static int
hc_fill(hc_conn_t *c)
{
    ssize_t  n;

    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }

    if (c->rlen == sizeof(c->rbuf)) {
        snprintf(c->err, sizeof(c->err), "reply header or chunk line longer "
                 "than %zu bytes", sizeof(c->rbuf));
        return HC_ERROR;
    }

    n = hc_recv(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
    if (n == -1) {
        return HC_AGAIN;
    }
    if (n < 0) {
        return HC_ERROR;
    }

    if (n > 0) {
        c->got_bytes = 1;
    }

    c->rlen += (size_t) n;
    return (int) (n > 0);
}


int
hc_head(hc_conn_t *c)
{
    ssize_t   n;
    size_t    avail, sent;
    char     *end;
    int       rc;

    for ( ;; ) {
        switch (c->state) {

        case HC_CONNECTING:
            if (hc_now() > c->connect_deadline) {
                return hc_fail(c, "connection to %.128s port %s timed out "
                               "after %ld ms", c->url.host, c->url.port,
                               c->connect_ms);
            }
            {
                struct pollfd  pfd = { c->fd, POLLOUT, 0 };

                if (poll(&pfd, 1, 0) == 0) {
                    c->events = POLLOUT;
                    return HC_AGAIN;
                }
            }
            if (hc_connected(c) == HC_ERROR) {
                return HC_ERROR;
            }
            break;

        case HC_TLS:
            if (hc_now() > c->connect_deadline) {
                return hc_fail(c, "TLS handshake with %.128s timed out after "
                               "%ld ms", c->url.host, c->connect_ms);
            }
            rc = tls_handshake(c->tls, &c->events, c->err, sizeof(c->err));
            if (rc < 0) {
                return hc_fail(c, "%s", c->err);
            }
            if (rc == 0) {
                return HC_AGAIN;
            }
            c->state = HC_SENDING;
            break;

        case HC_SENDING:
            if (c->out_off < c->out_len || c->body_off < c->body_len) {
                n = hc_send(c, c->out + c->out_off, c->out_len - c->out_off,
                            c->body != NULL ? c->body + c->body_off : NULL,
                            c->body_len - c->body_off);
            } else {
                c->state = HC_READ_HEAD;
                c->rpos = 0;
                c->rlen = 0;
                break;
            }

            if (n == -1) {
                return HC_AGAIN;
            }
            if (n < 0) {
                if (c->reused && !c->retried) {
                    if (hc_retry(c) == HC_ERROR) {
                        return HC_ERROR;
                    }
                    break;
                }
                return hc_fail(c, "%s", c->err);
            }

            /* the head's bytes first, the rest the body's */
            sent = (size_t) n;
            if (sent > c->out_len - c->out_off) {
                c->body_off += sent - (c->out_len - c->out_off);
                c->out_off = c->out_len;
            } else {
                c->out_off += sent;
            }
            break;

        case HC_READ_HEAD:
            avail = c->rlen - c->rpos;
            end = avail >= 4 ? memmem(c->rbuf + c->rpos, avail, "\r\n\r\n", 4)
                             : NULL;
            if (end != NULL) {
                rc = hc_parse_head(c, (size_t) (end + 4 - c->rbuf));
                if (rc != 1) {
                    return rc;
                }
                /* an interim 1xx: its head is gone, the real one follows */
                break;
            }

            rc = hc_fill(c);
            if (rc == HC_AGAIN) {
                return HC_AGAIN;
            }
            if (rc == 0 || rc == HC_ERROR) {
                if (c->reused && !c->retried && !c->got_bytes) {
                    if (hc_retry(c) == HC_ERROR) {
                        return HC_ERROR;
                    }
                    break;
                }
                return hc_fail(c, "%s", rc == 0
                               ? "the server closed the connection before "
                                 "its reply" : c->err);
            }
            break;

        case HC_READ_BODY:
        case HC_DONE:
            return 0;

        default:
            return hc_fail(c, "%s", c->err[0] ? c->err : "no request");
        }
    }
}


/* 0 the final head is in, 1 an interim one was skipped, HC_ERROR */
static int
hc_parse_head(hc_conn_t *c, size_t end)
{
    char          *p, *line, *colon, *v;
    size_t         len, vlen, nlen;
    int            minor;
    long           status;
    int64_t        length = -1;
    int            chunked = 0, close_ = 0, keep = 0;
    unsigned long long  ull;
    char          *e;

    p = c->rbuf + c->rpos;
    line = p;
    v = memchr(line, '\n', end - c->rpos);
    len = (size_t) (v - line);

    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0
        || (line[7] != '0' && line[7] != '1') || line[8] != ' '
        || line[9] < '1' || line[9] > '5' || line[10] < '0'
        || line[10] > '9' || line[11] < '0' || line[11] > '9')
    {
        return hc_fail(c, "not an HTTP/1.x reply");
    }

    minor = line[7] - '0';
    status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');

    c->content_type[0] = '\0';
    if (c->header != NULL) {
        c->header_out[0] = '\0';
    }

    for (p = v + 1; p < c->rbuf + end - 2; p = v + 1) {
        v = memchr(p, '\n', (size_t) (c->rbuf + end - p));
        len = (size_t) (v - p);
        if (len > 0 && p[len - 1] == '\r') {
            len--;
        }

        colon = memchr(p, ':', len);
        if (colon == NULL || colon == p) {
            return hc_fail(c, "malformed reply header");
        }

        nlen = (size_t) (colon - p);
        line = colon + 1;
        vlen = len - nlen - 1;
        while (vlen > 0 && (*line == ' ' || *line == '\t')) {
            line++;
            vlen--;
        }
        while (vlen > 0 && (line[vlen - 1] == ' ' || line[vlen - 1] == '\t'))
        {
            vlen--;
        }

        if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
            errno = 0;
            ull = strtoull(line, &e, 10);
            if (vlen == 0 || e != line + vlen || errno != 0
                || ull > INT64_MAX
                || (length >= 0 && (uint64_t) length != ull))
            {
                return hc_fail(c, "invalid Content-Length in the reply");
            }
            length = (int64_t) ull;

        } else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0)
        {
            if (vlen >= 7 && strncasecmp(line + vlen - 7, "chunked", 7) == 0)
            {
                chunked = 1;
            } else {
                return hc_fail(c, "unsupported Transfer-Encoding %.*s",
                               (int) (vlen > 64 ? 64 : vlen), line);
            }

        } else if (nlen == 10 && strncasecmp(p, "connection", 10) == 0) {
            if (vlen >= 5 && strncasecmp(line, "close", 5) == 0) {
                close_ = 1;
            } else if (vlen >= 10 && strncasecmp(line, "keep-alive", 10) == 0)
            {
                keep = 1;
            }
        }

        hc_header(c, p, nlen, line, vlen);
    }

    c->rpos = end;

    if (status < 200) {
        c->content_type[0] = '\0';
        return 1;
    }

    c->status = status;
    c->keep_alive = !close_ && (minor == 1 || keep);
    c->state = HC_READ_BODY;
    c->chunk = HC_CHUNK_SIZE;

    if (status == 204 || status == 304) {
        c->framing = HC_BODY_NONE;
    } else if (chunked) {
        c->framing = HC_BODY_CHUNKED;
    } else if (length >= 0) {
        c->framing = length > 0 ? HC_BODY_LENGTH : HC_BODY_NONE;
        c->left = (uint64_t) length;
    } else {
        c->framing = HC_BODY_CLOSE;
        c->keep_alive = 0;
    }

    return 0;
}


static void
hc_header(hc_conn_t *c, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
    size_t  i;

    if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
        if (vlen > HC_TYPE_MAX) {
            vlen = 0;
        }
        for (i = 0; i < vlen; i++) {
            if (v[i] < 0x20 || v[i] > 0x7e) {
                vlen = 0;
            }
        }
        memcpy(c->content_type, v, vlen);
        c->content_type[vlen] = '\0';
    }

    if (c->header != NULL && strlen(c->header) == nlen
        && strncasecmp(name, c->header, nlen) == 0)
    {
        snprintf(c->header_out, c->header_outlen, "%.*s", (int) vlen, v);
    }
}


/* a whole CRLF line at rpos (consumed, without its end), or NULL */
static char *
hc_line(hc_conn_t *c, size_t *len)
{
    char  *p, *nl;

    p = c->rbuf + c->rpos;
    nl = memchr(p, '\n', c->rlen - c->rpos);
    if (nl == NULL) {
        return NULL;
    }

    c->rpos = (size_t) (nl + 1 - c->rbuf);
    *len = (size_t) (nl - p);
    if (*len > 0 && p[*len - 1] == '\r') {
        (*len)--;
    }

    return p;
}


ssize_t
hc_body(hc_conn_t *c, char *out, size_t max)
{
    size_t               avail, n, len;
    char                *line, *e;
    unsigned long long   size;
    int                  rc;

    if (c->state == HC_DONE) {
        return 0;
    }
    if (c->state != HC_READ_BODY) {
        return c->state == HC_FAILED ? HC_ERROR : hc_fail(c, "no reply");
    }

    for ( ;; ) {
        avail = c->rlen - c->rpos;

        if (c->framing == HC_BODY_NONE) {
            c->state = HC_DONE;
            return 0;
        }

        if (avail > 0 && (c->framing == HC_BODY_CLOSE
                          || c->framing == HC_BODY_LENGTH
                          || c->chunk == HC_CHUNK_DATA))
        {
            n = avail < max ? avail : max;
            if (c->framing != HC_BODY_CLOSE && n > c->left) {
                n = (size_t) c->left;
            }

            memcpy(out, c->rbuf + c->rpos, n);
            c->rpos += n;
            c->left -= c->framing != HC_BODY_CLOSE ? n : 0;

            if (c->left == 0 && c->framing == HC_BODY_LENGTH) {
                c->framing = HC_BODY_NONE;
            } else if (c->left == 0 && c->framing == HC_BODY_CHUNKED) {
                c->chunk = HC_CHUNK_CRLF;
            }

            return (ssize_t) n;
        }

        if (c->framing == HC_BODY_CHUNKED && c->chunk != HC_CHUNK_DATA
            && (line = hc_line(c, &len)) != NULL)
        {
            if (len > HC_LINE_MAX) {
                return hc_fail(c, "chunk line too long in the reply");
            }

            switch (c->chunk) {
            case HC_CHUNK_SIZE:
                errno = 0;
                size = strtoull(line, &e, 16);
                if (e == line || errno != 0 || size > INT64_MAX
                    || (e < line + len && *e != ';' && *e != ' '
                        && *e != '\t'))
                {
                    return hc_fail(c, "invalid chunk size in the reply");
                }
                c->left = size;
                c->chunk = size > 0 ? HC_CHUNK_DATA : HC_CHUNK_TRAILER;
                break;

            case HC_CHUNK_CRLF:
                if (len != 0) {
                    return hc_fail(c, "invalid chunk end in the reply");
                }
                c->chunk = HC_CHUNK_SIZE;
                break;

            default:
                /* trailers are read and dropped; an empty line ends it */
                if (len == 0) {
                    c->framing = HC_BODY_NONE;
                }
                break;
            }
            continue;
        }

        if (c->framing == HC_BODY_CHUNKED && c->chunk != HC_CHUNK_DATA
            && c->rlen - c->rpos > HC_LINE_MAX)
        {
            return hc_fail(c, "chunk line too long in the reply");
        }

        rc = hc_fill(c);
        if (rc == HC_AGAIN) {
            return HC_AGAIN;
        }
        if (rc == HC_ERROR) {
            return hc_fail(c, "%s", c->err);
        }
        if (rc == 0) {
            if (c->framing == HC_BODY_CLOSE) {
                c->state = HC_DONE;
                hc_close(c);
                return 0;
            }
            return hc_fail(c, "the server closed the connection before the "
                           "end of its reply");
        }
    }
}


void
hc_end(hc_conn_t *c)
{
    /* only a reply read to its end, with nothing after it, leaves the
     * connection usable */
    if (c->state == HC_DONE && c->keep_alive && c->fd >= 0
        && c->rpos == c->rlen)
    {
        c->state = HC_IDLE;
        c->rpos = 0;
        c->rlen = 0;
    } else {
        hc_close(c);
        c->state = HC_IDLE;
    }

    c->body = NULL;
    c->header = NULL;
    free(c->out);
    c->out = NULL;
}


int
hc_wait(hc_conn_t *c, struct pollfd *extra, unsigned nextra, int ms)
{
    struct pollfd  pfd[4];
    unsigned       i, n = 0;
    double         left;
    int            rc;

    if (c->fd >= 0 && c->state != HC_DONE && c->state != HC_IDLE) {
        pfd[n].fd = c->fd;
        pfd[n].events = c->events ? c->events : POLLIN;
        pfd[n].revents = 0;
        n++;
    }

    for (i = 0; i < nextra && n < 4; i++) {
        extra[i].revents = 0;
        pfd[n++] = extra[i];
    }

    if (c->state == HC_CONNECTING || c->state == HC_TLS) {
        left = (c->connect_deadline - hc_now()) * 1000 + 1;
        if (left < 0) {
            left = 0;
        }
        if (ms < 0 || left < ms) {
            ms = (int) left;
        }
    }

    rc = poll(pfd, n, ms);
    if (rc < 0 && errno == EINTR) {
        rc = 0;
    }

    for (i = 0; i < nextra && i + 1 <= n; i++) {
        extra[i].revents = pfd[n - nextra + i].revents;
    }

    return rc;
}
