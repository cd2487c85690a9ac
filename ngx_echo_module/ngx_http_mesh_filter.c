
/*
 * Output of routed tasks: headers naming the node, the native API's first
 * "routed" line, and counting of streamed lines (tokens) and the final
 * "done" line, which tells a complete reply from a broken one.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_task.h"


static ngx_int_t ngx_http_mesh_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mesh_add_header(ngx_http_request_t *r,
    const char *key, u_char *value);
static void ngx_http_mesh_count(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_chain_t *in);
static ngx_chain_t *ngx_http_mesh_routed_line(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_mesh_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mesh_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mesh_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_header_filter(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL || !ctx->routed || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_mesh_add_header(r, "X-Mesh-Node", ctx->node_id) != NGX_OK
        || ngx_http_mesh_add_header(r, "X-Mesh-Model", ctx->serve_model)
           != NGX_OK
        || ngx_http_mesh_add_header(r, "X-Mesh-Task", ctx->task_id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->task && ctx->stream && r->headers_out.status == NGX_HTTP_OK) {
        /* the routed line changes the length */
        ngx_http_clear_content_length(r);
    }

    return ngx_http_next_header_filter(r);
}


/* replaces a header of the same name: agents send their own X-Mesh-Node */

static ngx_int_t
ngx_http_mesh_add_header(ngx_http_request_t *r, const char *key,
    u_char *value)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(key);
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                h = NULL;
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) key, len) == 0)
        {
            h = &h[i];
            break;
        }
    }

    if (h == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL || !ctx->routed || r->upstream == NULL || in == NULL
        || r->headers_out.status != NGX_HTTP_OK)
    {
        return ngx_http_next_body_filter(r, in);
    }

    ngx_http_mesh_count(r, ctx, in);

    if (ctx->task && ctx->stream && !ctx->sent_routed_line) {
        ctx->sent_routed_line = 1;

        in = ngx_http_mesh_routed_line(r, ctx, in);
        if (in == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * The first body bytes are the first token.  The reply's lines go through
 * the NDJSON scanner, whatever the cuts between reads: a reply is complete
 * when its last complete line says "done":true at the top level (a reply
 * without streaming, when its one object is complete), and that line's
 * "eval_count" counts the tokens exactly (an OpenAI reply's
 * "usage":{"completion_tokens"}); without it, the lines are the count.
 */

static void
ngx_http_mesh_count(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t               *b;
    ngx_uint_t               data, n;
    ngx_chain_t             *cl;
    ngx_http_mesh_sse_t     *sse;
    ngx_http_mesh_ndjson_t  *s;

    data = 0;
    s = &ctx->ndjson;
    s->usage = ctx->openai;

    /* a streamed Ollama reply is NDJSON: its lines are read one by one */
    s->lines = ctx->stream && !ctx->openai;

    /* decided once, not per buffer */
    sse = (ctx->openai && ctx->stream) ? &ctx->sse : NULL;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) || b->pos == b->last) {
            continue;
        }

        data = 1;

        if (sse) {
            ngx_http_mesh_sse_scan(sse, b->pos, b->last);

        } else {
            ngx_http_mesh_ndjson_scan(s, b->pos, b->last);
        }
    }

    ctx->tokens = s->last_has_eval ? (ngx_uint_t) s->last_eval : s->objects;

    if (data && ctx->first_data == 0) {
        ctx->first_data = ngx_current_msec;
    }

    if (ctx->openai && ctx->stream) {
        /*
         * every chunk is a token but the one that carries finish_reason
         * and include_usage's, which has no choices
         */
        ctx->done_seen = ctx->sse.done;
        n = ctx->sse.empty + (ctx->done_seen ? 1 : 0);
        ctx->tokens = ctx->sse.events > n ? ctx->sse.events - n : 0;

    } else if (ctx->stream) {
        ctx->done_seen = ngx_http_mesh_ndjson_done(s);

    } else {
        ctx->done_seen = s->objects && s->depth == 0 && !s->in_str;
    }

    /* a one-object reply has no first token apart from the whole reply */

    if (!ctx->first_seen && data && ctx->stream) {
        ctx->first_seen = 1;
        ctx->first_byte = ngx_current_msec;
        ngx_http_mesh_task_event(r, ctx, "task.first_token", NULL);
    }
}


static ngx_chain_t *
ngx_http_mesh_routed_line(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, 96 + sizeof(ctx->task_id)
                                    + sizeof(ctx->node_id)
                                    + 2 * sizeof(ctx->serve_model));
    if (b == NULL) {
        return NULL;
    }

    /* node ids and model names are checked at registration: no escaping */

    b->last = ngx_sprintf(b->last,
                          "{\"event\":\"routed\",\"task_id\":\"%s\","
                          "\"node\":\"%s\",\"model\":\"%s\"}\n",
                          ctx->task_id, ctx->node_id, ctx->serve_model);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = in;

    return cl;
}
