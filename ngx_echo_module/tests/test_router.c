
/*
 * The router with its index, and without one (every slot), against the
 * policy as it was written before the index (a plain scan, here):
 * random registries
 * (models sharing names up to ":latest", every type, nodes unused, left,
 * down, draining, degraded, silent, ejected, full), random requests by
 * model and by type with tried nodes excluded, and model lists changed
 * between rounds as heartbeats change them.  Every answer must be the
 * same: result, node and model.  Prints "N passed, M failed", exits 1 on
 * any failure.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"


#define TEST_NODES     300
#define TEST_ROUNDS    40
#define TEST_REQUESTS  300
#define TEST_NOW       10000000


static void test_node(ngx_http_mesh_node_t *node, ngx_uint_t i);
static void test_models(ngx_http_mesh_node_t *node);
static void test_compare(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_uint_t round);
static ngx_int_t test_reference(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_http_mesh_route_res_t *res);
static ngx_int_t test_ref_model(ngx_http_mesh_node_t *node,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier);


static const char  *names[] = {
    "m0", "m0:latest", "m1", "m1:latest", "m1:latest:latest", "m2:7b",
    "m3", "llava", "codellama:7b", "x"
};

static int  passed, failed;


static void
test_models(ngx_http_mesh_node_t *node)
{
    ngx_uint_t  k;

    node->caps.nmodels = rand() % 5;
    node->warm = 0;

    for (k = 0; k < node->caps.nmodels; k++) {
        strcpy(node->caps.models[k].name, names[rand() % 10]);
        node->caps.models[k].type = rand() % 5;
        node->caps.models[k].loaded = rand() % 3 == 0;
        node->model_len[k] = (u_char) strlen(node->caps.models[k].name);
        node->warm |= node->caps.models[k].loaded;
    }
}


static void
test_node(ngx_http_mesh_node_t *node, ngx_uint_t i)
{
    memset(node, 0, sizeof(*node));

    node->used = rand() % 10 != 0;
    node->left = rand() % 20 == 0;
    node->down_since = rand() % 20 == 0 ? TEST_NOW - 5 : 0;
    node->last_seen = rand() % 20 == 0 ? TEST_NOW - 60000 : TEST_NOW;
    node->ejected_until = rand() % 20 == 0 ? TEST_NOW + 5000 : 0;
    node->caps.status = rand() % 10 == 0 ? rand() % 4 : 0;
    node->caps.max_tasks = rand() % 5;
    node->caps.ram_free_gb = rand() % 4;
    node->active = rand() % 3;
    node->remote_active = rand() % 3;
    node->own_remote = rand() % 2;
    snprintf(node->caps.node_id, sizeof(node->caps.node_id), "n%lu",
             (unsigned long) i);

    test_models(node);
}


/* the router's order, slot by slot, as router.c had it before the index */

static ngx_int_t
test_ref_model(ngx_http_mesh_node_t *node, ngx_http_mesh_route_req_t *req,
    ngx_uint_t tier)
{
    ngx_int_t   found;
    ngx_uint_t  i, want;

    for (i = 0; req->model && i < node->caps.nmodels; i++) {
        if (ngx_http_mesh_model_eq(node->caps.models[i].name,
                                   node->model_len[i], req->model,
                                   req->model_len))
        {
            return i;
        }
    }

    if (req->model) {
        return -1;
    }

    want = req->type;

    if (req->type == NGX_HTTP_MESH_TYPE_CODE && tier == 1) {
        want = NGX_HTTP_MESH_TYPE_TEXT;

    } else if (req->type == NGX_HTTP_MESH_TYPE_SUMMARIZE) {
        want = NGX_HTTP_MESH_TYPE_TEXT;
    }

    found = -1;

    for (i = 0; i < node->caps.nmodels; i++) {
        if (node->caps.models[i].type != want) {
            continue;
        }

        if (node->caps.models[i].loaded || !node->warm) {
            return i;
        }

        if (found == -1) {
            found = i;
        }
    }

    return found;
}


static ngx_int_t
test_reference(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_http_mesh_route_res_t *res)
{
    double                 ram;
    ngx_int_t              m, best;
    ngx_uint_t             i, k, tier, tiers, load, warm, known, capable;
    ngx_uint_t             skip, best_load, best_warm;
    ngx_http_mesh_node_t  *node;

    known = 0;
    capable = 0;
    tiers = (req->model == NULL && req->type == NGX_HTTP_MESH_TYPE_CODE)
            ? 2 : 1;

    for (tier = 0; tier < tiers; tier++) {
        best = -1;
        best_load = 0;
        best_warm = 0;
        ram = 0;

        for (i = 0; i < reg->nnodes; i++) {
            node = &reg->nodes[i];

            if (!node->used || node->left) {
                continue;
            }

            m = test_ref_model(node, req, tier);
            if (m < 0) {
                continue;
            }

            known = 1;

            for (skip = 0, k = 0; k < req->nexclude; k++) {
                skip |= req->exclude[k] == i;
            }

            if (skip || !ngx_http_mesh_registry_live(node, TEST_NOW, 9000)
                || node->ejected_until > TEST_NOW)
            {
                continue;
            }

            capable = 1;
            load = ngx_http_mesh_registry_load(node);

            if (node->caps.max_tasks && load >= node->caps.max_tasks) {
                continue;
            }

            warm = node->caps.models[m].loaded;

            if (best == -1 || load < best_load
                || (load == best_load && warm > best_warm)
                || (load == best_load && warm == best_warm
                    && node->caps.ram_free_gb > ram))
            {
                best = i;
                res->node = i;
                res->model = m;
                best_load = load;
                best_warm = warm;
                ram = node->caps.ram_free_gb;
            }
        }

        if (best != -1) {
            return NGX_OK;
        }

        if (capable) {
            break;
        }
    }

    if (req->model && !known) {
        return NGX_HTTP_MESH_ROUTE_UNKNOWN;
    }

    return capable ? NGX_HTTP_MESH_ROUTE_BUSY : NGX_HTTP_MESH_ROUTE_NONE;
}


