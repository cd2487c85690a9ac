
/*
 * The live feed (mesh_feed): a snapshot of the registry, then every
 * message of mesh:events and mesh:tasks, over WebSocket (RFC 6455),
 * Server-Sent Events, or a gRPC Watch call (one Event message each, the
 * call's trailers at its end; ngx_http_mesh_grpc.c frames them).
 *
 * The request is taken over after its header: the module reads and writes
 * the socket itself (r->header_only, so no body filter, no chunking and no
 * gzip touch the stream), and the request ends only by
 * ngx_http_finalize_request(r, NGX_HTTP_CLOSE), whose cleanup takes the
 * client out of the worker's list.
 *
 * Each worker holds one Redis subscription (the adapter's listener) for
 * its own clients, only while it has any.  A client's snapshot is sent
 * once that subscription is in place, so nothing published after the
 * snapshot is missed; or after a second without it (Redis away).
 *
 * Memory per client is bounded: one output buffer that grows up to
 * mesh_feed_buffer (past it the client is closed, 1008), and, only while
 * a client frame is arriving, an input buffer for the largest frame
 * accepted.
 *
 * One non-cancelable timer per client (snapshot wait, pings, the close
 * handshake) keeps an exiting worker alive until its clients got close
 * 1001 and answered, or the close wait ran out.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_ws.h"
#include "ngx_http_mesh_parse_feed.h"
#include "ngx_http_mesh_redis.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_keys.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_grpc_codec.h"


#define NGX_HTTP_MESH_FEED_SNAPSHOT_WAIT  1000   /* ms without Redis */
#define NGX_HTTP_MESH_FEED_CLOSE_WAIT     2000   /* ms for the peer's close */
#define NGX_HTTP_MESH_FEED_GRPC_CLOSE_WAIT 10000  /* ms to read a Watch's end */
#define NGX_HTTP_MESH_FEED_POLL           250    /* ms: is the worker exiting */
#define NGX_HTTP_MESH_FEED_LINGER         1000   /* ms before unsubscribing */
#define NGX_HTTP_MESH_FEED_OUT_MIN        4096
#define NGX_HTTP_MESH_FEED_HEADROOM       256    /* control frames past cap */
#define NGX_HTTP_MESH_FEED_RATE           32     /* client frames per second */
#define NGX_HTTP_MESH_UPGRADE_REQUIRED    426


typedef struct {
    ngx_queue_t                   queue;
    ngx_http_request_t           *request;
    ngx_event_t                   timer;
    u_char                       *out;
    size_t                        out_size;
    size_t                        out_pos;
    size_t                        out_last;
    u_char                       *in;            /* a frame arriving */
    size_t                        in_len;
    u_char                       *msg;           /* a fragmented message */
    size_t                        msg_len;
    ngx_uint_t                    msg_opcode;
    ngx_msec_t                    rate_start;
    ngx_uint_t                    rate_n;
    ngx_http_mesh_feed_filter_t   filter;
    ngx_chain_t                  *gbusy;         /* gRPC: in HTTP/2 */
    ngx_chain_t                  *gfree;
    ngx_int_t                     gcode;         /* gRPC: closing status */
    const char                   *greason;
    unsigned                      ws:1;
    unsigned                      grpc:1;        /* a Watch call */
    unsigned                      glast:1;       /* its trailers sent */
    unsigned                      snapshot:1;    /* sent */
    unsigned                      ping_sent:1;   /* not answered yet */
    unsigned                      fragmented:1;
    unsigned                      closing:1;     /* our close is queued */
    unsigned                      peer_closed:1;
    unsigned                      finished:1;    /* finalized */
} ngx_http_mesh_feed_client_t;


static void ngx_http_mesh_feed_gauge(void);
static ngx_int_t ngx_http_mesh_feed_check(ngx_http_request_t *r,
    ngx_uint_t *ws, u_char *accept);
static ngx_table_elt_t *ngx_http_mesh_feed_header(ngx_http_request_t *r,
    const char *name, const char *token);
static ngx_uint_t ngx_http_mesh_feed_has_token(ngx_str_t *value,
    const char *token);
static ngx_int_t ngx_http_mesh_feed_args(ngx_http_request_t *r,
    ngx_http_mesh_feed_filter_t *filter, char *err);
static ngx_int_t ngx_http_mesh_feed_start(ngx_http_request_t *r,
    ngx_http_mesh_feed_client_t *fc, u_char *accept);
static void ngx_http_mesh_feed_cleanup(void *data);
static void ngx_http_mesh_feed_listen(ngx_log_t *log);
static void ngx_http_mesh_feed_on_message(ngx_str_t *channel, ngx_str_t *msg,
    void *data);
static void ngx_http_mesh_feed_on_ready(void *data);
static void ngx_http_mesh_feed_worker_timer(ngx_event_t *ev);
static void ngx_http_mesh_feed_snapshot(ngx_http_mesh_feed_client_t *fc);
static ngx_int_t ngx_http_mesh_feed_send(ngx_http_mesh_feed_client_t *fc,
    ngx_uint_t opcode, u_char *data, size_t len, ngx_uint_t control);
static ngx_int_t ngx_http_mesh_feed_reserve(ngx_http_mesh_feed_client_t *fc,
    size_t need, ngx_uint_t control);
static ngx_int_t ngx_http_mesh_feed_flush(ngx_http_mesh_feed_client_t *fc);
static void ngx_http_mesh_feed_fail(ngx_http_mesh_feed_client_t *fc,
    ngx_uint_t code, const char *reason);
static void ngx_http_mesh_feed_finish(ngx_http_mesh_feed_client_t *fc);
static void ngx_http_mesh_feed_write_handler(ngx_http_request_t *r);
static void ngx_http_mesh_feed_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_feed_frames(ngx_http_mesh_feed_client_t *fc);
static void ngx_http_mesh_feed_frame(ngx_http_mesh_feed_client_t *fc,
    ngx_http_mesh_ws_frame_t *f);
static void ngx_http_mesh_feed_message(ngx_http_mesh_feed_client_t *fc,
    ngx_uint_t opcode, u_char *data, size_t len);
static ngx_http_mesh_feed_client_t *ngx_http_mesh_feed_client(
    ngx_http_request_t *r);
static void ngx_http_mesh_feed_reply(ngx_http_mesh_feed_client_t *fc,
    const char *kind, const char *error);
