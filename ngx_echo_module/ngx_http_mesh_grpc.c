
/*
 * The gRPC door (mesh_grpc): the echo.mesh.Mesh service of proto/mesh.proto
 * on an HTTP/2 listener.
 *
 * RunTask and RunPipeline are a thin translation onto pipelines: RunTask is
 * a one-step pipeline whose prompt is {{input}}.  Each step is a
 * subrequest to the location mesh_grpc names (mesh_route task +
 * proxy_pass), so it is routed, queued, dispatched and retried as every
 * task is.  The body filter here sits under the pipeline and task filters
 * and turns the NDJSON lines they write (the step lines, Ollama's token
 * lines, the pipeline's last line) into length-prefixed messages, and the
 * pipeline's last line into the trailers.
 *
 * The response header is held until the first message, so a call that
 * fails before any (no node, queue timeout, nginx's own 413) ends as
 * Trailers-Only: one HEADERS frame with grpc-status, END_STREAM.
 *
 * Flow control: the buffers of a step's reply stay unconsumed until the
 * messages made of them are sent, so with the HTTP/2 window full the
 * upstream's buffer fills and nginx stops reading from the node.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_grpc_codec.h"
#include "ngx_http_mesh_pipeline.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_keys.h"

#include <protobuf-c/protobuf-c.h>
#include "mesh.pb-c.h"


#define NGX_HTTP_MESH_GRPC_RUN_TASK      1
#define NGX_HTTP_MESH_GRPC_RUN_PIPELINE  2
#define NGX_HTTP_MESH_GRPC_LIST_NODES    3
#define NGX_HTTP_MESH_GRPC_WATCH         4

#define NGX_HTTP_MESH_GRPC_LINE_MIN      4096
#define NGX_HTTP_MESH_GRPC_BUF_MIN       256
#define NGX_HTTP_MESH_GRPC_MSG_MAX       NGX_HTTP_MESH_BODY_MAX


typedef struct {
    ngx_http_request_t           *request;
    ngx_uint_t                    method;
    ngx_msec_t                    timeout;       /* grpc-timeout; 0: none */
    ngx_event_t                   deadline;
    u_char                       *line;          /* a line cut between reads */
    size_t                        line_len;
    size_t                        line_size;
    size_t                        line_max;
    u_char                       *scratch;       /* one line's strings */
    size_t                        scratch_used;
    size_t                        scratch_size;
    ngx_chain_t                  *free;
    ngx_chain_t                  *busy;
    ngx_chain_t                  *held;          /* a step's, unconsumed */
    ngx_uint_t                    step;
    ngx_int_t                     status;        /* -1: not known yet */
    ngx_str_t                     message;
    ngx_int_t                     early;         /* answered once read */
    const char                   *early_message;
    unsigned                      held_header:1; /* the pipeline's, held */
    unsigned                      header_out:1;  /* sent to the client */
    unsigned                      passing:1;     /* our own header */
    unsigned                      ended:1;       /* trailers are out */
} ngx_http_mesh_grpc_ctx_t;


static void ngx_http_mesh_grpc_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_grpc_start(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, ProtobufCAllocator *pa, u_char *msg,
    size_t len);
static ngx_int_t ngx_http_mesh_grpc_run_task(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, Echo__Mesh__TaskRequest *tr);
static ngx_int_t ngx_http_mesh_grpc_run_pipeline(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, Echo__Mesh__PipelineRequest *pr);
static ngx_int_t ngx_http_mesh_grpc_run(ngx_http_request_t *r,
    ngx_str_t *name, ngx_http_mesh_step_t *steps, ngx_uint_t nsteps,
    ngx_http_mesh_pipeline_req_t *req);
static ngx_int_t ngx_http_mesh_grpc_images(ngx_http_request_t *r,
    ProtobufCBinaryData *in, size_t n, ngx_http_mesh_pipeline_req_t *req);
static ngx_int_t ngx_http_mesh_grpc_options(ngx_http_request_t *r,
    Echo__Mesh__TaskRequest *tr, ngx_http_mesh_step_t *step);
static ngx_int_t ngx_http_mesh_grpc_list_nodes(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g);
static ngx_int_t ngx_http_mesh_grpc_watch(ngx_http_request_t *r,
    Echo__Mesh__WatchRequest *wr);
static u_char *ngx_http_mesh_grpc_field(u_char *p, ngx_uint_t tag,
    u_char *data, size_t len);
static ngx_int_t ngx_http_mesh_grpc_unary(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, const ProtobufCMessage *m);
static ngx_int_t ngx_http_mesh_grpc_status(ngx_http_request_t *r,
    ngx_int_t code, const char *message);
static ngx_int_t ngx_http_mesh_grpc_set_status(ngx_http_request_t *r,
    ngx_list_t *list, ngx_int_t code, ngx_str_t *message);
