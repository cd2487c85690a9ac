
/*
 * The router with its index, and without one (every slot), against the
 * policy as it was written before the index (a plain scan of the slots
 * themselves, here, never their routing summary):
 *
 * 1. random registries (models sharing names up to ":latest", every type,
 *    nodes unused, left, down, draining, degraded, silent, ejected, full),
 *    random requests by model and by type with tried nodes excluded, and
 *    model lists changed between rounds as heartbeats change them;
 * 2. a registry made and changed only by the registry's own writers
 *    (ngx_http_mesh_registry.c and .h, on a zone outside nginx): joins,
 *    heartbeats changing load, RAM, status, max_tasks, loaded models and
 *    model lists, slots reclaimed, leaves, downs (connect failure, by id,
 *    the sweep's), ejections, Redis' load, dispatches and their releases,
 *    with the clock moving; after every change each slot's summary must
 *    be what its slot says, and decisions between changes must agree;
 * 3. a node's load count through heartbeats signed before and after the
 *    tasks that ended here, and when it is marked down.
 *
 * Every answer must be the same: result, node and model.  Prints "N
 * passed, M failed", exits 1 on any failure.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"
#include "ngx_zone_shim.h"


#define TEST_NODES     300
#define TEST_ROUNDS    40
#define TEST_REQUESTS  300
#define TEST_NOW       10000000
#define TEST_TIMEOUT   9000

#define TEST_SLOTS     200          /* part 2: the zone's slots */
#define TEST_IDS       240          /* node ids: more than slots */
#define TEST_CHANGES   4000
#define TEST_PER       6            /* decisions after each change */
#define TEST_HELD      64           /* dispatches not yet released */


static void test_node(ngx_http_mesh_node_t *node, ngx_uint_t i);
static void test_models(ngx_http_mesh_node_t *node);
static void test_request(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_uint_t *ex);
static ngx_int_t test_compare(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req,
    ngx_http_mesh_route_res_t *res, int64_t now, ngx_uint_t round);
static ngx_int_t test_reference(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_http_mesh_route_res_t *res,
    int64_t now);
static ngx_int_t test_ref_model(ngx_http_mesh_node_t *node,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier);
static void test_random(void);
static ngx_uint_t test_sums(ngx_http_mesh_registry_sh_t *reg,
    ngx_uint_t change);
static void test_caps(ngx_http_mesh_caps_t *caps, ngx_uint_t id,
    ngx_uint_t same);
static void test_writers(void);
static void test_counts(void);
static void test_end(ngx_http_mesh_zone_t *zone, ngx_http_mesh_node_t *node,
    int64_t at);
static void test_heartbeat(ngx_http_mesh_caps_t *caps,
    ngx_http_mesh_node_t *node, const char *what, int64_t at, time_t sent,
    uint32_t active, ngx_int_t want_rc, ngx_uint_t want,
    ngx_uint_t want_load);


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
    ngx_http_mesh_route_req_t *req, ngx_http_mesh_route_res_t *res,
    int64_t now)
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

            if (skip || !ngx_http_mesh_registry_live(node, now, TEST_TIMEOUT)
                || node->ejected_until > now)
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


/* by model (one of names[], or absent) or by type, up to two tried */

static void
test_request(ngx_http_mesh_registry_sh_t *reg, ngx_http_mesh_route_req_t *req,
    ngx_uint_t *ex)
{
    ngx_uint_t  k;

    memset(req, 0, sizeof(ngx_http_mesh_route_req_t));

    if (rand() % 2) {
        k = rand() % 11;
        req->model = (u_char *) (k < 10 ? names[k] : "absent");
        req->model_len = strlen((char *) req->model);
    }

    req->type = rand() % 6;
    req->nexclude = rand() % 3;
    ex[0] = rand() % (reg->nnodes ? reg->nnodes : 1);
    ex[1] = rand() % (reg->nnodes ? reg->nnodes : 1);
    req->exclude = ex;
}


/* one decision three ways; the index's answer in *res */

