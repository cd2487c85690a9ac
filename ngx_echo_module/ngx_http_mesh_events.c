
/*
 * Building and publishing mesh events.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_redis.h"


#define NGX_HTTP_MESH_EVENTS_FLUSH  10        /* ms */
#define NGX_HTTP_MESH_LINGER        50        /* ms */


static void ngx_http_mesh_events_timer_handler(ngx_event_t *ev);
static void ngx_http_mesh_linger_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_mesh_event_start(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    const char *kind)
{
    if (ngx_http_mesh_json_init(w, pool, 512) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_kcstr(w, "event", kind);
    ngx_http_mesh_json_kint(w, "ts", ngx_http_mesh_now_ms());

    return NGX_OK;
}


void
ngx_http_mesh_event_publish(ngx_http_mesh_json_t *w, ngx_log_t *log)
{
    u_char                 *copy;
    ngx_str_t               msg;
    ngx_http_mesh_redis_t  *rc;

    ngx_http_mesh_json_obj_end(w);

    if (ngx_http_mesh_json_result(w, &msg) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mesh: event too large, dropped");
        return;
    }

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "mesh: registry away, event dropped: %V", &msg);
        return;
    }

    if (msg.len <= 15
        || ngx_strncmp(msg.data, "{\"event\":\"task.", 15) != 0)
    {
        (void) ngx_http_mesh_redis_command(rc, NULL, NULL, "PUBLISH %s %b",
                                           NGX_HTTP_MESH_EVENT_CHANNEL,
                                           msg.data, msg.len);
        return;
    }

    /*
     * Task events wait up to NGX_HTTP_MESH_EVENTS_FLUSH ms and go out
     * together: one write to Redis and one wakeup of it for many tasks,
     * instead of one per event.  A live feed does not notice 10 ms.
     */

    if (ngx_http_mesh_worker.nevents == NGX_HTTP_MESH_EVENTS_BATCH) {
        ngx_http_mesh_events_flush();
    }

    copy = ngx_alloc(msg.len, log);
    if (copy == NULL) {
        return;
    }

    ngx_memcpy(copy, msg.data, msg.len);

    ngx_http_mesh_worker.events[ngx_http_mesh_worker.nevents].data = copy;
    ngx_http_mesh_worker.events[ngx_http_mesh_worker.nevents].len = msg.len;
    ngx_http_mesh_worker.nevents++;

    if (!ngx_http_mesh_worker.events_timer.timer_set) {
        ngx_http_mesh_worker.events_timer.handler =
                                      ngx_http_mesh_events_timer_handler;
        ngx_http_mesh_worker.events_timer.data =
                                      &ngx_http_mesh_worker.timer_conn;
        ngx_http_mesh_worker.events_timer.log = ngx_cycle->log;
        ngx_add_timer(&ngx_http_mesh_worker.events_timer,
                      NGX_HTTP_MESH_EVENTS_FLUSH);
    }

    /* an exiting worker waits for its last events (a reload ends a stream) */
    ngx_http_mesh_worker.events_timer.cancelable = ngx_exiting ? 0 : 1;
}


/*
 * An exiting worker leaves as soon as no timer holds it, before its last
 * Redis writes go out: hold it a moment after sending them.
 */

void
ngx_http_mesh_events_linger(void)
{
    if (!ngx_exiting || ngx_http_mesh_worker.linger_timer.timer_set) {
        return;
    }

    ngx_http_mesh_worker.linger_timer.data = &ngx_http_mesh_worker.timer_conn;
    ngx_http_mesh_worker.linger_timer.handler = ngx_http_mesh_linger_handler;
    ngx_http_mesh_worker.linger_timer.log = ngx_cycle->log;
    ngx_http_mesh_worker.linger_timer.cancelable = 0;

    ngx_add_timer(&ngx_http_mesh_worker.linger_timer, NGX_HTTP_MESH_LINGER);
}


static void
ngx_http_mesh_linger_handler(ngx_event_t *ev)
{
}