static void ngx_http_mesh_feed_timer_handler(ngx_event_t *ev);
static void ngx_http_mesh_feed_going_away(void);
static void ngx_http_mesh_feed_event_name(ngx_str_t *msg, ngx_str_t *name);
static ngx_int_t ngx_http_mesh_feed_join(ngx_http_request_t *r,
    ngx_http_mesh_feed_client_t *fc);
static ngx_int_t ngx_http_mesh_feed_grpc_flush(ngx_http_mesh_feed_client_t *fc);
static void ngx_http_mesh_feed_grpc_read_handler(ngx_http_request_t *r);


static ngx_str_t  ngx_http_mesh_feed_sse_type =
    ngx_string("text/event-stream");


/* this worker's clients, for mesh_metrics */

static void
ngx_http_mesh_feed_gauge(void)
{
    ngx_http_mesh_queue_slot_t  *slot;

    slot = ngx_http_mesh_worker.queue_slot;

    if (slot) {
        slot->feed_clients = ngx_http_mesh_worker.nfeed;
    }
}


ngx_int_t
ngx_http_mesh_feed_handler(ngx_http_request_t *r)
{
    u_char                        accept[NGX_HTTP_MESH_WS_ACCEPT_LEN];
    char                          err[NGX_HTTP_MESH_ERR_LEN];
    ngx_int_t                     rc;
    ngx_uint_t                    ws;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_main_conf_t    *mmcf;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    /* a browser's WebSocket or EventSource cannot send a header */

    rc = ngx_http_mesh_api_key_require(r, NGX_HTTP_MESH_DOOR_FEED, 1);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    ws = 0;
    rc = ngx_http_mesh_feed_check(r, &ws, accept);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (w->nfeed >= mmcf->feed_max_clients) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mesh feed: %ui clients, the limit of this worker "
                      "(mesh_feed_max_clients)", w->nfeed);
        return ngx_http_mesh_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "mesh feed: too many clients");
    }

    fc = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_feed_client_t));
    if (fc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mesh_feed_args(r, &fc->filter, err) != NGX_OK) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fc->ws = ws;

    if (ngx_http_mesh_feed_join(r, fc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_feed_start(r, fc, accept);
}


/* the client joins this worker's list; its cleanup takes it out */

static ngx_int_t
ngx_http_mesh_feed_join(ngx_http_request_t *r, ngx_http_mesh_feed_client_t *fc)
{
    ngx_http_cleanup_t      *cln;
    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    fc->request = r;

    fc->timer.handler = ngx_http_mesh_feed_timer_handler;
    fc->timer.data = fc;
    fc->timer.log = r->connection->log;

    if (w->feed_clients.next == NULL) {
        ngx_queue_init(&w->feed_clients);
    }

    ngx_queue_insert_tail(&w->feed_clients, &fc->queue);
    w->nfeed++;
    ngx_http_mesh_feed_gauge();

    cln->handler = ngx_http_mesh_feed_cleanup;
    cln->data = fc;

    return NGX_OK;
}


/*
 * A gRPC Watch call (the request message read, the API key checked): the
 * third kind of client.  Its stream goes through nginx's HTTP/2 output, so
 * what HTTP/2 flow control holds back counts against mesh_feed_buffer.
 * NGX_DONE: the call runs; NGX_DECLINED: a bad filter (err says why);
 * NGX_BUSY: mesh_feed_max_clients reached.
 */

ngx_int_t
ngx_http_mesh_feed_grpc(ngx_http_request_t *r, ngx_str_t *only,
    size_t nonly, char *err)
{
    size_t                        i;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_main_conf_t    *mmcf;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (w->nfeed >= mmcf->feed_max_clients) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mesh feed: %ui clients, the limit of this worker "
                      "(mesh_feed_max_clients)", w->nfeed);
        return NGX_BUSY;
    }

    fc = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_feed_client_t));
    if (fc == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < nonly; i++) {
        if (only[i].len == 0 || ngx_strlchr(only[i].data,
                                            only[i].data + only[i].len, ',')
            || ngx_http_mesh_feed_filter_list(&fc->filter,
                                              NGX_HTTP_MESH_FEED_ONLY,
                                              (const char *) only[i].data,
                                              only[i].len, err)
               != 0)
        {
            if (only[i].len == 0 || err[0] == '\0') {
                ngx_cpystrn((u_char *) err, (u_char *) "only: an event "
                            "kind is empty or has a comma",
                            NGX_HTTP_MESH_ERR_LEN);
            }

            return NGX_DECLINED;
        }
    }

    fc->grpc = 1;

    if (ngx_http_mesh_feed_join(r, fc) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mesh_grpc_watch_header(r) != NGX_OK) {
        return NGX_ERROR;
    }

    r->read_event_handler = ngx_http_mesh_feed_grpc_read_handler;
    r->write_event_handler = ngx_http_mesh_feed_write_handler;

    ngx_http_mesh_feed_listen(r->connection->log);

    if (ngx_http_mesh_redis_listening()
        || ngx_http_mesh_redis_commands() == NULL)
    {
        ngx_http_mesh_feed_snapshot(fc);

    } else {
        ngx_add_timer(&fc->timer, NGX_HTTP_MESH_FEED_SNAPSHOT_WAIT);
    }

    return NGX_DONE;
}


/* a Watch client says nothing more: a cancel (RST_STREAM) ends it */

static void
ngx_http_mesh_feed_grpc_read_handler(ngx_http_request_t *r)
{
    ngx_http_mesh_feed_client_t  *fc;

    fc = ngx_http_mesh_feed_client(r);

    if (fc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
        return;
    }

    if (r->connection->error) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mesh feed: grpc client cancelled");
        ngx_http_mesh_feed_finish(fc);
    }
}


/*
 * NGX_DECLINED: the request may have the feed, *ws says over which
 * protocol; anything else: it was refused, and that is the handler's rc.
 */

static ngx_int_t
ngx_http_mesh_feed_check(ngx_http_request_t *r, ngx_uint_t *ws,
    u_char *accept)
{
    ngx_table_elt_t  *h, *key, *version;

    if (r->method != NGX_HTTP_GET) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "mesh feed: only GET");
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* no RFC 8441 in this nginx, and the feed writes to its socket */
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "mesh feed: HTTP/2 is not supported, use HTTP/1.1");
    }