static void ngx_http_mesh_grpc_grpc_header(ngx_http_request_t *r);
static void ngx_http_mesh_grpc_deadline(ngx_event_t *ev);
static void ngx_http_mesh_grpc_cleanup(void *data);
static ngx_http_mesh_grpc_ctx_t *ngx_http_mesh_grpc_of(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_grpc_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_grpc_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mesh_grpc_feed(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, u_char *p, u_char *last,
    ngx_chain_t ***ll);
static ngx_int_t ngx_http_mesh_grpc_one_line(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, u_char *p, size_t len, ngx_chain_t ***ll);
static ngx_int_t ngx_http_mesh_grpc_translate(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, ngx_http_mesh_grpc_line_t *l,
    ngx_chain_t ***ll);
static ngx_int_t ngx_http_mesh_grpc_end(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, ngx_int_t code, ngx_str_t *message);
static ngx_int_t ngx_http_mesh_grpc_message(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, const ProtobufCMessage *m,
    ngx_chain_t ***ll);
static ngx_int_t ngx_http_mesh_grpc_last(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, ngx_chain_t ***ll);
static void *ngx_http_mesh_grpc_scratch(void *data, size_t size);
static void *ngx_http_mesh_grpc_pb_alloc(void *data, size_t size);
static void ngx_http_mesh_grpc_pb_free(void *data, void *p);
static char *ngx_http_mesh_grpc_str(ngx_http_request_t *r,
    ngx_http_mesh_span_t *s);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_mesh_grpc_type = ngx_string("application/grpc");
static ngx_str_t  ngx_http_mesh_grpc_input = ngx_string("{{input}}");


static const struct {
    ngx_str_t                     name;
    ngx_uint_t                    method;
} ngx_http_mesh_grpc_methods[] = {
    { ngx_string("/echo.mesh.Mesh/RunTask"), NGX_HTTP_MESH_GRPC_RUN_TASK },
    { ngx_string("/echo.mesh.Mesh/RunPipeline"),
      NGX_HTTP_MESH_GRPC_RUN_PIPELINE },
    { ngx_string("/echo.mesh.Mesh/ListNodes"),
      NGX_HTTP_MESH_GRPC_LIST_NODES },
    { ngx_string("/echo.mesh.Mesh/Watch"), NGX_HTTP_MESH_GRPC_WATCH },
    { ngx_null_string, 0 }
};


/* proto/mesh.proto's TaskType, by number: the module's type */
static const ngx_uint_t  ngx_http_mesh_grpc_types[] = {
    NGX_HTTP_MESH_TYPE_UNKNOWN, NGX_HTTP_MESH_TYPE_TEXT,
    NGX_HTTP_MESH_TYPE_CODE, NGX_HTTP_MESH_TYPE_VISION,
    NGX_HTTP_MESH_TYPE_SUMMARIZE
};


ngx_int_t
ngx_http_mesh_grpc_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mesh_grpc_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mesh_grpc_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_mesh_grpc_handler(ngx_http_request_t *r)
{
    size_t                     n;
    uint64_t                   ms;
    ngx_int_t                  rc;
    ngx_str_t                  key_name;
    ngx_uint_t                 i;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_grpc_ctx_t  *g;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (r->stream == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "gRPC is served on the HTTP/2 port (listen ... http2)");
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "gRPC calls are POST");
    }

    /* not gRPC at all: HTTP's answer, as the gRPC spec says */

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len < ngx_http_mesh_grpc_type.len
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           ngx_http_mesh_grpc_type.data,
                           ngx_http_mesh_grpc_type.len) != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   "content-type must be application/grpc");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_ctx_t));
    g = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_grpc_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || g == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the deadline's timer goes with the request, however it ends */

    cln->handler = ngx_http_mesh_grpc_cleanup;
    cln->data = g;

    ctx->request = r;
    ctx->node = -1;
    ctx->last_node = -1;
    ctx->grpc = g;
    ngx_http_set_ctx(r, ctx, ngx_http_mesh_module);

    g->request = r;
    g->status = -1;

    for (i = 0; ngx_http_mesh_grpc_methods[i].method; i++) {
        n = ngx_http_mesh_grpc_methods[i].name.len;

        if (r->uri.len >= n
            && ngx_strncmp(r->uri.data + r->uri.len - n,
                           ngx_http_mesh_grpc_methods[i].name.data, n) == 0)
        {
            g->method = ngx_http_mesh_grpc_methods[i].method;
            break;
        }
    }

    /*
     * Errors known from the header alone are answered once the body is
     * read: an answer while the client still sends makes nginx reset the
     * stream, and a client may drop the answer with it.
     */

    if (g->method == 0) {
        g->early = NGX_HTTP_MESH_GRPC_UNIMPLEMENTED;
        g->early_message = "unknown method: echo.mesh.Mesh serves RunTask, "
                           "RunPipeline, ListNodes and Watch";
    }

    /* metadata the door reads: grpc-timeout (the API key, below) */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("grpc-timeout") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "grpc-timeout",
                               sizeof("grpc-timeout") - 1) == 0)
        {
            if (ngx_http_mesh_grpc_timeout((char *) h[i].value.data,
                                           h[i].value.len, &ms) != 0)
            {
                g->early = NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT;
                g->early_message = "grpc-timeout is malformed";
                continue;
            }

            /* at least 1 ms; nginx timers hold a little over 24 days */
            g->timeout = (ngx_msec_t) ngx_max(ngx_min(ms, 0x7fffffffULL), 1);
        }
    }

    /* the key is the "authorization" or "x-api-key" metadata */

    switch (ngx_http_mesh_api_key_check(r, &key_name)) {

    case NGX_OK:
    case NGX_DECLINED:
        break;

    case NGX_HTTP_UNAUTHORIZED:
        ngx_http_mesh_api_key_refused(r, NGX_HTTP_MESH_DOOR_GRPC);
        return ngx_http_mesh_grpc_unauthenticated(r,
                   "a valid API key is required (authorization: Bearer "
                   "KEY, or x-api-key)");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_mesh_grpc_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Trailers-Only UNAUTHENTICATED, for the API key check in the handler:
 * returns what the handler returns.
 */

ngx_int_t
ngx_http_mesh_grpc_unauthenticated(ngx_http_request_t *r, const char *why)
{
    ngx_int_t                  rc;
    ngx_http_mesh_grpc_ctx_t  *g;

    g = ngx_http_mesh_grpc_of(r);

    if (g == NULL) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    /* answered once the body is read, as every early error */

    g->early = NGX_HTTP_MESH_GRPC_UNAUTHENTICATED;
    g->early_message = why;

    rc = ngx_http_read_client_request_body(r, ngx_http_mesh_grpc_body);

    return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
}


static void
ngx_http_mesh_grpc_body(ngx_http_request_t *r)
{
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    const u_char              *msg;
    ProtobufCAllocator         pa;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_grpc_ctx_t  *g;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);
    g = ctx->grpc;

    if (g->early_message) {
        rc = ngx_http_mesh_grpc_status(r, g->early, g->early_message);
        goto done;
    }

    rc = ngx_http_mesh_read_json_body(r, NGX_HTTP_MESH_GRPC_MSG_MAX, &body);

    if (rc == NGX_HTTP_BAD_REQUEST) {
        rc = ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                                       "the call has no request message");
        goto done;
    }

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        rc = ngx_http_mesh_grpc_status(r,
                 NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED,
                 "the request message is too large");
        goto done;
    }

    if (rc != NGX_OK) {
        goto done;
    }

    switch (ngx_http_mesh_grpc_unframe(body.data, body.len,
                                       NGX_HTTP_MESH_GRPC_MSG_MAX, &msg, &len))
    {
    case NGX_HTTP_MESH_GRPC_FRAME_OK:
        break;

    case NGX_HTTP_MESH_GRPC_FRAME_COMPRESSED:
        rc = ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_UNIMPLEMENTED,
                 "compressed messages are not supported: "
                 "send grpc-encoding identity");
        goto done;

    case NGX_HTTP_MESH_GRPC_FRAME_LARGE:
        rc = ngx_http_mesh_grpc_status(r,
                 NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED,
                 "the request message is too large");
        goto done;

    default:
        rc = ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                 "the call must carry exactly one request message");
        goto done;
    }

    pa.alloc = ngx_http_mesh_grpc_pb_alloc;
    pa.free = ngx_http_mesh_grpc_pb_free;
    pa.allocator_data = r->pool;

    if (g->timeout) {
        g->deadline.handler = ngx_http_mesh_grpc_deadline;
        g->deadline.data = g;
        g->deadline.log = r->connection->log;
        ngx_add_timer(&g->deadline, g->timeout);
    }

    rc = ngx_http_mesh_grpc_start(r, g, &pa, (u_char *) msg, len);

