
/*
 * Building and publishing mesh events.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_redis.h"


int64_t
ngx_http_mesh_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_mesh_event_start(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    const char *kind)
{
    if (ngx_http_mesh_json_init(w, pool, 512) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_key(w, "event");
    ngx_http_mesh_json_cstr(w, kind);
    ngx_http_mesh_json_key(w, "ts");
    ngx_http_mesh_json_int(w, ngx_http_mesh_now_ms());

    return NGX_OK;
}


void
ngx_http_mesh_event_publish(ngx_http_mesh_json_t *w, ngx_log_t *log)
{
    ngx_str_t               msg;
    const char             *channel;
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

    channel = (msg.len > 15 && ngx_strncmp(msg.data, "{\"event\":\"task.",
                                           15) == 0)
              ? NGX_HTTP_MESH_TASK_CHANNEL : NGX_HTTP_MESH_REDIS_CHANNEL;

    (void) ngx_http_mesh_redis_command(rc, NULL, NULL, "PUBLISH %s %b",
                                       channel, msg.data, msg.len);
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
        ngx_http_mesh_json_key(&w, "node_id");
        ngx_http_mesh_json_cstr(&w, node_id);
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

    ngx_http_mesh_json_key(w, "node_id");
    ngx_http_mesh_json_cstr(w, caps->node_id);
    ngx_http_mesh_json_key(w, "host");
    ngx_http_mesh_json_cstr(w, caps->host);
    ngx_http_mesh_json_key(w, "port");
    ngx_http_mesh_json_int(w, caps->port);

    ngx_http_mesh_json_key(w, "models");
    ngx_http_mesh_json_arr_start(w);

    for (i = 0; i < caps->nmodels; i++) {
        m = &caps->models[i];

        ngx_http_mesh_json_obj_start(w);
        ngx_http_mesh_json_key(w, "name");
        ngx_http_mesh_json_cstr(w, m->name);
        ngx_http_mesh_json_key(w, "type");
        ngx_http_mesh_json_cstr(w, ngx_http_mesh_type_name(m->type));
        ngx_http_mesh_json_key(w, "size_gb");
        ngx_http_mesh_json_double(w, m->size_gb);
        ngx_http_mesh_json_key(w, "loaded");
        ngx_http_mesh_json_bool(w, m->loaded);
        ngx_http_mesh_json_obj_end(w);
    }

    ngx_http_mesh_json_arr_end(w);

    ngx_http_mesh_json_key(w, "hardware");
    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_key(w, "ram_total_gb");
    ngx_http_mesh_json_double(w, caps->ram_total_gb);
    ngx_http_mesh_json_key(w, "ram_free_gb");
    ngx_http_mesh_json_double(w, caps->ram_free_gb);
    ngx_http_mesh_json_key(w, "has_gpu");
    ngx_http_mesh_json_bool(w, caps->has_gpu);
    ngx_http_mesh_json_key(w, "gpu_vram_gb");
    ngx_http_mesh_json_double(w, caps->gpu_vram_gb);
    ngx_http_mesh_json_obj_end(w);

    ngx_http_mesh_json_key(w, "status");
    ngx_http_mesh_json_cstr(w, ngx_http_mesh_status_name(caps->status));
    ngx_http_mesh_json_key(w, "active_tasks");
    ngx_http_mesh_json_int(w, caps->active_tasks);
    ngx_http_mesh_json_key(w, "max_tasks");
    ngx_http_mesh_json_int(w, caps->max_tasks);
    ngx_http_mesh_json_key(w, "queued");
    ngx_http_mesh_json_int(w, caps->queued);
    ngx_http_mesh_json_key(w, "tokens_per_sec");
    ngx_http_mesh_json_double(w, caps->tokens_per_sec);
    ngx_http_mesh_json_key(w, "agent_version");
    ngx_http_mesh_json_cstr(w, caps->agent_version);
}