#endif

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "mesh feed: a request body is not "
                                        "accepted");
    }

    h = r->headers_in.upgrade;

    if (h == NULL) {
        *ws = 0;

        h = ngx_http_mesh_feed_header(r, "Accept", NULL);

        if (h == NULL
            || ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                                ngx_http_mesh_feed_sse_type.data,
                                ngx_http_mesh_feed_sse_type.len - 1)
               == NULL)
        {
            return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                       "mesh feed: ask for a WebSocket upgrade or send "
                       "\"Accept: text/event-stream\"");
        }

        return NGX_DECLINED;
    }

    *ws = 1;

    if (!ngx_http_mesh_feed_has_token(&h->value, "websocket")) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "mesh feed: only \"Upgrade: websocket\" is supported");
    }

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "mesh feed: a WebSocket upgrade needs HTTP/1.1");
    }

    if (ngx_http_mesh_feed_header(r, "Connection", "upgrade") == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "mesh feed: a WebSocket upgrade needs "
                   "\"Connection: Upgrade\"");
    }

    version = ngx_http_mesh_feed_header(r, "Sec-WebSocket-Version", NULL);

    if (version == NULL || version->value.len != 2
        || ngx_strncmp(version->value.data, "13", 2) != 0)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Sec-WebSocket-Version");
        ngx_str_set(&h->value, "13");

        /* nginx has no reason phrase of its own for 426 */
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");

        return ngx_http_mesh_send_error(r, NGX_HTTP_MESH_UPGRADE_REQUIRED,
                   "mesh feed: WebSocket version 13 only");
    }

    key = ngx_http_mesh_feed_header(r, "Sec-WebSocket-Key", NULL);

    if (key == NULL || ngx_http_mesh_ws_accept(&key->value, accept) != NGX_OK)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "mesh feed: \"Sec-WebSocket-Key\" must be 16 bytes in "
                   "base64");
    }

    return NGX_DECLINED;
}


/*
 * The one header of that name (NULL if repeated: two keys are refused), or
 * with a token, the first of those headers that holds it (Connection).
 */

static ngx_table_elt_t *
ngx_http_mesh_feed_header(ngx_http_request_t *r, const char *name,
    const char *token)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(name);
    found = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            if (token) {
                if (ngx_http_mesh_feed_has_token(&h[i].value, token)) {
                    return &h[i];
                }

                continue;
            }

            if (found) {
                return NULL;
            }

            found = &h[i];
        }
    }

    return found;
}


/* a comma-separated header value holds token, in any case */

