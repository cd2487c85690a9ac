
/*
 * The HTTP handlers of the mesh's own API: the node API (heartbeat, leave,
 * node list), the merged /api/tags, and mesh_status.
 */


#ifndef _NGX_HTTP_MESH_API_H_INCLUDED_
#define _NGX_HTTP_MESH_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_mesh_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_node_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_tags_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_pipeline_api_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_MESH_API_H_INCLUDED_ */
