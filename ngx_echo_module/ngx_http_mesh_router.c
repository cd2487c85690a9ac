
/*
 * The routing policy, in the order of the design:
 *   1. a node that has the exact model requested;
 *   2. without a model: a node with a model of the task's type (code falls
 *      back to a text model, summarize is served by text models);
 *   3. the lowest load;  4. the model already loaded (Ollama's /api/ps, as
 *      the agent reports it): no cold load while a warm node is free;
 *   5. the most free RAM;  then the lowest index, so ties are stable.
 * A node at its max_tasks counts as busy.
 *
 * The candidates come from a per-process index (node slots by model name
 * and by model type, in slot order) instead of a scan of every slot: the
 * order above is applied to them exactly as it was to all nodes.  The
 * index is rebuilt when the zone's models generation moves, that is when a
 * slot gets a node or a node's model list changes; load, RAM, liveness and
 * loaded models are read from the zone on every decision, from the slots'
 * routing summary (ngx_http_mesh_node_sum_t, 40 bytes each, kept by every
 * writer of the slot), not from the 4.9 KB slots: each candidate in the
 * index carries which of its slot's models have the name or type, so no
 * slot is read until the choice is made.
 *
 * The zone also keeps bitmaps of the member slots per load 0 .. 3, with a
 * model loaded, and per range of free RAM: the candidates at load 0 are
 * judged first, then 1, 2, 3, and at one load the warm ones, then the
 * cold ones, range by range from the most RAM down; the first range with
 * one that can take the task has the choice (every other candidate is
 * more loaded, colder or has less RAM); the walk of every candidate only
 * when none can.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_router.h"


#define NGX_HTTP_MESH_ROUTE_TYPES  256       /* a model's type is a uint8_t */
#define NGX_HTTP_MESH_ROUTE_REBUILD  100     /* ms between index rebuilds */


/* a slot, and bit m set: its model m has the name or type */
typedef struct {
    uint32_t                      slot;
    uint32_t                      models;
} ngx_http_mesh_route_cand_t;


/*
 * Slots in slot order, each once.  A list of at least one candidate per 8
 * slots has a bitmap of its slots too, and its candidates' models by
 * slot: with the zone's bitmap of the slots at a load, the candidates at
 * that load are found without reading the others.
 */
typedef struct {
    ngx_uint_t                    n;
    ngx_uint_t                    last;        /* the last slot counted, + 1 */
    ngx_http_mesh_route_cand_t   *cands;
    ngx_uint_t                    words;       /* 0: no bitmap */
    uint64_t                     *bits;
    uint32_t                     *models;      /* per slot, as cands' */
} ngx_http_mesh_route_list_t;


typedef struct ngx_http_mesh_route_key_s  ngx_http_mesh_route_key_t;

/* the slots with a model of one name, ":latest" suffixes taken off */
struct ngx_http_mesh_route_key_s {
    ngx_http_mesh_route_key_t    *next;
    u_char                       *name;
    size_t                        len;
    ngx_uint_t                    hash;
    ngx_uint_t                    latest_min;  /* the suffixes its names */
    ngx_uint_t                    latest_max;  /* had, fewest and most */
    ngx_http_mesh_route_list_t    list;
};


/* a slot's model as the first pass of a build found it, for the second */
typedef struct {
    ngx_http_mesh_route_key_t    *key;
    uint32_t                      slot;
    uint8_t                       model;
    uint8_t                       type;
} ngx_http_mesh_route_seen_t;


/* the best candidate of a tier so far, and what was seen on the way */
typedef struct {
    ngx_int_t                     node;
    ngx_uint_t                    model;
    ngx_uint_t                    load;
    ngx_uint_t                    warm;
    double                        ram;
    ngx_uint_t                    known;       /* a member has the model */
    ngx_uint_t                    capable;     /* and is up, not at limit */
} ngx_http_mesh_route_best_t;


struct ngx_http_mesh_route_index_s {
    ngx_pool_t                   *pool;        /* this build's, or NULL */
    ngx_log_t                    *log;
    ngx_atomic_uint_t             generation;  /* the zone's when built */
    int64_t                       built;       /* ms */
    ngx_http_mesh_route_key_t   **buckets;
    ngx_uint_t                    mask;
    ngx_http_mesh_route_list_t    types[NGX_HTTP_MESH_ROUTE_TYPES];
};


