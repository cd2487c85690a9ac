
/*
 * The wait queue.  A waiting request is parked in the precontent phase
 * (NGX_AGAIN, as limit_req's delay does); when a node frees up the queue
 * reserves the node for the oldest waiter that can use it and resumes that
 * request's phases from a posted event.  Frees in other workers or other
 * orchestrators are noticed by a short poll while anything waits.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_queue.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_dispatch.h"


#define NGX_HTTP_MESH_QUEUE_POLL  100

/* route requests found busy in one wake-up, remembered to skip the same */
#define NGX_HTTP_MESH_QUEUE_BUSY_KEYS  8


static ngx_int_t ngx_http_mesh_queue_take(ngx_http_request_t *r,
    ngx_atomic_uint_t *pos);
static ngx_int_t ngx_http_mesh_queue_park(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_atomic_uint_t n, ngx_msec_t ttl);
static void ngx_http_mesh_queue_claim_slot(ngx_cycle_t *cycle);
static void ngx_http_mesh_queue_count(ngx_int_t delta);
static void ngx_http_mesh_queue_cleanup(void *data);
static void ngx_http_mesh_queue_remove(ngx_http_mesh_ctx_t *ctx);
static void ngx_http_mesh_queue_ttl_handler(ngx_event_t *ev);
static void ngx_http_mesh_queue_resume_handler(ngx_event_t *ev);
static void ngx_http_mesh_queue_poll_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_mesh_queue_estimate(void);
static ngx_uint_t ngx_http_mesh_queue_same_route(ngx_http_mesh_ctx_t *a,
    ngx_http_mesh_ctx_t *b);


ngx_int_t
ngx_http_mesh_queue_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    ngx_queue_init(&w->waiters);

    w->poll_event.handler = ngx_http_mesh_queue_poll_handler;
    w->poll_event.log = cycle->log;
    w->poll_event.data = &w->timer_conn;
    w->poll_event.cancelable = 1;

    w->queue_ready = 1;

    ngx_http_mesh_queue_claim_slot(cycle);

    ngx_http_mesh_registry_set_change_handler(ngx_http_mesh_queue_wake);

    return NGX_OK;
}


void
ngx_http_mesh_queue_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_mesh_zone_t        *zone;
    ngx_http_mesh_queue_slot_t  *slot;

    if (ngx_http_mesh_worker.poll_event.timer_set) {
        ngx_del_timer(&ngx_http_mesh_worker.poll_event);
    }

    ngx_http_mesh_worker.queue_ready = 0;

    /* waiters a fast shutdown leaves are not waiting any more */

    slot = ngx_http_mesh_worker.queue_slot;
    zone = ngx_http_mesh_zone_from_cycle(cycle);

    if (slot && zone) {
        (void) ngx_atomic_fetch_add(&ngx_http_mesh_reg(zone)->queued,
                                    -(ngx_atomic_int_t) slot->queued);
        slot->queued = 0;
        slot->pid = 0;
    }

    ngx_http_mesh_worker.queue_slot = NULL;
}


ngx_uint_t
ngx_http_mesh_queue_length(void)
{
    return ngx_http_mesh_worker.nwaiters;
}


