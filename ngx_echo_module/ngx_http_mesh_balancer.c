
/*
 * mesh_balancer: an upstream whose peers come from the registry.  The first
 * try uses the node the precontent handler reserved; a retry (proxy's
 * next_upstream: refused, reset, timeout, 503 busy before the first byte)
 * routes again without the nodes already tried.  Stacks under keepalive the
 * way the hash balancer does.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_task.h"
#include "ngx_http_mesh_queue.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_dispatch.h"
#include "ngx_http_mesh_sign.h"
#include "ngx_http_mesh_zone.h"


static ngx_int_t ngx_http_mesh_balancer_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_mesh_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_mesh_balancer_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_mesh_balancer_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_mesh_balancer_finalize(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_mesh_balancer_end(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_mesh_balancer_stream_error(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
static ngx_int_t ngx_http_mesh_balancer_requeue(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_peer_connection_t *pc);
static ngx_int_t ngx_http_mesh_balancer_resign(ngx_http_mesh_ctx_t *ctx);


char *
ngx_http_mesh_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t      *mmcf;
    ngx_http_upstream_server_t     *server;
    ngx_http_upstream_srv_conf_t   *uscf, **uscfp;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mesh_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    uscf->peer.init_upstream = ngx_http_mesh_balancer_init;

    /*
     * nginx insists on a server in every upstream block; the peers of this
     * one come from the registry, so add a placeholder that is never used
     */

    if (uscf->servers == NULL) {
        return "must be inside an upstream block";
    }

    server = ngx_array_push(uscf->servers);
    if (server == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(server, sizeof(ngx_http_upstream_server_t));
    ngx_str_set(&server->name, "mesh registry");
    server->down = 1;

    /* mesh_route locations check that they proxy to one of these */

    uscfp = ngx_array_push(&mmcf->balancers);
    if (uscfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *uscfp = uscf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mesh_balancer_init(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    if (us->servers->nelts > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "upstream \"%V\" with mesh_balancer takes its "
                           "peers from the registry: remove its \"server\" "
                           "lines", &us->host);
        return NGX_ERROR;
    }

    us->peer.init = ngx_http_mesh_balancer_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t        *u;
    ngx_http_mesh_ctx_t        *ctx;
    ngx_http_mesh_main_conf_t  *mmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL || !ctx->routed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mesh: upstream \"%V\" needs \"mesh_route\" in the "
                      "location", &us->host);
        return NGX_ERROR;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);
    u = r->upstream;

    u->peer.get = ngx_http_mesh_balancer_get;
    u->peer.free = ngx_http_mesh_balancer_free;
    u->peer.data = ctx;

    /* the tries are the task's: one that waited again has used some */
    u->peer.tries = mmcf->tries > ctx->ntried ? mmcf->tries - ctx->ntried + 1
                                             : 1;
    ctx->balanced = 1;

    if (u->finalize_request != ngx_http_mesh_balancer_finalize) {
        ctx->finalize = u->finalize_request;
        u->finalize_request = ngx_http_mesh_balancer_finalize;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_balancer_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_mesh_ctx_t  *ctx = data;

    size_t               len;
    ngx_int_t            rc;
    ngx_str_t           *name;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->node < 0) {
        rc = ngx_http_mesh_dispatch_reserve(r, ctx);

        if ((rc == NGX_HTTP_MESH_ROUTE_BUSY || rc == NGX_HTTP_MESH_ROUTE_NONE)
            && ngx_http_mesh_balancer_requeue(r, ctx, pc) == NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                          "mesh: no other node can take task %s",
                          ctx->task_id);
            ngx_http_mesh_task_event(r, ctx, "task.failed", "no_node_left");
            return NGX_BUSY;
        }

        ngx_http_mesh_task_event(r, ctx, "task.routed", "retry");

        if (ngx_http_mesh_balancer_resign(ctx) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ctx->requeued) {
        /* woken from the queue after a failed try, with a node reserved */
        ngx_http_mesh_task_event(r, ctx, "task.routed", "retry");

        if (ngx_http_mesh_balancer_resign(ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ctx->requeued = 0;

    /* a name of its own per try: $upstream_addr lists every node tried */

    len = ngx_strlen(ctx->node_id);

    name = ngx_palloc(r->pool, sizeof(ngx_str_t) + len);
    if (name == NULL) {
        return NGX_ERROR;
    }

    name->len = len;
    name->data = (u_char *) name + sizeof(ngx_str_t);
    ngx_memcpy(name->data, ctx->node_id, len);

    pc->sockaddr = (struct sockaddr *) &ctx->sockaddr;
    pc->socklen = ctx->socklen;
    pc->name = name;

    /* a task's time is its node's: no queue wait, no failed try in it */
    ctx->dispatched = ngx_current_msec;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "mesh: task %s to node \"%V\"", ctx->task_id, pc->name);

    return NGX_OK;
}


/*
 * A try failed before the first byte and every other capable node is at
 * its limit: the task waits in the queue again, for what is left of its
 * TTL, instead of failing.  The upstream is given up the way
 * ngx_http_upstream_finalize_request() gives up one before the header:
 * with its cleanup detached and no try left, the upstream module only
 * ends its hold on the request (NGX_DONE), and this one is kept for the
 * queue.  Once a node is reserved, the content handler runs again with a
 * new upstream.
 */

static ngx_int_t
ngx_http_mesh_balancer_requeue(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_peer_connection_t *pc)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u == NULL || u->cleanup == NULL || u->header_sent
        || r->connection->error
        || ctx->ntried >= sizeof(ctx->tried) / sizeof(ctx->tried[0]))
    {
        return NGX_DECLINED;
    }

    if (ngx_http_mesh_queue_requeue(r) != NGX_OK) {
        return NGX_DECLINED;
    }

    *u->cleanup = NULL;
    u->cleanup = NULL;

    /* this was no try: no entry for it in $upstream_addr */

    if (r->upstream_states && r->upstream_states->nelts) {
        r->upstream_states->nelts--;
    }

    pc->tries = 0;
    pc->cached = 0;
    pc->name = NULL;
    pc->sockaddr = NULL;

    ctx->requeued = 1;

    r->main->count++;
    r->upstream = NULL;

    return NGX_OK;
}


