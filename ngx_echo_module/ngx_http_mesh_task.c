
/*
 * The precontent handler of routed locations (mesh_route ollama|task).
 *
 * First pass: read the whole body (as the mirror module does), then parse
 * it, route, and either continue to the content handler (proxy_pass to the
 * mesh_balancer upstream, which uses the node reserved here) or park the
 * request in the wait queue.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_task.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_queue.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_dispatch.h"
#include "ngx_http_mesh_keys.h"


#define NGX_HTTP_MESH_SUMMARIZE_SYSTEM                                       \
    "Summarize the user's text concisely, keeping every key fact."

/* the same prompt as the first of an OpenAI chat's messages */
#define NGX_HTTP_MESH_SUMMARIZE_MESSAGE                                      \
    "{\"role\":\"system\",\"content\":\"" NGX_HTTP_MESH_SUMMARIZE_SYSTEM "\"}"


static void ngx_http_mesh_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_task_parse(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_task_decide(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_task_rewrite(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_task_openai(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_str_t *body, char *err);
static ngx_uint_t ngx_http_mesh_task_openai_path(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_task_openai_model(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_task_set_body(ngx_http_request_t *r,
    ngx_str_t *json);
static ngx_int_t ngx_http_mesh_task_unknown(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static void *ngx_http_mesh_task_alloc(void *pool, size_t size);
static ngx_int_t ngx_http_mesh_task_reply(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_mesh_task_cleanup(void *data);
static void ngx_http_mesh_task_id(ngx_http_mesh_ctx_t *ctx, ngx_uint_t seq);
static ngx_uint_t ngx_http_mesh_task_door(ngx_http_request_t *r,
    ngx_http_mesh_loc_conf_t *mlcf);


ngx_int_t
ngx_http_mesh_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL) {
        if (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI
            && ngx_http_mesh_task_openai_path(r) == 0)
        {
            return ngx_http_mesh_task_reply(r,
                       ngx_http_mesh_send_openai_error(r, NGX_HTTP_NOT_FOUND,
                           "invalid_request_error", NULL,
                           "Invalid URL: the OpenAI door serves POST "
                           "/v1/chat/completions, /v1/completions, "
                           "/v1/embeddings"));
        }

        /* a pipeline's step was let in with its pipeline */

        if (r == r->main) {
            rc = ngx_http_mesh_api_key_require(r,
                     ngx_http_mesh_task_door(r, mlcf), 0);

            if (rc != NGX_DECLINED) {
                return ngx_http_mesh_task_reply(r, rc);
            }
        }

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_mesh_task_reply(r,
                       ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                                "method not allowed"));
        }

        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_ctx_t));
        cln = ngx_pool_cleanup_add(r->pool, 0);

        if (ctx == NULL || cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->request = r;
        ctx->node = -1;
        ctx->last_node = -1;
        ctx->stream = 1;
        ctx->arrival = ngx_current_msec;
        ctx->openai = (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI);
        ctx->door = ngx_http_mesh_task_door(r, mlcf);

        /* a slot reserved for the task comes back however the request ends */
        cln->handler = ngx_http_mesh_task_cleanup;
        cln->data = ctx;

        {
            static ngx_uint_t  seq;

            ngx_http_mesh_task_id(ctx, ++seq);
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mesh_module);

        rc = ngx_http_read_client_request_body(r, ngx_http_mesh_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    if (!ctx->body_read || ctx->queued) {
        return NGX_DONE;
    }

    if (!ctx->parsed) {
        rc = ngx_http_mesh_task_parse(r, ctx);

        /* a JSON error that was sent returns NGX_OK too */

        if (rc != NGX_OK || r->header_sent) {
            return ngx_http_mesh_task_reply(r, rc);
        }

        ctx->parsed = 1;
    }

    return ngx_http_mesh_task_decide(r, ctx);
}


static void
ngx_http_mesh_body_handler(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);
    ctx->body_read = 1;

    /* the proxy sends the same body on: keep it */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The request is over with a slot still reserved: its client left between
 * being woken from the queue and the dispatch, something failed before
 * the upstream started, or proxy_pass took the task to another upstream.
 * The balancer's free did not run, so the slot comes back here.
 */

static void
ngx_http_mesh_task_cleanup(void *data)
{
    ngx_http_mesh_ctx_t  *ctx = data;

    ngx_uint_t                 node;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_http_mesh_task_record(ctx);

    if (ctx->node < 0) {
        return;
    }

    r = ctx->request;
    node = ctx->node;
    ctx->node = -1;

    if (r->upstream && !ctx->balanced) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mesh: task %s was not sent through \"mesh_balancer\", "
                      "location \"%V\"", ctx->task_id, &clcf->name);
    }

    ngx_http_mesh_dispatch_release(node, ngx_cycle->log);
    ngx_http_mesh_queue_wake();
}


/*
 * What ngx_sprintf("%xL-%P-%ui") wrote (the time in ms in hex, the pid, a
 * count of this process), without parsing a format per request; written
 * backwards, then copied, never past the field.
 */

static void
ngx_http_mesh_task_id(ngx_http_mesh_ctx_t *ctx, ngx_uint_t seq)
{
    u_char    *d, buf[3 * NGX_INT64_LEN + 2];
    size_t     len;
    uint64_t   n;

    static u_char  hex[] = "0123456789abcdef";

    d = buf + sizeof(buf);

    n = seq;
    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    *--d = '-';

    n = (uint64_t) ngx_pid;
    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    *--d = '-';

    n = (uint64_t) ngx_http_mesh_now_ms();
    do {
        *--d = hex[n & 0xf];
        n >>= 4;
    } while (n);

    len = ngx_min((size_t) (buf + sizeof(buf) - d), sizeof(ctx->task_id) - 1);

    ngx_memcpy(ctx->task_id, d, len);
    ctx->task_id[len] = '\0';
}


/*
 * A step of a pipeline, or of another door that runs its task as a
 * subrequest, is counted under the door of the main request.
 */

static ngx_uint_t
ngx_http_mesh_task_door(ngx_http_request_t *r, ngx_http_mesh_loc_conf_t *mlcf)
{
    ngx_http_mesh_ctx_t  *mctx;

    if (r != r->main) {
        mctx = ngx_http_get_module_ctx(r->main, ngx_http_mesh_module);

        if (mctx && mctx->door) {
            return mctx->door;
        }
    }

    switch (mlcf->route) {
    case NGX_HTTP_MESH_ROUTE_TASK:
        return NGX_HTTP_MESH_DOOR_NATIVE;
    case NGX_HTTP_MESH_ROUTE_OPENAI:
        return NGX_HTTP_MESH_DOOR_OPENAI;
    default:
        return NGX_HTTP_MESH_DOOR_OLLAMA;
    }
}


/* send our own response from a phase handler and end the phases */

static ngx_int_t
ngx_http_mesh_task_reply(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}


static ngx_int_t
ngx_http_mesh_task_parse(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   body;
    ngx_http_mesh_task_t       *task;
    ngx_http_mesh_loc_conf_t   *mlcf;
    ngx_http_mesh_ollama_req_t  req;
    char                        err[NGX_HTTP_MESH_ERR_LEN];

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    rc = ngx_http_mesh_read_json_body(r, NGX_HTTP_MESH_BODY_MAX, &body);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_mesh_send_error(r, rc, "request body is too large");
    }

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_http_mesh_send_error(r, rc, "a JSON body is required");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OLLAMA) {
        if (ngx_http_mesh_parse_ollama((char *) body.data, body.len, &req,
                                       err)
            != 0)
        {
            return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
        }

        ctx->model_len = ngx_strlen(req.model);
        ngx_memcpy(ctx->model, req.model, ctx->model_len + 1);
        ctx->stream = req.stream;
        ctx->type = req.has_images ? NGX_HTTP_MESH_TYPE_VISION
                                   : NGX_HTTP_MESH_TYPE_TEXT;
        return NGX_OK;
    }

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI) {
        return ngx_http_mesh_task_openai(r, ctx, &body, err);
    }

    task = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_task_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mesh_parse_task((char *) body.data, body.len, task,
                                 ngx_http_mesh_task_alloc, r->pool, err)
        != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    if (task->model.len >= sizeof(ctx->model)) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "model name is too long");
    }

    ctx->task = task;
    ctx->type = task->type;
    ctx->stream = task->stream;
    ctx->model_len = task->model.len;
    ngx_memcpy(ctx->model, task->model.data, task->model.len);
    ctx->model[ctx->model_len] = '\0';

    return NGX_OK;
}


