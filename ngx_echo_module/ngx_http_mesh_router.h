
/*
 * Node selection: exact model, then task type, then least load, then the
 * model already loaded, then most free RAM.  Reads only the shared-zone
 * snapshot.
 */


#ifndef _NGX_HTTP_MESH_ROUTER_H_INCLUDED_
#define _NGX_HTTP_MESH_ROUTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_registry.h"


/* results besides NGX_OK */
#define NGX_HTTP_MESH_ROUTE_BUSY      1   /* capable nodes, all at limit */
#define NGX_HTTP_MESH_ROUTE_NONE      2   /* no capable live node now */
#define NGX_HTTP_MESH_ROUTE_UNKNOWN   3   /* no node at all has the model */


typedef struct {
    const u_char   *model;          /* exact model, or NULL */
    size_t          model_len;
    ngx_uint_t      type;           /* used when model is NULL */
    ngx_uint_t     *exclude;        /* node indexes already tried */
    ngx_uint_t      nexclude;
} ngx_http_mesh_route_req_t;


typedef struct {
    ngx_int_t       node;
    ngx_uint_t      model;          /* index in the node's models */
} ngx_http_mesh_route_res_t;


/* this process's candidates by model and by type (router.c) */
typedef struct ngx_http_mesh_route_index_s  ngx_http_mesh_route_index_t;


/*
 * The caller holds the zone mutex.  The index of reg kept at *local (this
 * process's, NULL at first; its memory goes with pool), rebuilt if the
 * registry's models changed since (now: ms); NULL when memory ran out or
 * the last rebuild was a moment ago: the router then looks at every slot.
 */
ngx_http_mesh_route_index_t *ngx_http_mesh_route_index(
    ngx_http_mesh_registry_sh_t *reg, void **local, ngx_pool_t *pool,
    ngx_log_t *log, int64_t now);

/* the caller holds the zone mutex; a pure choice, nothing is reserved */
ngx_int_t ngx_http_mesh_route(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req,
    ngx_http_mesh_route_res_t *res, int64_t now, int64_t timeout);
/* the caller holds the zone mutex; any node that could ever serve req */
ngx_uint_t ngx_http_mesh_route_known(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req);
ngx_uint_t ngx_http_mesh_model_eq(const char *have, size_t hlen,
    const u_char *want, size_t len);


#endif /* _NGX_HTTP_MESH_ROUTER_H_INCLUDED_ */