/*
 * The request to the agent was built once, with $mesh_agent_auth signed for
 * the first node; a retry goes to another node, which would refuse it.  The
 * signature has a fixed length, so the new one replaces it in place.
 */

static ngx_int_t
ngx_http_mesh_balancer_resign(ngx_http_mesh_ctx_t *ctx)
{
    u_char                     *p;
    ngx_buf_t                  *b;
    ngx_http_upstream_t        *u;
    ngx_http_mesh_main_conf_t  *mmcf;

    u = ctx->request->upstream;

    if (!ctx->auth_signed || u->request_bufs == NULL) {
        return NGX_OK;
    }

    b = u->request_bufs->buf;

    if (b->in_file) {
        return NGX_OK;
    }

    for (p = b->start; p + NGX_HTTP_MESH_SIGN_HEX <= b->last; p++) {
        if (ngx_memcmp(p, ctx->auth_sig, NGX_HTTP_MESH_SIGN_HEX) == 0) {
            break;
        }
    }

    if (p + NGX_HTTP_MESH_SIGN_HEX > b->last) {
        return NGX_OK;
    }

    mmcf = ngx_http_get_module_main_conf(ctx->request, ngx_http_mesh_module);

    if (ngx_http_mesh_sign_task_sig(mmcf->sign_key, ctx->node_id,
                                    ctx->task_id, ctx->auth_ts,
                                    ctx->auth_sig)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(p, ctx->auth_sig, NGX_HTTP_MESH_SIGN_HEX);

    return NGX_OK;
}


static void
ngx_http_mesh_balancer_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_mesh_ctx_t  *ctx = data;

    ngx_uint_t             node, busy;
    ngx_http_upstream_t   *u;
    ngx_http_mesh_zone_t  *zone;

    if (pc->tries) {
        pc->tries--;
    }

    if (ctx->node < 0) {
        return;
    }

    node = ctx->node;
    ctx->node = -1;
    u = ctx->request->upstream;

    if (state & NGX_PEER_FAILED) {
        if (u->state && u->state->connect_time == (ngx_msec_t) -1) {
            ngx_http_mesh_sync_node_failed(node, pc->log);
        }

        busy = u->state && (u->state->status == NGX_HTTP_SERVICE_UNAVAILABLE
                            || u->state->status == NGX_HTTP_TOO_MANY_REQUESTS);

        ngx_http_mesh_task_event(ctx->request, ctx, "task.retried",
                                 busy ? "busy" : "failed");

        zone = ngx_http_mesh_zone_get(ctx->request);

        if (zone && zone->sh->stats) {
            (void) ngx_atomic_fetch_add(&zone->sh->stats->retries, 1);
        }
        ngx_http_mesh_registry_task_end(node, 0, 0, 0, pc->log);

        /* busy is no fault of the node: it counts neither way */

        if (!busy) {
            ngx_http_mesh_dispatch_outcome(node, 1, pc->log);
        }

    } else if (!ctx->client_gone) {
        ngx_http_mesh_registry_task_end(node, !ctx->failed, ctx->tokens,
                                        ngx_current_msec - ctx->dispatched,
                                        pc->log);

        if (ctx->node_fault || !ctx->failed) {
            ngx_http_mesh_dispatch_outcome(node, ctx->node_fault, pc->log);
        }
    }

    ngx_http_mesh_dispatch_release(node, pc->log);

    ngx_http_mesh_queue_wake();
}


