/*
 * Threading: libmicrohttpd runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION).  A token delay is then a plain
 * blocking wait inside the content-reader callback, and that wait polls
 * the connection's own socket, so a client that hangs up mid-stream is
 * seen within the current token interval.  The alternative, one epoll
 * thread with MHD_suspend_connection/resume and a timer thread, needs
 * far more machinery for the same result.  Keep-alive connections keep
 * their thread, so a request costs a parse and a reply, not a thread
 * start: thousands of small requests a second on one core.
 */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_config.h"
#include "sim_fault.h"
#include "sim_http.h"
#include "sim_json.h"
#include "sim_openai.h"
#include "sim_slots.h"
#include "sim_time.h"
#include "sim_wait.h"

#define SIM_HEADER_MEMORY   (64 * 1024)
#define SIM_CONN_LIMIT      1000
#define SIM_IDLE_TIMEOUT_S  300
#define SIM_STACK_SIZE      (256 * 1024)
#define SIM_DRAIN_MAX       (4 * SIM_BODY_MAX)


static enum MHD_Result sim_access(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls);
static enum MHD_Result sim_begin(struct MHD_Connection *conn,
    const char *url, const char *method, void **con_cls);
static enum MHD_Result sim_body(sim_ctx_t *ctx, const char *data,
    size_t len);
static enum MHD_Result sim_dispatch(sim_ctx_t *ctx);
static void sim_completed(void *cls, struct MHD_Connection *conn,
    void **con_cls, enum MHD_RequestTerminationCode toe);
static void sim_mhd_log(void *cls, const char *fmt, va_list ap);
static unsigned sim_method_bit(const char *method);
static enum MHD_Result sim_reply_static(sim_ctx_t *ctx, unsigned status,
    const char *ctype, const char *text, const char *allow);


static struct MHD_Daemon  *sim_daemon;

static const sim_route_t  sim_routes[] = {
    { "/", "GET, HEAD", SIM_M_GET | SIM_M_HEAD, -1, 0, sim_api_root, 0 },
    { "/api/version", "GET, HEAD", SIM_M_GET | SIM_M_HEAD, -1, 0,
      sim_api_version, 0 },
    { "/api/tags", "GET, HEAD", SIM_M_GET | SIM_M_HEAD, -1, 0,
      sim_api_tags, 0 },
    { "/api/ps", "GET", SIM_M_GET, -1, 0, sim_api_ps, 0 },
    { "/api/show", "POST", SIM_M_POST, SIM_API_SHOW, 0, sim_api_show, 0 },
    { "/api/generate", "POST", SIM_M_POST, SIM_API_GENERATE, 0,
      sim_api_generate, 0 },
    { "/api/chat", "POST", SIM_M_POST, SIM_API_CHAT, 0, sim_api_chat, 0 },
    { "/api/embed", "POST", SIM_M_POST, SIM_API_EMBED, 0, sim_api_embed, 0 },
    { "/api/embeddings", "POST", SIM_M_POST, SIM_API_EMBEDDINGS, 0,
      sim_api_embeddings, 0 },
    { "/api/pull", "POST", SIM_M_POST, SIM_API_PULL, 0, sim_api_pull, 0 },
    { "/api/delete", "DELETE", SIM_M_DELETE, SIM_API_DELETE, 0,
      sim_api_delete, 0 },
    { "/v1/chat/completions", "POST", SIM_M_POST, -1, 0, sim_api_oa_chat,
      SIM_OA_CHAT },
    { "/v1/completions", "POST", SIM_M_POST, -1, 0, sim_api_oa_completions,
      SIM_OA_COMPLETIONS },
    { "/v1/embeddings", "POST", SIM_M_POST, -1, 0, sim_api_oa_embeddings,
      SIM_OA_EMBEDDINGS },
    { "/v1/models", "GET", SIM_M_GET, -1, 0, sim_api_oa_models,
      SIM_OA_MODELS },
    /* a prefix: /v1/models/:model */
    { "/v1/models/", "GET", SIM_M_GET, -1, 0, sim_api_oa_model,
      SIM_OA_MODEL },
    { "/_sim/stats", "GET", SIM_M_GET, -1, 1, sim_api_stats, 0 },
    { "/_sim/fault", "GET, POST", SIM_M_GET | SIM_M_POST, -1, 1,
      sim_api_fault, 0 },
    { NULL, NULL, 0, -1, 0, NULL, 0 }
};


