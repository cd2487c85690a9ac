
/*
 * Dispatch: a node slot reserved for a task, and given back when the task
 * is over with that node.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_dispatch.h"


ngx_int_t
ngx_http_mesh_dispatch_reserve(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx)
{
    int64_t                       now;
    ngx_int_t                     rc;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_route_req_t     req;
    ngx_http_mesh_route_res_t     res;
    ngx_http_mesh_route_index_t  *idx;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_get(r);
    if (zone == NULL) {
        return NGX_HTTP_MESH_ROUTE_NONE;
    }

    ngx_memzero(&req, sizeof(ngx_http_mesh_route_req_t));

    /* a retry stays on the model the body already names */

    if (ctx->serve_model[0]) {
        req.model = ctx->serve_model;
        req.model_len = ngx_strlen(ctx->serve_model);

    } else if (ctx->model_len) {
        req.model = ctx->model;
        req.model_len = ctx->model_len;
    }

    req.type = ctx->type;
    req.exclude = ctx->tried;
    req.nexclude = ctx->ntried;

    ngx_shmtx_lock(&zone->shpool->mutex);

    now = ngx_http_mesh_now_ms();
    reg = ngx_http_mesh_reg(zone);
    idx = ngx_http_mesh_route_index(reg, &zone->local, ngx_cycle->pool,
                                    ngx_cycle->log, now);

    rc = ngx_http_mesh_route(reg, idx, &req, &res, now,
                             ngx_http_mesh_sync_timeout());

    if (rc == NGX_OK) {
        node = &reg->nodes[res.node];

        /* counted under the lock that chose it: no two take the last slot */
        ngx_http_mesh_registry_reserve(reg, node);

        ngx_cpystrn(ctx->node_id, (u_char *) node->caps.node_id,
                    sizeof(ctx->node_id));
        ngx_cpystrn(ctx->serve_model,
                    (u_char *) node->caps.models[res.model].name,
                    sizeof(ctx->serve_model));
        ngx_memcpy(&ctx->sockaddr, &node->sockaddr, node->socklen);
        ctx->socklen = node->socklen;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->route_rc = rc;

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->node = res.node;
    ctx->last_node = res.node;
    ctx->routed = 1;

    if (ctx->first_routed == 0) {
        ctx->first_routed = ngx_current_msec;
    }

    if (ctx->ntried < sizeof(ctx->tried) / sizeof(ctx->tried[0])) {
        ctx->tried[ctx->ntried++] = res.node;
    }

    ngx_http_mesh_sync_count(res.node, 1, r->connection->log);

    return NGX_OK;
}


void
ngx_http_mesh_dispatch_release(ngx_uint_t index, ngx_log_t *log)
{
    /* never below zero, whatever order the callbacks come in */
    ngx_http_mesh_registry_release(index);

    ngx_http_mesh_sync_count(index, -1, log);
}


void
ngx_http_mesh_dispatch_outcome(ngx_uint_t node, ngx_uint_t failed,
    ngx_log_t *log)
{
    ngx_pool_t                  *pool;
    ngx_http_mesh_zone_t        *zone;
    ngx_http_mesh_json_t         w;
    ngx_http_mesh_ejection_t     ej;
    ngx_http_mesh_eject_conf_t   conf;
    ngx_http_mesh_main_conf_t   *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_mesh_module);

    conf.failures = mmcf->eject_failures;
    conf.time = mmcf->eject_time;
    conf.max_time = mmcf->eject_max_time;

    if (ngx_http_mesh_registry_outcome(node, failed, ngx_http_mesh_now_ms(),
                                       &conf, &ej)
        != NGX_OK)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "mesh: node \"%s\" ejected for %M ms after %ui failures "
                  "in a row", ej.node_id, ej.duration, ej.failures);

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);

    if (zone && zone->sh->stats) {
        (void) ngx_atomic_fetch_add(&zone->sh->stats->ejections, 1);
    }

    pool = ngx_create_pool(512, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_mesh_event_start(&w, pool, "node.ejected") == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "node_id", ej.node_id);
        ngx_http_mesh_json_kint(&w, "failures", ej.failures);
        ngx_http_mesh_json_kint(&w, "ejections", ej.ejections);
        ngx_http_mesh_json_kint(&w, "duration_ms", ej.duration);
        ngx_http_mesh_event_publish(&w, log);
    }

    ngx_destroy_pool(pool);
}