static ngx_uint_t
ngx_http_mesh_feed_has_token(ngx_str_t *value, const char *token)
{
    size_t   len;
    u_char  *p, *last, *start, *end;

    len = ngx_strlen(token);
    p = value->data;
    last = p + value->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_mesh_feed_args(ngx_http_request_t *r,
    ngx_http_mesh_feed_filter_t *filter, char *err)
{
    u_char      *dst, *src;
    ngx_str_t    value;
    ngx_uint_t   i;

    static const char  *names[2] = { "only", "exclude" };

    for (i = 0; i < 2; i++) {
        if (ngx_http_arg(r, (u_char *) names[i], ngx_strlen(names[i]), &value)
            != NGX_OK)
        {
            continue;
        }

        dst = ngx_pnalloc(r->pool, value.len + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        src = value.data;
        value.data = dst;
        ngx_unescape_uri(&dst, &src, value.len, 0);
        value.len = dst - value.data;

        if (ngx_http_mesh_feed_filter_list(filter, (int) i,
                                           (const char *) value.data,
                                           value.len, err)
            != 0)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_feed_start(ngx_http_request_t *r,
    ngx_http_mesh_feed_client_t *fc, u_char *accept)
{
    size_t             n;
    ngx_int_t          rc;
    ngx_table_elt_t   *h;
    ngx_connection_t  *c;

    c = r->connection;

    if (fc->ws) {
        r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
        ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Upgrade");
        ngx_str_set(&h->value, "websocket");

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Sec-WebSocket-Accept");
        h->value.data = ngx_pnalloc(r->pool, NGX_HTTP_MESH_WS_ACCEPT_LEN);

        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(h->value.data, accept, NGX_HTTP_MESH_WS_ACCEPT_LEN);
        h->value.len = NGX_HTTP_MESH_WS_ACCEPT_LEN;

    } else {
        r->headers_out.status = NGX_HTTP_OK;
        r->headers_out.content_type = ngx_http_mesh_feed_sse_type;
        r->headers_out.content_type_len = ngx_http_mesh_feed_sse_type.len;
        r->headers_out.content_type_lowcase = NULL;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Cache-Control");
        ngx_str_set(&h->value, "no-cache");
    }

    /* the stream is written here, delimited by the connection's close */

    r->headers_out.content_length_n = -1;
    r->keepalive = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->main->count++;
    r->read_event_handler = ngx_http_mesh_feed_read_handler;
    r->write_event_handler = ngx_http_mesh_feed_write_handler;

    /* bytes read with the header belong to the first frame */

    n = r->header_in->last - r->header_in->pos;

    if (fc->ws && n) {
        if (n > NGX_HTTP_MESH_FEED_MSG_MAX + NGX_HTTP_MESH_WS_HEADER_MAX) {
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_TOO_BIG,
                                    "frame too big");
            return NGX_DONE;
        }

        fc->in = ngx_palloc(r->pool, NGX_HTTP_MESH_FEED_MSG_MAX
                                     + NGX_HTTP_MESH_WS_HEADER_MAX);
        if (fc->in == NULL) {
            return NGX_ERROR;
        }

        fc->in_len = ngx_cpymem(fc->in, r->header_in->pos, n) - fc->in;
        r->header_in->pos = r->header_in->last;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "mesh feed: %s client, %ui in this worker",
                   fc->ws ? "websocket" : "sse", ngx_http_mesh_worker.nfeed);

    ngx_http_mesh_feed_listen(c->log);

    if (ngx_http_mesh_redis_listening()
        || ngx_http_mesh_redis_commands() == NULL)
    {
        ngx_http_mesh_feed_snapshot(fc);

    } else {
        ngx_add_timer(&fc->timer, NGX_HTTP_MESH_FEED_SNAPSHOT_WAIT);
    }

    if (fc->in_len) {
        (void) ngx_http_mesh_feed_frames(fc);
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_mesh_feed_cleanup(void *data)
{
    ngx_http_mesh_feed_client_t *fc = data;

    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    if (fc->timer.timer_set) {
        ngx_del_timer(&fc->timer);
    }

    ngx_queue_remove(&fc->queue);
    w->nfeed--;
    ngx_http_mesh_feed_gauge();

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, fc->timer.log, 0,
                   "mesh feed: client gone, %ui left", w->nfeed);

    if (w->nfeed == 0 && !w->feed_timer.timer_set) {
        /* the subscription goes once no client came back for a while */
        ngx_add_timer(&w->feed_timer, NGX_HTTP_MESH_FEED_LINGER);
    }
}


static void
ngx_http_mesh_feed_listen(ngx_log_t *log)
{
    ngx_http_mesh_worker_t        *w;
    ngx_http_mesh_redis_listen_t   listen;

    w = &ngx_http_mesh_worker;

    if (w->feed_timer.handler == NULL) {
        w->feed_timer.handler = ngx_http_mesh_feed_worker_timer;
        w->feed_timer.data = &w->timer_conn;
        w->feed_timer.log = ngx_cycle->log;
        w->feed_timer.cancelable = 1;
    }

    if (!w->feed_timer.timer_set) {
        ngx_add_timer(&w->feed_timer, NGX_HTTP_MESH_FEED_POLL);
    }

    listen.channels[0] = NGX_HTTP_MESH_EVENT_CHANNEL;
    listen.channels[1] = NGX_HTTP_MESH_TASK_CHANNEL;
    listen.nchannels = 2;
    listen.message = ngx_http_mesh_feed_on_message;
    listen.ready = ngx_http_mesh_feed_on_ready;
    listen.data = NULL;

    (void) ngx_http_mesh_redis_listen(&listen);
}


/*
 * While the worker has clients: notices that it is exiting (a reload or a
 * graceful stop) and says goodbye to them.  Without clients: drops the
 * subscription.
 */

static void
ngx_http_mesh_feed_worker_timer(ngx_event_t *ev)
{
    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    if (w->nfeed == 0) {
        ngx_http_mesh_redis_unlisten();
        return;
    }

    if (ngx_exiting || ngx_quit) {
        ngx_http_mesh_feed_going_away();

        if (w->nfeed == 0) {
            return;
        }
    }

    ngx_add_timer(ev, NGX_HTTP_MESH_FEED_POLL);
}


static void
ngx_http_mesh_feed_going_away(void)
{
    ngx_queue_t                  *q, *next;
    ngx_connection_t             *c;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;

    for (q = ngx_queue_head(&w->feed_clients);
         q != ngx_queue_sentinel(&w->feed_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        fc = ngx_queue_data(q, ngx_http_mesh_feed_client_t, queue);

        if (fc->closing) {
            continue;
        }

        c = fc->request->connection;

        ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_GOING_AWAY,
                                "server going away");
        ngx_http_run_posted_requests(c);
    }
}


void
ngx_http_mesh_feed_exit_worker(void)
{
    u_char                        frame[32], *last;
    ngx_queue_t                  *q;
    ngx_connection_t             *c;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;

    if (w->nfeed == 0) {
        return;
    }

    /*
     * A fast stop, or any stop without a master process (nginx exits at
     * once there, with no graceful phase): a last word to each client, if
     * its socket takes it now.
     */

    last = ngx_http_mesh_ws_close_frame(frame, NGX_HTTP_MESH_WS_GOING_AWAY,
                                        "server stopping");

    for (q = ngx_queue_head(&w->feed_clients);
         q != ngx_queue_sentinel(&w->feed_clients);
         q = ngx_queue_next(q))
    {
        fc = ngx_queue_data(q, ngx_http_mesh_feed_client_t, queue);
        c = fc->request->connection;

        if (fc->closing || fc->out_pos != fc->out_last
            || fc->request->out != NULL || c->error)
        {
            continue;
        }

        if (fc->ws) {
            (void) c->send(c, frame, last - frame);

        } else if (fc->grpc && fc->gbusy == NULL) {
            /* the trailers, through HTTP/2, which writes what it can now */
            fc->closing = 1;
            fc->glast = 1;

            (void) ngx_http_mesh_grpc_watch_end(fc->request,
                                                NGX_HTTP_MESH_GRPC_UNAVAILABLE,
                                                "server stopping");
        }
    }
}


/*
 * A message of mesh:events or mesh:tasks, as published, to every client
 * whose filter lets it pass.  Redis gives whole messages; a foreign one
 * that is not UTF-8 could not go in a text frame and is dropped.
 */

static void
ngx_http_mesh_feed_on_message(ngx_str_t *channel, ngx_str_t *msg, void *data)
{
    ngx_str_t                     name;
    ngx_queue_t                  *q, *next;
    ngx_connection_t             *c;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;

    if (w->nfeed == 0) {
        return;
    }

    if (!ngx_http_mesh_ws_utf8(msg->data, msg->len)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "mesh feed: a message on \"%V\" is not UTF-8, "
                      "dropped", channel);
        return;
    }

    ngx_http_mesh_feed_event_name(msg, &name);

    for (q = ngx_queue_head(&w->feed_clients);
         q != ngx_queue_sentinel(&w->feed_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        fc = ngx_queue_data(q, ngx_http_mesh_feed_client_t, queue);

        if (!fc->snapshot || fc->closing
            || !ngx_http_mesh_feed_filter_pass(&fc->filter,
                                               (const char *) name.data,
                                               name.len))
        {
            continue;
        }

        c = fc->request->connection;

        if (ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_TEXT, msg->data,
                                    msg->len, 0)
            == NGX_DECLINED)
        {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "mesh feed: client too slow, %uz bytes queued "
                          "(mesh_feed_buffer), closed",
                          fc->out_last - fc->out_pos);
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_POLICY,
                                    "too slow: mesh_feed_buffer full");

        } else if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
            ngx_http_mesh_feed_finish(fc);
        }

        ngx_http_run_posted_requests(c);
    }
}


/* the subscription is (again) in place: snapshots, fresh after an outage */