static void
ngx_http_mesh_events_timer_handler(ngx_event_t *ev)
{
    ngx_http_mesh_events_flush();
}


/* sends what waits; also at worker exit, so nothing is lost or leaked */

void
ngx_http_mesh_events_flush(void)
{
    size_t                   argvlen[3];
    ngx_uint_t               i;
    const char              *argv[3];
    ngx_http_mesh_redis_t   *rc;
    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    /* argv, not a format: no format string parsed, no sds per argument */
    argv[0] = "PUBLISH";
    argvlen[0] = sizeof("PUBLISH") - 1;
    argv[1] = NGX_HTTP_MESH_TASK_CHANNEL;
    argvlen[1] = sizeof(NGX_HTTP_MESH_TASK_CHANNEL) - 1;

    if (w->events_timer.timer_set) {
        ngx_del_timer(&w->events_timer);
    }

    rc = ngx_http_mesh_redis_commands();

    for (i = 0; i < w->nevents; i++) {
        if (rc && ngx_http_mesh_redis_connected(rc)) {
            argv[2] = (const char *) w->events[i].data;
            argvlen[2] = w->events[i].len;

            (void) ngx_http_mesh_redis_command_argv(rc, NULL, NULL, 3, argv,
                                                    argvlen);
        }

        ngx_free(w->events[i].data);
    }

    if (w->nevents) {
        ngx_http_mesh_events_linger();
    }

    w->nevents = 0;
}


void
ngx_http_mesh_event_node(const char *kind, const char *node_id,
    ngx_log_t *log)
{
    ngx_pool_t            *pool;
    ngx_http_mesh_json_t   w;

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_mesh_event_start(&w, pool, kind) == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "node_id", node_id);
        ngx_http_mesh_event_publish(&w, log);
    }

    ngx_destroy_pool(pool);
}


void
ngx_http_mesh_event_caps_fields(ngx_http_mesh_json_t *w,
    ngx_http_mesh_caps_t *caps)
{
    ngx_uint_t              i;
    ngx_http_mesh_model_t  *m;

    ngx_http_mesh_json_kcstr(w, "node_id", caps->node_id);
    ngx_http_mesh_json_kcstr(w, "host", caps->host);
    ngx_http_mesh_json_kint(w, "port", caps->port);

    ngx_http_mesh_json_key(w, "models");
    ngx_http_mesh_json_arr_start(w);

    for (i = 0; i < caps->nmodels; i++) {
        m = &caps->models[i];

        ngx_http_mesh_json_obj_start(w);
        ngx_http_mesh_json_kcstr(w, "name", m->name);
        ngx_http_mesh_json_kcstr(w, "type", ngx_http_mesh_type_name(m->type));
        ngx_http_mesh_json_kdouble(w, "size_gb", m->size_gb);
        ngx_http_mesh_json_kbool(w, "loaded", m->loaded);
        ngx_http_mesh_json_obj_end(w);
    }

    ngx_http_mesh_json_arr_end(w);

    ngx_http_mesh_json_key(w, "hardware");
    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_kdouble(w, "ram_total_gb", caps->ram_total_gb);
    ngx_http_mesh_json_kdouble(w, "ram_free_gb", caps->ram_free_gb);
    ngx_http_mesh_json_kbool(w, "has_gpu", caps->has_gpu);
    ngx_http_mesh_json_kdouble(w, "gpu_vram_gb", caps->gpu_vram_gb);
    ngx_http_mesh_json_obj_end(w);

    ngx_http_mesh_json_kcstr(w, "status",
        ngx_http_mesh_status_name(caps->status));
    ngx_http_mesh_json_kint(w, "active_tasks", caps->active_tasks);
    ngx_http_mesh_json_kint(w, "max_tasks", caps->max_tasks);
    ngx_http_mesh_json_kint(w, "queued", caps->queued);
    ngx_http_mesh_json_kdouble(w, "tokens_per_sec", caps->tokens_per_sec);
    ngx_http_mesh_json_kcstr(w, "agent_version", caps->agent_version);
}