done:

    /* a running pipeline finalizes the request itself, once, at its end */

    if (rc != NGX_DONE) {
        if (g->deadline.timer_set) {
            ngx_del_timer(&g->deadline);
        }

        ngx_http_finalize_request(r, rc);
    }
}


/* NGX_DONE once a pipeline runs, else the request's rc */

static ngx_int_t
ngx_http_mesh_grpc_start(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    ProtobufCAllocator *pa, u_char *msg, size_t len)
{
    Echo__Mesh__TaskRequest      *tr;
    Echo__Mesh__PipelineRequest  *pr;
    Echo__Mesh__WatchRequest     *wr;
    Echo__Mesh__ListNodesRequest *lr;

    switch (g->method) {

    case NGX_HTTP_MESH_GRPC_RUN_TASK:
        tr = echo__mesh__task_request__unpack(pa, len, msg);
        if (tr == NULL) {
            break;
        }

        return ngx_http_mesh_grpc_run_task(r, g, tr);

    case NGX_HTTP_MESH_GRPC_RUN_PIPELINE:
        pr = echo__mesh__pipeline_request__unpack(pa, len, msg);
        if (pr == NULL) {
            break;
        }

        return ngx_http_mesh_grpc_run_pipeline(r, g, pr);

    case NGX_HTTP_MESH_GRPC_LIST_NODES:
        lr = echo__mesh__list_nodes_request__unpack(pa, len, msg);
        if (lr == NULL) {
            break;
        }

        return ngx_http_mesh_grpc_list_nodes(r, g);

    default: /* NGX_HTTP_MESH_GRPC_WATCH */
        wr = echo__mesh__watch_request__unpack(pa, len, msg);
        if (wr == NULL) {
            break;
        }

        return ngx_http_mesh_grpc_watch(r, wr);
    }

    return ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                                     "the request message is not valid "
                                     "protobuf for this method");
}


static ngx_int_t
ngx_http_mesh_grpc_run_task(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, Echo__Mesh__TaskRequest *tr)
{
    char                           err[NGX_HTTP_MESH_ERR_LEN];
    size_t                         len;
    ngx_http_mesh_step_t          *step;
    ngx_http_mesh_pipeline_req_t   req;

    if ((ngx_uint_t) tr->type >= sizeof(ngx_http_mesh_grpc_types)
                                 / sizeof(ngx_uint_t))
    {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, "unknown task type");
    }

    step = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_step_t));
    if (step == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&req, sizeof(ngx_http_mesh_pipeline_req_t));

    step->type = ngx_http_mesh_grpc_types[tr->type];
    step->model.data = tr->model;
    step->model.len = ngx_strlen(tr->model);
    step->system.data = tr->system;
    step->system.len = ngx_strlen(tr->system);
    step->prompt.data = (char *) ngx_http_mesh_grpc_input.data;
    step->prompt.len = ngx_http_mesh_grpc_input.len;

    len = ngx_strlen(tr->prompt);

    if (len == 0) {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, "prompt is empty");
    }

    if (len > NGX_HTTP_MESH_TEXT_MAX
        || step->system.len > NGX_HTTP_MESH_TEXT_MAX)
    {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED,
                   "prompt or system is larger than 1 MiB");
    }

    if (step->model.len >= NGX_HTTP_MESH_MODEL_LEN) {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, "model is too long");
    }

    if (ngx_http_mesh_step_check(step, 1, err) != 0) {
        ngx_cpystrn((u_char *) err, (u_char *) "a task needs a type or a "
                    "model", sizeof(err));
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, err);
    }

    if (ngx_http_mesh_grpc_options(r, tr, step) != NGX_OK) {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                   "an option is not a valid name");
    }

    req.prompt.data = tr->prompt;
    req.prompt.len = len;
    req.stream = 1;

    if (ngx_http_mesh_grpc_images(r, tr->images, tr->n_images, &req)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_grpc_run(r, NULL, step, 1, &req);
}


