
/*
 * Small helpers every layer of the mesh module may use.
 */


#ifndef _NGX_HTTP_MESH_UTIL_H_INCLUDED_
#define _NGX_HTTP_MESH_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* task events a worker holds until its next flush */
#define NGX_HTTP_MESH_EVENTS_BATCH  256


/*
 * Everything one process of the module keeps, in one place: zeroed at
 * init_process, so nothing survives into a process of another cycle.  Each
 * layer owns its part and nobody else touches it.
 */
typedef struct {
    /* all timers: nginx logs a timer event through a connection, fd -1 */
    ngx_connection_t      timer_conn;

    /* redis: the adapter's links (its ngx_http_mesh_redis_worker_t) */
    void                 *redis;

    /* registry: called after a change that may let a waiting task run */
    void                (*registry_change)(void);

    /* sync: timers, and the load changes not yet sent to Redis */
    ngx_event_t           sweep_event;
    ngx_event_t           flush_event;
    ngx_int_t            *load_delta;     /* per slot */
    ngx_uint_t           *load_dirty;     /* the slots changed since */
    ngx_uint_t            load_ndirty;    /* the last flush */
    u_char               *load_listed;    /* per slot: in load_dirty */
    ngx_uint_t            load_n;
    ngx_uint_t            connects;       /* to Redis */
    int64_t               grace_until;    /* ms; after an outage */

    /* events: task events waiting for the next flush */
    void                 *events;         /* ngx_http_mesh_events_batch_t */
    ngx_event_t           events_timer;
    ngx_event_t           linger_timer;
    time_t                events_each;    /* one PUBLISH each until then */

    /* queue: this worker's waiting tasks */
    ngx_queue_t           waiters;
    ngx_uint_t            nwaiters;
    ngx_event_t           poll_event;
    void                 *queue_slot;     /* ngx_http_mesh_queue_slot_t */
    unsigned              waking:1;
    unsigned              queue_ready:1;

    /* feed: this worker's live feed clients */
    ngx_queue_t           feed_clients;
    ngx_uint_t            nfeed;
    ngx_event_t           feed_timer;     /* exit check, unsubscribe */
} ngx_http_mesh_worker_t;


/* wall clock in ms since the epoch, from nginx's cached time */
int64_t ngx_http_mesh_now_ms(void);
/* at init_process, before any layer starts */
void ngx_http_mesh_worker_init(void);


extern ngx_http_mesh_worker_t  ngx_http_mesh_worker;


#endif /* _NGX_HTTP_MESH_UTIL_H_INCLUDED_ */