static void
ngx_http_mesh_feed_on_ready(void *data)
{
    ngx_queue_t                  *q, *next;
    ngx_connection_t             *c;
    ngx_http_mesh_worker_t       *w;
    ngx_http_mesh_feed_client_t  *fc;

    w = &ngx_http_mesh_worker;

    if (w->nfeed == 0) {
        return;
    }

    for (q = ngx_queue_head(&w->feed_clients);
         q != ngx_queue_sentinel(&w->feed_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        fc = ngx_queue_data(q, ngx_http_mesh_feed_client_t, queue);

        if (fc->closing) {
            continue;
        }

        c = fc->request->connection;

        ngx_http_mesh_feed_snapshot(fc);
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_mesh_feed_snapshot(ngx_http_mesh_feed_client_t *fc)
{
    ngx_str_t                   json;
    ngx_pool_t                 *pool;
    ngx_uint_t                  queued;
    ngx_connection_t           *c;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_main_conf_t  *mmcf;

    c = fc->request->connection;
    mmcf = ngx_http_get_module_main_conf(fc->request, ngx_http_mesh_module);

    /* a pool of its own: the request's would keep every snapshot */

    pool = ngx_create_pool(8192, c->log);
    if (pool == NULL) {
        goto failed;
    }

    if (ngx_http_mesh_event_start(&w, pool, "snapshot") != NGX_OK) {
        goto failed;
    }

    queued = 0;

    if (ngx_http_mesh_node_list_json(&w, ngx_http_mesh_zone_get(fc->request),
                                     pool, &queued)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_http_mesh_json_kint(&w, "queued", queued);
    ngx_http_mesh_json_key(&w, "pipelines");
    ngx_http_mesh_pipeline_list_json(&w, mmcf);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        goto failed;
    }

    /* the snapshot may be larger than the buffer: it is let through once */

    if (ngx_http_mesh_feed_reserve(fc, json.len + 16, 1) != NGX_OK
        || ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_TEXT, json.data,
                                   json.len, 1)
           != NGX_OK)
    {
        goto failed;
    }

    ngx_destroy_pool(pool);
    pool = NULL;

    fc->snapshot = 1;

    if (fc->timer.timer_set) {
        ngx_del_timer(&fc->timer);
    }

    ngx_add_timer(&fc->timer, mmcf->feed_ping_interval);

    if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
        ngx_http_mesh_feed_finish(fc);
    }

    return;

failed:

    if (pool) {
        ngx_destroy_pool(pool);
    }

    ngx_log_error(NGX_LOG_ERR, c->log, 0, "mesh feed: no snapshot: out of "
                  "memory");
    ngx_http_mesh_feed_finish(fc);
}


/*
 * Queues one message, framed for the client's protocol.  NGX_DECLINED:
 * it would pass mesh_feed_buffer (control messages may go a little past).
 */

static ngx_int_t
ngx_http_mesh_feed_send(ngx_http_mesh_feed_client_t *fc, ngx_uint_t opcode,
    u_char *data, size_t len, ngx_uint_t control)
{
    u_char      *p, *last;
    size_t       need, size;
    ngx_int_t    rc;
    ngx_str_t    name;
    ngx_uint_t   chunked;

    if (fc->grpc) {
        /* one Event message per event; HTTP/2 has its own pings */

        if (opcode != NGX_HTTP_MESH_WS_TEXT) {
            return NGX_OK;
        }

        ngx_http_mesh_feed_event_name(&(ngx_str_t) { len, data }, &name);

        rc = ngx_http_mesh_feed_reserve(fc,
                 ngx_http_mesh_grpc_event_size(&name, len), control);

        if (rc != NGX_OK) {
            return rc;
        }

        fc->out_last = ngx_http_mesh_grpc_event(fc->out + fc->out_last,
                                                &name, data, len)
                       - fc->out;
        return NGX_OK;
    }

    if (fc->ws) {
        need = NGX_HTTP_MESH_WS_HEADER_MAX + len;

    } else if (opcode == NGX_HTTP_MESH_WS_TEXT) {
        need = sizeof("data: \n\n") - 1 + len;

    } else if (opcode == NGX_HTTP_MESH_WS_PING) {
        need = sizeof(": ping\n\n") - 1;

    } else if (opcode == NGX_HTTP_MESH_WS_CLOSE && fc->request->chunked) {
        need = sizeof("0\r\n\r\n") - 1;

    } else {
        return NGX_OK;
    }

    /* HTTP/1.1 SSE is chunked (the header filter chose it): one chunk each */

    chunked = !fc->ws && fc->request->chunked
              && opcode != NGX_HTTP_MESH_WS_CLOSE;
    size = need;

    if (chunked) {
        need += NGX_OFF_T_LEN + 4;
    }

    rc = ngx_http_mesh_feed_reserve(fc, need, control);

    if (rc != NGX_OK) {
        return rc;
    }

    p = fc->out + fc->out_last;

    if (chunked) {
        p = ngx_sprintf(p, "%xz\r\n", size);
    }

    if (fc->ws) {
        p = ngx_http_mesh_ws_header(p, opcode, len);
        p = ngx_cpymem(p, data, len);

    } else if (opcode == NGX_HTTP_MESH_WS_PING) {
        p = ngx_cpymem(p, ": ping\n\n", sizeof(": ping\n\n") - 1);

    } else if (opcode == NGX_HTTP_MESH_WS_CLOSE) {
        p = ngx_cpymem(p, "0\r\n\r\n", sizeof("0\r\n\r\n") - 1);

    } else {
        /* a raw newline would end the event; in JSON it is only space */

        p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);

        for (last = data + len; data < last; data++) {
            *p++ = (*data == '\n' || *data == '\r') ? ' ' : *data;
        }

        *p++ = '\n';
        *p++ = '\n';
    }

    if (chunked) {
        *p++ = CR;
        *p++ = LF;
    }

    fc->out_last = p - fc->out;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_feed_reserve(ngx_http_mesh_feed_client_t *fc, size_t need,
    ngx_uint_t control)
{
    u_char                     *p;
    size_t                      queued, held, size, cap;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(fc->request, ngx_http_mesh_module);

    queued = fc->out_last - fc->out_pos;
    cap = mmcf->feed_buffer;

    /* what HTTP/2 holds for the client's window counts too */
    held = fc->gbusy ? (size_t) ngx_buf_size(fc->gbusy->buf) : 0;

    if (!control && held + queued + need > cap) {
        return NGX_DECLINED;
    }

    if (fc->out_last + need <= fc->out_size) {
        return NGX_OK;
    }

    if (queued + need <= fc->out_size) {
        ngx_memmove(fc->out, fc->out + fc->out_pos, queued);
        fc->out_pos = 0;
        fc->out_last = queued;
        return NGX_OK;
    }

    size = ngx_max(fc->out_size, NGX_HTTP_MESH_FEED_OUT_MIN);

    while (size < queued + need) {
        size *= 2;
    }

    if (!control) {
        size = ngx_min(size, cap + NGX_HTTP_MESH_FEED_HEADROOM);
    }

    p = ngx_palloc(fc->request->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (fc->out) {
        ngx_memcpy(p, fc->out + fc->out_pos, queued);
        ngx_pfree(fc->request->pool, fc->out);
    }

    fc->out = p;
    fc->out_size = size;
    fc->out_pos = 0;
    fc->out_last = queued;

    return NGX_OK;
}


/* NGX_OK: all written, NGX_AGAIN: the rest waits for the socket */

static ngx_int_t
ngx_http_mesh_feed_flush(ngx_http_mesh_feed_client_t *fc)
{
    ssize_t              n;
    ngx_http_request_t  *r;
    ngx_connection_t    *c;

    r = fc->request;
    c = r->connection;

    if (c->error) {
        return NGX_ERROR;
    }

    if (fc->grpc) {
        return ngx_http_mesh_feed_grpc_flush(fc);
    }

    /* the rest of the header, if the socket did not take it whole */

    if (r->out) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (r->out) {
            goto again;
        }
    }

    while (fc->out_pos < fc->out_last) {
        n = c->send(c, fc->out + fc->out_pos, fc->out_last - fc->out_pos);

        if (n == NGX_AGAIN) {
            goto again;
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        fc->out_pos += n;
    }

    fc->out_pos = 0;
    fc->out_last = 0;

    if (fc->out_size > NGX_HTTP_MESH_FEED_OUT_MIN) {
        /* a burst is over: an idle client keeps only a small buffer */
        ngx_pfree(r->pool, fc->out);
        fc->out = NULL;
        fc->out_size = 0;
    }

    if (fc->closing && (fc->peer_closed || !fc->ws)) {
        return NGX_ERROR;
    }

    return NGX_OK;

again:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * A Watch client's bytes go to HTTP/2 one buffer at a time: the next is
 * copied out of the output buffer only once the last has been sent, so
 * what the client's window holds back stays within mesh_feed_buffer.
 */

static ngx_int_t
ngx_http_mesh_feed_grpc_flush(ngx_http_mesh_feed_client_t *fc)
{
    size_t               len;
    ngx_buf_t           *b;
    ngx_int_t            rc;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = fc->request;
    cl = NULL;

    if (fc->gbusy == NULL && fc->out_pos < fc->out_last) {
        len = fc->out_last - fc->out_pos;

        cl = ngx_chain_get_free_buf(r->pool, &fc->gfree);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = cl->buf;

        if (b->start == NULL || (size_t) (b->end - b->start) < len) {
            if (b->start) {
                ngx_pfree(r->pool, b->start);
            }

            /* at least a page: a large allocation, which pfree returns */

            b->start = ngx_palloc(r->pool,
                                  ngx_max(len, NGX_HTTP_MESH_FEED_OUT_MIN));
            if (b->start == NULL) {
                return NGX_ERROR;
            }

            b->end = b->start + ngx_max(len, NGX_HTTP_MESH_FEED_OUT_MIN);
        }

        b->pos = b->start;
        b->last = ngx_cpymem(b->start, fc->out + fc->out_pos, len);
        b->temporary = 1;
        b->flush = 1;
        b->tag = (ngx_buf_tag_t) &ngx_http_mesh_feed_sse_type;
        cl->next = NULL;

        fc->out_pos = 0;
        fc->out_last = 0;
    }

    if (cl == NULL && fc->gbusy == NULL && r->out == NULL) {
        rc = NGX_OK;

    } else {
        rc = ngx_http_output_filter(r, cl);
        ngx_chain_update_chains(r->pool, &fc->gfree, &fc->gbusy, &cl,
                                (ngx_buf_tag_t) &ngx_http_mesh_feed_sse_type);
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (fc->gbusy || r->out) {
        return NGX_AGAIN;
    }

    if (fc->out_pos < fc->out_last) {
        /* more came while the last was in flight */
        return ngx_http_mesh_feed_grpc_flush(fc);
    }

    if (fc->closing) {
        if (!fc->glast) {
            fc->glast = 1;

            if (ngx_http_mesh_grpc_watch_end(r, fc->gcode, fc->greason)
                == NGX_AGAIN)
            {
                return NGX_AGAIN;
            }
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Our close: WebSocket clients get a close frame and a moment to answer
 * it; SSE clients get what is queued.  The timer bounds the wait.
 */

static void
ngx_http_mesh_feed_fail(ngx_http_mesh_feed_client_t *fc, ngx_uint_t code,
    const char *reason)
{
    u_char             frame[NGX_HTTP_MESH_WS_CONTROL_MAX + 8], *last;
    ngx_connection_t  *c;

    c = fc->request->connection;

    if (fc->closing) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "mesh feed: closing %ui \"%s\"", code, reason);

    fc->closing = 1;

    if (fc->grpc) {
        /* the trailers go once what is queued has gone */
        fc->gcode = (code == NGX_HTTP_MESH_WS_POLICY)
                    ? NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED
                    : NGX_HTTP_MESH_GRPC_UNAVAILABLE;
        fc->greason = reason;

        if (code == NGX_HTTP_MESH_WS_POLICY) {
            /* the trailers follow what HTTP/2 holds, not the backlog */
            fc->out_pos = 0;
            fc->out_last = 0;
        }

        /* a slow reader gets the time to read what is in flight */

        if (fc->timer.timer_set) {
            ngx_del_timer(&fc->timer);
        }

        ngx_add_timer(&fc->timer, NGX_HTTP_MESH_FEED_GRPC_CLOSE_WAIT);

        if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
            ngx_http_mesh_feed_finish(fc);
        }

        return;
    }

    /* WebSocket: the close frame; SSE over chunks: the last chunk */

    last = ngx_http_mesh_ws_close_frame(frame, code, reason);

    if (ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_CLOSE, frame + 2,
                                last - frame - 2, 1)
        != NGX_OK)
    {
        ngx_http_mesh_feed_finish(fc);
        return;
    }

    if (fc->timer.timer_set) {
        ngx_del_timer(&fc->timer);
    }

    ngx_add_timer(&fc->timer, NGX_HTTP_MESH_FEED_CLOSE_WAIT);

    if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
        ngx_http_mesh_feed_finish(fc);
    }
}


static void
ngx_http_mesh_feed_finish(ngx_http_mesh_feed_client_t *fc)
{
    if (fc->finished) {
        return;
    }

    fc->finished = 1;

    ngx_http_finalize_request(fc->request, NGX_HTTP_CLOSE);
}


/* the client of a request the feed took over, found by its cleanup */

static ngx_http_mesh_feed_client_t *
ngx_http_mesh_feed_client(ngx_http_request_t *r)
{
    ngx_http_cleanup_t  *cln;

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_mesh_feed_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static void
ngx_http_mesh_feed_write_handler(ngx_http_request_t *r)
{
    ngx_http_mesh_feed_client_t  *fc;

    fc = ngx_http_mesh_feed_client(r);

    if (fc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
        return;
    }

    if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
        ngx_http_mesh_feed_finish(fc);
    }
}


static void
ngx_http_mesh_feed_read_handler(ngx_http_request_t *r)
{
    u_char                        buf[512];
    size_t                        size;
    ssize_t                       n;
    ngx_connection_t             *c;
    ngx_http_mesh_feed_client_t  *fc;

    c = r->connection;
    fc = ngx_http_mesh_feed_client(r);

    if (fc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
        return;
    }

    size = NGX_HTTP_MESH_FEED_MSG_MAX + NGX_HTTP_MESH_WS_HEADER_MAX;

    for ( ;; ) {

        if (!fc->ws) {
            /* an SSE client has nothing to say: only its leaving counts */
            n = c->recv(c, buf, sizeof(buf));

        } else {
            if (fc->in == NULL) {
                fc->in = ngx_palloc(r->pool, size);
                if (fc->in == NULL) {
                    ngx_http_mesh_feed_finish(fc);
                    return;
                }
            }

            n = c->recv(c, fc->in + fc->in_len, size - fc->in_len);
        }

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "mesh feed: client closed the connection");
            ngx_http_mesh_feed_finish(fc);
            return;
        }

        if (!fc->ws) {
            continue;
        }

        fc->in_len += n;

        if (ngx_http_mesh_feed_frames(fc) != NGX_OK) {
            return;
        }
    }

    if (fc->in && fc->in_len == 0) {
        /* nothing arriving: no input buffer held for an idle client */
        ngx_pfree(r->pool, fc->in);
        fc->in = NULL;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_mesh_feed_finish(fc);
    }
}


/* every whole frame in the input buffer; NGX_OK: go on reading */

static ngx_int_t
ngx_http_mesh_feed_frames(ngx_http_mesh_feed_client_t *fc)
{
    u_char                    *p, *last;
    ngx_int_t                  rc;
    ngx_http_mesh_ws_frame_t   f;

    p = fc->in;
    last = fc->in + fc->in_len;

    for ( ;; ) {
        rc = ngx_http_mesh_ws_parse(p, last, NGX_HTTP_MESH_FEED_MSG_MAX, &f);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            /* nothing after a bad frame can be trusted to be a frame */
            fc->in_len = 0;

            if (!fc->closing) {
                ngx_log_error(NGX_LOG_INFO, fc->request->connection->log,
                              0, "mesh feed: %s, closing with %ui",
                              f.reason, f.error);
                ngx_http_mesh_feed_fail(fc, f.error, f.reason);
            }

            return fc->finished ? NGX_DONE : NGX_OK;
        }

        p += f.size;

        ngx_http_mesh_feed_frame(fc, &f);

        if (fc->finished) {
            fc->in_len = 0;
            return NGX_DONE;
        }
    }

    fc->in_len = last - p;

    if (p != fc->in && fc->in_len) {
        ngx_memmove(fc->in, p, fc->in_len);
    }

    return NGX_OK;
}


