
/*
 * The shared-memory zone of ngx_http_mesh_module: the registry snapshot and
 * counters every worker routes from.  It survives "nginx -s reload".
 */


#ifndef _NGX_HTTP_MESH_ZONE_H_INCLUDED_
#define _NGX_HTTP_MESH_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_stats.h"

/* fills *data with what the layer above keeps in a new zone */
typedef ngx_int_t (*ngx_http_mesh_zone_init_pt)(ngx_slab_pool_t *shpool,
    void **data);


typedef struct {
    time_t                    created;
    ngx_atomic_t              reused;      /* reloads that kept this zone */
    void                     *data;        /* the registry's */
    ngx_http_mesh_stats_t    *stats;       /* NULL: no room for them */
} ngx_http_mesh_shctx_t;


typedef struct {
    ngx_http_mesh_shctx_t    *sh;
    ngx_slab_pool_t          *shpool;
    ngx_http_mesh_zone_init_pt  init;
    void                     *local;       /* this process's, per cycle */
} ngx_http_mesh_zone_t;


ngx_http_mesh_zone_t *ngx_http_mesh_zone_get(ngx_http_request_t *r);
ngx_http_mesh_zone_t *ngx_http_mesh_zone_from_cycle(ngx_cycle_t *cycle);
char *ngx_http_mesh_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_http_mesh_zone_init_pt init, ngx_shm_zone_t **zone);


#endif /* _NGX_HTTP_MESH_ZONE_H_INCLUDED_ */
