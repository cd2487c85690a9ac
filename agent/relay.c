/*
 * Threading: libmicrohttpd runs a thread per connection, and this relay
 * runs inside that thread.  The content reader blocks in curl_multi_poll()
 * until Ollama sends bytes, and hands each one to libmicrohttpd at once:
 * no queue, no cross-thread hand-off, one wake-up per token.  A thread per
 * connection is affordable here: an agent serves a few concurrent tasks
 * (Ollama itself runs a handful in parallel), and the stacks are small.
 *
 * Each connection thread keeps one curl multi and easy handle for its
 * life, so the connection to Ollama is reused from task to task.
 *
 * While waiting, the relay also watches the client socket: a client that
 * hangs up cancels the Ollama request at once (its socket is closed, which
 * makes Ollama stop generating), and the abort eventfd, which cuts every
 * relay when the drain timeout expires.
 *
 * Memory per task is bounded: Ollama's bytes wait in a fixed buffer and
 * curl is paused when it is full.
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

#include <curl/curl.h>
#include <microhttpd.h>

#include "buf.h"
#include "http_fetch.h"
#include "log.h"
#include "relay.h"
#include "runtime.h"


#define RELAY_BUF         (32 * 1024)
#define RELAY_TYPE_MAX    127
#define RELAY_WAIT_MS     1000


typedef struct {
    CURLM  *multi;
    CURL   *easy;
    int     busy;
} relay_handles_t;


struct relay_s {
    relay_handles_t     *h;
    int                  own_handles;
    int                  in_multi;
    struct curl_slist   *headers;
    char                *body;
    size_t               body_len;
    endpoint_t           ep;
    int                  client_fd;
    int                  watch_client;
    int                  holds_slot;
    int                  headers_done;
    int                  headers_done_now;
    int                  done;
    int                  paused;
    int                  client_gone;
    int                  aborted;
    int                  error_sent;
    CURLcode             result;
    long                 status;
    char                 content_type[RELAY_TYPE_MAX + 1];
    char                 errbuf[CURL_ERROR_SIZE];
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
static size_t relay_on_body(char *p, size_t size, size_t n, void *ud);
static size_t relay_on_header(char *p, size_t size, size_t n, void *ud);
static void relay_perform(relay_t *r);
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

    if (h->easy != NULL) {
        curl_easy_cleanup(h->easy);
    }
    if (h->multi != NULL) {
        curl_multi_cleanup(h->multi);
    }
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

    h->multi = curl_multi_init();
    h->easy = curl_easy_init();
    if (h->multi == NULL || h->easy == NULL) {
        relay_handles_free(h);
        return NULL;
    }

    return h;
}


/* this thread's handles; a private pair if they are somehow in use */
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
    CURL               *e;
    struct curl_slist  *tmp = NULL;

    r->h = relay_handles_get(&r->own_handles);
    if (r->h == NULL) {
        snprintf(err, errlen, "out of memory");
        return RELAY_UNREACHABLE;
    }

    e = r->h->easy;
    curl_easy_reset(e);

    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (r->headers == NULL) {
        snprintf(err, errlen, "out of memory");
        return RELAY_UNREACHABLE;
    }
    tmp = curl_slist_append(r->headers, "Expect:");
    if (tmp == NULL) {
        snprintf(err, errlen, "out of memory");
        return RELAY_UNREACHABLE;
    }

    http_no_proxy(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (r->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) r->body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, relay_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, relay_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 16384L);

    if (curl_multi_add_handle(r->h->multi, e) != CURLM_OK) {
        snprintf(err, errlen, "cannot start the transfer");
        return RELAY_UNREACHABLE;
    }
    r->in_multi = 1;

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
        snprintf(err, errlen, "%s", r->errbuf[0] ? r->errbuf
                 : curl_easy_strerror(r->result));
        return RELAY_UNREACHABLE;
    }

    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    return RELAY_OK;
}


static size_t
relay_on_header(char *p, size_t size, size_t n, void *ud)
{
    relay_t  *r = ud;
    size_t    len = size * n, i;
    long      code = 0;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response: an interim 1xx may come first */
        r->content_type[0] = '\0';

    } else if (len <= 2) {
        curl_easy_getinfo(r->h->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            r->headers_done = 1;
            r->headers_done_now = 1;
        }

    } else if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        p += 13;
        len -= 13;
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'
                           || p[len - 1] == ' '))
        {
            len--;
        }
        if (len > RELAY_TYPE_MAX) {
            len = 0;
        }
        for (i = 0; i < len; i++) {
            if (p[i] < 0x20 || p[i] > 0x7e) {
                len = 0;
            }
        }
        memcpy(r->content_type, p, len);
        r->content_type[len] = '\0';
        r->sse = strncasecmp(r->content_type, "text/event-stream", 17) == 0;
    }

    return size * n;
}


