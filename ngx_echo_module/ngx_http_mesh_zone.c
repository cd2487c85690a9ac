
/*
 * Creation and reload-aware initialisation of the mesh shared zone.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_zone.h"


#define NGX_HTTP_MESH_ZONE_MIN  (8 * ngx_pagesize)


static ngx_int_t ngx_http_mesh_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_http_mesh_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_http_mesh_zone_init_pt init, ngx_shm_zone_t **zone)
{
    ngx_shm_zone_t        *shm_zone;
    ngx_http_mesh_zone_t  *ctx;

    if (size < NGX_HTTP_MESH_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: %uz bytes, "
                           "at least %uz are needed",
                           name, size, (size_t) NGX_HTTP_MESH_ZONE_MIN);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_mesh_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->init = init;

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_http_mesh_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_mesh_zone_init;
    shm_zone->data = ctx;

    *zone = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mesh_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mesh_zone_t  *octx = data;

    size_t                 len;
    ngx_http_mesh_zone_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: keep the registry the old cycle built */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        ngx_atomic_fetch_add(&ctx->sh->reused, 1);
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_http_mesh_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;
    ctx->sh->created = ngx_time();

    if (ctx->init(ctx->shpool, &ctx->sh->data) != NGX_OK) {
        return NGX_ERROR;
    }

    len = sizeof(" in mesh zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in mesh zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* what the registry left; a zone too small has no mesh_metrics */

    ctx->shpool->log_nomem = 0;
    ctx->sh->stats = ngx_slab_alloc(ctx->shpool,
                                    sizeof(ngx_http_mesh_stats_t));
    ctx->shpool->log_nomem = 1;

    if (ctx->sh->stats) {
        ngx_http_mesh_stats_init(ctx->sh->stats);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mesh zone \"%V\" has no room for the metrics",
                      &shm_zone->shm.name);
    }

    return NGX_OK;
}


ngx_http_mesh_zone_t *
ngx_http_mesh_zone_get(ngx_http_request_t *r)
{
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (mmcf->shm_zone == NULL) {
        return NULL;
    }

    return mmcf->shm_zone->data;
}


ngx_http_mesh_zone_t *
ngx_http_mesh_zone_from_cycle(ngx_cycle_t *cycle)
{
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mesh_module);

    if (mmcf == NULL || mmcf->shm_zone == NULL) {
        return NULL;
    }

    return mmcf->shm_zone->data;
}