static ngx_int_t
ngx_http_mesh_grpc_run_pipeline(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, Echo__Mesh__PipelineRequest *pr)
{
    char                           err[NGX_HTTP_MESH_ERR_LEN];
    ngx_str_t                      name;
    ngx_uint_t                     i, nsteps;
    ngx_http_mesh_step_t          *steps;
    ngx_http_mesh_pipeline_t      *pl;
    ngx_http_mesh_main_conf_t     *mmcf;
    Echo__Mesh__PipelineStep      *ps;
    ngx_http_mesh_pipeline_req_t   req;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    ngx_memzero(&req, sizeof(ngx_http_mesh_pipeline_req_t));

    req.prompt.data = pr->prompt;
    req.prompt.len = ngx_strlen(pr->prompt);
    req.stream = 1;

    if (req.prompt.len > NGX_HTTP_MESH_TEXT_MAX) {
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED,
                   "prompt is larger than 1 MiB");
    }

    if (ngx_http_mesh_grpc_images(r, pr->images, pr->n_images, &req)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name.data = (u_char *) pr->name;
    name.len = ngx_strlen(pr->name);

    if (name.len) {
        if (pr->n_steps) {
            return ngx_http_mesh_grpc_status(r,
                       NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                       "a named pipeline takes no steps");
        }

        pl = mmcf->pipelines ? mmcf->pipelines->elts : NULL;

        for (i = 0; pl && i < mmcf->pipelines->nelts; i++) {
            if (pl[i].name.len == name.len
                && ngx_strncmp(pl[i].name.data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (pl == NULL || i == mmcf->pipelines->nelts) {
            ngx_snprintf((u_char *) err, sizeof(err),
                         "no pipeline is named \"%V\"%Z", &name);
            return ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_NOT_FOUND,
                                             err);
        }

        return ngx_http_mesh_grpc_run(r, &pl[i].name, pl[i].steps,
                                      pl[i].nsteps, &req);
    }

    nsteps = pr->n_steps;

    if (nsteps == 0 || nsteps > mmcf->pipeline_max_steps) {
        ngx_snprintf((u_char *) err, sizeof(err), "a pipeline has a name, "
                     "or 1 to %ui steps%Z", mmcf->pipeline_max_steps);
        return ngx_http_mesh_grpc_status(r,
                   NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, err);
    }

    steps = ngx_pcalloc(r->pool, nsteps * sizeof(ngx_http_mesh_step_t));
    if (steps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < nsteps; i++) {
        ps = pr->steps[i];

        if ((ngx_uint_t) ps->type >= sizeof(ngx_http_mesh_grpc_types)
                                     / sizeof(ngx_uint_t)
            || ngx_strlen(ps->model) >= NGX_HTTP_MESH_MODEL_LEN
            || ngx_strlen(ps->prompt) > NGX_HTTP_MESH_TEXT_MAX
            || ngx_strlen(ps->system) > NGX_HTTP_MESH_TEXT_MAX)
        {
            ngx_snprintf((u_char *) err, sizeof(err), "step %ui: a bad type, "
                         "or a model, prompt or system too long%Z", i + 1);
            return ngx_http_mesh_grpc_status(r,
                       NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, err);
        }

        steps[i].type = ngx_http_mesh_grpc_types[ps->type];
        steps[i].model.data = ps->model;
        steps[i].model.len = ngx_strlen(ps->model);
        steps[i].prompt.data = ps->prompt;
        steps[i].prompt.len = ngx_strlen(ps->prompt);
        steps[i].system.data = ps->system;
        steps[i].system.len = ngx_strlen(ps->system);

        if (ngx_http_mesh_step_check(&steps[i], i + 1, err) != 0) {
            return ngx_http_mesh_grpc_status(r,
                       NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, err);
        }
    }

    return ngx_http_mesh_grpc_run(r, NULL, steps, nsteps, &req);
}


/* every check before a step runs, as the pipelines API makes them */

static ngx_int_t
ngx_http_mesh_grpc_run(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_mesh_step_t *steps, ngx_uint_t nsteps,
    ngx_http_mesh_pipeline_req_t *req)
{
    ngx_int_t   rc;
    ngx_uint_t  i, bad;
    char        want[NGX_HTTP_MESH_MODEL_LEN + 32];
    u_char      msg[NGX_HTTP_MESH_MODEL_LEN + 96];

    for (i = 0; i < nsteps; i++) {
        if (steps[i].type == NGX_HTTP_MESH_TYPE_VISION && req->nimages == 0) {
            ngx_snprintf(msg, sizeof(msg), "step %ui is a vision task and "
                         "the request has no images%Z", i + 1);
            return ngx_http_mesh_grpc_status(r,
                       NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT, (char *) msg);
        }
    }

    bad = ngx_http_mesh_pipeline_unservable(r, steps, nsteps, want,
                                            sizeof(want));
    if (bad) {
        ngx_snprintf(msg, sizeof(msg), "step %ui: no node of the mesh has "
                     "%s%Z", bad, want);
        return ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_NOT_FOUND,
                                         (char *) msg);
    }

    rc = ngx_http_mesh_pipeline_run(r, name, steps, nsteps, req);

    return rc == NGX_OK ? NGX_DONE : rc;
}


/* images are bytes in protobuf and base64 in the native task */

static ngx_int_t
ngx_http_mesh_grpc_images(ngx_http_request_t *r, ProtobufCBinaryData *in,
    size_t n, ngx_http_mesh_pipeline_req_t *req)
{
    size_t                 i;
    ngx_str_t              src, dst;
    ngx_http_mesh_span_t  *spans;

    if (n == 0) {
        return NGX_OK;
    }

    spans = ngx_palloc(r->pool, n * sizeof(ngx_http_mesh_span_t));
    if (spans == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        src.data = in[i].data;
        src.len = in[i].len;

        dst.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(src.len));
        if (dst.data == NULL) {
            return NGX_ERROR;
        }

        ngx_encode_base64(&dst, &src);

        spans[i].data = (char *) dst.data;
        spans[i].len = dst.len;
    }

    req->images = spans;
    req->nimages = n;

    return NGX_OK;
}


/* map<string,string> options: numbers and booleans as JSON values */

