
/*
 * Echo-System orchestrator: shared declarations of ngx_http_mesh_module.
 */


#ifndef _NGX_HTTP_MESH_MODULE_H_INCLUDED_
#define _NGX_HTTP_MESH_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_MESH_VERSION         "0.1.0"
#define NGX_HTTP_MESH_SECRET_MAX      4096


typedef struct {
    ngx_str_t                     url;       /* as written in nginx.conf */
    ngx_str_t                     host;      /* empty for a unix socket */
    in_port_t                     port;
    ngx_str_t                     unix_path;
    ngx_uint_t                    db;
    ngx_str_t                     user;
    ngx_str_t                     password;
} ngx_http_mesh_redis_addr_t;


typedef struct {
    ngx_http_mesh_redis_addr_t   *registry;
    ngx_shm_zone_t               *shm_zone;
    ngx_str_t                     secret;
    ngx_str_t                     secret_file;
} ngx_http_mesh_main_conf_t;


typedef ngx_int_t (*ngx_http_mesh_handler_pt)(ngx_http_request_t *r);


typedef struct {
    ngx_http_mesh_handler_pt      handler;
} ngx_http_mesh_loc_conf_t;


ngx_int_t ngx_http_mesh_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mesh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json);
ngx_int_t ngx_http_mesh_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message);


extern ngx_module_t  ngx_http_mesh_module;


#endif /* _NGX_HTTP_MESH_MODULE_H_INCLUDED_ */