ngx_int_t
ngx_http_mesh_queue_add(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_atomic_uint_t           n;
    ngx_http_mesh_ctx_t        *ctx;
    ngx_http_mesh_main_conf_t  *mmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    rc = ngx_http_mesh_queue_take(r, &n);

    if (rc == NGX_DECLINED) {
        return ngx_http_mesh_queue_reject(r, "no_capable_node");
    }

    if (rc == NGX_BUSY) {
        return ngx_http_mesh_queue_reject(r, "queue_full");
    }

    if (ngx_http_mesh_queue_park(r, ctx, n, mmcf->queue_ttl) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * A task whose try failed before the first byte, while every other capable
 * node is at its limit, waits again for what is left of its TTL (the
 * balancer gives up its upstream).  NGX_DECLINED: it cannot wait.
 */

ngx_int_t
ngx_http_mesh_queue_requeue(ngx_http_request_t *r)
{
    ngx_msec_t                  waited;
    ngx_atomic_uint_t           n;
    ngx_http_mesh_ctx_t        *ctx;
    ngx_http_mesh_main_conf_t  *mmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    waited = ngx_current_msec - ctx->arrival;

    if (ctx->queued || waited >= mmcf->queue_ttl) {
        return NGX_DECLINED;
    }

    if (ngx_http_mesh_queue_take(r, &n) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_mesh_queue_park(r, ctx, n, mmcf->queue_ttl - waited)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* nothing runs for it until a node is reserved */
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_OK;
}


/* a place in the mesh-wide count: NGX_OK, NGX_DECLINED (no queue), NGX_BUSY */

static ngx_int_t
ngx_http_mesh_queue_take(ngx_http_request_t *r, ngx_atomic_uint_t *pos)
{
    ngx_atomic_uint_t           n;
    ngx_http_mesh_zone_t       *zone;
    ngx_http_mesh_main_conf_t  *mmcf;

    zone = ngx_http_mesh_zone_get(r);
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (zone == NULL
        || !ngx_http_mesh_worker.queue_ready
        || mmcf->queue_size == 0
        || mmcf->queue_ttl == 0)
    {
        return NGX_DECLINED;
    }

    n = ngx_atomic_fetch_add(&ngx_http_mesh_reg(zone)->queued, 1);

    if (n >= mmcf->queue_size) {
        (void) ngx_atomic_fetch_add(&ngx_http_mesh_reg(zone)->queued, -1);
        return NGX_BUSY;
    }

    ngx_http_mesh_queue_count(1);

    *pos = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_queue_park(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_atomic_uint_t n, ngx_msec_t ttl)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_mesh_json_t   w;
    ngx_http_mesh_zone_t  *zone;

    if (!ctx->queue_cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);

        if (cln == NULL) {
            zone = ngx_http_mesh_zone_get(r);
            (void) ngx_atomic_fetch_add(&ngx_http_mesh_reg(zone)->queued, -1);
            ngx_http_mesh_queue_count(-1);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mesh_queue_cleanup;
        cln->data = ctx;
        ctx->queue_cleanup = 1;
    }

    ctx->queued = 1;
    ctx->was_queued = 1;
    ngx_queue_insert_tail(&ngx_http_mesh_worker.waiters, &ctx->queue);
    ngx_http_mesh_worker.nwaiters++;

    ctx->ttl.handler = ngx_http_mesh_queue_ttl_handler;
    ctx->ttl.data = r;
    ctx->ttl.log = r->connection->log;
    ngx_add_timer(&ctx->ttl, ttl);

    if (!ngx_http_mesh_worker.poll_event.timer_set) {
        ngx_add_timer(&ngx_http_mesh_worker.poll_event,
                      NGX_HTTP_MESH_QUEUE_POLL);
    }

    /* a client that goes away while waiting leaves the queue at once */
    r->read_event_handler = ngx_http_test_reading;

    if (ngx_http_mesh_event_start(&w, r->pool, "task.queued") == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "task_id", (char *) ctx->task_id);
        ngx_http_mesh_json_kint(&w, "position", n + 1);
        ngx_http_mesh_event_publish(&w, r->connection->log);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mesh: task %s queued at %uA", ctx->task_id, n + 1);

    return NGX_OK;
}


/*
 * The mesh-wide count of waiting tasks is shared by every worker; each
 * also counts its own in a slot of the zone, under its pid.  A worker
 * that crashes cannot take its waiters out of the total: the next process
 * to start takes out what the slot of a dead process still holds.
 */

static void
ngx_http_mesh_queue_claim_slot(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             lost;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_queue_slot_t   *slot, *mine;
    ngx_http_mesh_registry_sh_t  *reg;

    ngx_http_mesh_worker.queue_slot = NULL;

    zone = ngx_http_mesh_zone_from_cycle(cycle);
    if (zone == NULL) {
        return;
    }

    reg = ngx_http_mesh_reg(zone);
    mine = NULL;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_MESH_QUEUE_SLOTS; i++) {
        slot = &reg->queue_slots[i];

        if (slot->pid && slot->pid != ngx_pid
            && kill(slot->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            lost = slot->queued;

            if (lost) {
                (void) ngx_atomic_fetch_add(&reg->queued,
                                            -(ngx_atomic_int_t) lost);
                ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                              "mesh: %uA waiting tasks of the exited "
                              "process %P are no longer counted",
                              lost, slot->pid);
            }

            slot->pid = 0;
            slot->queued = 0;
        }

        if (mine == NULL && (slot->pid == 0 || slot->pid == ngx_pid)) {
            mine = slot;
        }
    }

    if (mine) {
        mine->pid = ngx_pid;
        mine->queued = 0;
        mine->redis_up = 0;
        mine->redis_pending = 0;
        mine->feed_clients = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_mesh_worker.queue_slot = mine;
}


static void
ngx_http_mesh_queue_count(ngx_int_t delta)
{
    ngx_http_mesh_queue_slot_t  *slot;

    slot = ngx_http_mesh_worker.queue_slot;

    if (slot) {
        (void) ngx_atomic_fetch_add(&slot->queued, delta);
    }
}


static void
ngx_http_mesh_queue_remove(ngx_http_mesh_ctx_t *ctx)
{
    ngx_http_mesh_zone_t  *zone;

    if (!ctx->queued) {
        return;
    }

    ctx->queued = 0;
    ngx_queue_remove(&ctx->queue);
    ngx_http_mesh_worker.nwaiters--;

    if (ctx->ttl.timer_set) {
        ngx_del_timer(&ctx->ttl);
    }

    zone = ngx_http_mesh_zone_get(ctx->request);

    if (zone) {
        (void) ngx_atomic_fetch_add(&ngx_http_mesh_reg(zone)->queued, -1);
        ngx_http_mesh_queue_count(-1);
    }
}


static void
ngx_http_mesh_queue_cleanup(void *data)
{
    ngx_http_mesh_ctx_t  *ctx = data;

    ngx_pool_t            *pool;
    ngx_http_mesh_json_t   w;

    if (ctx->queued) {
        ngx_http_mesh_queue_remove(ctx);

        /* the request pool is being destroyed (r->pool is NULL by now) */

        pool = ngx_create_pool(1024, ngx_cycle->log);

        if (pool
            && ngx_http_mesh_event_start(&w, pool, "task.cancelled") == NGX_OK)
        {
            ngx_http_mesh_json_kcstr(&w, "task_id", (char *) ctx->task_id);
            ngx_http_mesh_json_kcstr(&w, "reason", "client_gone");
            ngx_http_mesh_event_publish(&w, ngx_cycle->log);
        }

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (ctx->ttl.timer_set) {
        ngx_del_timer(&ctx->ttl);
    }

    if (ctx->resume.posted) {
        ngx_delete_posted_event(&ctx->resume);
    }
}


static void
ngx_http_mesh_queue_ttl_handler(ngx_event_t *ev)
{
    ngx_http_request_t   *r = ev->data;

    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_http_mesh_ctx_t  *ctx;
    ngx_http_mesh_json_t  w;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    ngx_http_mesh_queue_remove(ctx);

    if (ngx_http_mesh_event_start(&w, r->pool, "task.expired") == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "task_id", (char *) ctx->task_id);
        ngx_http_mesh_event_publish(&w, c->log);
    }

    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_mesh_queue_reject(r, "queue_timeout");
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Two waiters ask for the same routing decision: the same model (or none)
 * and type, and no node excluded by a failed try.  Within one wake-up the
 * answer for the second is the answer for the first.
 */

static ngx_uint_t
ngx_http_mesh_queue_same_route(ngx_http_mesh_ctx_t *a, ngx_http_mesh_ctx_t *b)
{
    u_char  *ma, *mb;
    size_t   la, lb;

    if (a->ntried || b->ntried || a->type != b->type) {
        return 0;
    }

    ma = a->serve_model[0] ? a->serve_model : a->model;
    la = a->serve_model[0] ? ngx_strlen(a->serve_model) : a->model_len;
    mb = b->serve_model[0] ? b->serve_model : b->model;
    lb = b->serve_model[0] ? ngx_strlen(b->serve_model) : b->model_len;

    return la == lb && (la == 0 || ngx_memcmp(ma, mb, la) == 0);
}


/*
 * Each waiter is routed in arrival order, except that a waiter asking what
 * an earlier one already got "busy" or "none" for in this same wake-up is
 * skipped without routing: with 1,000 tasks waiting for one model, a freed
 * slot costs one routing decision, not 1,000.
 */

void
ngx_http_mesh_queue_wake(void)
{
    ngx_int_t               rc;
    ngx_uint_t              nbusy, k;
    ngx_queue_t            *q, *next;
    ngx_http_mesh_ctx_t    *ctx;
    ngx_http_mesh_zone_t   *zone;
    ngx_http_mesh_stats_t  *st;
    ngx_http_mesh_ctx_t    *busy[NGX_HTTP_MESH_QUEUE_BUSY_KEYS];

    if (!ngx_http_mesh_worker.queue_ready || ngx_http_mesh_worker.waking
        || ngx_queue_empty(&ngx_http_mesh_worker.waiters))
    {
        return;
    }

    ngx_http_mesh_worker.waking = 1;
    nbusy = 0;

    /* counted for mesh_metrics: the decisions per wake-up stay few */

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    st = zone ? zone->sh->stats : NULL;

    if (st) {
        (void) ngx_atomic_fetch_add(&st->queue_wakeups, 1);
    }

    for (q = ngx_queue_head(&ngx_http_mesh_worker.waiters);
         q != ngx_queue_sentinel(&ngx_http_mesh_worker.waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_http_mesh_ctx_t, queue);

        for (k = 0; k < nbusy; k++) {
            if (ngx_http_mesh_queue_same_route(busy[k], ctx)) {
                break;
            }
        }

        if (k < nbusy) {
            continue;
        }

        if (st) {
            (void) ngx_atomic_fetch_add(&st->queue_routes, 1);
        }

        rc = ngx_http_mesh_dispatch_reserve(ctx->request, ctx);

        if (rc == NGX_HTTP_MESH_ROUTE_BUSY || rc == NGX_HTTP_MESH_ROUTE_NONE) {
            if (nbusy < NGX_HTTP_MESH_QUEUE_BUSY_KEYS && ctx->ntried == 0) {
                busy[nbusy++] = ctx;
            }

            continue;
        }

        /* routed (a node is reserved) or can never run: resume either way,
           the precontent handler answers from ctx->route_rc */

        ngx_http_mesh_queue_remove(ctx);

        ctx->resume.handler = ngx_http_mesh_queue_resume_handler;
        ctx->resume.data = ctx->request;
        ctx->resume.log = ctx->request->connection->log;
        ngx_post_event(&ctx->resume, &ngx_posted_events);
    }

    ngx_http_mesh_worker.waking = 0;
}


static void
ngx_http_mesh_queue_resume_handler(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t  *c;

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mesh_queue_poll_handler(ngx_event_t *ev)
{
    if (ngx_queue_empty(&ngx_http_mesh_worker.waiters)) {
        return;
    }

    ngx_http_mesh_queue_wake();

    if (!ngx_queue_empty(&ngx_http_mesh_worker.waiters) && !ev->timer_set) {
        ngx_add_timer(ev, NGX_HTTP_MESH_QUEUE_POLL);
    }
}


/* recent task time x tasks ahead / slots of live nodes, at least 1 s */

static ngx_uint_t
ngx_http_mesh_queue_estimate(void)
{
    double                        ms;
    int64_t                       now, timeout;
    ngx_uint_t                    i, slots, queued;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return 1;
    }

    reg = ngx_http_mesh_reg(zone);
    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();
    slots = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < reg->nnodes; i++) {
        node = &reg->nodes[i];

        if (ngx_http_mesh_registry_live(node, now, timeout)) {
            slots += node->caps.max_tasks ? node->caps.max_tasks : 1;
        }
    }

    ms = reg->avg_task_ms;
    queued = reg->queued;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (slots == 0) {
        slots = 1;
    }

    ms = ms * (queued + 1) / slots;

    return ms < 1000 ? 1 : (ngx_uint_t) (ms + 999) / 1000;
}


ngx_int_t
ngx_http_mesh_queue_reject(ngx_http_request_t *r, const char *reason)
{
    u_char                    *p, *msg;
    ngx_str_t                  json;
    ngx_uint_t                 wait;
    ngx_table_elt_t           *h;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_loc_conf_t  *mlcf;

    wait = ngx_http_mesh_queue_estimate();

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx) {
        if (ngx_strcmp(reason, "queue_full") == 0) {
            ctx->outcome = NGX_HTTP_MESH_OUTCOME_QUEUE_FULL;

        } else if (ngx_strcmp(reason, "queue_timeout") == 0) {
            ctx->outcome = NGX_HTTP_MESH_OUTCOME_QUEUE_TIMEOUT;

        } else {
            ctx->outcome = NGX_HTTP_MESH_OUTCOME_NO_NODE;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%ui", wait) - p;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI) {
        msg = ngx_pnalloc(r->pool, 96 + NGX_INT_T_LEN);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_sprintf(msg, "no capable node is free (%s), estimated "
                           "wait %ui s%Z", reason, wait);

        return ngx_http_mesh_send_openai_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "server_error", reason,
                   (char *) msg);
    }

    if (ngx_http_mesh_json_init(&w, r->pool, 256) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "error", "no capable node is free");
    ngx_http_mesh_json_kcstr(&w, "reason", reason);
    ngx_http_mesh_json_kint(&w, "estimated_wait_s", wait);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, &json);
}
