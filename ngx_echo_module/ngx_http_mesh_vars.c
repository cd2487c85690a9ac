
/*
 * The end of a task: its outcome, its count in the shared zone's metrics,
 * and the $mesh_* variables that log it.  Times run from the task's
 * arrival, as its client sees them: the queue wait until the first node
 * was reserved, the first byte of the reply, the end of the request.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_stats.h"
#include "ngx_http_mesh_router.h"
#include "ngx_http_mesh_task.h"


static ngx_int_t ngx_http_mesh_task_queue_ms(ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_task_ttft_ms(ngx_http_mesh_ctx_t *ctx);


ngx_uint_t
ngx_http_mesh_task_outcome(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    ngx_uint_t  status;

    if (ctx->outcome) {
        return ctx->outcome;
    }

    status = r->headers_out.status;

    /* the whole reply went out: a client that left after it changes nothing */

    if (ctx->balanced && ctx->done_seen && !ctx->failed
        && status == NGX_HTTP_OK)
    {
        return NGX_HTTP_MESH_OUTCOME_DONE;
    }

    if (ctx->client_gone || r->connection->error
        || status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return NGX_HTTP_MESH_OUTCOME_CLIENT_GONE;
    }

    if (ctx->failed) {
        return NGX_HTTP_MESH_OUTCOME_FAILED;
    }

    if (ctx->route_rc == NGX_HTTP_MESH_ROUTE_UNKNOWN) {
        return NGX_HTTP_MESH_OUTCOME_UNKNOWN_MODEL;
    }

    if (ctx->balanced && status == NGX_HTTP_OK) {
        return NGX_HTTP_MESH_OUTCOME_DONE;
    }

    if (ctx->balanced) {
        return NGX_HTTP_MESH_OUTCOME_FAILED;
    }

    return NGX_HTTP_MESH_OUTCOME_REJECTED;
}


void
ngx_http_mesh_task_record(ngx_http_mesh_ctx_t *ctx)
{
    ngx_http_mesh_zone_t        *zone;
    ngx_http_mesh_stats_task_t   t;

    if (ctx->recorded) {
        return;
    }

    ctx->recorded = 1;

    zone = ngx_http_mesh_zone_get(ctx->request);

    if (zone == NULL || zone->sh->stats == NULL) {
        return;
    }

    t.door = ctx->door;
    t.outcome = ngx_http_mesh_task_outcome(ctx->request, ctx);

    /* labels only from the registry: a client's model name is not one */
    t.node = ctx->last_node >= 0 ? (char *) ctx->node_id : "";
    t.model = ctx->last_node >= 0 ? (char *) ctx->serve_model : "";
    t.tokens = ctx->tokens;
    t.queue_ms = ngx_http_mesh_task_queue_ms(ctx);
    t.ttft_ms = ngx_http_mesh_task_ttft_ms(ctx);
    t.duration_ms = ctx->last_node >= 0
                    ? (ngx_int_t) (ngx_current_msec - ctx->arrival) : -1;

    ngx_http_mesh_stats_task(zone->sh->stats, &zone->shpool->mutex, &t);
}


static ngx_int_t
ngx_http_mesh_task_queue_ms(ngx_http_mesh_ctx_t *ctx)
{
    if (ctx->first_routed) {
        return ctx->first_routed - ctx->arrival;
    }

    if (ctx->was_queued) {
        return ngx_current_msec - ctx->arrival;
    }

    return -1;
}


static ngx_int_t
ngx_http_mesh_task_ttft_ms(ngx_http_mesh_ctx_t *ctx)
{
    return ctx->first_data ? (ngx_int_t) (ctx->first_data - ctx->arrival)
                           : -1;
}


ngx_int_t
ngx_http_mesh_task_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_int_t             n;
    const char           *s;
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    /* a pipeline's own request has a ctx too, but it is no task */

    if (ctx == NULL || ctx->pipeline) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;
    n = -1;

    switch (data) {

    case NGX_HTTP_MESH_VAR_NODE:
        s = ctx->last_node >= 0 ? (char *) ctx->node_id : NULL;
        break;

    case NGX_HTTP_MESH_VAR_MODEL:
        s = ctx->last_node >= 0 ? (char *) ctx->serve_model : NULL;
        break;

    case NGX_HTTP_MESH_VAR_TASK_ID:
        s = (char *) ctx->task_id;
        break;

    case NGX_HTTP_MESH_VAR_TRIES:
        n = ctx->ntried;
        break;

    case NGX_HTTP_MESH_VAR_QUEUE_MS:
        n = ngx_http_mesh_task_queue_ms(ctx);
        break;

    case NGX_HTTP_MESH_VAR_TTFT_MS:
        n = ngx_http_mesh_task_ttft_ms(ctx);
        break;

    case NGX_HTTP_MESH_VAR_TOKENS:
        n = ctx->tokens;
        break;

    default: /* NGX_HTTP_MESH_VAR_OUTCOME */
        s = ngx_http_mesh_outcome_name(ngx_http_mesh_task_outcome(r, ctx));
        break;
    }

    if (s) {
        v->data = (u_char *) s;
        v->len = ngx_strlen(s);

    } else if (n >= 0) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%i", n) - p;

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