static void ngx_http_mesh_route_index_cleanup(void *data);
static ngx_int_t ngx_http_mesh_route_index_build(
    ngx_http_mesh_registry_sh_t *reg, ngx_http_mesh_route_index_t *idx);
static ngx_int_t ngx_http_mesh_route_index_add(
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_node_t *node,
    ngx_uint_t slot, ngx_http_mesh_route_seen_t **seen);
static ngx_int_t ngx_http_mesh_route_list_alloc(ngx_pool_t *pool,
    ngx_http_mesh_route_list_t *list, ngx_uint_t words);
static void ngx_http_mesh_route_count(ngx_http_mesh_route_list_t *list,
    ngx_uint_t slot, ngx_uint_t m, ngx_uint_t fill);
static ngx_http_mesh_route_key_t *ngx_http_mesh_route_find(
    ngx_http_mesh_route_index_t *idx, const u_char *name, size_t len,
    ngx_uint_t *latest, ngx_uint_t create);
static ngx_http_mesh_route_cand_t *ngx_http_mesh_route_candidates(
    ngx_http_mesh_registry_sh_t *reg, ngx_http_mesh_route_index_t *idx,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier, ngx_uint_t *n,
    ngx_uint_t *check, ngx_http_mesh_route_list_t **list);
static ngx_uint_t ngx_http_mesh_route_first(uint64_t models);
static ngx_uint_t ngx_http_mesh_route_want(ngx_http_mesh_route_req_t *req,
    ngx_uint_t tier);
static ngx_int_t ngx_http_mesh_route_model(ngx_http_mesh_node_t *node,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier);
static ngx_uint_t ngx_http_mesh_route_excluded(ngx_http_mesh_route_req_t *req,
    ngx_uint_t i);
static ngx_inline void ngx_http_mesh_route_consider(
    ngx_http_mesh_registry_sh_t *reg, ngx_http_mesh_route_req_t *req,
    ngx_uint_t tier, ngx_uint_t check, int64_t now, int64_t timeout,
    ngx_uint_t i, uint32_t models, ngx_http_mesh_route_best_t *b);
static void ngx_http_mesh_route_level(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier, ngx_uint_t check,
    int64_t now, int64_t timeout, ngx_http_mesh_route_list_t *list,
    ngx_uint_t level, ngx_http_mesh_route_best_t *b);
static void ngx_http_mesh_route_walk(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, int64_t now, int64_t timeout,
    ngx_http_mesh_route_list_t *list, ngx_uint_t level, ngx_uint_t warm,
    ngx_uint_t range, ngx_http_mesh_route_best_t *b);


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


ngx_http_mesh_route_index_t *
ngx_http_mesh_route_index(ngx_http_mesh_registry_sh_t *reg, void **local,
    ngx_pool_t *pool, ngx_log_t *log, int64_t now)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_mesh_route_index_t  *idx;

    idx = *local;

    if (idx == NULL) {
        /* the holder lives as long as pool: its cleanup frees each build */
        cln = ngx_pool_cleanup_add(pool, sizeof(ngx_http_mesh_route_index_t));
        if (cln == NULL) {
            return NULL;
        }

        idx = cln->data;
        ngx_memzero(idx, sizeof(ngx_http_mesh_route_index_t));
        idx->log = log;
        cln->handler = ngx_http_mesh_route_index_cleanup;
        *local = idx;
    }

    if (idx->pool && idx->generation == reg->models_generation) {
        return idx;
    }

    /*
     * While nodes keep joining (10,000 agents starting), a rebuild per
     * decision would cost more than the scan it saves: at most one per
     * NGX_HTTP_MESH_ROUTE_REBUILD ms, and a scan of every slot meanwhile.
     */

    if (idx->pool && now - idx->built < NGX_HTTP_MESH_ROUTE_REBUILD
        && now >= idx->built)
    {
        return NULL;
    }

    idx->built = now;

    if (ngx_http_mesh_route_index_build(reg, idx) != NGX_OK) {
        ngx_http_mesh_route_index_cleanup(idx);
        return NULL;
    }

    return idx;
}