static size_t
relay_on_body(char *p, size_t size, size_t n, void *ud)
{
    relay_t  *r = ud;
    size_t    len = size * n, i;

    if (r->len + len > sizeof(r->buf) && r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }

    /* curl keeps the bytes and offers them again after the unpause */
    if (r->len + len > sizeof(r->buf)) {
        r->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }

    if (r->t_first < 0) {
        r->t_first = relay_now();
    }

    memcpy(r->buf + r->len, p, len);
    r->len += len;
    r->bytes += len;

    for (i = 0; i < len; i++) {
        r->lines += (p[i] == '\n');
    }

    if (r->sse) {
        relay_sse_scan(r, p, len);
    }

    return len;
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


static void
relay_perform(relay_t *r)
{
    int        running, queued;
    CURLMcode  mc;
    CURLMsg   *msg;

    mc = curl_multi_perform(r->h->multi, &running);
    if (mc != CURLM_OK) {
        r->done = 1;
        r->result = CURLE_RECV_ERROR;
        snprintf(r->errbuf, sizeof(r->errbuf), "%s",
                 curl_multi_strerror(mc));
        return;
    }

    while ((msg = curl_multi_info_read(r->h->multi, &queued)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == r->h->easy) {
            r->done = 1;
            r->result = msg->data.result;
        }
    }
}


/* moves the transfer on, waiting only when there is nothing to hand out */
static void
relay_pump(relay_t *r)
{
    struct curl_waitfd   extra[2];
    unsigned             nextra = 0;
    int                  gone;

    relay_perform(r);
    if (r->done || r->len > r->off || r->headers_done_now) {
        r->headers_done_now = 0;
        return;
    }

    extra[nextra].fd = runtime_abort_fd();
    extra[nextra].events = CURL_WAIT_POLLIN;
    extra[nextra].revents = 0;
    nextra++;

    if (r->watch_client) {
        extra[nextra].fd = r->client_fd;
        extra[nextra].events = CURL_WAIT_POLLIN;
        extra[nextra].revents = 0;
        nextra++;
    }

    if (curl_multi_poll(r->h->multi, extra, nextra, RELAY_WAIT_MS, NULL)
        != CURLM_OK)
    {
        r->done = 1;
        r->result = CURLE_RECV_ERROR;
        snprintf(r->errbuf, sizeof(r->errbuf), "waiting for Ollama failed");
        return;
    }

    if (extra[0].revents) {
        r->aborted = 1;
        return;
    }

    if (r->watch_client) {
        gone = relay_client_gone(r->client_fd);
        if (gone > 0) {
            r->client_gone = 1;
            return;
        }
        if (gone < 0) {
            r->watch_client = 0;
        }
    }

    relay_perform(r);
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
    char         msg[CURL_ERROR_SIZE + 64];

    r->error_sent = 1;
    r->off = 0;
    r->len = 0;

    if (r->aborted) {
        why = "the node is shutting down and cut this task";
    } else {
        snprintf(msg, sizeof(msg), "ollama stream failed: %s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
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

            if (r->paused && r->len - r->off < sizeof(r->buf) / 2) {
                r->paused = 0;
                curl_easy_pause(r->h->easy, CURLPAUSE_CONT);
            }

            return (ssize_t) n;
        }

        if (r->client_gone) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }

        if (r->done || r->aborted) {
            if ((r->aborted || r->result != CURLE_OK) && !r->error_sent) {
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
    if (r->aborted || (r->done && r->result != CURLE_OK)) {
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
        /* removing an unfinished transfer closes its connection, which
         * is what makes Ollama stop generating */
        if (r->in_multi) {
            curl_multi_remove_handle(r->h->multi, r->h->easy);
        }
        curl_easy_setopt(r->h->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(r->h->easy, CURLOPT_ERRORBUFFER, NULL);

        if (r->own_handles) {
            relay_handles_free(r->h);
        } else {
            r->h->busy = 0;
        }
    }

    if (r->holds_slot) {
        runtime_task_release();
    }

    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}