static ngx_int_t
test_compare(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req,
    ngx_http_mesh_route_res_t *res, int64_t now, ngx_uint_t round)
{
    ngx_int_t                  a, b, c;
    ngx_uint_t                 ka, kb;
    ngx_http_mesh_route_res_t  rb, rc;

    res->node = rb.node = rc.node = -1;
    res->model = rb.model = rc.model = 0;

    a = ngx_http_mesh_route(reg, idx, req, res, now, TEST_TIMEOUT);
    b = ngx_http_mesh_route(reg, NULL, req, &rb, now, TEST_TIMEOUT);
    c = test_reference(reg, req, &rc, now);
    ka = ngx_http_mesh_route_known(reg, idx, req);
    kb = ngx_http_mesh_route_known(reg, NULL, req);

    if (a == b && a == c && ka == kb
        && (a != NGX_OK || (res->node == rb.node && res->model == rb.model
                            && res->node == rc.node
                            && res->model == rc.model)))
    {
        passed++;
        return a;
    }

    if (failed++ < 20) {
        printf("round %lu: model \"%s\" type %lu: index %ld node %ld "
               "model %lu known %lu, scan %ld node %ld model %lu known %lu, "
               "reference %ld node %ld model %lu\n",
               (unsigned long) round,
               req->model ? (char *) req->model : "",
               (unsigned long) req->type, (long) a, (long) res->node,
               (unsigned long) res->model, (unsigned long) ka, (long) b,
               (long) rb.node, (unsigned long) rb.model, (unsigned long) kb,
               (long) c, (long) rc.node, (unsigned long) rc.model);
    }

    return a;
}


/* part 1: registries written directly, each slot's summary made after */