static void
ngx_http_mesh_feed_frame(ngx_http_mesh_feed_client_t *fc,
    ngx_http_mesh_ws_frame_t *f)
{
    u_char             *p;
    ngx_uint_t          code;
    ngx_connection_t   *c;
    ngx_http_request_t *r;

    r = fc->request;
    c = r->connection;

    fc->ping_sent = 0;

    if (fc->closing) {
        /* only the answer to our close matters now */
        if (f->opcode == NGX_HTTP_MESH_WS_CLOSE) {
            fc->peer_closed = 1;
            ngx_http_mesh_feed_finish(fc);
        }

        return;
    }

    if (ngx_current_msec - fc->rate_start >= 1000) {
        fc->rate_start = ngx_current_msec;
        fc->rate_n = 0;
    }

    if (++fc->rate_n > NGX_HTTP_MESH_FEED_RATE) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "mesh feed: more than %d client frames in a second, "
                      "closing with 1008", NGX_HTTP_MESH_FEED_RATE);
        ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_POLICY,
                                "too many messages");
        return;
    }

    switch (f->opcode) {

    case NGX_HTTP_MESH_WS_PING:
        if (ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_PONG, f->payload,
                                    f->len, 1)
            != NGX_OK)
        {
            ngx_http_mesh_feed_finish(fc);
            return;
        }

        break;

    case NGX_HTTP_MESH_WS_PONG:
        return;

    case NGX_HTTP_MESH_WS_CLOSE:
        fc->peer_closed = 1;

        if (ngx_http_mesh_ws_close_code(f->payload, f->len, &code) != NGX_OK)
        {
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_PROTOCOL,
                                    "bad close frame");
            return;
        }

        /* echo the code; flush() ends the connection once it is written */
        ngx_http_mesh_feed_fail(fc, code == NGX_HTTP_MESH_WS_NO_STATUS
                                    ? NGX_HTTP_MESH_WS_NORMAL : code, "");
        return;

    case NGX_HTTP_MESH_WS_CONT:
        if (!fc->fragmented) {
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_PROTOCOL,
                                    "continuation without a message");
            return;
        }

        if (fc->msg_len + f->len > NGX_HTTP_MESH_FEED_MSG_MAX) {
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_TOO_BIG,
                                    "message too big");
            return;
        }

        fc->msg_len = ngx_cpymem(fc->msg + fc->msg_len, f->payload, f->len)
                      - fc->msg;

        if (!f->fin) {
            return;
        }

        fc->fragmented = 0;
        p = fc->msg;
        fc->msg = NULL;

        ngx_http_mesh_feed_message(fc, fc->msg_opcode, p, fc->msg_len);
        ngx_pfree(r->pool, p);
        break;

    default: /* text, binary */
        if (fc->fragmented) {
            ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_PROTOCOL,
                                    "a new message inside a fragmented one");
            return;
        }

        if (f->fin) {
            ngx_http_mesh_feed_message(fc, f->opcode, f->payload, f->len);
            break;
        }

        fc->msg = ngx_palloc(r->pool, NGX_HTTP_MESH_FEED_MSG_MAX);
        if (fc->msg == NULL) {
            ngx_http_mesh_feed_finish(fc);
            return;
        }

        fc->fragmented = 1;
        fc->msg_opcode = f->opcode;
        fc->msg_len = ngx_cpymem(fc->msg, f->payload, f->len) - fc->msg;

        return;
    }

    if (!fc->closing && ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
        ngx_http_mesh_feed_finish(fc);
    }
}