static void
test_compare(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_uint_t round)
{
    ngx_int_t                  a, b, c;
    ngx_uint_t                 i, k, ka, kb, ex[2];
    ngx_http_mesh_route_req_t  req;
    ngx_http_mesh_route_res_t  ra, rb, rc;

    for (i = 0; i < TEST_REQUESTS; i++) {
        memset(&req, 0, sizeof(req));

        if (rand() % 2) {
            k = rand() % 11;
            req.model = (u_char *) (k < 10 ? names[k] : "absent");
            req.model_len = strlen((char *) req.model);
        }

        req.type = rand() % 6;
        req.nexclude = rand() % 3;
        ex[0] = rand() % reg->nnodes;
        ex[1] = rand() % reg->nnodes;
        req.exclude = ex;

        ra.node = rb.node = rc.node = -1;
        ra.model = rb.model = rc.model = 0;

        a = ngx_http_mesh_route(reg, idx, &req, &ra, TEST_NOW, 9000);
        b = ngx_http_mesh_route(reg, NULL, &req, &rb, TEST_NOW, 9000);
        c = test_reference(reg, &req, &rc);
        ka = ngx_http_mesh_route_known(reg, idx, &req);
        kb = ngx_http_mesh_route_known(reg, NULL, &req);

        if (a == b && a == c && ka == kb
            && (a != NGX_OK || (ra.node == rb.node && ra.model == rb.model
                                && ra.node == rc.node
                                && ra.model == rc.model)))
        {
            passed++;
            continue;
        }

        failed++;
        printf("round %lu: model \"%s\" type %lu: index %ld node %ld "
               "model %lu known %lu, scan %ld node %ld model %lu known %lu, "
               "reference %ld node %ld\n",
               (unsigned long) round,
               req.model ? (char *) req.model : "", (unsigned long) req.type,
               (long) a, (long) ra.node, (unsigned long) ra.model,
               (unsigned long) ka, (long) b, (long) rb.node,
               (unsigned long) rb.model, (unsigned long) kb, (long) c,
               (long) rc.node);
    }
}


int
main(void)
{
    void                         *local;
    int64_t                       now;
    ngx_uint_t                    i, r, built;
    ngx_pool_t                   *pool;
    ngx_http_mesh_registry_sh_t   reg;
    ngx_http_mesh_route_index_t  *idx;

    srand(13);

    memset(&reg, 0, sizeof(reg));
    reg.nodes = calloc(TEST_NODES, sizeof(ngx_http_mesh_node_t));
    pool = ngx_create_pool(4096, NULL);

    if (reg.nodes == NULL || pool == NULL) {
        return 2;
    }

    reg.nnodes = TEST_NODES;
    reg.max_nodes = TEST_NODES;

    for (i = 0; i < TEST_NODES; i++) {
        test_node(&reg.nodes[i], i);
    }

    local = NULL;
    built = 0;
    now = TEST_NOW;

    for (r = 0; r < TEST_ROUNDS; r++) {
        /* what registry_update bumps the generation for: models changed */
        for (i = 0; i < 10; i++) {
            test_models(&reg.nodes[rand() % TEST_NODES]);
        }

        reg.models_generation++;

        /* past the rebuild pause: the index follows the new models */
        now += 1000;
        idx = ngx_http_mesh_route_index(&reg, &local, pool, NULL, now);
        built += idx != NULL;

        test_compare(&reg, idx, r);

        /* load and liveness move without a rebuild */
        for (i = 0; i < 30; i++) {
            reg.nodes[rand() % TEST_NODES].active = rand() % 4;
            reg.nodes[rand() % TEST_NODES].caps.ram_free_gb = rand() % 4;
            reg.nodes[rand() % TEST_NODES].left = rand() % 2;
        }

        test_compare(&reg, idx, r);
    }

    /* a change a moment after a build: no index, every slot scanned */
    reg.models_generation++;
    idx = ngx_http_mesh_route_index(&reg, &local, pool, NULL, now + 10);

    if (built == TEST_ROUNDS && idx == NULL) {
        passed++;

    } else {
        failed++;
        printf("index built %lu times of %d, %s a moment after a build\n",
               (unsigned long) built, TEST_ROUNDS,
               idx ? "and again" : "not");
    }

    ngx_destroy_pool(pool);
    free(reg.nodes);

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
