
/*
 * Client API keys (mesh_api_keys): who may use the mesh's task doors.
 *
 * For a front door, one call decides:
 *
 *     ngx_str_t  name;
 *
 *     switch (ngx_http_mesh_api_key_check(r, &name)) {
 *     case NGX_OK:          the caller's key is good, name is its name
 *     case NGX_DECLINED:    mesh_api_keys is not set: the door is open
 *     case NGX_HTTP_UNAUTHORIZED:   missing or wrong key: answer 401 (or
 *                           UNAUTHENTICATED) in the door's own dialect;
 *                           ngx_http_mesh_api_key_refused(r, door) counts
 *                           it for mesh_metrics and adds the
 *                           "WWW-Authenticate: Bearer" challenge
 *     default:              NGX_ERROR
 *     }
 *
 * The key is read from "Authorization: Bearer KEY" or "x-api-key: KEY"
 * (for gRPC these are the "authorization" and "x-api-key" metadata, which
 * are HTTP/2 headers).  Every configured key is compared, in constant time
 * over SHA-256 digests, whatever matches.  $mesh_api_key_name gives the
 * same name, from the same headers, in any phase (limit_req keys on it
 * in preaccess, before a door runs).
 *
 * ngx_http_mesh_api_key_check_args() also takes "?key=KEY" from the query,
 * for clients that cannot send a header (a browser's WebSocket or
 * EventSource): the feed uses it.
 */


#ifndef _NGX_HTTP_MESH_KEYS_H_INCLUDED_
#define _NGX_HTTP_MESH_KEYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_stats.h"


#define NGX_HTTP_MESH_KEYS_FILE_MAX   (1024 * 1024)
#define NGX_HTTP_MESH_KEYS_MAX        4096
#define NGX_HTTP_MESH_KEY_MIN         16
#define NGX_HTTP_MESH_KEY_MAX         256
#define NGX_HTTP_MESH_KEY_NAME_MAX    64


typedef struct {
    ngx_str_t                     name;
    u_char                        digest[32];   /* SHA-256 of the key */
} ngx_http_mesh_api_key_t;


/* mesh_api_keys file: read now (at every start and reload) */
char *ngx_http_mesh_api_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

ngx_int_t ngx_http_mesh_api_key_check(ngx_http_request_t *r,
    ngx_str_t *name);
ngx_int_t ngx_http_mesh_api_key_check_args(ngx_http_request_t *r,
    ngx_str_t *name);
void ngx_http_mesh_api_key_refused(ngx_http_request_t *r, ngx_uint_t door);

/*
 * For the HTTP doors: NGX_DECLINED lets the request in; anything else is
 * the rc of the 401 sent, {"error":"..."} (native, Ollama, pipelines, the
 * feed) or OpenAI's {"error":{...,"code":"invalid_api_key"}} (door
 * NGX_HTTP_MESH_DOOR_OPENAI).  args: accept "?key=" too.
 */
ngx_int_t ngx_http_mesh_api_key_require(ngx_http_request_t *r,
    ngx_uint_t door, ngx_uint_t args);

/* the get handler of $mesh_api_key_name; data: 1 to read "?key=" too */
ngx_int_t ngx_http_mesh_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#endif /* _NGX_HTTP_MESH_KEYS_H_INCLUDED_ */
