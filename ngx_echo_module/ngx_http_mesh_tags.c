
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
#include "ngx_http_mesh_keys.h"


#define NGX_HTTP_MESH_TAGS_MAX  1024


static ngx_int_t ngx_http_mesh_tags_add(ngx_http_request_t *r,
    ngx_array_t *tags, ngx_http_mesh_node_t *node);


ngx_int_t
ngx_http_mesh_tags_handler(ngx_http_request_t *r)
{
    char                 **id;
    ngx_int_t              rc;
    ngx_str_t              json;
    ngx_uint_t             i, j;
    ngx_array_t           *tags;
    ngx_http_mesh_tag_t   *tag;
    ngx_http_mesh_json_t   w;

    rc = ngx_http_mesh_api_key_require(r, NGX_HTTP_MESH_DOOR_OLLAMA, 0);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method not allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mesh_zone_get(r) == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "no mesh_zone is configured");
    }

    tags = ngx_http_mesh_tags_collect(r);

    if (tags == NULL
        || ngx_http_mesh_json_init(&w, r->pool, 4096) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_key(&w, "models");
    ngx_http_mesh_json_arr_start(&w);

    tag = tags->elts;

    for (j = 0; j < tags->nelts; j++) {
        ngx_http_mesh_json_obj_start(&w);
        ngx_http_mesh_json_kcstr(&w, "name", tag[j].name);
        ngx_http_mesh_json_kcstr(&w, "model", tag[j].name);
        ngx_http_mesh_json_kint(&w, "size",
            (int64_t) (tag[j].size_gb * 1e9 + 0.5));

        /* which nodes serve it: not in Ollama's shape, ignored by its
           clients */
        ngx_http_mesh_json_key(&w, "mesh_nodes");
        ngx_http_mesh_json_arr_start(&w);

        id = tag[j].nodes.elts;

        for (i = 0; i < tag[j].nodes.nelts; i++) {
            ngx_http_mesh_json_cstr(&w, id[i]);
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


/* the union of the live nodes' models, or NULL when out of memory */

ngx_array_t *
ngx_http_mesh_tags_collect(ngx_http_request_t *r)
{
    int64_t                now, timeout;
    ngx_uint_t             i;
    ngx_array_t           *tags;
    ngx_http_mesh_node_t  *node;

    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();

    node = ngx_palloc(r->pool, sizeof(ngx_http_mesh_node_t));
    tags = ngx_array_create(r->pool, 16, sizeof(ngx_http_mesh_tag_t));

    if (node == NULL || tags == NULL) {
        return NULL;
    }

    /* one node copied at a time: the lock is never held for the walk */

    for (i = 0; ngx_http_mesh_registry_get(i, node) == NGX_OK; i++) {
        if (ngx_http_mesh_registry_live(node, now, timeout)
            && ngx_http_mesh_tags_add(r, tags, node) != NGX_OK)
        {
            return NULL;
        }
    }

    return tags;
}


/* a live node's models into the union, in order of first appearance */

static ngx_int_t
ngx_http_mesh_tags_add(ngx_http_request_t *r, ngx_array_t *tags,
    ngx_http_mesh_node_t *node)
{
    char                  **id, *copy;
    size_t                  len;
    ngx_uint_t              j, k;
    ngx_http_mesh_tag_t    *tag;
    ngx_http_mesh_model_t  *m;

    copy = NULL;

    for (k = 0; k < node->caps.nmodels; k++) {
        m = &node->caps.models[k];
        tag = tags->elts;

        for (j = 0; j < tags->nelts; j++) {
            if (ngx_strcmp(tag[j].name, m->name) == 0) {
                break;
            }
        }

        if (j == tags->nelts) {
            if (tags->nelts == NGX_HTTP_MESH_TAGS_MAX) {
                continue;
            }

            tag = ngx_array_push(tags);
            if (tag == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(tag->name, m->name, NGX_HTTP_MESH_MODEL_LEN);
            tag->size_gb = m->size_gb;

            if (ngx_array_init(&tag->nodes, r->pool, 4, sizeof(char *))
                != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else {
            tag = &tag[j];
        }

        if (copy == NULL) {
            len = ngx_strlen(node->caps.node_id) + 1;

            copy = ngx_pnalloc(r->pool, len);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(copy, node->caps.node_id, len);
        }

        /* a name listed twice by one node names the node once */

        id = tag->nodes.elts;

        if (tag->nodes.nelts && id[tag->nodes.nelts - 1] == copy) {
            continue;
        }

        id = ngx_array_push(&tag->nodes);
        if (id == NULL) {
            return NGX_ERROR;
        }

        *id = copy;
    }

    return NGX_OK;
}
