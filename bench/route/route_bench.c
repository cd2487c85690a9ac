
/*
 * Time of one routing decision, as the module makes it (the module's own
 * router.c, compiled against nginx's headers), with 2, 1,000 and 10,000
 * registered nodes in one run.  Not a test: it prints figures.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"


#define ROUNDS  200000


/* this process's route index, as the module keeps one per worker */
static void        *local;
static ngx_pool_t  *bench_pool;
#define BENCH_NODES_MAX  10000   /* issue 13: a registry of 10,000 nodes */


static const char  *models[] = {
    "mistral:7b", "llama3.2", "codellama:7b", "llava:7b", "qwen2.5-coder",
    "phi3", "gemma2", "deepseek-coder", "nomic-embed-text", "starcoder2"
};

static const uint8_t  types[] = {
    NGX_HTTP_MESH_TYPE_TEXT, NGX_HTTP_MESH_TYPE_TEXT, NGX_HTTP_MESH_TYPE_CODE,
    NGX_HTTP_MESH_TYPE_VISION, NGX_HTTP_MESH_TYPE_CODE,
    NGX_HTTP_MESH_TYPE_TEXT, NGX_HTTP_MESH_TYPE_TEXT, NGX_HTTP_MESH_TYPE_CODE,
    NGX_HTTP_MESH_TYPE_EMBEDDING, NGX_HTTP_MESH_TYPE_CODE
};


static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static void
fill(ngx_http_mesh_registry_sh_t *reg, ngx_uint_t n, int64_t now)
{
    ngx_uint_t             i, k, m;
    ngx_http_mesh_node_t  *node;

    reg->nnodes = n;
    reg->max_nodes = n;
    reg->models_generation++;       /* as a join does: the index follows */

    for (i = 0; i < n; i++) {
        node = &reg->nodes[i];
        memset(node, 0, sizeof(*node));
        node->used = 1;
        node->last_seen = now;
        snprintf(node->caps.node_id, sizeof(node->caps.node_id), "node-%lu",
                 (unsigned long) i);
        node->caps.max_tasks = 4;
        node->caps.ram_free_gb = (double) (rand() % 64);
        node->remote_active = rand() % 4;
        node->caps.nmodels = 3;

        for (k = 0; k < 3; k++) {
            m = (i + k * 3) % 10;
            strcpy(node->caps.models[k].name, models[m]);
            node->caps.models[k].type = types[m];
            /* as ngx_http_mesh_registry_update() keeps it */
            node->model_len[k] = (u_char) strlen(models[m]);
            node->warm |= node->caps.models[k].loaded;
        }

        /* the routing summary, as every writer of the slot keeps it */
        ngx_http_mesh_registry_sum(reg, node);
    }
}


static void
run(ngx_http_mesh_registry_sh_t *reg, ngx_uint_t n, const char *what,
    ngx_http_mesh_route_req_t *req, uint64_t *t)
{
    int64_t                       now;
    ngx_uint_t                    i, ok, rounds;
    ngx_http_mesh_route_res_t     res;
    ngx_http_mesh_route_index_t  *idx;
    uint64_t                      a, b, build;

    /* a later time per run: the index of the last run is not a moment old */
    now = 1000000 + (int64_t) n * 1000 + req->type;
    fill(reg, n, now);
    ok = 0;

    a = now_ns();
    idx = ngx_http_mesh_route_index(reg, &local, bench_pool, NULL, now);
    b = now_ns();
    build = b - a;

    /* the same number of nodes scanned in all: 10,000 nodes, 20,000 rounds */
    rounds = n > 1000 ? ROUNDS / 10 : ROUNDS;

    for (i = 0; i < rounds; i++) {
        a = now_ns();
        /* as dispatch does it: the index (built above), then the choice;
           the router only chooses, nothing to undo */
        idx = ngx_http_mesh_route_index(reg, &local, bench_pool, NULL, now);
        if (ngx_http_mesh_route(reg, idx, req, &res, now, 9000) == NGX_OK) {
            b = now_ns();
            ok++;
        } else {
            b = now_ns();
        }
        t[i] = b - a;
    }

    qsort(t, rounds, sizeof(uint64_t), cmp_u64);

    printf("%-34s nodes=%5lu  p50=%6.2f us  p99=%6.2f us  max=%7.2f us"
           "  routed=%lu/%d  index %s in %.0f us\n", what, (unsigned long) n,
           t[rounds / 2] / 1000.0, t[rounds * 99 / 100] / 1000.0,
           t[rounds - 1] / 1000.0, (unsigned long) ok, (int) rounds,
           idx ? "built" : "NOT built", build / 1000.0);
}


int
main(void)
{
    uint64_t                     *t;
    ngx_http_mesh_registry_sh_t   reg;
    ngx_http_mesh_route_req_t     by_model, by_type;

    memset(&reg, 0, sizeof(reg));
    bench_pool = ngx_create_pool(4096, NULL);
    reg.nodes = calloc(BENCH_NODES_MAX, sizeof(ngx_http_mesh_node_t));
    reg.sums = calloc(BENCH_NODES_MAX, sizeof(ngx_http_mesh_node_sum_t));
    /* the bitmaps of the slots per load, as the zone has them */
    reg.map_words = ngx_http_mesh_sum_words(BENCH_NODES_MAX);
    reg.maps = calloc(NGX_HTTP_MESH_SUM_MAPS * reg.map_words,
                        sizeof(uint64_t));
    t = malloc(ROUNDS * sizeof(uint64_t));

    if (reg.nodes == NULL || reg.sums == NULL || reg.maps == NULL
        || t == NULL)
    {
        return 1;
    }

    srand(1);

    memset(&by_model, 0, sizeof(by_model));
    by_model.model = (u_char *) "llava:7b";
    by_model.model_len = 8;

    memset(&by_type, 0, sizeof(by_type));
    by_type.type = NGX_HTTP_MESH_TYPE_CODE;

    run(&reg, 2, "exact model (baseline: 2 nodes)", &by_model, t);
    run(&reg, 1000, "exact model", &by_model, t);
    run(&reg, BENCH_NODES_MAX, "exact model", &by_model, t);
    run(&reg, 2, "task type (baseline: 2 nodes)", &by_type, t);
    run(&reg, 1000, "task type", &by_type, t);
    run(&reg, BENCH_NODES_MAX, "task type", &by_type, t);

    ngx_destroy_pool(bench_pool);
    free(t);
    free(reg.nodes);
    free(reg.sums);
    free(reg.maps);

    return 0;
}
