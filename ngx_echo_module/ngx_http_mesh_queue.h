
/*
 * Tasks waiting for a capable node: a FIFO per worker, bounded mesh-wide by
 * a counter in the shared zone, each entry with a TTL.
 */


#ifndef _NGX_HTTP_MESH_QUEUE_H_INCLUDED_
#define _NGX_HTTP_MESH_QUEUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_mesh_queue_init_worker(ngx_cycle_t *cycle);
void ngx_http_mesh_queue_exit_worker(ngx_cycle_t *cycle);
/* NGX_OK and ctx->queued: queued, the caller returns NGX_AGAIN; else a
   status to finalize (the 503 of a refusal is already sent) */
ngx_int_t ngx_http_mesh_queue_add(ngx_http_request_t *r);
/* the task's try failed, no other node is free: NGX_OK when it waits again
   for the rest of its TTL (r->main->count is the caller's to hold) */
ngx_int_t ngx_http_mesh_queue_requeue(ngx_http_request_t *r);
/* a node freed up or joined: dispatch waiters that can run now */
void ngx_http_mesh_queue_wake(void);
/* 503 with the reason and an estimated wait, body and Retry-After */
ngx_int_t ngx_http_mesh_queue_reject(ngx_http_request_t *r,
    const char *reason);
ngx_uint_t ngx_http_mesh_queue_length(void);


#endif /* _NGX_HTTP_MESH_QUEUE_H_INCLUDED_ */
