
/*
 * The registry kept in sync with Redis: the key layout, heartbeat and load
 * writes, pub/sub apply, resync, and the liveness sweep.
 */


#ifndef _NGX_HTTP_MESH_SYNC_H_INCLUDED_
#define _NGX_HTTP_MESH_SYNC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_mesh_caps.h"
#include "ngx_http_mesh_redis.h"


#define NGX_HTTP_MESH_KEY_PREFIX    "mesh:node:"
#define NGX_HTTP_MESH_LIVE_KEY      "mesh:nodes"
#define NGX_HTTP_MESH_NONCE_PREFIX  "mesh:nonce:"


ngx_int_t ngx_http_mesh_sync_init_worker(ngx_cycle_t *cycle);
/* starts this worker's Redis links, their messages applied here */
ngx_int_t ngx_http_mesh_sync_connect(ngx_cycle_t *cycle,
    ngx_http_mesh_redis_addr_t *addr);

/* ms of silence after which a node is down; INT64_MAX while suspended */
int64_t ngx_http_mesh_sync_timeout(void);

/* a dispatch could not even connect: the node is down at once */
void ngx_http_mesh_sync_node_failed(ngx_uint_t index, ngx_log_t *log);
/* a node's load changed by delta; sent to Redis with the next flush */
void ngx_http_mesh_sync_count(ngx_uint_t index, ngx_int_t delta,
    ngx_log_t *log);
void ngx_http_mesh_sync_flush_load(ngx_log_t *log);

/*
 * The Redis writes of a heartbeat (node hash, live set, the event) and of
 * a leave; cb gets the reply of the last command.  NGX_DECLINED: Redis is
 * away, nothing sent; NGX_OK: cb will be called.
 */
ngx_int_t ngx_http_mesh_sync_heartbeat(ngx_http_mesh_caps_t *caps,
    ngx_str_t *caps_json, int64_t now, ngx_uint_t counted, ngx_str_t *event,
    ngx_http_mesh_redis_reply_pt cb, void *data, ngx_log_t *log);
ngx_int_t ngx_http_mesh_sync_leave(const char *node_id,
    ngx_http_mesh_redis_reply_pt cb, void *data, ngx_log_t *log);

/*
 * Claims a signed request's nonce for ttl ms in Redis, where every worker
 * and orchestrator sees it: cb gets "OK" the first time, nil on a replay.
 */
ngx_int_t ngx_http_mesh_sync_nonce(ngx_str_t *nonce, ngx_msec_t ttl,
    ngx_http_mesh_redis_reply_pt cb, void *data);


/* this worker's Redis link gauges into its slot of the zone */
void ngx_http_mesh_sync_gauges(void);


#endif /* _NGX_HTTP_MESH_SYNC_H_INCLUDED_ */
