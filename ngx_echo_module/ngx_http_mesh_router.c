
/*
 * The routing policy, in the order of the design:
 *   1. a node that has the exact model requested;
 *   2. without a model: a node with a model of the task's type (code falls
 *      back to a text model, summarize is served by text models);
 *   3. the lowest load;  4. the model already loaded (Ollama's /api/ps, as
 *      the agent reports it): no cold load while a warm node is free;
 *   5. the most free RAM;  then the lowest index, so ties are stable.
 * A node at its max_tasks counts as busy.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"


static ngx_int_t ngx_http_mesh_route_model(ngx_http_mesh_node_t *node,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier);
static ngx_uint_t ngx_http_mesh_route_excluded(ngx_http_mesh_route_req_t *req,
    ngx_uint_t i);


/*
 * "mistral" and "mistral:latest" are one model, as in Ollama.  Both
 * lengths are known (the registry keeps each model name's), so most names
 * are told apart without reading them.
 */

ngx_uint_t
ngx_http_mesh_model_eq(const char *have, size_t hlen, const u_char *want,
    size_t len)
{
    if (hlen == len) {
        return ngx_memcmp(have, want, len) == 0;
    }

    if (hlen == len + 7) {
        return ngx_memcmp(have, want, len) == 0
               && ngx_memcmp(have + len, ":latest", 7) == 0;
    }

    if (len == hlen + 7) {
        return ngx_memcmp(have, want, hlen) == 0
               && ngx_memcmp(want + hlen, ":latest", 7) == 0;
    }

    return 0;
}


/*
 * The model index the node would serve the task with, or -1.  By type,
 * a loaded model of that type comes before the others.
 */

static ngx_int_t
ngx_http_mesh_route_model(ngx_http_mesh_node_t *node,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier)
{
    ngx_int_t               found;
    ngx_uint_t              i, want;
    ngx_http_mesh_model_t  *m;

    if (req->model) {
        for (i = 0; i < node->caps.nmodels; i++) {
            if (ngx_http_mesh_model_eq(node->caps.models[i].name,
                                       node->model_len[i], req->model,
                                       req->model_len))
            {
                return i;
            }
        }

        return -1;
    }

    switch (req->type) {

    case NGX_HTTP_MESH_TYPE_CODE:
        want = (tier == 0) ? NGX_HTTP_MESH_TYPE_CODE : NGX_HTTP_MESH_TYPE_TEXT;
        break;

    case NGX_HTTP_MESH_TYPE_SUMMARIZE:
        want = NGX_HTTP_MESH_TYPE_TEXT;
        break;

    default:
        want = req->type;
    }

    found = -1;

    for (i = 0; i < node->caps.nmodels; i++) {
        m = &node->caps.models[i];

        if (m->type != want) {
            continue;
        }

        if (m->loaded || !node->warm) {
            return i;
        }

        if (found == -1) {
            found = i;
        }
    }

    return found;
}


static ngx_uint_t
ngx_http_mesh_route_excluded(ngx_http_mesh_route_req_t *req, ngx_uint_t i)
{
    ngx_uint_t  k;

    for (k = 0; k < req->nexclude; k++) {
        if (req->exclude[k] == i) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_mesh_route(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_http_mesh_route_res_t *res,
    int64_t now, int64_t timeout)
{
    double                 best_ram;
    ngx_int_t              best, m, best_model;
    ngx_uint_t             i, tier, tiers, load, best_load, known, capable;
    ngx_uint_t             warm, best_warm;
    ngx_http_mesh_node_t  *node;

    known = 0;
    capable = 0;

    tiers = (req->model == NULL && req->type == NGX_HTTP_MESH_TYPE_CODE)
            ? 2 : 1;

    for (tier = 0; tier < tiers; tier++) {

        best = -1;
        best_model = 0;
        best_load = 0;
        best_warm = 0;
        best_ram = 0;

        for (i = 0; i < reg->nnodes; i++) {
            node = &reg->nodes[i];

            /* a node that left is not in the mesh: its models are unknown */

            if (!node->used || node->left) {
                continue;
            }

            m = ngx_http_mesh_route_model(node, req, tier);
            if (m < 0) {
                continue;
            }

            known = 1;

            if (!ngx_http_mesh_registry_live(node, now, timeout)
                || node->ejected_until > now
                || ngx_http_mesh_route_excluded(req, i))
            {
                continue;
            }

            capable = 1;
            load = ngx_http_mesh_registry_load(node);

            if (node->caps.max_tasks && load >= node->caps.max_tasks) {
                continue;
            }

            warm = node->caps.models[m].loaded;

            if (best == -1
                || load < best_load
                || (load == best_load && warm > best_warm)
                || (load == best_load && warm == best_warm
                    && node->caps.ram_free_gb > best_ram))
            {
                best = i;
                best_model = m;
                best_load = load;
                best_warm = warm;
                best_ram = node->caps.ram_free_gb;
            }
        }

        if (best != -1) {
            res->node = best;
            res->model = best_model;
            return NGX_OK;
        }

        if (capable) {
            break;          /* code models exist, all busy: wait for one */
        }
    }

    if (req->model && !known) {
        return NGX_HTTP_MESH_ROUTE_UNKNOWN;
    }

    return capable ? NGX_HTTP_MESH_ROUTE_BUSY : NGX_HTTP_MESH_ROUTE_NONE;
}


/* a node of the mesh, live or not, has a model that could serve req */

ngx_uint_t
ngx_http_mesh_route_known(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req)
{
    ngx_uint_t             i, tier, tiers;
    ngx_http_mesh_node_t  *node;

    tiers = (req->model == NULL && req->type == NGX_HTTP_MESH_TYPE_CODE)
            ? 2 : 1;

    for (tier = 0; tier < tiers; tier++) {
        for (i = 0; i < reg->nnodes; i++) {
            node = &reg->nodes[i];

            if (node->used && !node->left
                && ngx_http_mesh_route_model(node, req, tier) >= 0)
            {
                return 1;
            }
        }
    }

    return 0;
}