int
sim_http_start(char *err, size_t errlen)
{
    unsigned  flags;

    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
            | MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC
            | MHD_USE_ERROR_LOG;

    sim_daemon = MHD_start_daemon(flags, 0, NULL, NULL, sim_access, NULL,
                     MHD_OPTION_NOTIFY_COMPLETED, sim_completed, NULL,
                     MHD_OPTION_CONNECTION_LIMIT, (unsigned) SIM_CONN_LIMIT,
                     MHD_OPTION_CONNECTION_TIMEOUT,
                     (unsigned) SIM_IDLE_TIMEOUT_S,
                     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                     (size_t) SIM_HEADER_MEMORY,
                     MHD_OPTION_THREAD_STACK_SIZE, (size_t) SIM_STACK_SIZE,
                     MHD_OPTION_EXTERNAL_LOGGER, sim_mhd_log, NULL,
                     MHD_OPTION_END);

    if (sim_daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP daemon");
        return -1;
    }

    return 0;
}


struct MHD_Daemon *
sim_http_daemon(void)
{
    return sim_daemon;
}


void
sim_http_stop(void)
{
    if (sim_daemon != NULL) {
        MHD_stop_daemon(sim_daemon);
        sim_daemon = NULL;
    }
}


static void
sim_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls;

    if (!sim_cfg.verbose) {
        return;
    }

    fputs("ollama-sim: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}


static unsigned
sim_method_bit(const char *method)
{
    if (strcmp(method, "GET") == 0) {
        return SIM_M_GET;
    }
    if (strcmp(method, "HEAD") == 0) {
        return SIM_M_HEAD;
    }
    if (strcmp(method, "POST") == 0) {
        return SIM_M_POST;
    }
    if (strcmp(method, "DELETE") == 0) {
        return SIM_M_DELETE;
    }
    return 0;
}


static enum MHD_Result
sim_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    sim_ctx_t  *ctx = *con_cls;
    size_t      len;

    (void) cls;
    (void) version;

    if (ctx == NULL) {
        return sim_begin(conn, url, method, con_cls);
    }

    if (*upload_data_size > 0) {
        len = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->replied) {
            return MHD_YES;
        }
        return sim_body(ctx, upload_data, len);
    }

    if (ctx->replied) {
        return MHD_YES;
    }

    return sim_dispatch(ctx);
}


/* First call for a request: the headers are in, the body is not. */
static enum MHD_Result
sim_begin(struct MHD_Connection *conn, const char *url, const char *method,
    void **con_cls)
{
    sim_ctx_t                        *ctx = NULL;
    const sim_route_t                *r = NULL;
    const union MHD_ConnectionInfo   *info = NULL;
    const char                       *clen = NULL, *expect = NULL;
    sim_fault_kind_t                  fault;
    int                               one = 1;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return MHD_NO;
    }

    ctx->conn = conn;
    ctx->fd = -1;
    ctx->t_start = sim_mono_ns();
    sim_request_init(&ctx->req);
    sim_buf_init(&ctx->raw);
    *con_cls = ctx;

    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != NULL) {
        ctx->fd = info->connect_fd;
    }

    for (r = sim_routes; r->path != NULL; r++) {
        if (strcmp(r->path, url) == 0) {
            break;
        }

        if (r->openai == SIM_OA_MODEL
            && strncmp(url, r->path, strlen(r->path)) == 0
            && strlen(url + strlen(r->path)) <= SIM_NAME_MAX
            && strchr(url + strlen(r->path), '/') == NULL)
        {
            snprintf(ctx->oa.model, sizeof(ctx->oa.model), "%s",
                     url + strlen(r->path));
            break;
        }
    }

    ctx->oa.kind = r->openai;

    if (r->path == NULL || !r->internal) {
        sim_stats_add(SIM_STAT_REQUESTS);

        fault = sim_fault_kind();
        if (fault == SIM_FAULT_REFUSE) {
            return MHD_NO;
        }
        if (fault == SIM_FAULT_HANG) {
            sim_wait_ms(ctx->fd, -1);
            return MHD_NO;
        }
    }

    ctx->route = r;
    ctx->method = sim_method_bit(method);

    /*
     * Too big by its Content-Length: a client waiting for "100 Continue"
     * gets the 413 now; any other is already sending, would not read a
     * reply before it is done, so the body is drained (see sim_body).
     */
    clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen != NULL && strtoull(clen, NULL, 10) > SIM_BODY_MAX) {
        ctx->too_large = 1;
        expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                             MHD_HTTP_HEADER_EXPECT);
        if ((expect != NULL && strcasestr(expect, "100-continue") != NULL)
            || strtoull(clen, NULL, 10) > SIM_DRAIN_MAX)
        {
            return sim_reply_error(ctx, MHD_HTTP_CONTENT_TOO_LARGE,
                                   "http: request body too large");
        }
    }

    /* answered once the request is read, so keep-alive survives */
    if (r->path == NULL || (r->methods & ctx->method) == 0) {
        return MHD_YES;
    }

    /*
     * A client that writes headers and body separately (HTTP::Tiny,
     * Nagle on) holds the body until the headers are acknowledged, and
     * Linux delays that ACK by 40 ms: acknowledge now.
     */
    if (ctx->fd >= 0 && r->api >= 0) {
        setsockopt(ctx->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }

    if (r->api >= 0 && !ctx->too_large) {
        ctx->parser = sim_parser_new((sim_api_t) r->api, &ctx->req);
        if (ctx->parser == NULL
            || (clen != NULL
                && sim_buf_reserve(&ctx->raw, strtoull(clen, NULL, 10))
                   != 0))
        {
            return sim_reply_oom(ctx);
        }
    }

    return MHD_YES;
}


