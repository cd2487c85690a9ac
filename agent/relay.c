/*
 * Threading: libmicrohttpd runs a thread per connection, and this relay
 * runs inside that thread.  The content reader waits in poll() until
 * Ollama sends bytes, and hands each read to libmicrohttpd at once: no
 * queue, no cross-thread hand-off, one wake-up per token.  A thread per
 * connection is affordable here: an agent serves a few concurrent tasks
 * (Ollama itself runs a handful in parallel), and the stacks are small.
 *
 * Each connection thread keeps one HTTP client connection (http_client.c)
 * for its life, so the connection to Ollama is reused from task to task.
 *
 * While waiting, the relay also watches the client socket: a client that
 * hangs up cancels the Ollama request at once (its socket is closed, which
 * makes Ollama stop generating), and the abort eventfd, which cuts every
 * relay when the drain timeout expires.
 *
 * Memory per task is bounded: Ollama's bytes wait in a fixed buffer, and
 * nothing more is read from Ollama's socket until the client has taken
 * them, so a slow client holds Ollama back through TCP itself.
 */

/* POLLRDHUP */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "buf.h"
#include "http_client.h"
#include "log.h"
#include "relay.h"
#include "runtime.h"


#define RELAY_BUF         (32 * 1024)
#define RELAY_TYPE_MAX    127
#define RELAY_WAIT_MS     1000


typedef struct {
    hc_conn_t  *conn;
    int         busy;
} relay_handles_t;


struct relay_s {
    relay_handles_t     *h;
    int                  own_handles;
    char                *body;
    size_t               body_len;
    endpoint_t           ep;
    int                  client_fd;
    int                  watch_client;
    int                  holds_slot;
    int                  headers_done;
    int                  done;
    int                  client_gone;
    int                  aborted;
    int                  error_sent;
    int                  failed;
    long                 status;
    char                 content_type[RELAY_TYPE_MAX + 1];
    char                 errbuf[HC_ERR_MAX];
    size_t               off;
    size_t               len;
    char                 last;
    char                 prev;          /* the byte before last */
    uint64_t             lines;
    int                  sse;           /* text/event-stream */
    unsigned             sse_match;     /* of "\ndata: {" */
    uint64_t             sse_chunks;
    unsigned             usage_match;   /* of "\"completion_tokens\":" */
    int                  usage_seen;
    uint64_t             usage_tokens;
    uint64_t             bytes;
    double               t_start;
    double               t_first;
    char                 buf[RELAY_BUF];
};


static pthread_key_t   relay_key;
static pthread_once_t  relay_once = PTHREAD_ONCE_INIT;


static void relay_key_init(void);
static void relay_handles_free(void *p);
static relay_handles_t *relay_handles_new(void);
static relay_handles_t *relay_handles_get(int *own);
static void relay_took(relay_t *r, const char *p, size_t len);
static void relay_fail(relay_t *r);
static void relay_pump(relay_t *r);
static int relay_client_gone(int fd);
static void relay_error_line(relay_t *r);
static void relay_sse_scan(relay_t *r, const char *p, size_t len);
static outcome_t relay_outcome(const relay_t *r);


double
relay_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static void
relay_key_init(void)
{
    pthread_key_create(&relay_key, relay_handles_free);
}


static void
relay_handles_free(void *p)
{
    relay_handles_t  *h = p;

    if (h == NULL) {
        return;
    }

    hc_free(h->conn);
    free(h);
}


static relay_handles_t *
relay_handles_new(void)
{
    relay_handles_t  *h = NULL;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }

    h->conn = hc_new();
    if (h->conn == NULL) {
        relay_handles_free(h);
        return NULL;
    }

    return h;
}


/* this thread's connection; a private one if it is somehow in use */
static relay_handles_t *
relay_handles_get(int *own)
{
    relay_handles_t  *h = NULL;

    pthread_once(&relay_once, relay_key_init);

    h = pthread_getspecific(relay_key);
    if (h != NULL && !h->busy) {
        *own = 0;
        h->busy = 1;
        return h;
    }

    if (h != NULL) {
        *own = 1;
        return relay_handles_new();
    }

    h = relay_handles_new();
    if (h == NULL || pthread_setspecific(relay_key, h) != 0) {
        relay_handles_free(h);
        return NULL;
    }

    *own = 0;
    h->busy = 1;
    return h;
}


relay_t *
relay_create(endpoint_t ep, char *body, size_t len, int client_fd,
    double started)
{
    relay_t  *r = NULL;

    r = malloc(sizeof(*r));
    if (r == NULL) {
        return NULL;
    }

    /* the buffer itself needs no clearing */
    memset(r, 0, offsetof(relay_t, buf));
    r->ep = ep;
    r->body = body;
    r->body_len = len;
    r->client_fd = client_fd;
    r->watch_client = client_fd >= 0;
    r->t_start = started;
    r->t_first = -1;
    return r;
}


void
relay_hold_slot(relay_t *r)
{
    r->holds_slot = 1;
}


long
relay_status(const relay_t *r)
{
    return r->status;
}