static void
ngx_http_mesh_route_index_cleanup(void *data)
{
    ngx_http_mesh_route_index_t  *idx = data;

    if (idx->pool) {
        ngx_destroy_pool(idx->pool);
        idx->pool = NULL;
    }
}


/*
 * One pass over the slots' models, counting per name and type, then the
 * lists filled from what it saw: the slots (4.9 KB each) are read once.
 */

static ngx_int_t
ngx_http_mesh_route_index_build(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, t, total, buckets, words;
    ngx_http_mesh_route_key_t   *key;
    ngx_http_mesh_route_seen_t  *seen, *p, *e;

    ngx_http_mesh_route_index_cleanup(idx);

    idx->generation = reg->models_generation;
    ngx_memzero(idx->types, sizeof(idx->types));

    total = 0;

    for (i = 0; i < reg->nnodes; i++) {
        if (reg->nodes[i].used) {
            total += reg->nodes[i].caps.nmodels;
        }
    }

    for (buckets = 16; buckets < total; buckets <<= 1) { /* void */ }

    idx->pool = ngx_create_pool(16384, idx->log);
    if (idx->pool == NULL) {
        return NGX_ERROR;
    }

    idx->mask = buckets - 1;
    idx->buckets = ngx_pcalloc(idx->pool,
                               buckets * sizeof(ngx_http_mesh_route_key_t *));
    if (idx->buckets == NULL) {
        return NGX_ERROR;
    }

    /* for this build only: not kept in the index's pool */
    seen = ngx_alloc((total ? total : 1) * sizeof(ngx_http_mesh_route_seen_t),
                     idx->log);
    if (seen == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    p = seen;
    words = reg->maps ? ngx_http_mesh_sum_words(reg->nnodes) : 0;

    for (i = 0; i < reg->nnodes; i++) {
        if (ngx_http_mesh_route_index_add(idx, &reg->nodes[i], i, &p)
            != NGX_OK)
        {
            goto done;
        }
    }

    for (i = 0; i <= idx->mask; i++) {
        for (key = idx->buckets[i]; key; key = key->next) {
            if (ngx_http_mesh_route_list_alloc(idx->pool, &key->list, words)
                != NGX_OK)
            {
                goto done;
            }
        }
    }

    for (t = 0; t < NGX_HTTP_MESH_ROUTE_TYPES; t++) {
        if (ngx_http_mesh_route_list_alloc(idx->pool, &idx->types[t], words)
            != NGX_OK)
        {
            goto done;
        }
    }

    for (e = seen; e < p; e++) {
        ngx_http_mesh_route_count(&e->key->list, e->slot, e->model, 1);
        ngx_http_mesh_route_count(&idx->types[e->type], e->slot, e->model, 1);
    }

    rc = NGX_OK;

done:

    ngx_free(seen);

    return rc;
}


/*
 * A node that left stays in: it comes back with the same models without
 * a new generation.  Only a slot in use has a node (a slot is taken only
 * by a join, which moves the generation).
 */

static ngx_int_t
ngx_http_mesh_route_index_add(ngx_http_mesh_route_index_t *idx,
    ngx_http_mesh_node_t *node, ngx_uint_t slot,
    ngx_http_mesh_route_seen_t **seen)
{
    ngx_uint_t                  m, latest;
    ngx_http_mesh_model_t      *model;
    ngx_http_mesh_route_key_t  *key;

    if (!node->used) {
        return NGX_OK;
    }

    for (m = 0; m < node->caps.nmodels; m++) {
        model = &node->caps.models[m];

        key = ngx_http_mesh_route_find(idx, (u_char *) model->name,
                                       node->model_len[m], &latest, 1);
        if (key == NULL) {
            return NGX_ERROR;
        }

        if (latest < key->latest_min) {
            key->latest_min = latest;
        }

        if (latest > key->latest_max) {
            key->latest_max = latest;
        }

        ngx_http_mesh_route_count(&key->list, slot, m, 0);
        ngx_http_mesh_route_count(&idx->types[model->type], slot, m, 0);

        (*seen)->key = key;
        (*seen)->slot = (uint32_t) slot;
        (*seen)->model = (uint8_t) m;
        (*seen)->type = model->type;
        (*seen)++;
    }

    return NGX_OK;
}


/*
 * Room for the slots counted; the fill pass counts them again.  The
 * bitmap and the models by slot (4.125 bytes a slot) only for a list of
 * a candidate per 8 slots or more: at most 33 bytes per candidate.
 */

static ngx_int_t
ngx_http_mesh_route_list_alloc(ngx_pool_t *pool,
    ngx_http_mesh_route_list_t *list, ngx_uint_t words)
{
    if (list->n == 0) {
        return NGX_OK;
    }

    list->cands = ngx_palloc(pool, list->n
                                   * sizeof(ngx_http_mesh_route_cand_t));
    if (list->cands == NULL) {
        return NGX_ERROR;
    }

    if (words && list->n >= words * 8) {
        list->bits = ngx_pcalloc(pool, words * sizeof(uint64_t));
        list->models = ngx_pcalloc(pool, words * 64 * sizeof(uint32_t));

        if (list->bits == NULL || list->models == NULL) {
            return NGX_ERROR;
        }

        list->words = words;
    }

    list->n = 0;
    list->last = 0;

    return NGX_OK;
}


/*
 * Once per slot, however many of its models share the name or type: the
 * slot's candidate gets a bit for each of them.
 */

static void
ngx_http_mesh_route_count(ngx_http_mesh_route_list_t *list, ngx_uint_t slot,
    ngx_uint_t m, ngx_uint_t fill)
{
    if (fill && list->words) {
        list->bits[slot >> 6] |= (uint64_t) 1 << (slot & 63);
        list->models[slot] |= (uint32_t) 1 << m;
    }

    if (list->last == slot + 1) {
        if (fill) {
            list->cands[list->n - 1].models |= (uint32_t) 1 << m;
        }

        return;
    }

    list->last = slot + 1;

    if (fill) {
        list->cands[list->n].slot = (uint32_t) slot;
        list->cands[list->n].models = (uint32_t) 1 << m;
    }

    list->n++;
}


/*
 * "mistral", "mistral:latest" (and "mistral:latest:latest") share a key:
 * every pair ngx_http_mesh_model_eq() matches does.  *latest: how many
 * ":latest" were taken off.
 */

static ngx_http_mesh_route_key_t *
ngx_http_mesh_route_find(ngx_http_mesh_route_index_t *idx, const u_char *name,
    size_t len, ngx_uint_t *latest, ngx_uint_t create)
{
    size_t                      i;
    ngx_uint_t                  hash;
    ngx_http_mesh_route_key_t  *key, **b;

    *latest = 0;

    while (len >= 7 && ngx_memcmp(name + len - 7, ":latest", 7) == 0) {
        len -= 7;
        (*latest)++;
    }

    /* FNV-1a */
    hash = 2166136261u;

    for (i = 0; i < len; i++) {
        hash = (hash ^ name[i]) * 16777619u;
    }

    b = &idx->buckets[hash & idx->mask];

    for (key = *b; key; key = key->next) {
        if (key->hash == hash && key->len == len
            && ngx_memcmp(key->name, name, len) == 0)
        {
            return key;
        }
    }

    if (!create) {
        return NULL;
    }

    key = ngx_pcalloc(idx->pool, sizeof(ngx_http_mesh_route_key_t) + len);
    if (key == NULL) {
        return NULL;
    }

    key->name = (u_char *) (key + 1);
    ngx_memcpy(key->name, name, len);
    key->len = len;
    key->hash = hash;
    key->latest_min = *latest;
    key->latest_max = *latest;
    key->next = *b;
    *b = key;

    return key;
}


/*
 * The slots that may serve req at tier, in slot order, each with the
 * models that would (NULL and *n: all the slots, without an index).
 * *check: the slot's own models must say which model serves, if any.
 *
 * A name and the same name with one ":latest" more are one model, two
 * more are not (ngx_http_mesh_model_eq): when the key's names are all
 * within one suffix of the request's, each candidate's models are exactly
 * those that match.
 */

static ngx_http_mesh_route_cand_t *
ngx_http_mesh_route_candidates(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req,
    ngx_uint_t tier, ngx_uint_t *n, ngx_uint_t *check,
    ngx_http_mesh_route_list_t **list)
{
    ngx_uint_t                  want, latest;
    ngx_http_mesh_route_key_t  *key;

    *check = 0;
    *list = NULL;

    if (idx == NULL) {
        *check = 1;
        *n = reg->nnodes;
        return NULL;
    }

    if (req->model) {
        key = ngx_http_mesh_route_find(idx, req->model, req->model_len,
                                       &latest, 0);
        if (key == NULL) {
            *n = 0;
            return NULL;
        }

        *check = key->latest_min + 1 < latest || key->latest_max > latest + 1;
        *n = key->list.n;
        *list = &key->list;

        return key->list.cands;
    }

    want = ngx_http_mesh_route_want(req, tier);

    if (want >= NGX_HTTP_MESH_ROUTE_TYPES) {
        *n = 0;                 /* no model has such a type */
        return NULL;
    }

    *list = &idx->types[want];
    *n = (*list)->n;

    return (*list)->cands;
}


/* the lowest of a set (of models, or of 64 slots), not empty */

static ngx_uint_t
ngx_http_mesh_route_first(uint64_t models)
{
#if (defined __GNUC__)

    return __builtin_ctzll(models);

#else

    ngx_uint_t  m;

    for (m = 0; !(models & 1); m++) {
        models >>= 1;
    }

    return m;

#endif
}


static ngx_uint_t
ngx_http_mesh_route_want(ngx_http_mesh_route_req_t *req, ngx_uint_t tier)
{
    switch (req->type) {

    case NGX_HTTP_MESH_TYPE_CODE:
        return (tier == 0) ? NGX_HTTP_MESH_TYPE_CODE : NGX_HTTP_MESH_TYPE_TEXT;

    case NGX_HTTP_MESH_TYPE_SUMMARIZE:
        return NGX_HTTP_MESH_TYPE_TEXT;

    default:
        return req->type;
    }
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

    want = ngx_http_mesh_route_want(req, tier);
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


/*
 * One candidate, slot i, with the models that may serve req (check: they
 * are to be found in the slot itself), against the best so far.  Read
 * from the slot's summary alone, unless check.
 */

static ngx_inline void
ngx_http_mesh_route_consider(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier, ngx_uint_t check,
    int64_t now, int64_t timeout, ngx_uint_t i, uint32_t models,
    ngx_http_mesh_route_best_t *b)
{
    uint32_t                   loaded;
    ngx_int_t                  m;
    ngx_uint_t                 load, warm;
    ngx_http_mesh_node_sum_t  *s;

    s = &reg->sums[i];
    load = s->load;

    /*
     * A node more loaded than the best so far cannot win, and the best
     * found means known and capable are set already: skipped before
     * anything else is read (most candidates, at scale).  Before a best
     * is found b->load is above any load.
     */

    if (load > b->load) {
        return;
    }

    /* a node that left is not in the mesh: its models are unknown */

    if (!(s->flags & NGX_HTTP_MESH_SUM_MEMBER)) {
        return;
    }

    if (check) {
        m = ngx_http_mesh_route_model(&reg->nodes[i], req, tier);
        if (m < 0) {
            return;
        }

        models = (uint32_t) 1 << m;

    } else if (req->model) {
        /* the first of its models with the name serves */
        models &= ~models + 1;
    }

    b->known = 1;

    if (!(s->flags & NGX_HTTP_MESH_SUM_ROUTABLE)
        || now - s->last_seen > timeout
        || s->ejected_until > now
        || (req->nexclude && ngx_http_mesh_route_excluded(req, i)))
    {
        return;
    }

    b->capable = 1;

    if (s->flags & NGX_HTTP_MESH_SUM_FULL) {
        return;
    }

    /* by type, a loaded model of that type before the others */

    loaded = s->loaded & models;
    warm = (loaded != 0);

    if (b->node == -1
        || load < b->load
        || (load == b->load && warm > b->warm)
        || (load == b->load && warm == b->warm && s->ram_free_gb > b->ram))
    {
        b->node = i;
        b->model = ngx_http_mesh_route_first(warm ? loaded : models);
        b->load = load;
        b->warm = warm;
        b->ram = s->ram_free_gb;
    }
}


/*
 * The candidates of list at one load (the zone's bitmap of the member
 * slots at that load), taken as consider() would take them.  At one load
 * a warm candidate beats a cold one, then the most free RAM: the warm
 * ones (those with a model loaded, the warm ones for req among them)
 * range by range from the most RAM down, the first range with one that
 * can take the task has the best; none: the cold ones so.  known and
 * capable are left to the walk of every candidate, which runs only if
 * none here can take the task.
 */

static void
ngx_http_mesh_route_level(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, ngx_uint_t tier, ngx_uint_t check,
    int64_t now, int64_t timeout, ngx_http_mesh_route_list_t *list,
    ngx_uint_t level, ngx_http_mesh_route_best_t *b)
{
    uint64_t    *at, *warm, bits, any;
    ngx_uint_t   w, k;

    at = reg->maps + level * reg->map_words;

    if (check) {
        /* which model serves is in the slot: every candidate at the load */

        for (w = 0; w < list->words; w++) {
            for (bits = list->bits[w] & at[w]; bits; bits &= bits - 1) {
                ngx_http_mesh_route_consider(reg, req, tier, 1, now, timeout,
                                             (w << 6)
                                             + ngx_http_mesh_route_first(bits),
                                             0, b);
            }
        }

        return;
    }

    warm = reg->maps + NGX_HTTP_MESH_SUM_WARM * reg->map_words;
    any = 0;

    for (w = 0; w < list->words; w++) {
        any |= list->bits[w] & at[w] & warm[w];
    }

    for (k = NGX_HTTP_MESH_SUM_RAMS; any && k-- > 0; /* void */) {
        ngx_http_mesh_route_walk(reg, req, now, timeout, list, level, 1, k, b);

        if (b->node != -1) {
            return;
        }
    }

    for (k = NGX_HTTP_MESH_SUM_RAMS; k-- > 0; /* void */) {
        ngx_http_mesh_route_walk(reg, req, now, timeout, list, level, 0, k, b);

        if (b->node != -1) {
            return;
        }
    }
}


/*
 * The candidates at one load and in one RAM range (warm: only those with
 * a model loaded, and of them those warm for req), in slot order.
 */

static void
ngx_http_mesh_route_walk(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_req_t *req, int64_t now, int64_t timeout,
    ngx_http_mesh_route_list_t *list, ngx_uint_t level, ngx_uint_t warm,
    ngx_uint_t range, ngx_http_mesh_route_best_t *b)
{
    double                     ram;
    uint32_t                   models, loaded, first;
    uint64_t                  *at, *in, *hot, bits;
    ngx_int_t                  node;
    ngx_uint_t                 w, i, exclude;
    ngx_http_mesh_node_sum_t  *s;

    at = reg->maps + level * reg->map_words;
    in = reg->maps + (NGX_HTTP_MESH_SUM_RAM + range) * reg->map_words;
    hot = reg->maps + NGX_HTTP_MESH_SUM_WARM * reg->map_words;

    /* the best so far in locals: b and req may alias the zone for all
       the compiler knows */

    node = -1;
    ram = 0;
    first = req->model ? 1 : 0;
    exclude = req->nexclude;

    for (w = 0; w < list->words; w++) {
        bits = list->bits[w] & at[w] & in[w];

        if (warm) {
            bits &= hot[w];
        }

        for ( /* void */ ; bits; bits &= bits - 1) {
            i = (w << 6) + ngx_http_mesh_route_first(bits);
            s = &reg->sums[i];

            if ((s->flags & (NGX_HTTP_MESH_SUM_ROUTABLE
                             |NGX_HTTP_MESH_SUM_FULL))
                   != NGX_HTTP_MESH_SUM_ROUTABLE
                || now - s->last_seen > timeout
                || s->ejected_until > now
                || (exclude && ngx_http_mesh_route_excluded(req, i)))
            {
                continue;
            }

            models = list->models[i];

            if (first) {
                models &= ~models + 1;
            }

            /* cold ones come here only when no warm one can serve */

            if (warm && (s->loaded & models) == 0) {
                continue;
            }

            /* one load, one warmth, in slot order: the ties as consider() */

            if (node == -1 || s->ram_free_gb > ram) {
                node = i;
                ram = s->ram_free_gb;
            }
        }
    }

    if (node == -1) {
        return;
    }

    models = list->models[node];

    if (first) {
        models &= ~models + 1;
    }

    loaded = reg->sums[node].loaded & models;

    b->node = node;
    b->model = ngx_http_mesh_route_first(warm ? loaded : models);
    b->load = level;
    b->warm = warm;
    b->ram = ram;
}


ngx_int_t
ngx_http_mesh_route(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req,
    ngx_http_mesh_route_res_t *res, int64_t now, int64_t timeout)
{
    ngx_uint_t                   j, n, tier, tiers, check, level;
    ngx_http_mesh_route_best_t   b;
    ngx_http_mesh_route_cand_t  *cands;
    ngx_http_mesh_route_list_t  *list;

    b.known = 0;
    b.capable = 0;

    tiers = (req->model == NULL && req->type == NGX_HTTP_MESH_TYPE_CODE)
            ? 2 : 1;

    for (tier = 0; tier < tiers; tier++) {

        b.node = -1;
        b.model = 0;
        b.load = (ngx_uint_t) -1;
        b.warm = 0;
        b.ram = 0;

        cands = ngx_http_mesh_route_candidates(reg, idx, req, tier, &n,
                                               &check, &list);

        /*
         * The candidates at load 0, then 1, ...: the first load with one
         * that can take the task has the best of all (every candidate
         * there is taken as the walk below would, in slot order).  None
         * at those loads: the walk of every candidate decides, and says
         * whether any is known or capable.
         */

        if (list && list->words && reg->maps) {
            for (level = 0; level < NGX_HTTP_MESH_SUM_LEVELS; level++) {
                ngx_http_mesh_route_level(reg, req, tier, check, now,
                                          timeout, list, level, &b);

                if (b.node != -1) {
                    res->node = b.node;
                    res->model = b.model;
                    return NGX_OK;
                }
            }
        }

        /* two loops, one step: the index's needs no test per candidate */

        if (cands) {
            for (j = 0; j < n; j++) {
                ngx_http_mesh_route_consider(reg, req, tier, check, now,
                                             timeout, cands[j].slot,
                                             cands[j].models, &b);
            }

        } else {
            for (j = 0; j < n; j++) {
                ngx_http_mesh_route_consider(reg, req, tier, 1, now,
                                             timeout, j, 0, &b);
            }
        }

        if (b.node != -1) {
            res->node = b.node;
            res->model = b.model;
            return NGX_OK;
        }

        if (b.capable) {
            break;          /* code models exist, all busy: wait for one */
        }
    }

    if (req->model && !b.known) {
        return NGX_HTTP_MESH_ROUTE_UNKNOWN;
    }

    return b.capable ? NGX_HTTP_MESH_ROUTE_BUSY : NGX_HTTP_MESH_ROUTE_NONE;
}


/* a node of the mesh, live or not, has a model that could serve req */

ngx_uint_t
ngx_http_mesh_route_known(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_route_index_t *idx, ngx_http_mesh_route_req_t *req)
{
    ngx_uint_t                   i, j, n, tier, tiers, check;
    ngx_http_mesh_route_cand_t  *cands;
    ngx_http_mesh_route_list_t  *list;

    tiers = (req->model == NULL && req->type == NGX_HTTP_MESH_TYPE_CODE)
            ? 2 : 1;

    for (tier = 0; tier < tiers; tier++) {
        cands = ngx_http_mesh_route_candidates(reg, idx, req, tier, &n,
                                               &check, &list);

        for (j = 0; j < n; j++) {
            i = cands ? cands[j].slot : j;

            if ((reg->sums[i].flags & NGX_HTTP_MESH_SUM_MEMBER)
                && (!check
                    || ngx_http_mesh_route_model(&reg->nodes[i], req, tier)
                       >= 0))
            {
                return 1;
            }
        }
    }

    return 0;
}
