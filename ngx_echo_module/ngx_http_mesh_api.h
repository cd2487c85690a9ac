
/*
 * The HTTP handlers of the mesh's own API: the node API (heartbeat, leave,
 * node list), the merged /api/tags, mesh_status, and the live feed.
 */


#ifndef _NGX_HTTP_MESH_API_H_INCLUDED_
#define _NGX_HTTP_MESH_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_caps.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_zone.h"


typedef struct {
    char                    name[NGX_HTTP_MESH_MODEL_LEN];
    double                  size_gb;
    ngx_array_t             nodes;     /* of char *: ids, registry order */
} ngx_http_mesh_tag_t;


ngx_int_t ngx_http_mesh_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_node_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_tags_handler(ngx_http_request_t *r);
/* the union of the live nodes' models (ngx_http_mesh_tag_t), NULL: ENOMEM */
ngx_array_t *ngx_http_mesh_tags_collect(ngx_http_request_t *r);
/* GET /v1/models and /v1/models/{model}: the mesh's models, OpenAI's way */
ngx_int_t ngx_http_mesh_openai_models_handler(ngx_http_request_t *r);
/* mesh_metrics: the Prometheus text format, mesh-wide */
ngx_int_t ngx_http_mesh_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_pipeline_api_handler(ngx_http_request_t *r);
/* writes [...] of the named pipelines and their steps */
void ngx_http_mesh_pipeline_list_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_main_conf_t *mmcf);
ngx_int_t ngx_http_mesh_feed_handler(ngx_http_request_t *r);
/* mesh_grpc: the echo.mesh.Mesh service, and its filters */
ngx_int_t ngx_http_mesh_grpc_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_grpc_filter_init(ngx_conf_t *cf);
/* Trailers-Only UNAUTHENTICATED (for the API key check) */
/* Watch: the feed's third kind of client (ngx_http_mesh_feed.c) */
ngx_int_t ngx_http_mesh_feed_grpc(ngx_http_request_t *r, ngx_str_t *only,
    size_t nonly, char *err);
/* its header; an Event message (size, then written at p); its end */
ngx_int_t ngx_http_mesh_grpc_watch_header(ngx_http_request_t *r);
size_t ngx_http_mesh_grpc_event_size(ngx_str_t *kind, size_t len);
u_char *ngx_http_mesh_grpc_event(u_char *p, ngx_str_t *kind, u_char *json,
    size_t len);
ngx_int_t ngx_http_mesh_grpc_watch_end(ngx_http_request_t *r,
    ngx_int_t code, const char *reason);
ngx_int_t ngx_http_mesh_grpc_unauthenticated(ngx_http_request_t *r,
    const char *why);
/* exit_process: a last close frame to each feed client */
void ngx_http_mesh_feed_exit_worker(void);

/* writes "nodes":[...] into an open object; *queued: the waiting tasks */
ngx_int_t ngx_http_mesh_node_list_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_zone_t *zone, ngx_pool_t *pool, ngx_uint_t *queued);


#endif /* _NGX_HTTP_MESH_API_H_INCLUDED_ */