/* a whole client message: a filter, {"only":[...]} or {"exclude":[...]} */

static void
ngx_http_mesh_feed_message(ngx_http_mesh_feed_client_t *fc,
    ngx_uint_t opcode, u_char *data, size_t len)
{
    char  err[NGX_HTTP_MESH_ERR_LEN];

    if (opcode != NGX_HTTP_MESH_WS_TEXT) {
        ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_BAD_DATA,
                                "binary messages are not accepted");
        return;
    }

    if (!ngx_http_mesh_ws_utf8(data, len)) {
        ngx_log_error(NGX_LOG_INFO, fc->request->connection->log, 0,
                      "mesh feed: a text message is not UTF-8, closing "
                      "with 1007");
        ngx_http_mesh_feed_fail(fc, NGX_HTTP_MESH_WS_BAD_UTF8,
                                "text is not UTF-8");
        return;
    }

    if (ngx_http_mesh_parse_feed_filter((const char *) data, len,
                                        &fc->filter, err)
        != 0)
    {
        ngx_http_mesh_feed_reply(fc, "error", err);
        return;
    }

    ngx_http_mesh_feed_reply(fc, "filter", NULL);
}


/* {"event":"filter",...} with the filter now in force, or an error */

static void
ngx_http_mesh_feed_reply(ngx_http_mesh_feed_client_t *fc, const char *kind,
    const char *error)
{
    ngx_str_t                   json, name;
    ngx_uint_t                  i, j;
    ngx_pool_t                 *pool;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_feed_list_t  *list;

    static const char  *keys[2] = { "only", "exclude" };

    pool = ngx_create_pool(4096, fc->request->connection->log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_mesh_event_start(&w, pool, kind) != NGX_OK) {
        goto done;
    }

    if (error) {
        ngx_http_mesh_json_kcstr(&w, "error", error);

    } else {
        for (i = 0; i < 2; i++) {
            list = &fc->filter.lists[i];

            if (!list->set) {
                continue;
            }

            ngx_http_mesh_json_key(&w, keys[i]);
            ngx_http_mesh_json_arr_start(&w);

            for (j = 0; j < list->n; j++) {
                name.data = (u_char *) list->names[j];
                name.len = ngx_strlen(list->names[j]);
                ngx_http_mesh_json_str(&w, &name);
            }

            ngx_http_mesh_json_arr_end(&w);
        }
    }

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) == NGX_OK
        && ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_TEXT, json.data,
                                   json.len, 1)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, fc->request->connection->log, 0,
                      "mesh feed: cannot queue a reply");
    }

