
/*
 * Mesh-wide counters for mesh_metrics, kept in the shared zone and updated
 * by every worker with atomics: tasks by door, node, model and outcome,
 * tokens, retries, ejections, Redis reconnects, refused keys, queue
 * wake-ups and the routing decisions they made, and the queue wait, time
 * to first token and duration histograms.
 *
 * Label sets are bounded: node and model labels come only from the
 * registry (never from a client's body), and at most
 * NGX_HTTP_MESH_STATS_SERIES combinations are kept; past that, and past
 * NGX_HTTP_MESH_STATS_LABELS distinct nodes or models, a task counts
 * under node="_other", model="_other".
 */


#ifndef _NGX_HTTP_MESH_STATS_H_INCLUDED_
#define _NGX_HTTP_MESH_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_mesh_caps.h"


/* ngx_http_mesh_ctx_t.door: which front door a task came through */
#define NGX_HTTP_MESH_DOOR_NATIVE      1
#define NGX_HTTP_MESH_DOOR_OLLAMA      2
#define NGX_HTTP_MESH_DOOR_OPENAI      3
#define NGX_HTTP_MESH_DOOR_GRPC        4
#define NGX_HTTP_MESH_DOOR_PIPELINE    5
#define NGX_HTTP_MESH_DOOR_FEED        6      /* refused keys only */
#define NGX_HTTP_MESH_DOORS            6

/* how a task ended ($mesh_outcome, the outcome label) */
#define NGX_HTTP_MESH_OUTCOME_DONE           1
#define NGX_HTTP_MESH_OUTCOME_FAILED         2
#define NGX_HTTP_MESH_OUTCOME_CLIENT_GONE    3
#define NGX_HTTP_MESH_OUTCOME_QUEUE_TIMEOUT  4
#define NGX_HTTP_MESH_OUTCOME_QUEUE_FULL     5
#define NGX_HTTP_MESH_OUTCOME_NO_NODE        6
#define NGX_HTTP_MESH_OUTCOME_UNKNOWN_MODEL  7
#define NGX_HTTP_MESH_OUTCOME_REJECTED       8
#define NGX_HTTP_MESH_OUTCOMES               8

#define NGX_HTTP_MESH_STATS_SERIES     512
#define NGX_HTTP_MESH_STATS_LABELS     64
#define NGX_HTTP_MESH_STATS_BUCKETS    14     /* and +Inf */


typedef struct {
    ngx_atomic_t              used;         /* set last, never cleared */
    u_char                    door;
    u_char                    outcome;
    u_char                    node;         /* label index */
    u_char                    model;
    ngx_atomic_t              tasks;
    ngx_atomic_t              tokens;
} ngx_http_mesh_series_t;


typedef struct {
    ngx_atomic_t              used;
    char                      name[NGX_HTTP_MESH_MODEL_LEN];
} ngx_http_mesh_label_t;


typedef struct {
    ngx_atomic_t              bucket[NGX_HTTP_MESH_STATS_BUCKETS + 1];
    ngx_atomic_t              count;
    ngx_atomic_t              sum_ms;
} ngx_http_mesh_hist_t;


typedef struct {
    ngx_http_mesh_series_t    series[NGX_HTTP_MESH_STATS_SERIES];
    ngx_http_mesh_label_t     nodes[NGX_HTTP_MESH_STATS_LABELS];
    ngx_http_mesh_label_t     models[NGX_HTTP_MESH_STATS_LABELS];
    ngx_atomic_t              nseries;
    ngx_atomic_t              nnodes;
    ngx_atomic_t              nmodels;
    ngx_http_mesh_hist_t      queue_wait;
    ngx_http_mesh_hist_t      ttft;
    ngx_http_mesh_hist_t      duration;
    ngx_atomic_t              retries;
    ngx_atomic_t              ejections;
    ngx_atomic_t              redis_reconnects;
    ngx_atomic_t              queue_wakeups;  /* wake-ups with waiters */
    ngx_atomic_t              queue_routes;   /* decisions made for them */
    ngx_atomic_t              unauthorized[NGX_HTTP_MESH_DOORS + 1];
} ngx_http_mesh_stats_t;


/* what one task's end adds */
typedef struct {
    ngx_uint_t                door;
    ngx_uint_t                outcome;
    const char               *node;         /* "" when none served it */
    const char               *model;
    ngx_uint_t                tokens;
    ngx_int_t                 queue_ms;     /* -1: none */
    ngx_int_t                 ttft_ms;
    ngx_int_t                 duration_ms;
} ngx_http_mesh_stats_task_t;


/* a new set of counters; mutex guards adding a label or a series only */
void ngx_http_mesh_stats_init(ngx_http_mesh_stats_t *st);
void ngx_http_mesh_stats_task(ngx_http_mesh_stats_t *st, ngx_shmtx_t *mutex,
    ngx_http_mesh_stats_task_t *t);
void ngx_http_mesh_stats_observe(ngx_http_mesh_hist_t *h, ngx_msec_t ms);

const char *ngx_http_mesh_door_name(ngx_uint_t door);
const char *ngx_http_mesh_outcome_name(ngx_uint_t outcome);

/* the upper bounds of the histograms' buckets, in ms and as "le" text */
extern const ngx_msec_t   ngx_http_mesh_stats_bounds[];
extern const char *const  ngx_http_mesh_stats_le[];


#endif /* _NGX_HTTP_MESH_STATS_H_INCLUDED_ */