static void
test_random(void)
{
    void                         *local;
    int64_t                       now;
    ngx_uint_t                    i, k, r, built, ex[2];
    ngx_pool_t                   *pool;
    ngx_http_mesh_route_req_t     req;
    ngx_http_mesh_route_res_t     res;
    ngx_http_mesh_registry_sh_t   reg;
    ngx_http_mesh_route_index_t  *idx;

    memset(&reg, 0, sizeof(reg));
    reg.nodes = calloc(TEST_NODES, sizeof(ngx_http_mesh_node_t));
    reg.sums = calloc(TEST_NODES, sizeof(ngx_http_mesh_node_sum_t));
    reg.map_words = ngx_http_mesh_sum_words(TEST_NODES);
    reg.maps = calloc(NGX_HTTP_MESH_SUM_MAPS * reg.map_words,
                        sizeof(uint64_t));
    pool = ngx_create_pool(4096, NULL);

    if (reg.nodes == NULL || reg.sums == NULL || reg.maps == NULL
        || pool == NULL)
    {
        exit(2);
    }

    reg.nnodes = TEST_NODES;
    reg.max_nodes = TEST_NODES;

    for (i = 0; i < TEST_NODES; i++) {
        test_node(&reg.nodes[i], i);
        ngx_http_mesh_registry_sum(&reg, &reg.nodes[i]);
    }

    local = NULL;
    built = 0;
    now = TEST_NOW;

    for (r = 0; r < TEST_ROUNDS; r++) {
        /* what registry_update bumps the generation for: models changed */
        for (i = 0; i < 10; i++) {
            k = rand() % TEST_NODES;
            test_models(&reg.nodes[k]);
            ngx_http_mesh_registry_sum(&reg, &reg.nodes[k]);
        }

        reg.models_generation++;

        /* past the rebuild pause: the index follows the new models */
        now += 1000;
        idx = ngx_http_mesh_route_index(&reg, &local, pool, NULL, now);
        built += idx != NULL;

        for (i = 0; i < TEST_REQUESTS; i++) {
            test_request(&reg, &req, ex);
            (void) test_compare(&reg, idx, &req, &res, TEST_NOW, r);
        }

        /* load and liveness move without a rebuild */
        for (i = 0; i < 30; i++) {
            k = rand() % TEST_NODES;
            reg.nodes[k].active = rand() % 4;
            ngx_http_mesh_registry_sum(&reg, &reg.nodes[k]);
            k = rand() % TEST_NODES;
            reg.nodes[k].caps.ram_free_gb = rand() % 4;
            ngx_http_mesh_registry_sum(&reg, &reg.nodes[k]);
            k = rand() % TEST_NODES;
            reg.nodes[k].left = rand() % 2;
            ngx_http_mesh_registry_sum(&reg, &reg.nodes[k]);
        }

        for (i = 0; i < TEST_REQUESTS; i++) {
            test_request(&reg, &req, ex);
            (void) test_compare(&reg, idx, &req, &res, TEST_NOW, r);
        }
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
    free(reg.sums);
    free(reg.maps);
}


/*
 * Each slot's summary against its slot, derived here on its own, and the
 * bitmaps of the slots per load: a writer that changed a slot and not its
 * summary fails.
 */

static ngx_uint_t
test_sums(ngx_http_mesh_registry_sh_t *reg, ngx_uint_t change)
{
    uint32_t                   loaded, flags, maps;
    ngx_uint_t                 i, m, l, load, bad, in;
    ngx_http_mesh_node_t      *node;
    ngx_http_mesh_node_sum_t  *s;

    bad = 0;

    for (i = 0; i < reg->max_nodes; i++) {
        node = &reg->nodes[i];
        s = &reg->sums[i];

        load = node->active + (node->remote_active > node->own_remote
                               ? node->remote_active - node->own_remote : 0);

        for (loaded = 0, m = 0; m < node->caps.nmodels; m++) {
            loaded |= node->caps.models[m].loaded ? 1u << m : 0;
        }

        flags = 0;

        if (node->used && !node->left) {
            flags |= NGX_HTTP_MESH_SUM_MEMBER;

            if (!node->down_since
                && node->caps.status != NGX_HTTP_MESH_STATUS_DRAINING
                && node->caps.status != NGX_HTTP_MESH_STATUS_DEGRADED)
            {
                flags |= NGX_HTTP_MESH_SUM_ROUTABLE;
            }
        }

        if (node->caps.max_tasks && load >= node->caps.max_tasks) {
            flags |= NGX_HTTP_MESH_SUM_FULL;
        }

        /* member slots only: in the map of their load (0-3), of a model
           loaded if one is, of their free RAM's range */

        maps = 0;

        if (flags & NGX_HTTP_MESH_SUM_MEMBER) {
            maps = 1u << (NGX_HTTP_MESH_SUM_RAM
                          + ngx_http_mesh_registry_ram_range(
                                node->caps.ram_free_gb));
            maps |= load < NGX_HTTP_MESH_SUM_LEVELS ? 1u << load : 0;
            maps |= loaded ? 1u << NGX_HTTP_MESH_SUM_WARM : 0;
        }

        for (l = 0; l < NGX_HTTP_MESH_SUM_MAPS; l++) {
            in = (reg->maps[l * reg->map_words + i / 64] >> (i % 64)) & 1;

            if (in != ((maps >> l) & 1)) {
                if (bad++ == 0 && failed < 20) {
                    printf("change %lu: slot %lu at load %lu, member %d, "
                           "loaded %x, ram %g: %s bitmap %lu\n",
                           (unsigned long) change, (unsigned long) i,
                           (unsigned long) load,
                           (flags & NGX_HTTP_MESH_SUM_MEMBER) != 0,
                           (unsigned) loaded, node->caps.ram_free_gb,
                           in ? "in" : "not in", (unsigned long) l);
                }
            }
        }

        if (s->load == load && s->last_seen == node->last_seen
            && s->ejected_until == node->ejected_until
            && s->ram_free_gb == node->caps.ram_free_gb
            && s->loaded == loaded && s->flags == flags)
        {
            continue;
        }

        if (bad++ == 0 && failed < 20) {
            printf("change %lu: slot %lu's summary: load %lu flags %x "
                   "loaded %x seen %lld ejected %lld ram %g, its slot: "
                   "load %lu flags %x loaded %x seen %lld ejected %lld "
                   "ram %g\n", (unsigned long) change, (unsigned long) i,
                   (unsigned long) s->load, (unsigned) s->flags,
                   (unsigned) s->loaded, (long long) s->last_seen,
                   (long long) s->ejected_until, s->ram_free_gb,
                   (unsigned long) load, (unsigned) flags, (unsigned) loaded,
                   (long long) node->last_seen,
                   (long long) node->ejected_until, node->caps.ram_free_gb);
        }
    }

    return bad;
}


/* a heartbeat of node id: its last models again (same), or new ones */

static void
test_caps(ngx_http_mesh_caps_t *caps, ngx_uint_t id, ngx_uint_t same)
{
    ngx_uint_t  k, n;

    n = caps->nmodels;
    memset(caps, 0, offsetof(ngx_http_mesh_caps_t, models));

    snprintf(caps->node_id, sizeof(caps->node_id), "node-%lu",
             (unsigned long) id);
    strcpy(caps->host, "127.0.0.1");
    caps->port = 50052;
    caps->status = rand() % 8 == 0 ? rand() % 4 : 0;
    caps->active_tasks = rand() % 3;
    caps->max_tasks = rand() % 4;
    caps->ram_free_gb = (rand() % 8) / 2.0;
    caps->nmodels = n;

    if (!same || n == 0) {
        caps->nmodels = 1 + rand() % 4;

        for (k = 0; k < caps->nmodels; k++) {
            strcpy(caps->models[k].name, names[rand() % 10]);
            caps->models[k].type = rand() % 4;
        }
    }

    for (k = 0; k < caps->nmodels; k++) {
        caps->models[k].loaded = rand() % 3 == 0;
    }
}


/* part 2: the registry's own writers, between decisions */

static void
test_writers(void)
{
    char                          id[NGX_HTTP_MESH_ID_LEN];
    void                         *local;
    int64_t                       now;
    ngx_int_t                     i, rc;
    ngx_uint_t                    c, k, d, op, nheld, change, ex[2];
    ngx_uint_t                    held[TEST_HELD];
    ngx_pool_t                   *pool;
    ngx_http_mesh_caps_t         *caps;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_route_req_t     req;
    ngx_http_mesh_route_res_t     res;
    ngx_http_mesh_ejection_t      ej;
    ngx_http_mesh_eject_conf_t    conf;
    ngx_http_mesh_registry_sh_t  *reg;
    ngx_http_mesh_route_index_t  *idx;

    /* a zone of TEST_SLOTS slots: the registry takes 3/4 of it for them */
    zone = shim_zone_init(TEST_SLOTS * sizeof(ngx_http_mesh_node_t) / 3 * 4
                          + sizeof(ngx_http_mesh_node_t),
                          ngx_http_mesh_registry_init_zone);
    caps = calloc(TEST_IDS, sizeof(ngx_http_mesh_caps_t));
    pool = ngx_create_pool(4096, NULL);

    if (zone == NULL || caps == NULL || pool == NULL) {
        exit(2);
    }

    reg = ngx_http_mesh_reg(zone);
    reg->reclaim_after = 20000;

    if (reg->max_nodes != TEST_SLOTS) {
        failed++;
        printf("the zone has %lu slots, not %d\n",
               (unsigned long) reg->max_nodes, TEST_SLOTS);
    }

    conf.failures = 2;
    conf.time = 3000;
    conf.max_time = 12000;

    local = NULL;
    nheld = 0;
    now = TEST_NOW;
    shim_set_now(now);

    for (c = 0; c < TEST_CHANGES; c++) {
        now += rand() % 400;
        shim_set_now(now);

        k = rand() % TEST_IDS;
        snprintf(id, sizeof(id), "node-%lu", (unsigned long) k);
        i = ngx_http_mesh_registry_find(reg, id);
        node = (i == NGX_ERROR) ? NULL : &reg->nodes[i];
        op = rand() % 12;

        switch (op) {

        case 0: case 1: case 2: case 3:
            /* a heartbeat (a join, at first); now and then an old copy */
            test_caps(&caps[k], k, rand() % 4 != 0);
            /* signed now, a second or more ago, or unknown (events) */
            (void) ngx_http_mesh_registry_update(&caps[k],
                           rand() % 10 ? now : now - 2000,
                           rand() % 4 ? now / 1000 - rand() % 4 : 0,
                           &change);
            break;

        case 4:
            (void) ngx_http_mesh_registry_leave(id);
            break;

        case 5:
            if (node) {
                (void) ngx_http_mesh_registry_outcome(i, rand() % 3 != 0, now,
                                                      &conf, &ej);
            }
            break;

        case 6:
            /* the mesh-wide count, a flush's reply or a resync's */
            ngx_http_mesh_registry_set_remote(id, rand() % 6 - 1,
                                              rand() % 3 - 1);
            break;

        case 7:
            if (node) {
                if (rand() % 2) {
                    (void) ngx_http_mesh_registry_down(i, now, id);

                } else {
                    ngx_http_mesh_registry_down_by_id(id, now);
                }
            }
            break;

        case 8:
            /* the sweep: silent nodes are down */
            for (d = 0; d < reg->nnodes; d++) {
                node = &reg->nodes[d];

                if (node->used && !node->left && !node->down_since
                    && now - node->last_seen > TEST_TIMEOUT)
                {
                    (void) ngx_http_mesh_registry_mark_down(reg, node, now);
                }
            }
            break;

        case 9:
            /* a task ends: its count here goes (never below zero) */
            if (nheld && rand() % 8) {
                d = rand() % nheld;
                ngx_http_mesh_registry_release(held[d]);
                held[d] = held[--nheld];

            } else if (reg->nnodes) {
                ngx_http_mesh_registry_release(rand() % reg->nnodes);
            }
            break;

        case 10:
            if (node) {
                ngx_http_mesh_registry_task_end(i, rand() % 2, 10, 100, NULL);
            }
            break;

        default:
            /* time alone: silence, ejections ending */
            now += rand() % 4000;
            shim_set_now(now);
            break;
        }

        if (test_sums(reg, c)) {
            failed++;

        } else {
            passed++;
        }

        /* dispatch's way: the index, the choice, the slot counted */

        idx = ngx_http_mesh_route_index(reg, &local, pool, NULL, now);

        for (d = 0; d < TEST_PER; d++) {
            test_request(reg, &req, ex);
            rc = test_compare(reg, idx, &req, &res, now, c);

            if (rc == NGX_OK && nheld < TEST_HELD && rand() % 2) {
                ngx_http_mesh_registry_reserve(reg, &reg->nodes[res.node]);
                held[nheld++] = res.node;

                if (test_sums(reg, c)) {
                    failed++;
                }
            }
        }
    }

    if (shim_lock_errors) {
        failed++;
        printf("the zone mutex taken twice or given back unheld %lu "
               "times\n", (unsigned long) shim_lock_errors);
    }

    ngx_destroy_pool(pool);
    free(caps);
    shim_zone_free();
}


/* part 3: the count a heartbeat leaves, its sent time against the ends */

static void
test_counts(void)
{
    int64_t                       t;
    ngx_uint_t                    change;
    ngx_http_mesh_caps_t          caps;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_registry_sh_t  *reg;
    char                          id[NGX_HTTP_MESH_ID_LEN];

    zone = shim_zone_init(8 * sizeof(ngx_http_mesh_node_t),
                          ngx_http_mesh_registry_init_zone);
    if (zone == NULL) {
        exit(2);
    }

    reg = ngx_http_mesh_reg(zone);
    caps.nmodels = 0;
    test_caps(&caps, 1, 0);
    caps.status = NGX_HTTP_MESH_STATUS_IDLE;
    caps.max_tasks = 0;

    /* joined at 100.000 s; tasks from here ended at 100.9 and 101.2 s */
    t = 100000;
    shim_set_now(t);
    caps.active_tasks = 0;
    (void) ngx_http_mesh_registry_update(&caps, t, 100, &change);

    node = &reg->nodes[ngx_http_mesh_registry_find(reg, caps.node_id)];

    test_end(zone, node, t + 900);
    test_end(zone, node, t + 1200);

    /* the agent counted both and one of another orchestrator's: 3 */
    test_heartbeat(&caps, node, "sent in the second before the last end",
                   t + 1300, 100, 3, NGX_OK, 1, 1);
    test_heartbeat(&caps, node, "sent in the second of the last end",
                   t + 1400, 101, 2, NGX_OK, 1, 1);
    test_heartbeat(&caps, node, "sent after the last end",
                   t + 1500, 102, 1, NGX_OK, 1, 1);

    /* an end at 102.1 s, then a heartbeat from 99 s: its count is not
       taken, the zone's stays */
    test_end(zone, node, t + 2100);
    test_heartbeat(&caps, node, "sent before the seconds kept",
                   t + 2200, 99, 4, NGX_DONE, 1, 1);
    test_heartbeat(&caps, node, "sent at an unknown time",
                   t + 2300, 0, 4, NGX_OK, 4, 4);

    /*
     * Two workers end a task each in 103 s; the second took the mutex
     * after the first, its cached clock still at 102.99 s: both ends are
     * in 103 s for a heartbeat sent then.
     */
    test_end(zone, node, t + 3200);
    test_end(zone, node, t + 2990);
    test_heartbeat(&caps, node, "sent as two ended, one on a late clock",
                   t + 3300, 103, 2, NGX_OK, 0, 0);

    /* one of this nginx's running: down, its load is that one alone */
    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_http_mesh_registry_reserve(reg, node);
    (void) ngx_http_mesh_registry_mark_down(reg, node, t + 2400);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (ngx_http_mesh_registry_load(node) != 1
        || reg->sums[node - reg->nodes].load != 1)
    {
        failed++;
        printf("marked down: load %lu, its summary's %lu, not 1\n",
               (unsigned long) ngx_http_mesh_registry_load(node),
               (unsigned long) reg->sums[node - reg->nodes].load);

    } else {
        passed++;
    }

    /* up again, then it leaves: a failed connect after that is no down
       (its Redis hash is gone, sync_down would write it back) */
    (void) ngx_http_mesh_registry_update(&caps, t + 3500, 0, &change);
    (void) ngx_http_mesh_registry_leave(caps.node_id);

    if (ngx_http_mesh_registry_down(node - reg->nodes, t + 3600, id) != 0) {
        failed++;
        printf("a node that left is marked down by a failed connect\n");

    } else {
        passed++;
    }

    shim_zone_free();
}


/* a task dispatched to node, ended at ms at */

static void
test_end(ngx_http_mesh_zone_t *zone, ngx_http_mesh_node_t *node, int64_t at)
{
    ngx_http_mesh_registry_sh_t  *reg;

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_http_mesh_registry_reserve(reg, node);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    shim_set_now(at);
    ngx_http_mesh_registry_release(node - reg->nodes);
}


/* a heartbeat at ms at of the agent's count active, signed at sent */

static void
test_heartbeat(ngx_http_mesh_caps_t *caps, ngx_http_mesh_node_t *node,
    const char *what, int64_t at, time_t sent, uint32_t active,
    ngx_int_t want_rc, ngx_uint_t want, ngx_uint_t want_load)
{
    ngx_int_t   rc;
    ngx_uint_t  change, load;

    shim_set_now(at);
    caps->active_tasks = active;
    rc = ngx_http_mesh_registry_update(caps, at, sent, &change);
    load = ngx_http_mesh_registry_load(node);

    if (rc == want_rc && caps->active_tasks == want && load == want_load) {
        passed++;
        return;
    }

    failed++;
    printf("%s: rc %ld count %lu load %lu, not rc %ld count %lu load %lu\n",
           what, (long) rc, (unsigned long) caps->active_tasks,
           (unsigned long) load, (long) want_rc, (unsigned long) want,
           (unsigned long) want_load);
}


int
main(void)
{
    srand(13);

    test_random();
    test_writers();
    test_counts();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