const char *
relay_content_type(const relay_t *r)
{
    return r->content_type[0] ? r->content_type : "application/json";
}


relay_start_t
relay_start(relay_t *r, const char *url, char *err, size_t errlen)
{
    hc_req_t  req;

    r->h = relay_handles_get(&r->own_handles);
    if (r->h == NULL) {
        snprintf(err, errlen, "out of memory");
        return RELAY_UNREACHABLE;
    }

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.body = r->body;
    req.body_len = r->body_len;
    req.connect_ms = 3000;

    if (hc_begin(r->h->conn, &req) != 0) {
        snprintf(err, errlen, "%s", hc_error(r->h->conn));
        return RELAY_UNREACHABLE;
    }

    /* wait for Ollama's status line and headers, not for its first token */
    while (!r->headers_done && !r->done) {
        relay_pump(r);

        if (r->client_gone) {
            return RELAY_CLIENT_GONE;
        }
        if (r->aborted) {
            snprintf(err, errlen, "node shutting down");
            return RELAY_ABORTED;
        }
    }

    if (!r->headers_done) {
        snprintf(err, errlen, "%s", r->errbuf);
        return RELAY_UNREACHABLE;
    }

    return RELAY_OK;
}


static void
relay_fail(relay_t *r)
{
    r->done = 1;
    r->failed = 1;
    snprintf(r->errbuf, sizeof(r->errbuf), "%s", hc_error(r->h->conn));
}


/* len bytes of the reply just read into the buffer */
static void
relay_took(relay_t *r, const char *p, size_t len)
{
    size_t  i;

    if (r->t_first < 0) {
        r->t_first = relay_now();
    }

    r->len += len;
    r->bytes += len;

    for (i = 0; i < len; i++) {
        r->lines += (p[i] == '\n');
    }

    if (r->sse) {
        relay_sse_scan(r, p, len);
    }
}


static int
relay_client_gone(int fd)
{
    struct pollfd  pfd;
    char           c;
    ssize_t        n;

    pfd.fd = fd;
    pfd.events = POLLIN | POLLRDHUP;
    pfd.revents = 0;

    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }

    if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) {
        return 1;
    }

    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        return 1;
    }

    /* a pipelined next request: stop watching, it is not a hang-up */
    return n > 0 ? -1 : 0;
}


/*
 * Moves the exchange on, and waits (a second at most, watching the abort
 * eventfd and the client) only when there is nothing to hand out.  Reads
 * go into the free end of the buffer, which relay_read() empties first.
 */
static void
relay_pump(relay_t *r)
{
    hc_conn_t      *conn = r->h->conn;
    struct pollfd   extra[2];
    unsigned        nextra = 0;
    ssize_t         n;
    int             gone;

    if (!r->headers_done) {
        n = hc_head(conn);
        if (n == 0) {
            r->headers_done = 1;
            r->status = hc_status(conn);
            snprintf(r->content_type, sizeof(r->content_type), "%s",
                     hc_content_type(conn));
            r->sse = strncasecmp(r->content_type, "text/event-stream", 17)
                     == 0;
            return;
        }

    } else {
        n = hc_body(conn, r->buf + r->len, sizeof(r->buf) - r->len);
        if (n > 0) {
            relay_took(r, r->buf + r->len, (size_t) n);
            return;
        }
        if (n == 0) {
            r->done = 1;
            return;
        }
    }

    if (n == HC_ERROR) {
        relay_fail(r);
        return;
    }

    extra[nextra].fd = runtime_abort_fd();
    extra[nextra].events = POLLIN;
    nextra++;

    if (r->watch_client) {
        extra[nextra].fd = r->client_fd;
        extra[nextra].events = POLLIN;
        nextra++;
    }

    if (hc_wait(conn, extra, nextra, RELAY_WAIT_MS) < 0) {
        r->done = 1;
        r->failed = 1;
        snprintf(r->errbuf, sizeof(r->errbuf), "waiting for Ollama failed");
        return;
    }

    if (extra[0].revents) {
        r->aborted = 1;
        return;
    }

    if (r->watch_client && extra[1].revents) {
        gone = relay_client_gone(r->client_fd);
        if (gone > 0) {
            r->client_gone = 1;
            return;
        }
        if (gone < 0) {
            r->watch_client = 0;
        }
    }
}


/*
 * Counts the chunks of an OpenAI stream (lines "data: {...}") and reads
 * usage.completion_tokens, whatever the cuts between reads.  A chunk's
 * JSON has no raw newline, so a line start is a chunk start; the key is
 * a key, since inside a string its quotes would be escaped.
 */
