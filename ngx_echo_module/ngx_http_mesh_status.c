
/*
 * GET /mesh/status: the module's version and effective configuration.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_redis.h"
#include "ngx_http_mesh_queue.h"


static void ngx_http_mesh_status_registry(ngx_http_mesh_json_t *w,
    ngx_http_mesh_redis_addr_t *addr);
static void ngx_http_mesh_status_zone(ngx_http_mesh_json_t *w,
    ngx_shm_zone_t *shm_zone);


ngx_int_t
ngx_http_mesh_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   json;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (ngx_http_mesh_json_init(&w, r->pool, 512) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);

    ngx_http_mesh_json_kcstr(&w, "module", "ngx_http_mesh_module");
    ngx_http_mesh_json_kcstr(&w, "version", NGX_HTTP_MESH_VERSION);
    ngx_http_mesh_json_kcstr(&w, "nginx_version", NGINX_VERSION);
    ngx_http_mesh_json_kint(&w, "pid", ngx_pid);

    ngx_http_mesh_json_key(&w, "config");
    ngx_http_mesh_json_obj_start(&w);

    ngx_http_mesh_json_key(&w, "registry");
    ngx_http_mesh_status_registry(&w, mmcf->registry);

    ngx_http_mesh_json_key(&w, "zone");
    ngx_http_mesh_status_zone(&w, mmcf->shm_zone);

    ngx_http_mesh_json_kbool(&w, "secret", mmcf->secret.len > 0);
    ngx_http_mesh_json_kint(&w, "heartbeat_interval_ms",
        mmcf->heartbeat_interval);
    ngx_http_mesh_json_kint(&w, "heartbeat_misses", mmcf->heartbeat_misses);
    ngx_http_mesh_json_kint(&w, "queue_ttl_ms", mmcf->queue_ttl);
    ngx_http_mesh_json_kint(&w, "queue_size", mmcf->queue_size);
    ngx_http_mesh_json_kint(&w, "tries", mmcf->tries);

    ngx_http_mesh_json_obj_end(&w);

    if (mmcf->registry) {
        ngx_http_mesh_json_key(&w, "redis");
        ngx_http_mesh_redis_status_json(&w);
    }

    ngx_http_mesh_json_kint(&w, "worker_queue", ngx_http_mesh_queue_length());

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
}


/* the password never leaves nginx.conf: report only that there is one */

static void
ngx_http_mesh_status_registry(ngx_http_mesh_json_t *w,
    ngx_http_mesh_redis_addr_t *addr)
{
    if (addr == NULL) {
        ngx_http_mesh_json_null(w);
        return;
    }

    ngx_http_mesh_json_obj_start(w);

    if (addr->unix_path.len) {
        ngx_http_mesh_json_kstr(w, "unix", &addr->unix_path);

    } else {
        ngx_http_mesh_json_kstr(w, "host", &addr->host);
        ngx_http_mesh_json_kint(w, "port", addr->port);
    }

    ngx_http_mesh_json_kint(w, "db", addr->db);
    ngx_http_mesh_json_kbool(w, "auth", addr->password.len > 0);

    ngx_http_mesh_json_obj_end(w);
}


static void
ngx_http_mesh_status_zone(ngx_http_mesh_json_t *w, ngx_shm_zone_t *shm_zone)
{
    ngx_http_mesh_zone_t  *ctx;

    if (shm_zone == NULL) {
        ngx_http_mesh_json_null(w);
        return;
    }

    ctx = shm_zone->data;

    ngx_http_mesh_json_obj_start(w);

    ngx_http_mesh_json_kstr(w, "name", &shm_zone->shm.name);
    ngx_http_mesh_json_kint(w, "size", shm_zone->shm.size);
    ngx_http_mesh_json_kint(w, "created", ctx->sh->created);
    ngx_http_mesh_json_kint(w, "reloads_kept", ctx->sh->reused);

    ngx_http_mesh_json_obj_end(w);
}
