
/*
 * Dispatch: reserving a node slot for a task (the router's choice, counted
 * in the node's load) and releasing it when the task ends with that node.
 */


#ifndef _NGX_HTTP_MESH_DISPATCH_H_INCLUDED_
#define _NGX_HTTP_MESH_DISPATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"


/* route ctx's task now; on NGX_OK a node is reserved for it (ctx->node) */
ngx_int_t ngx_http_mesh_dispatch_reserve(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
/* the task is over with node: its slot is free again */
void ngx_http_mesh_dispatch_release(ngx_uint_t node, ngx_log_t *log);
/* the task failed by the node's fault, or was served: passive ejection */
void ngx_http_mesh_dispatch_outcome(ngx_uint_t node, ngx_uint_t failed,
    ngx_log_t *log);


#endif /* _NGX_HTTP_MESH_DISPATCH_H_INCLUDED_ */
