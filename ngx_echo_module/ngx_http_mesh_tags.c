
/*
 * GET /api/tags for Ollama clients: the union of the models of the live
 * nodes, in Ollama's shape, with the nodes that have each model.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_router.h"
#include "ngx_http_mesh_sync.h"


#define NGX_HTTP_MESH_TAGS_MAX  1024


typedef struct {
    ngx_http_mesh_model_t  *model;
    ngx_uint_t              first;     /* index of its first node */
} ngx_http_mesh_tag_t;


ngx_int_t
ngx_http_mesh_tags_handler(ngx_http_request_t *r)
{
    int64_t                       now, timeout;
    ngx_int_t                     rc;
    ngx_str_t                     json;
    ngx_uint_t                    i, k, j, n, nnodes;
    ngx_http_mesh_tag_t          *tags;
    ngx_http_mesh_node_t         *nodes;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_json_t          w;
    ngx_http_mesh_model_t        *m;
    ngx_http_mesh_registry_sh_t  *reg;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method not allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    zone = ngx_http_mesh_zone_get(r);

    if (zone == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "no mesh_zone is configured");
    }

    reg = ngx_http_mesh_reg(zone);
    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();

    ngx_shmtx_lock(&zone->shpool->mutex);

    nnodes = reg->nnodes;
    nodes = ngx_palloc(r->pool,
                       (nnodes ? nnodes : 1) * sizeof(ngx_http_mesh_node_t));

    if (nodes) {
        ngx_memcpy(nodes, reg->nodes, nnodes * sizeof(ngx_http_mesh_node_t));
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    tags = ngx_palloc(r->pool,
                      NGX_HTTP_MESH_TAGS_MAX * sizeof(ngx_http_mesh_tag_t));

    if (nodes == NULL || tags == NULL
        || ngx_http_mesh_json_init(&w, r->pool, 4096) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < nnodes; i++) {
        if (!ngx_http_mesh_registry_live(&nodes[i], now, timeout)) {
            continue;
        }

        for (k = 0; k < nodes[i].caps.nmodels; k++) {
            m = &nodes[i].caps.models[k];

            for (j = 0; j < n; j++) {
                if (ngx_strcmp(tags[j].model->name, m->name) == 0) {
                    break;
                }
            }

            if (j == n && n < NGX_HTTP_MESH_TAGS_MAX) {
                tags[n].model = m;
                tags[n].first = i;
                n++;
            }
        }
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_key(&w, "models");
    ngx_http_mesh_json_arr_start(&w);

    for (j = 0; j < n; j++) {
        m = tags[j].model;

        ngx_http_mesh_json_obj_start(&w);
        ngx_http_mesh_json_kcstr(&w, "name", m->name);
        ngx_http_mesh_json_kcstr(&w, "model", m->name);
        ngx_http_mesh_json_kint(&w, "size",
            (int64_t) (m->size_gb * 1e9 + 0.5));

        /* which nodes serve it: not in Ollama's shape, ignored by its
           clients */
        ngx_http_mesh_json_key(&w, "mesh_nodes");
        ngx_http_mesh_json_arr_start(&w);

        for (i = tags[j].first; i < nnodes; i++) {
            if (!ngx_http_mesh_registry_live(&nodes[i], now, timeout)) {
                continue;
            }

            for (k = 0; k < nodes[i].caps.nmodels; k++) {
                if (ngx_strcmp(nodes[i].caps.models[k].name, m->name) == 0) {
                    ngx_http_mesh_json_cstr(&w, nodes[i].caps.node_id);
                    break;
                }
            }
        }

        ngx_http_mesh_json_arr_end(&w);
        ngx_http_mesh_json_obj_end(&w);
    }

    ngx_http_mesh_json_arr_end(&w);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
}