static void
relay_sse_scan(relay_t *r, const char *p, size_t len)
{
    static const char  chunk[] = "\ndata: {";
    static const char  usage[] = "\"completion_tokens\":";
    size_t             i;
    char               c;

    if (r->bytes == len) {
        r->sse_match = 1;               /* the stream starts a line */
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c == chunk[r->sse_match]) {
            if (++r->sse_match == sizeof(chunk) - 1) {
                r->sse_chunks++;
                r->sse_match = 0;
            }
        } else {
            r->sse_match = c == '\n';
        }

        if (r->usage_match == sizeof(usage) - 1) {
            if (c >= '0' && c <= '9') {
                if (!r->usage_seen) {
                    r->usage_seen = 1;
                    r->usage_tokens = 0;
                }
                if (r->usage_tokens < UINT32_MAX) {
                    r->usage_tokens = r->usage_tokens * 10 + (c - '0');
                }
                continue;
            }
            r->usage_match = 0;
        }

        if (c == usage[r->usage_match]) {
            if (++r->usage_match == sizeof(usage) - 1) {
                r->usage_seen = 0;      /* the last count wins */
            }
        } else {
            r->usage_match = c == usage[0];
        }
    }
}


/* Ollama's own way to report a failure inside a stream */
static void
relay_error_line(relay_t *r)
{
    buf_t        line;
    const char  *why;
    char         msg[HC_ERR_MAX + 64];

    r->error_sent = 1;
    r->off = 0;
    r->len = 0;

    if (r->aborted) {
        why = "the node is shutting down and cut this task";
    } else {
        snprintf(msg, sizeof(msg), "ollama stream failed: %s",
                 r->errbuf[0] ? r->errbuf : "request failed");
        why = msg;
    }

    buf_init(&line, sizeof(r->buf) - 16);

    if (r->sse) {
        /* an SSE error event, after the end of any event cut short */
        if (buf_puts(&line, "data: ") != 0
            || buf_openai_error(&line, 500, why) != 0
            || buf_puts(&line, "\n") != 0)
        {
            buf_free(&line);
            return;
        }

        if (r->bytes > 0 && r->last != '\n') {
            r->buf[r->len++] = '\n';
            r->buf[r->len++] = '\n';
        } else if (r->bytes > 0 && r->prev != '\n') {
            r->buf[r->len++] = '\n';
        }

    } else {
        if (buf_json_error(&line, why) != 0) {
            buf_free(&line);
            return;
        }

        if (r->bytes > 0 && r->last != '\n') {
            r->buf[r->len++] = '\n';
        }
    }

    memcpy(r->buf + r->len, line.data, line.len);
    r->len += line.len;
    r->buf[r->len++] = '\n';

    buf_free(&line);
}


ssize_t
relay_read(void *cls, uint64_t pos, char *out, size_t max)
{
    relay_t  *r = cls;
    size_t    n;

    (void) pos;

    for ( ;; ) {
        if (r->len > r->off) {
            n = r->len - r->off;
            if (n > max) {
                n = max;
            }

            memcpy(out, r->buf + r->off, n);
            r->off += n;
            r->prev = n > 1 ? out[n - 2] : r->last;
            r->last = out[n - 1];

            if (r->off == r->len) {
                r->off = 0;
                r->len = 0;
            }

            return (ssize_t) n;
        }

        if (r->client_gone) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }

        if (r->done || r->aborted) {
            if ((r->aborted || r->failed) && !r->error_sent) {
                relay_error_line(r);
                continue;
            }
            return MHD_CONTENT_READER_END_OF_STREAM;
        }

        relay_pump(r);
    }
}


static outcome_t
relay_outcome(const relay_t *r)
{
    if (r->client_gone) {
        return OUTCOME_CANCELLED;
    }
    if (!r->headers_done) {
        return OUTCOME_UNREACHABLE;
    }
    if (r->aborted || (r->done && r->failed)) {
        return OUTCOME_STREAM_FAILED;
    }
    if (r->status >= 400) {
        return OUTCOME_OLLAMA_ERROR;
    }

    return OUTCOME_OK;
}


void
relay_free(void *cls)
{
    relay_t   *r = cls;
    double     now, first;
    uint64_t   tokens = 0;

    if (r == NULL) {
        return;
    }

    now = relay_now();
    first = r->t_first >= 0 ? r->t_first - r->t_start : -1;

    /* a stream of N tokens is N lines plus the final "done" line */
    if (r->lines > 1 && strstr(r->content_type, "ndjson") != NULL) {
        tokens = r->lines - 1;
    }

    /* an OpenAI stream says its count when asked (include_usage); else
     * each chunk is a token but the one with finish_reason */
    if (r->sse) {
        tokens = r->usage_seen ? r->usage_tokens
                 : r->sse_chunks > 1 ? r->sse_chunks - 1 : r->sse_chunks;
    }

    metrics_task_done(r->ep, relay_outcome(r), now - r->t_start, first,
                      tokens, r->t_first >= 0 ? now - r->t_first : 0);
    log_debug("task %s: status %ld, %llu bytes, %.3f s%s%s",
              endpoint_name(r->ep), r->status,
              (unsigned long long) r->bytes, now - r->t_start,
              r->client_gone ? ", client gone" : "",
              r->aborted ? ", cut by the drain" : "");

    if (r->h != NULL) {
        /* ending an unfinished exchange closes its connection, which
         * is what makes Ollama stop generating */
        hc_end(r->h->conn);

        if (r->own_handles) {
            relay_handles_free(r->h);
        } else {
            r->h->busy = 0;
        }
    }

    if (r->holds_slot) {
        runtime_task_release();
    }

    free(r->body);
    free(r);
}