/*
 * MHD 0.9.75 cannot queue a reply while a body is still arriving, so a
 * body that grows too large (chunked: no Content-Length to check
 * first) is read and dropped, and answered 413 at its end; one that
 * goes on far beyond the limit just has its connection closed.
 */
static enum MHD_Result
sim_body(sim_ctx_t *ctx, const char *data, size_t len)
{
    ctx->body_len += len;

    if (ctx->body_len > SIM_BODY_MAX) {
        ctx->too_large = 1;
    }

    if (ctx->too_large) {
        return ctx->body_len > SIM_DRAIN_MAX ? MHD_NO : MHD_YES;
    }

    if (ctx->parser == NULL && !ctx->route->internal
        && !ctx->route->openai)
    {
        return MHD_YES;
    }

    if (ctx->parser == NULL && !ctx->route->openai
        && ctx->raw.len + len > SIM_RAW_BODY_MAX)
    {
        ctx->too_large = 1;
        return MHD_YES;
    }

    /* the JSON is parsed in one go at the end: yajl scans a token that
     * spans several chunks again from its start on every chunk */
    if (sim_buf_add(&ctx->raw, data, len) != 0) {
        ctx->replied = 1;
        return MHD_NO;
    }

    return MHD_YES;
}


/* The whole request is in. */
static enum MHD_Result
sim_dispatch(sim_ctx_t *ctx)
{
    const sim_route_t  *r = ctx->route;

    if (ctx->too_large) {
        return sim_reply_error(ctx, MHD_HTTP_CONTENT_TOO_LARGE,
                               "http: request body too large");
    }

    /* gin, which Ollama uses, answers these in plain text */
    if (r->path == NULL) {
        return sim_reply_static(ctx, MHD_HTTP_NOT_FOUND, SIM_CT_TEXT,
                                "404 page not found", NULL);
    }

    if ((r->methods & ctx->method) == 0) {
        return sim_reply_static(ctx, MHD_HTTP_METHOD_NOT_ALLOWED, SIM_CT_TEXT,
                                "405 method not allowed", r->allow);
    }

    if (!ctx->route->internal && sim_fault_kind() == SIM_FAULT_500) {
        return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               SIM_ERR_MODEL);
    }

    if (ctx->parser != NULL
        && (sim_parser_feed(ctx->parser,
                            ctx->raw.data != NULL ? ctx->raw.data : "",
                            ctx->raw.len) != 0
            || sim_parser_finish(ctx->parser) != 0))
    {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "%s",
                               sim_parser_error(ctx->parser));
    }

    return ctx->route->handler(ctx);
}


