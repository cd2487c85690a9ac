
/*
 * The mesh credential on the wire: the secret itself is never sent.
 *
 * Node -> orchestrator (heartbeat, leave):
 *   Authorization: MESH-HMAC-SHA256 <unix-ts>:<nonce>:<hex signature>
 *   signature = HMAC-SHA256(secret, "MESH-HMAC-SHA256\n" method "\n"
 *               path "\n" ts "\n" nonce "\n" hex(SHA-256(body)))
 *
 * Orchestrator -> agent (each task), bound to the node that runs it:
 *   Authorization: MESH-TASK <unix-ts>:<task id>:<hex signature>
 *   signature = HMAC-SHA256(secret, "MESH-TASK\n" node_id "\n" task_id
 *               "\n" ts)
 *
 * Orchestrator -> node (each 200 reply to a heartbeat, join or leave), so
 * an impostor that answers cannot hold an agent without the secret:
 *   X-Mesh-Reply-Signature: <hex signature>
 *   signature = HMAC-SHA256(secret, "MESH-REPLY\n" request signature "\n"
 *               status "\n" hex(SHA-256(reply body as sent)))
 */


#ifndef _NGX_HTTP_MESH_SIGN_H_INCLUDED_
#define _NGX_HTTP_MESH_SIGN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_MESH_SIGN_NODE      "MESH-HMAC-SHA256"
#define NGX_HTTP_MESH_SIGN_TASK      "MESH-TASK"
#define NGX_HTTP_MESH_SIGN_REPLY     "MESH-REPLY"
#define NGX_HTTP_MESH_SIGN_HEX       64
#define NGX_HTTP_MESH_NONCE_MIN      16
#define NGX_HTTP_MESH_NONCE_MAX      64


/* the secret's HMAC key, set up once per cycle (opaque: OpenSSL's) */
typedef struct ngx_http_mesh_sign_key_s  ngx_http_mesh_sign_key_t;


typedef struct {
    time_t                        ts;
    ngx_str_t                     nonce;
    ngx_str_t                     sig;
} ngx_http_mesh_sign_t;


/* freed with pool; NULL on failure */
ngx_http_mesh_sign_key_t *ngx_http_mesh_sign_key_create(ngx_pool_t *pool,
    ngx_str_t *secret);

/* the Authorization header of a node request: NGX_OK, or why not */
ngx_int_t ngx_http_mesh_sign_parse(ngx_http_request_t *r, time_t window,
    ngx_http_mesh_sign_t *s, const char **why);
/* the signature over the request and its body, compared in constant time */
ngx_int_t ngx_http_mesh_sign_verify(ngx_http_request_t *r,
    ngx_http_mesh_sign_key_t *key, ngx_http_mesh_sign_t *s, ngx_str_t *body);

/* "MESH-TASK <ts>:<task id>:<sig>" for the node node_id */
ngx_int_t ngx_http_mesh_sign_task(ngx_pool_t *pool,
    ngx_http_mesh_sign_key_t *key, u_char *node_id, u_char *task_id,
    time_t ts, ngx_str_t *out);
/* the signature alone, NGX_HTTP_MESH_SIGN_HEX characters into out */
ngx_int_t ngx_http_mesh_sign_task_sig(ngx_http_mesh_sign_key_t *key,
    u_char *node_id, u_char *task_id, time_t ts, u_char *out);

/* the reply signature to the request signed req_sig (hex, as parsed),
   NGX_HTTP_MESH_SIGN_HEX characters into out */
ngx_int_t ngx_http_mesh_sign_reply(ngx_http_mesh_sign_key_t *key,
    ngx_str_t *req_sig, ngx_uint_t status, ngx_str_t *body, u_char *out);

/* may a node register host?  networks of ngx_cidr_t; source: only the
   request's own source address */
ngx_int_t ngx_http_mesh_sign_host_allowed(ngx_http_request_t *r,
    ngx_array_t *networks, ngx_uint_t source, const char *host);


#endif /* _NGX_HTTP_MESH_SIGN_H_INCLUDED_ */