static ngx_int_t
ngx_http_mesh_grpc_options(ngx_http_request_t *r, Echo__Mesh__TaskRequest *tr,
    ngx_http_mesh_step_t *step)
{
    size_t                 i, j, len;
    u_char                 c;
    ngx_str_t              key, value, json;
    ngx_uint_t             raw;
    ngx_http_mesh_json_t   w;

    if (tr->n_options == 0) {
        return NGX_OK;
    }

    if (ngx_http_mesh_json_init(&w, r->pool, 256) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);

    for (i = 0; i < tr->n_options; i++) {
        key.data = (u_char *) tr->options[i]->key;
        key.len = ngx_strlen(key.data);
        value.data = (u_char *) tr->options[i]->value;
        value.len = ngx_strlen(value.data);

        if (key.len == 0 || key.len > 64) {
            return NGX_ERROR;
        }

        for (j = 0; j < key.len; j++) {
            c = key.data[j];

            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '_'))
            {
                return NGX_ERROR;
            }
        }

        raw = (value.len == 4 && ngx_strncmp(value.data, "true", 4) == 0)
              || (value.len == 5 && ngx_strncmp(value.data, "false", 5) == 0);

        if (!raw && value.len && value.len < 32) {
            raw = 1;
            len = 0;

            for (j = 0; j < value.len; j++) {
                c = value.data[j];

                if ((c >= '0' && c <= '9') || (c == '-' && j == 0)) {
                    len++;

                } else if (c != '.' || len == 0) {
                    raw = 0;
                    break;
                }
            }

            raw = raw && len && value.data[value.len - 1] != '.';
        }

        ngx_http_mesh_json_key(&w, (char *) key.data);

        if (raw) {
            ngx_http_mesh_json_raw_value(&w, &value);

        } else {
            ngx_http_mesh_json_str(&w, &value);
        }
    }

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    step->options.data = (char *) json.data;
    step->options.len = json.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_grpc_list_nodes(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g)
{
    int64_t                        now, timeout;
    ngx_uint_t                     i, m, n;
    ngx_array_t                    nodes;
    ngx_http_mesh_node_t          *node, *copy;
    ngx_http_mesh_zone_t          *zone;
    Echo__Mesh__NodeInfo          *ni, **pni;
    Echo__Mesh__ModelInfo         *mi, **pmi;
    Echo__Mesh__ListNodesReply     reply = ECHO__MESH__LIST_NODES_REPLY__INIT;

    static const Echo__Mesh__TaskType  types[] = {
        ECHO__MESH__TASK_TYPE__TASK_TYPE_TEXT,
        ECHO__MESH__TASK_TYPE__TASK_TYPE_CODE,
        ECHO__MESH__TASK_TYPE__TASK_TYPE_VISION,
        ECHO__MESH__TASK_TYPE__TASK_TYPE_UNSPECIFIED,   /* embedding */
        ECHO__MESH__TASK_TYPE__TASK_TYPE_SUMMARIZE,
        ECHO__MESH__TASK_TYPE__TASK_TYPE_UNSPECIFIED
    };

    if (ngx_array_init(&nodes, r->pool, 8, sizeof(ngx_http_mesh_node_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    zone = ngx_http_mesh_zone_get(r);

    if (zone) {
        reply.queued = ngx_http_mesh_reg(zone)->queued;
    }

    node = ngx_palloc(r->pool, sizeof(ngx_http_mesh_node_t));
    if (node == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* one node copied at a time under the lock, the reply made outside */

    for (i = 0; zone && ngx_http_mesh_registry_get(i, node) == NGX_OK; i++) {
        if (node->used && !node->left) {
            copy = ngx_array_push(&nodes);
            if (copy == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *copy = *node;
        }
    }

    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();
    node = nodes.elts;
    n = nodes.nelts;

    pni = ngx_palloc(r->pool, (n + 1) * sizeof(Echo__Mesh__NodeInfo *));
    ni = ngx_palloc(r->pool, (n + 1) * sizeof(Echo__Mesh__NodeInfo));

    if (pni == NULL || ni == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        echo__mesh__node_info__init(&ni[i]);
        pni[i] = &ni[i];

        ni[i].node_id = node[i].caps.node_id;
        ni[i].host = node[i].caps.host;
        ni[i].port = node[i].caps.port;
        ni[i].up = ngx_http_mesh_registry_live(&node[i], now, timeout);
        ni[i].status = (char *) ngx_http_mesh_status_name(node[i].caps.status);
        ni[i].active_tasks = ngx_http_mesh_registry_load(&node[i]);
        ni[i].max_tasks = node[i].caps.max_tasks;
        ni[i].ram_free_gb = node[i].caps.ram_free_gb;
        ni[i].ram_total_gb = node[i].caps.ram_total_gb;
        ni[i].has_gpu = node[i].caps.has_gpu;
        ni[i].tasks_done = node[i].tasks_done;
        ni[i].tasks_failed = node[i].tasks_failed;
        ni[i].last_seen_ms = node[i].last_seen;

        m = node[i].caps.nmodels;

        pmi = ngx_palloc(r->pool, (m + 1) * sizeof(Echo__Mesh__ModelInfo *));
        mi = ngx_palloc(r->pool, (m + 1) * sizeof(Echo__Mesh__ModelInfo));

        if (pmi == NULL || mi == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ni[i].models = pmi;
        ni[i].n_models = m;

        while (m--) {
            echo__mesh__model_info__init(&mi[m]);
            pmi[m] = &mi[m];

            mi[m].name = node[i].caps.models[m].name;
            mi[m].type = types[ngx_min(node[i].caps.models[m].type,
                                       NGX_HTTP_MESH_TYPE_UNKNOWN)];
            mi[m].size_gb = node[i].caps.models[m].size_gb;
            mi[m].loaded = node[i].caps.models[m].loaded;
        }
    }

    reply.nodes = pni;
    reply.n_nodes = n;

    return ngx_http_mesh_grpc_unary(r, g, &reply.base);
}


/*
 * Watch: a client of the live feed (ngx_http_mesh_feed.c), which sends
 * the snapshot, the events, and ends the call.  NGX_DONE while it runs.
 */

static ngx_int_t
ngx_http_mesh_grpc_watch(ngx_http_request_t *r, Echo__Mesh__WatchRequest *wr)
{
    char        err[NGX_HTTP_MESH_ERR_LEN];
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t  *only;

    only = NULL;

    if (wr->n_only) {
        only = ngx_palloc(r->pool, wr->n_only * sizeof(ngx_str_t));
        if (only == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    for (i = 0; i < wr->n_only; i++) {
        only[i].data = (u_char *) wr->only[i];
        only[i].len = ngx_strlen(wr->only[i]);
    }

    err[0] = '\0';

    rc = ngx_http_mesh_feed_grpc(r, only, wr->n_only, err);

    switch (rc) {

    case NGX_DONE:
        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_http_mesh_grpc_status(r,
                                         NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT,
                                         err);

    case NGX_BUSY:
        return ngx_http_mesh_grpc_status(r, NGX_HTTP_MESH_GRPC_UNAVAILABLE,
                                         "too many watchers "
                                         "(mesh_feed_max_clients)");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* the response header of a Watch call, sent at once: its stream is open */

ngx_int_t
ngx_http_mesh_grpc_watch_header(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_mesh_grpc_ctx_t  *g;

    g = ngx_http_mesh_grpc_of(r);

    if (g == NULL) {
        return NGX_ERROR;
    }

    g->passing = 1;
    g->header_out = 1;

    ngx_http_mesh_grpc_grpc_header(r);

    rc = ngx_http_send_header(r);

    return (rc == NGX_ERROR || rc > NGX_OK) ? NGX_ERROR : NGX_OK;
}


/*
 * An Event message, length-prefixed: kind (field 1) and json (field 5),
 * written by hand, as the feed's bytes are not NUL-terminated strings.
 */

size_t
ngx_http_mesh_grpc_event_size(ngx_str_t *kind, size_t len)
{
    return NGX_HTTP_MESH_GRPC_PREFIX + 2 * (1 + NGX_HTTP_MESH_GRPC_VARINT_MAX)
           + kind->len + len;
}


u_char *
ngx_http_mesh_grpc_event(u_char *p, ngx_str_t *kind, u_char *json,
    size_t len)
{
    u_char  *start;

    start = p;
    p += NGX_HTTP_MESH_GRPC_PREFIX;

    if (kind->len) {
        p = ngx_http_mesh_grpc_field(p, 1, kind->data, kind->len);
    }

    p = ngx_http_mesh_grpc_field(p, 5, json, len);

    ngx_http_mesh_grpc_prefix(start, p - start - NGX_HTTP_MESH_GRPC_PREFIX);

    return p;
}


static u_char *
ngx_http_mesh_grpc_field(u_char *p, ngx_uint_t tag, u_char *data, size_t len)
{
    size_t  n;

    *p++ = (u_char) (tag << 3 | 2);     /* length-delimited */

    for (n = len; n >= 0x80; n >>= 7) {
        *p++ = (u_char) (n | 0x80);
    }

    *p++ = (u_char) n;

    return ngx_cpymem(p, data, len);
}


/*
 * The end of a Watch call: its trailers, after the last event.  NGX_AGAIN:
 * HTTP/2 still holds some of it.
 */

ngx_int_t
ngx_http_mesh_grpc_watch_end(ngx_http_request_t *r, ngx_int_t code,
    const char *reason)
{
    ngx_int_t                  rc;
    ngx_str_t                  msg;
    ngx_chain_t               *out, **ll;
    ngx_http_mesh_grpc_ctx_t  *g;

    g = ngx_http_mesh_grpc_of(r);

    if (g == NULL || g->ended) {
        return NGX_ERROR;
    }

    g->ended = 1;

    msg.data = (u_char *) reason;
    msg.len = ngx_strlen(reason);

    out = NULL;
    ll = &out;

    if (ngx_http_mesh_grpc_end(r, g, code, &msg) != NGX_OK
        || ngx_http_mesh_grpc_last(r, g, &ll) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_output_filter(r, out);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return r->out ? NGX_AGAIN : NGX_OK;
}


/* a unary reply: header, one message, the trailers with OK */

static ngx_int_t
ngx_http_mesh_grpc_unary(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    const ProtobufCMessage *m)
{
    ngx_int_t     rc;
    ngx_chain_t  *out, **ll;

    out = NULL;
    ll = &out;

    if (ngx_http_mesh_grpc_message(r, g, m, &ll) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mesh_grpc_end(r, g, NGX_HTTP_MESH_GRPC_OK, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mesh_grpc_last(r, g, &ll) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g->passing = 1;
    g->ended = 1;
    g->header_out = 1;

    ngx_http_mesh_grpc_grpc_header(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_next_body_filter(r, out);
}


/* Trailers-Only: the status in the one HEADERS frame, END_STREAM */

static ngx_int_t
ngx_http_mesh_grpc_status(ngx_http_request_t *r, ngx_int_t code,
    const char *message)
{
    ngx_str_t                  msg;
    ngx_http_mesh_grpc_ctx_t  *g;

    g = ngx_http_mesh_grpc_of(r);

    if (g) {
        g->passing = 1;
        g->ended = 1;
        g->header_out = 1;
    }

    msg.data = (u_char *) message;
    msg.len = message ? ngx_strlen(message) : 0;

    ngx_http_mesh_grpc_grpc_header(r);

    if (ngx_http_mesh_grpc_set_status(r, &r->headers_out.headers, code, &msg)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->header_only = 1;

    if (r->header_sent) {
        return NGX_OK;
    }

    return ngx_http_send_header(r);
}


static void
ngx_http_mesh_grpc_grpc_header(ngx_http_request_t *r)
{
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_mesh_grpc_type;
    r->headers_out.content_type_len = ngx_http_mesh_grpc_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = -1;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);
}


static ngx_int_t
ngx_http_mesh_grpc_set_status(ngx_http_request_t *r, ngx_list_t *list,
    ngx_int_t code, ngx_str_t *message)
{
    size_t            n;
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "grpc-status");
    h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%i", code) - h->value.data;

    if (message == NULL || message->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_mesh_grpc_percent((char *) message->data, message->len,
                                   NULL);

    h->hash = 1;
    ngx_str_set(&h->key, "grpc-message");
    h->value.data = ngx_pnalloc(r->pool, n);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_http_mesh_grpc_percent((char *) message->data,
                                              message->len,
                                              (char *) h->value.data);

    return NGX_OK;
}


/*
 * The deadline: the call ends with DEADLINE_EXCEEDED, and ending the
 * request closes the node's connection, which cancels its Ollama call.
 */

static void
ngx_http_mesh_grpc_deadline(ngx_event_t *ev)
{
    ngx_http_mesh_grpc_ctx_t *g = ev->data;

    ngx_str_t            msg;
    ngx_chain_t         *out, **ll;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = g->request;
    c = r->connection;

    if (g->ended) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "mesh: grpc deadline of %M ms exceeded", g->timeout);

    ngx_str_set(&msg, "the deadline (grpc-timeout) was exceeded");

    if (!g->header_out) {
        (void) ngx_http_mesh_grpc_status(r,
                                         NGX_HTTP_MESH_GRPC_DEADLINE_EXCEEDED,
                                         (char *) msg.data);

    } else if (ngx_http_mesh_grpc_end(r, g,
                                      NGX_HTTP_MESH_GRPC_DEADLINE_EXCEEDED,
                                      &msg)
               == NGX_OK)
    {
        out = NULL;
        ll = &out;

        if (ngx_http_mesh_grpc_last(r, g, &ll) == NGX_OK) {
            /* under the postpone filter: a step may still be running */
            c->data = r;
            (void) ngx_http_write_filter(r, out);
        }
    }

    g->ended = 1;

    /* NGX_ERROR terminates the request, its step and upstream with it */
    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mesh_grpc_cleanup(void *data)
{
    ngx_http_mesh_grpc_ctx_t *g = data;

    if (g->deadline.timer_set) {
        ngx_del_timer(&g->deadline);
    }
}


static ngx_http_mesh_grpc_ctx_t *
ngx_http_mesh_grpc_of(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mesh_module);

    return ctx ? ctx->grpc : NULL;
}


static ngx_int_t
ngx_http_mesh_grpc_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                  code;
    ngx_uint_t                 status;
    ngx_http_mesh_grpc_ctx_t  *g;
    u_char                     msg[64];

    g = ngx_http_mesh_grpc_of(r);

    if (g == NULL || r != r->main || g->passing) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    if (status == NGX_HTTP_OK && !g->ended) {
        /* the pipeline's: sent with the first message, or never */
        g->held_header = 1;
        return NGX_OK;
    }

    /* nginx's own error page for the call (a 413 while reading, say) */

    switch (status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED;
        break;
    case NGX_HTTP_BAD_REQUEST:
        code = NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT;
        break;
    case NGX_HTTP_REQUEST_TIME_OUT:
        code = NGX_HTTP_MESH_GRPC_DEADLINE_EXCEEDED;
        break;
    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        code = NGX_HTTP_MESH_GRPC_UNAVAILABLE;
        break;
    default:
        code = NGX_HTTP_MESH_GRPC_INTERNAL;
    }

    ngx_snprintf(msg, sizeof(msg), "HTTP status %ui%Z", status);

    g->passing = 1;
    g->ended = 1;
    g->header_out = 1;

    ngx_http_mesh_grpc_grpc_header(r);

    if (ngx_http_mesh_grpc_set_status(r, &r->headers_out.headers, code,
                                      &(ngx_str_t) { ngx_strlen(msg), msg })
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->header_only = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mesh_grpc_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    ngx_uint_t                 last;
    ngx_chain_t               *cl, *ln, *out, **ll;
    ngx_http_mesh_grpc_ctx_t  *g;

    g = ngx_http_mesh_grpc_of(r);

    if (g == NULL || g->passing) {
        return ngx_http_next_body_filter(r, in);
    }

    out = NULL;
    ll = &out;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf) && !g->ended) {
            if (ngx_http_mesh_grpc_feed(r, g, cl->buf->pos, cl->buf->last,
                                        &ll)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (r == r->main && cl->buf->last_buf) {
            last = 1;
        }

        /* a step's buffers wait until what was made of them is sent */

        if (r != r->main && !g->ended && ngx_buf_size(cl->buf)) {
            ln = ngx_alloc_chain_link(r->pool);
            if (ln == NULL) {
                return NGX_ERROR;
            }

            ln->buf = cl->buf;
            ln->next = g->held;
            g->held = ln;

        } else {
            cl->buf->pos = cl->buf->last;
        }
    }

    if (last && !g->ended) {
        if (g->status < 0) {
            ngx_str_set(&g->message, "the reply ended without its last line");
            g->status = NGX_HTTP_MESH_GRPC_INTERNAL;
        }

        if (!g->header_out) {
            g->ended = 1;
            return ngx_http_mesh_grpc_status(r->main, g->status,
                                             (char *) g->message.data);
        }

        if (ngx_http_mesh_grpc_end(r, g, g->status, &g->message) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_mesh_grpc_last(r, g, &ll) != NGX_OK) {
            return NGX_ERROR;
        }

        g->ended = 1;
    }

    if (out && !g->header_out) {
        g->header_out = 1;
        g->passing = 1;

        ngx_http_mesh_grpc_grpc_header(r->main);
        rc = ngx_http_next_header_filter(r->main);

        g->passing = 0;

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (out == NULL && in != NULL && g->busy == NULL && g->held == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_next_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &g->free, &g->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_mesh_grpc_type);

    if (g->busy == NULL) {
        for (cl = g->held; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
        }

        g->held = NULL;
    }

    return rc;
}


/* NDJSON lines out of one buffer, a cut one carried over */

static ngx_int_t
ngx_http_mesh_grpc_feed(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    u_char *p, u_char *last, ngx_chain_t ***ll)
{
    size_t                      size;
    u_char                     *nl, *line;
    ngx_http_mesh_main_conf_t  *mmcf;

    while (p < last) {
        nl = ngx_strlchr(p, last, '\n');

        size = (nl ? nl : last) - p;

        if (g->line_max == 0) {
            mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);
            g->line_max = mmcf->pipeline_buffer * 6 + 65536;
        }

        if (nl && g->line_len == 0) {
            if (ngx_http_mesh_grpc_one_line(r, g, p, size, ll) != NGX_OK) {
                return NGX_ERROR;
            }

            p = nl + 1;
            continue;
        }

        if (g->line_len + size > g->line_max) {
            ngx_str_set(&g->message, "a line of the reply is too long");
            g->status = NGX_HTTP_MESH_GRPC_INTERNAL;
            g->line_len = 0;
            return NGX_OK;
        }

        if (g->line_len + size > g->line_size) {
            g->line_size = ngx_max(ngx_max(g->line_size * 2,
                                           NGX_HTTP_MESH_GRPC_LINE_MIN),
                                   g->line_len + size);
            line = ngx_pnalloc(r->pool, g->line_size);
            if (line == NULL) {
                return NGX_ERROR;
            }

            if (g->line_len) {
                ngx_memcpy(line, g->line, g->line_len);
            }

            g->line = line;
        }

        ngx_memcpy(g->line + g->line_len, p, size);
        g->line_len += size;

        if (nl == NULL) {
            break;
        }

        size = g->line_len;
        g->line_len = 0;

        if (ngx_http_mesh_grpc_one_line(r, g, g->line, size, ll) != NGX_OK) {
            return NGX_ERROR;
        }

        p = nl + 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_grpc_one_line(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, u_char *p, size_t len, ngx_chain_t ***ll)
{
    size_t                      need;
    char                        err[NGX_HTTP_MESH_ERR_LEN];
    ngx_http_mesh_grpc_line_t   l;

    if (len == 0 || g->status >= 0) {
        return NGX_OK;
    }

    /* the strings of a line are at most its length, and a NUL each */

    need = len + 32 * 16;

    if (need > g->scratch_size) {
        g->scratch_size = ngx_max(need, g->scratch_size * 2);
        g->scratch = ngx_pnalloc(r->pool, g->scratch_size);
        if (g->scratch == NULL) {
            return NGX_ERROR;
        }
    }

    g->scratch_used = 0;

    if (ngx_http_mesh_grpc_line((char *) p, len, &l,
                                ngx_http_mesh_grpc_scratch, g, err)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mesh: grpc: a line of the reply is not JSON: %s", err);
        ngx_str_set(&g->message, "the node's reply is not NDJSON");
        g->status = NGX_HTTP_MESH_GRPC_INTERNAL;
        return NGX_OK;
    }

    return ngx_http_mesh_grpc_translate(r, g, &l, ll);
}


static ngx_int_t
ngx_http_mesh_grpc_translate(ngx_http_request_t *r,
    ngx_http_mesh_grpc_ctx_t *g, ngx_http_mesh_grpc_line_t *l,
    ngx_chain_t ***ll)
{
    ngx_str_t                 msg;
    ngx_uint_t                task;
    Echo__Mesh__TaskStats     stats = ECHO__MESH__TASK_STATS__INIT;
    Echo__Mesh__TaskChunk     tc = ECHO__MESH__TASK_CHUNK__INIT;
    Echo__Mesh__PipelineChunk pc = ECHO__MESH__PIPELINE_CHUNK__INIT;

    task = (g->method == NGX_HTTP_MESH_GRPC_RUN_TASK);

    switch (l->kind) {

    case NGX_HTTP_MESH_GRPC_L_STEP:
        g->step = l->index;

        if (task) {
            tc.node_id = ngx_http_mesh_grpc_str(r, &l->node);
            tc.model = ngx_http_mesh_grpc_str(r, &l->model);
            tc.task_id = ngx_http_mesh_grpc_str(r, &l->task_id);
            return ngx_http_mesh_grpc_message(r, g, &tc.base, ll);
        }

        pc.step = l->index;
        pc.node_id = ngx_http_mesh_grpc_str(r, &l->node);
        pc.model = ngx_http_mesh_grpc_str(r, &l->model);
        pc.task_id = ngx_http_mesh_grpc_str(r, &l->task_id);
        return ngx_http_mesh_grpc_message(r, g, &pc.base, ll);

    case NGX_HTTP_MESH_GRPC_L_TOKENS:
        if (l->done) {
            stats.eval_count = l->eval_count;
            stats.total_duration_ns = (uint64_t) l->total_duration;

            if (l->total_duration > 0) {
                stats.tokens_per_sec = l->eval_count * 1e9
                                       / l->total_duration;
            }
        }

        if (!l->done && l->response.len == 0) {
            return NGX_OK;
        }

        if (task) {
            tc.text = ngx_http_mesh_grpc_str(r, &l->response);
            tc.done = l->done;
            tc.stats = l->done ? &stats : NULL;
            return ngx_http_mesh_grpc_message(r, g, &tc.base, ll);
        }

        pc.step = g->step;
        pc.text = ngx_http_mesh_grpc_str(r, &l->response);
        pc.stats = l->done ? &stats : NULL;
        return ngx_http_mesh_grpc_message(r, g, &pc.base, ll);

    case NGX_HTTP_MESH_GRPC_L_STEP_DONE:
        if (task) {
            return NGX_OK;
        }

        pc.step = l->index;
        pc.step_done = 1;
        pc.output = ngx_http_mesh_grpc_str(r, &l->output);
        stats.eval_count = l->tokens;
        pc.stats = &stats;
        return ngx_http_mesh_grpc_message(r, g, &pc.base, ll);

    case NGX_HTTP_MESH_GRPC_L_DONE:
        g->status = NGX_HTTP_MESH_GRPC_OK;

        if (task) {
            return NGX_OK;
        }

        pc.done = 1;
        return ngx_http_mesh_grpc_message(r, g, &pc.base, ll);

    case NGX_HTTP_MESH_GRPC_L_FAILED:
    case NGX_HTTP_MESH_GRPC_L_ERROR:
        g->status = (l->kind == NGX_HTTP_MESH_GRPC_L_ERROR)
                    ? NGX_HTTP_MESH_GRPC_UNAVAILABLE
                    : ngx_http_mesh_grpc_reason_status(l->reason.data,
                                                       l->reason.len);

        msg.len = l->error.len;
        msg.data = ngx_pnalloc(r->pool, msg.len + 1);
        if (msg.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(msg.data, l->error.data, msg.len);
        msg.data[msg.len] = '\0';
        g->message = msg;

        return NGX_OK;

    default:
        return NGX_OK;
    }
}


/* the trailers: grpc-status and grpc-message */

static ngx_int_t
ngx_http_mesh_grpc_end(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    ngx_int_t code, ngx_str_t *message)
{
    r = r->main;

    if (code != NGX_HTTP_MESH_GRPC_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mesh: grpc call ends with %s: \"%V\"",
                      ngx_http_mesh_grpc_status_name(code), message);
    }

    return ngx_http_mesh_grpc_set_status(r, &r->headers_out.trailers, code,
                                         message);
}


/* the main request's last buffer: the HTTP/2 filter writes the trailers */

static ngx_int_t
ngx_http_mesh_grpc_last(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    ngx_chain_t ***ll)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    r = r->main;

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;

    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/* one length-prefixed message, its own buffer, flushed; buffers reused */

static ngx_int_t
ngx_http_mesh_grpc_message(ngx_http_request_t *r, ngx_http_mesh_grpc_ctx_t *g,
    const ProtobufCMessage *m, ngx_chain_t ***ll)
{
    size_t        size, need;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = protobuf_c_message_get_packed_size(m);
    need = NGX_HTTP_MESH_GRPC_PREFIX + size;

    cl = ngx_chain_get_free_buf(r->pool, &g->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;

    if (b->start == NULL || (size_t) (b->end - b->start) < need) {
        b->start = ngx_palloc(r->pool,
                              ngx_max(need, NGX_HTTP_MESH_GRPC_BUF_MIN));
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + ngx_max(need, NGX_HTTP_MESH_GRPC_BUF_MIN);
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->memory = 0;
    b->flush = 1;
    b->last_buf = 0;
    b->last_in_chain = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_mesh_grpc_type;

    ngx_http_mesh_grpc_prefix(b->last, size);
    b->last += NGX_HTTP_MESH_GRPC_PREFIX;
    b->last += protobuf_c_message_pack(m, b->last);

    cl->next = NULL;
    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/* the line's strings live in a scratch buffer that each line reuses */

static void *
ngx_http_mesh_grpc_scratch(void *data, size_t size)
{
    ngx_http_mesh_grpc_ctx_t *g = data;

    void  *p;

    if (size > g->scratch_size - g->scratch_used) {
        return NULL;
    }

    p = g->scratch + g->scratch_used;
    g->scratch_used += size;

    return p;
}


static void *
ngx_http_mesh_grpc_pb_alloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


static void
ngx_http_mesh_grpc_pb_free(void *data, void *p)
{
    /* the pool frees everything at the request's end */
}


/* protobuf-c wants NUL-terminated strings; the scratch ones are */

static char *
ngx_http_mesh_grpc_str(ngx_http_request_t *r, ngx_http_mesh_span_t *s)
{
    return s->data ? (char *) s->data : (char *) "";
}