static void *
ngx_http_mesh_task_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static ngx_int_t
ngx_http_mesh_task_decide(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_http_mesh_loc_conf_t  *mlcf;

    if (!ctx->routed) {
        rc = ngx_http_mesh_dispatch_reserve(r, ctx);

        switch (rc) {

        case NGX_OK:
            break;

        case NGX_HTTP_MESH_ROUTE_UNKNOWN:
            rc = ngx_http_mesh_task_unknown(r, ctx);
            return ngx_http_mesh_task_reply(r, rc);

        case NGX_HTTP_MESH_ROUTE_BUSY:
        case NGX_HTTP_MESH_ROUTE_NONE:
            rc = ngx_http_mesh_queue_add(r);

            /* a refusal (503) was sent with rc NGX_OK too: finalize it */

            if (rc == NGX_OK && ctx->queued) {
                return NGX_AGAIN;
            }

            return ngx_http_mesh_task_reply(r, rc);

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_TASK && !ctx->rewritten) {
        if (ngx_http_mesh_task_rewrite(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->rewritten = 1;
    }

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI && !ctx->rewritten) {
        if (ngx_http_mesh_task_openai_model(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->rewritten = 1;
    }

    ngx_http_mesh_task_event(r, ctx, "task.routed", NULL);

    return NGX_DECLINED;
}


/* the Ollama /api/generate body the agent receives for a native task */

static ngx_int_t
ngx_http_mesh_task_rewrite(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    ngx_str_t              s, json;
    ngx_uint_t             i;
    ngx_http_mesh_task_t  *task;
    ngx_http_mesh_json_t   w;

    task = ctx->task;

    if (ngx_http_mesh_json_init(&w, r->pool, 256 + task->prompt.len * 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);

    ngx_http_mesh_json_kcstr(&w, "model", (char *) ctx->serve_model);

    ngx_http_mesh_json_key(&w, "prompt");
    s.data = (u_char *) task->prompt.data;
    s.len = task->prompt.len;
    ngx_http_mesh_json_str(&w, &s);

    if (task->system.len) {
        ngx_http_mesh_json_key(&w, "system");
        s.data = (u_char *) task->system.data;
        s.len = task->system.len;
        ngx_http_mesh_json_str(&w, &s);

    } else if (task->type == NGX_HTTP_MESH_TYPE_SUMMARIZE) {
        ngx_http_mesh_json_kcstr(&w, "system", NGX_HTTP_MESH_SUMMARIZE_SYSTEM);
    }

    if (task->nimages) {
        ngx_http_mesh_json_key(&w, "images");
        ngx_http_mesh_json_arr_start(&w);

        for (i = 0; i < task->nimages; i++) {
            s.data = (u_char *) task->images[i].data;
            s.len = task->images[i].len;
            ngx_http_mesh_json_str(&w, &s);
        }

        ngx_http_mesh_json_arr_end(&w);
    }

    ngx_http_mesh_json_kbool(&w, "stream", task->stream);

    if (task->options.len) {
        ngx_http_mesh_json_key(&w, "options");
        s.data = (u_char *) task->options.data;
        s.len = task->options.len;
        ngx_http_mesh_json_raw_value(&w, &s);
    }

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mesh_task_set_body(r, &json);
}


/* the body the proxy sends on to the agent */

static ngx_int_t
ngx_http_mesh_task_set_body(ngx_http_request_t *r, ngx_str_t *json)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = json->data;
    b->last = json->data + json->len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->buf = b;
    r->request_body->temp_file = NULL;
    r->headers_in.content_length_n = json->len;
    r->headers_in.chunked = 0;

    return NGX_OK;
}


/*
 * The OpenAI door routes by "model": a model of the mesh by name, or a
 * task type as mesh:code, mesh:vision, mesh:summarize, mesh:text, and
 * mesh:auto (vision when a message has an image, an embedding model on
 * /v1/embeddings, else text).
 */

static ngx_int_t
ngx_http_mesh_task_openai(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_str_t *body, char *err)
{
    size_t                      len;
    ngx_uint_t                  embed;
    ngx_http_mesh_type_e        type;
    ngx_http_mesh_openai_req_t  req;

    if (ngx_http_mesh_parse_openai((char *) body->data, body->len, &req, err)
        != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    embed = ngx_http_mesh_task_openai_path(r) == 3;

    ctx->openai_body = *body;
    ctx->model_start = req.model_start;
    ctx->model_end = req.model_end;
    ctx->messages_start = (ngx_http_mesh_task_openai_path(r) == 1)
                          ? req.messages_start : 0;
    ctx->stream = embed ? 0 : req.stream;
    ctx->type = req.has_images ? NGX_HTTP_MESH_TYPE_VISION
                               : NGX_HTTP_MESH_TYPE_TEXT;

    len = ngx_strlen(req.model);

    if (len > 5 && ngx_strncmp(req.model, "mesh:", 5) == 0) {
        type = ngx_http_mesh_type_from_name(req.model + 5, len - 5);

        if (ngx_strcmp(req.model + 5, "auto") == 0) {
            ctx->model_len = 0;
            ctx->model[0] = '\0';

            if (embed) {
                ctx->type = NGX_HTTP_MESH_TYPE_EMBEDDING;
            }

            return NGX_OK;
        }

        if (type != NGX_HTTP_MESH_TYPE_UNKNOWN
            && type != NGX_HTTP_MESH_TYPE_EMBEDDING)
        {
            ctx->model_len = 0;
            ctx->model[0] = '\0';
            ctx->type = type;
            return NGX_OK;
        }
    }

    ctx->model_len = len;
    ngx_memcpy(ctx->model, req.model, len + 1);

    return NGX_OK;
}


/* 1 chat, 2 completions, 3 embeddings, 0 not a task of the door */

static ngx_uint_t
ngx_http_mesh_task_openai_path(ngx_http_request_t *r)
{
    ngx_uint_t  i;

    static ngx_str_t  paths[] = {
        ngx_string("/v1/chat/completions"),
        ngx_string("/v1/completions"),
        ngx_string("/v1/embeddings")
    };

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (r->uri.len == paths[i].len
            && ngx_strncmp(r->uri.data, paths[i].data, paths[i].len) == 0)
        {
            return i + 1;
        }
    }

    return 0;
}


/*
 * The body again, naming the model the node serves; a mesh:summarize chat
 * gets the native door's summarize prompt as a system message ahead of
 * the client's messages (its own system message, if any, follows ours).
 */

static ngx_int_t
ngx_http_mesh_task_openai_model(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx)
{
    u_char     *p, *q, *last;
    size_t      len, at;
    ngx_str_t   json, ins, *body;

    static ngx_str_t  first = ngx_string(NGX_HTTP_MESH_SUMMARIZE_MESSAGE);
    static ngx_str_t  ahead = ngx_string(NGX_HTTP_MESH_SUMMARIZE_MESSAGE ",");

    body = &ctx->openai_body;
    len = ngx_strlen(ctx->serve_model);
    at = ctx->messages_start;

    ngx_str_null(&ins);

    if (ctx->type == NGX_HTTP_MESH_TYPE_SUMMARIZE && at && at <= body->len) {
        last = body->data + body->len;

        for (q = body->data + at; q < last; q++) {
            if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
                break;
            }
        }

        ins = (q < last && *q == ']') ? first : ahead;
    }

    json.len = body->len - (ctx->model_end - ctx->model_start) + len + 2
               + ins.len;
    json.data = ngx_pnalloc(r->pool, json.len);
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    /* served names are checked at registration: nothing to escape */

    p = json.data;

    if (ins.len && at < ctx->model_start) {
        p = ngx_cpymem(p, body->data, at);
        p = ngx_cpymem(p, ins.data, ins.len);
        p = ngx_cpymem(p, body->data + at, ctx->model_start - at);

    } else {
        p = ngx_cpymem(p, body->data, ctx->model_start);
    }

    *p++ = '"';
    p = ngx_cpymem(p, ctx->serve_model, len);
    *p++ = '"';

    if (ins.len && at >= ctx->model_end) {
        p = ngx_cpymem(p, body->data + ctx->model_end, at - ctx->model_end);
        p = ngx_cpymem(p, ins.data, ins.len);
        ngx_memcpy(p, body->data + at, body->len - at);

    } else {
        ngx_memcpy(p, body->data + ctx->model_end,
                   body->len - ctx->model_end);
    }

    return ngx_http_mesh_task_set_body(r, &json);
}


/* 404 naming the model and listing the models the mesh has */

static ngx_int_t
ngx_http_mesh_task_unknown(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    u_char                *msg, *last;
    ngx_str_t              json;
    ngx_uint_t             i, k, j, n, dup;
    ngx_http_mesh_node_t  *node;
    ngx_http_mesh_zone_t  *zone;
    ngx_http_mesh_json_t   w;
    char                 (*names)[NGX_HTTP_MESH_MODEL_LEN];

    zone = ngx_http_mesh_zone_get(r);

    names = ngx_palloc(r->pool, 256 * NGX_HTTP_MESH_MODEL_LEN);
    msg = ngx_pnalloc(r->pool, 64 + ctx->model_len);

    if (zone == NULL || names == NULL || msg == NULL
        || ngx_http_mesh_json_init(&w, r->pool, 1024) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < ngx_http_mesh_reg(zone)->nnodes; i++) {
        node = &ngx_http_mesh_reg(zone)->nodes[i];

        if (!node->used || node->left) {
            continue;
        }

        for (k = 0; k < node->caps.nmodels && n < 256; k++) {
            dup = 0;

            for (j = 0; j < n; j++) {
                if (ngx_strcmp(names[j], node->caps.models[k].name) == 0) {
                    dup = 1;
                    break;
                }
            }

            if (!dup) {
                ngx_memcpy(names[n++], node->caps.models[k].name,
                           NGX_HTTP_MESH_MODEL_LEN);
            }
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    last = ngx_snprintf(msg, 64 + ctx->model_len,
                        "model \"%s\" is not on any node of the mesh%Z",
                        ctx->model);
    (void) last;

    if (ctx->openai) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_FOUND, (char *) msg);
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "error", (char *) msg);
    ngx_http_mesh_json_key(&w, "models");
    ngx_http_mesh_json_arr_start(&w);

    for (i = 0; i < n; i++) {
        ngx_http_mesh_json_cstr(&w, names[i]);
    }

    ngx_http_mesh_json_arr_end(&w);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_NOT_FOUND, &json);
}


/*
 * Written straight into one buffer: two or more task events per request
 * made the writer's per-field work (each key a string to scan, a reserve
 * per piece) one of the largest costs of a routed request.  The bytes are
 * those the writer would write.
 */

void
ngx_http_mesh_task_event(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    const char *kind, const char *reason)
{
    u_char      *p;
    size_t       len, kind_len, id_len, node_len, model_len, type_len,
                 reason_len;
    ngx_str_t    msg;
    ngx_msec_t   ms;
    ngx_uint_t   done;
    const char  *type;

    type = ngx_http_mesh_type_name(ctx->type);

    kind_len = ngx_strlen(kind);
    id_len = ngx_strlen(ctx->task_id);
    node_len = ngx_strlen(ctx->node_id);
    model_len = ngx_strlen(ctx->serve_model);
    type_len = ngx_strlen(type);
    reason_len = reason ? ngx_strlen(reason) : 0;
    done = (ngx_strcmp(kind, "task.done") == 0);

    len = sizeof("{\"event\":,\"ts\":,\"task_id\":,\"node_id\":,\"model\":"
                 ",\"type\":,\"reason\":,\"tokens\":,\"duration_ms\":"
                 ",\"tokens_per_sec\":}")
          + NGX_HTTP_MESH_JSON_STR_LEN(kind_len)
          + NGX_HTTP_MESH_JSON_STR_LEN(id_len)
          + NGX_HTTP_MESH_JSON_STR_LEN(node_len)
          + NGX_HTTP_MESH_JSON_STR_LEN(model_len)
          + NGX_HTTP_MESH_JSON_STR_LEN(type_len)
          + NGX_HTTP_MESH_JSON_STR_LEN(reason_len)
          + 4 * NGX_HTTP_MESH_JSON_NUM_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return;
    }

    msg.data = p;

    p = ngx_cpymem(p, "{\"event\":", sizeof("{\"event\":") - 1);
    p = ngx_http_mesh_json_put_str(p, (u_char *) kind, kind_len);
    p = ngx_cpymem(p, ",\"ts\":", sizeof(",\"ts\":") - 1);
    p = ngx_http_mesh_json_put_int(p, ngx_http_mesh_now_ms());
    p = ngx_cpymem(p, ",\"task_id\":", sizeof(",\"task_id\":") - 1);
    p = ngx_http_mesh_json_put_str(p, ctx->task_id, id_len);

    if (node_len) {
        p = ngx_cpymem(p, ",\"node_id\":", sizeof(",\"node_id\":") - 1);
        p = ngx_http_mesh_json_put_str(p, ctx->node_id, node_len);
    }

    if (model_len) {
        p = ngx_cpymem(p, ",\"model\":", sizeof(",\"model\":") - 1);
        p = ngx_http_mesh_json_put_str(p, ctx->serve_model, model_len);
    }

    p = ngx_cpymem(p, ",\"type\":", sizeof(",\"type\":") - 1);
    p = ngx_http_mesh_json_put_str(p, (u_char *) type, type_len);

    if (reason) {
        p = ngx_cpymem(p, ",\"reason\":", sizeof(",\"reason\":") - 1);
        p = ngx_http_mesh_json_put_str(p, (u_char *) reason, reason_len);
    }

    if (done) {
        ms = ngx_current_msec - ctx->dispatched;

        p = ngx_cpymem(p, ",\"tokens\":", sizeof(",\"tokens\":") - 1);
        p = ngx_http_mesh_json_put_int(p, ctx->tokens);
        p = ngx_cpymem(p, ",\"duration_ms\":",
                       sizeof(",\"duration_ms\":") - 1);
        p = ngx_http_mesh_json_put_int(p, ms);
        p = ngx_cpymem(p, ",\"tokens_per_sec\":",
                       sizeof(",\"tokens_per_sec\":") - 1);
        p = ngx_http_mesh_json_put_double(p,
                                      ctx->tokens * 1000.0 / (ms ? ms : 1));
    }

    *p++ = '}';

    msg.len = p - msg.data;

    ngx_http_mesh_event_send(&msg, r->connection->log);
}
