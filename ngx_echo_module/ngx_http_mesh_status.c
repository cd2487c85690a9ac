
/*
 * GET /mesh/status: the module's version and effective configuration.
 */


#include "ngx_http_mesh_module.h"
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

    ngx_http_mesh_json_key(&w, "module");
    ngx_http_mesh_json_cstr(&w, "ngx_http_mesh_module");
    ngx_http_mesh_json_key(&w, "version");
    ngx_http_mesh_json_cstr(&w, NGX_HTTP_MESH_VERSION);
    ngx_http_mesh_json_key(&w, "nginx_version");
    ngx_http_mesh_json_cstr(&w, NGINX_VERSION);
    ngx_http_mesh_json_key(&w, "pid");
    ngx_http_mesh_json_int(&w, ngx_pid);

    ngx_http_mesh_json_key(&w, "config");
    ngx_http_mesh_json_obj_start(&w);

    ngx_http_mesh_json_key(&w, "registry");
    ngx_http_mesh_status_registry(&w, mmcf->registry);

    ngx_http_mesh_json_key(&w, "zone");
    ngx_http_mesh_status_zone(&w, mmcf->shm_zone);

    ngx_http_mesh_json_key(&w, "secret");
    ngx_http_mesh_json_bool(&w, mmcf->secret.len > 0);
    ngx_http_mesh_json_key(&w, "heartbeat_interval_ms");
    ngx_http_mesh_json_int(&w, mmcf->heartbeat_interval);
    ngx_http_mesh_json_key(&w, "heartbeat_misses");
    ngx_http_mesh_json_int(&w, mmcf->heartbeat_misses);
    ngx_http_mesh_json_key(&w, "queue_ttl_ms");
    ngx_http_mesh_json_int(&w, mmcf->queue_ttl);
    ngx_http_mesh_json_key(&w, "queue_size");
    ngx_http_mesh_json_int(&w, mmcf->queue_size);
    ngx_http_mesh_json_key(&w, "tries");
    ngx_http_mesh_json_int(&w, mmcf->tries);

    ngx_http_mesh_json_obj_end(&w);

    if (mmcf->registry) {
        ngx_http_mesh_json_key(&w, "redis");
        ngx_http_mesh_redis_status_json(&w);
    }

    ngx_http_mesh_json_key(&w, "worker_queue");
    ngx_http_mesh_json_int(&w, ngx_http_mesh_queue_length());

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
        ngx_http_mesh_json_key(w, "unix");
        ngx_http_mesh_json_str(w, &addr->unix_path);

    } else {
        ngx_http_mesh_json_key(w, "host");
        ngx_http_mesh_json_str(w, &addr->host);
        ngx_http_mesh_json_key(w, "port");
        ngx_http_mesh_json_int(w, addr->port);
    }

    ngx_http_mesh_json_key(w, "db");
    ngx_http_mesh_json_int(w, addr->db);
    ngx_http_mesh_json_key(w, "auth");
    ngx_http_mesh_json_bool(w, addr->password.len > 0);

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

    ngx_http_mesh_json_key(w, "name");
    ngx_http_mesh_json_str(w, &shm_zone->shm.name);
    ngx_http_mesh_json_key(w, "size");
    ngx_http_mesh_json_int(w, shm_zone->shm.size);
    ngx_http_mesh_json_key(w, "created");
    ngx_http_mesh_json_int(w, ctx->sh->created);
    ngx_http_mesh_json_key(w, "reloads_kept");
    ngx_http_mesh_json_int(w, ctx->sh->reused);

    ngx_http_mesh_json_obj_end(w);
}
