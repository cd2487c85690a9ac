
/*
 * Routed tasks: the precontent handler of locations with mesh_route, which
 * reads and checks the body, picks a node (or queues the task) and, for the
 * native task API, writes the Ollama request the agent receives.
 */


#ifndef _NGX_HTTP_MESH_TASK_H_INCLUDED_
#define _NGX_HTTP_MESH_TASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"


/* the precontent handler of mesh_route locations */
ngx_int_t ngx_http_mesh_precontent_handler(ngx_http_request_t *r);
/* mesh_balancer, and the body filter that watches a task's reply */
char *ngx_http_mesh_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_mesh_filter_init(ngx_conf_t *cf);

void ngx_http_mesh_task_event(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    const char *kind, const char *reason);

/*
 * ngx_http_mesh_vars.c: how a task ended, its count in mesh_metrics (once,
 * when its request is freed) and the $mesh_* log variables.  A door sets
 * ctx->door (and may set ctx->outcome) before the task's request ends.
 */
ngx_uint_t ngx_http_mesh_task_outcome(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx);
void ngx_http_mesh_task_record(ngx_http_mesh_ctx_t *ctx);
ngx_int_t ngx_http_mesh_task_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* the data of ngx_http_mesh_task_variable */
#define NGX_HTTP_MESH_VAR_NODE      0
#define NGX_HTTP_MESH_VAR_MODEL     1
#define NGX_HTTP_MESH_VAR_TASK_ID   2
#define NGX_HTTP_MESH_VAR_TRIES     3
#define NGX_HTTP_MESH_VAR_QUEUE_MS  4
#define NGX_HTTP_MESH_VAR_TTFT_MS   5
#define NGX_HTTP_MESH_VAR_TOKENS    6
#define NGX_HTTP_MESH_VAR_OUTCOME   7


#endif /* _NGX_HTTP_MESH_TASK_H_INCLUDED_ */