static void
sim_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    sim_ctx_t  *ctx = *con_cls;

    (void) cls;
    (void) conn;

    if (ctx == NULL) {
        return;
    }

    if (ctx->uses_model) {
        sim_models_release(ctx->used_model, 0);
    }

    if (ctx->holds_slot) {
        sim_slot_release();
    }

    if (ctx->counted) {
        if (ctx->outcome == SIM_OUT_OK
            && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        {
            sim_stats_add(SIM_STAT_COMPLETED);
        } else if (ctx->outcome == SIM_OUT_FAILED) {
            sim_stats_add(SIM_STAT_FAILED);
        } else {
            sim_stats_add(SIM_STAT_CANCELLED);
        }
    }

    sim_gen_free(ctx->gen);
    sim_parser_free(ctx->parser);
    sim_request_free(&ctx->req);
    sim_buf_free(&ctx->raw);
    free(ctx);
    *con_cls = NULL;
}


/*
 * Takes a generation slot, waiting in the queue if need be.  Returns 0
 * when the slot is ours; otherwise *res is what the handler returns.
 */
int
sim_ctx_acquire(sim_ctx_t *ctx, enum MHD_Result *res)
{
    switch (sim_slot_acquire(ctx->fd)) {
    case SIM_SLOT_OK:
        ctx->holds_slot = 1;
        ctx->counted = 1;
        return 0;
    case SIM_SLOT_BUSY:
        *res = sim_reply_error(ctx, MHD_HTTP_SERVICE_UNAVAILABLE, "%s",
                               SIM_ERR_BUSY);
        return -1;
    default:
        *res = MHD_NO;
        return -1;
    }
}


/* {"model":...,"created_at":... : how every generation object starts */
void
sim_json_head(sim_buf_t *b, const char *model, size_t mlen)
{
    sim_buf_addc(b, '{');
    sim_json_kstr(b, "model", model, mlen);
    sim_json_ktime(b, "created_at", sim_real_ns());
}


enum MHD_Result
sim_reply_buf(sim_ctx_t *ctx, unsigned status, const char *ctype,
    sim_buf_t *body)
{
    struct MHD_Response  *resp = NULL;
    enum MHD_Result       ret;
    char                 *data = NULL;
    size_t                len = 0;

    data = sim_buf_detach(body, &len);
    if (data == NULL) {
        return sim_reply_oom(ctx);
    }

    resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(data);
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    ret = MHD_queue_response(ctx->conn, status, resp);
    MHD_destroy_response(resp);
    ctx->replied = 1;
    return ret;
}


static enum MHD_Result
sim_reply_static(sim_ctx_t *ctx, unsigned status, const char *ctype,
    const char *text, const char *allow)
{
    struct MHD_Response  *resp = NULL;
    enum MHD_Result       ret;

    resp = MHD_create_response_from_buffer(strlen(text), (void *) text,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }

    ret = MHD_queue_response(ctx->conn, status, resp);
    MHD_destroy_response(resp);
    ctx->replied = 1;
    return ret;
}


enum MHD_Result
sim_reply_text(sim_ctx_t *ctx, unsigned status, const char *ctype,
    const char *text)
{
    return sim_reply_static(ctx, status, ctype, text, NULL);
}


enum MHD_Result
sim_reply_oom(sim_ctx_t *ctx)
{
    return sim_reply_static(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            SIM_CT_JSON, "{\"error\":\"out of memory\"}",
                            NULL);
}


/* {"error":"..."}, the shape of every Ollama error. */
enum MHD_Result
sim_reply_error(sim_ctx_t *ctx, unsigned status, const char *fmt, ...)
{
    sim_buf_t  b;
    va_list    ap;
    char       msg[1024];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    sim_buf_init(&b);

    if (ctx->oa.kind != SIM_OA_NONE) {
        /* the middleware's writeError: json.Encoder, hence the newline */
        sim_oa_error_body(&b, status, msg);
        sim_buf_addc(&b, '\n');
        return sim_reply_buf(ctx, status, SIM_CT_JSON, &b);
    }

    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "error", msg);
    sim_buf_addc(&b, '}');

    return sim_reply_buf(ctx, status, SIM_CT_JSON, &b);
}