done:

    ngx_destroy_pool(pool);
}


static void
ngx_http_mesh_feed_timer_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_mesh_main_conf_t    *mmcf;
    ngx_http_mesh_feed_client_t  *fc;

    fc = ev->data;
    r = fc->request;
    c = r->connection;
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (fc->closing) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "mesh feed: close wait over");
        ngx_http_mesh_feed_finish(fc);
        goto done;
    }

    if (!fc->snapshot) {
        /* Redis is away: the registry as this nginx knows it */
        ngx_http_mesh_feed_snapshot(fc);
        goto done;
    }

    if (fc->ws && fc->ping_sent) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "mesh feed: client did not answer a ping within %M ms,"
                      " closed", mmcf->feed_ping_interval);
        ngx_http_mesh_feed_finish(fc);
        goto done;
    }

    /* a ping to a WebSocket client, an SSE comment to the others */

    if (ngx_http_mesh_feed_send(fc, NGX_HTTP_MESH_WS_PING, NULL, 0, 1)
        != NGX_OK)
    {
        ngx_http_mesh_feed_finish(fc);
        goto done;
    }

    fc->ping_sent = fc->ws;

    ngx_add_timer(ev, mmcf->feed_ping_interval);

    if (ngx_http_mesh_feed_flush(fc) == NGX_ERROR) {
        ngx_http_mesh_feed_finish(fc);
    }

done:

    ngx_http_run_posted_requests(c);
}


/*
 * The name in the message's first "event" member, which the mesh's own
 * events put first; empty when there is none.
 */

static void
ngx_http_mesh_feed_event_name(ngx_str_t *msg, ngx_str_t *name)
{
    u_char  *p, *last, *start;

    name->len = 0;
    name->data = (u_char *) "";

    last = msg->data + msg->len;
    p = ngx_strlcasestrn(msg->data, last, (u_char *) "\"event\"",
                         sizeof("\"event\"") - 2);

    if (p == NULL) {
        return;
    }

    for (p += sizeof("\"event\"") - 1;
         p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r');
         p++)
    { /* void */ }

    if (p == last || *p++ != ':') {
        return;
    }

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    if (p == last || *p++ != '"') {
        return;
    }

    start = p;

    while (p < last && *p != '"' && *p != '\\') {
        p++;
    }

    if (p == last || *p != '"') {
        return;
    }

    name->data = start;
    name->len = p - start;
}