/*
 * Before the upstream module ends the request: a reply that broke after
 * streaming began gets an explicit error line, the way Ollama reports a
 * failure mid-stream, instead of a truncation that could pass for success.
 * Only the node's failure does: a client that went away or stopped reading
 * is told nothing, and the node is not to blame.
 */

static void
ngx_http_mesh_balancer_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx->finalize) {
        ctx->finalize(r, rc);
    }

    ngx_http_mesh_balancer_end(r, ctx, rc);

    /* counted now: a pipeline's step ends long before its pipeline */
    ngx_http_mesh_task_record(ctx);
}


static void
ngx_http_mesh_balancer_end(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_uint_t            status;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;
    c = r->connection;

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || c->error || c->timedout)
    {
        ctx->client_gone = 1;
        ngx_http_mesh_task_event(r, ctx, "task.failed", "client_gone");
        return;
    }

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {

        if (u->header_sent && ctx->done_seen) {
            /* the whole reply was in before the connection broke */
            ngx_http_mesh_task_event(r, ctx, "task.done", NULL);
            return;
        }

        ctx->failed = 1;
        ctx->node_fault = 1;

        if (u->header_sent && ctx->stream) {
            ngx_http_mesh_balancer_stream_error(r, ctx);
        }

        ngx_http_mesh_task_event(r, ctx, "task.failed",
                                 u->header_sent ? "node_failed_mid_stream"
                                                : "node_failed");
        return;
    }

    status = u->headers_in.status_n;

    if (status != NGX_HTTP_OK) {
        ctx->failed = 1;

        /* an error of the node itself, not a refusal of the task */
        ctx->node_fault = status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                          && status != NGX_HTTP_SERVICE_UNAVAILABLE
                          && status != NGX_HTTP_TOO_MANY_REQUESTS;

        ngx_http_mesh_task_event(r, ctx, "task.failed", "node_error");
        return;
    }

    ngx_http_mesh_task_event(r, ctx, "task.done", NULL);
}


static void
ngx_http_mesh_balancer_stream_error(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx)
{
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    len = sizeof("data: {\"error\":{\"message\":\"mesh: node \\\"\\\" failed "
                 "mid-stream (task )\",\"type\":\"server_error\","
                 "\"param\":null,\"code\":\"node_failed\"}}\n\n")
          + 2 * NGX_HTTP_MESH_ID_LEN + sizeof(ctx->task_id);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return;
    }

    if (ctx->openai) {
        /* an SSE event in OpenAI's error shape, and never a [DONE] */
        b->last = ngx_sprintf(b->last,
                          "data: {\"error\":{\"message\":\"mesh: node "
                          "\\\"%s\\\" failed mid-stream (task %s)\","
                          "\"type\":\"server_error\",\"param\":null,"
                          "\"code\":\"node_failed\"}}\n\n",
                          ctx->node_id, ctx->task_id);

    } else {
        b->last = ngx_sprintf(b->last,
                          "{\"error\":\"mesh: node \\\"%s\\\" failed "
                          "mid-stream\",\"node\":\"%s\",\"task_id\":\"%s\"}\n",
                          ctx->node_id, ctx->node_id, ctx->task_id);
    }
    b->flush = 1;

    out.buf = b;
    out.next = NULL;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mesh: node \"%s\" failed mid-stream, task %s",
                  ctx->node_id, ctx->task_id);

    (void) ngx_http_output_filter(r, &out);
}
