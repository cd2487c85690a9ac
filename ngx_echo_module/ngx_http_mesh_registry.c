
/*
 * The node store: the registry snapshot in the mesh shared zone that every
 * worker routes from.  Keeping it current from Redis is the sync layer's
 * job (ngx_http_mesh_sync.c).
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_zone.h"


#define NGX_HTTP_MESH_MAX_NODES     16384


static ngx_int_t ngx_http_mesh_registry_sockaddr(ngx_http_mesh_caps_t *caps,
    struct sockaddr_storage *ss, socklen_t *len);
static ngx_int_t ngx_http_mesh_registry_free_slot(
    ngx_http_mesh_registry_sh_t *reg, int64_t now);
static ngx_uint_t ngx_http_mesh_registry_changed(ngx_http_mesh_caps_t *old,
    ngx_http_mesh_caps_t *caps);
static ngx_uint_t ngx_http_mesh_registry_models_changed(
    ngx_http_mesh_caps_t *old, ngx_http_mesh_caps_t *caps);
static void ngx_http_mesh_registry_changed_hook(void);
static ngx_http_mesh_zone_t *ngx_http_mesh_registry_lock(const char *node_id,
    ngx_http_mesh_node_t **node);
static ngx_int_t ngx_http_mesh_registry_ended_since(
    ngx_http_mesh_node_t *node, time_t sent);
static ngx_uint_t ngx_http_mesh_registry_bucket(
    ngx_http_mesh_registry_sh_t *reg, const char *node_id);
static void ngx_http_mesh_registry_unindex(ngx_http_mesh_registry_sh_t *reg,
    ngx_uint_t k);


ngx_int_t
ngx_http_mesh_registry_init_zone(ngx_slab_pool_t *shpool, void **data)
{
    size_t                        avail;
    ngx_uint_t                    n, b, i;
    ngx_http_mesh_registry_sh_t  *reg;

    /* three quarters of the zone for nodes, the rest for slab overhead */

    avail = (size_t) (shpool->end - (u_char *) shpool) / 4 * 3;
    n = avail / sizeof(ngx_http_mesh_node_t);

    if (n > NGX_HTTP_MESH_MAX_NODES) {
        n = NGX_HTTP_MESH_MAX_NODES;
    }

    /*
     * The slots' routing summaries after the registry, in the page it
     * takes anyway in a small zone: a zone holds as many nodes as before
     * (a page of their own is more than the smallest zone has left).
     */

    reg = ngx_slab_calloc(shpool, sizeof(ngx_http_mesh_registry_sh_t)
                                  + n * sizeof(ngx_http_mesh_node_sum_t)
                                  + NGX_HTTP_MESH_SUM_MAPS
                                    * ngx_http_mesh_sum_words(n)
                                    * sizeof(uint64_t));
    if (reg == NULL) {
        return NGX_ERROR;
    }

    *data = reg;

    if (n == 0) {
        return NGX_ERROR;
    }

    reg->sums = (ngx_http_mesh_node_sum_t *) (reg + 1);
    reg->maps = (uint64_t *) (reg->sums + n);
    reg->map_words = ngx_http_mesh_sum_words(n);

    reg->nodes = ngx_slab_calloc(shpool, n * sizeof(ngx_http_mesh_node_t));
    if (reg->nodes == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "mesh zone too small for %ui nodes", n);
        return NGX_ERROR;
    }

    /*
     * The node id index: a heartbeat, every worker's apply of its pub/sub
     * message and every task end look a node up by id, so with 10,000
     * nodes a scan comparing ids was most of a heartbeat's cost.  Chained
     * buckets, a power of two at least the node count.
     */

    for (b = 1; b < n; b <<= 1) { /* void */ }

    reg->id_index = ngx_slab_alloc(shpool, b * sizeof(ngx_int_t));
    if (reg->id_index == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "mesh zone too small for the index of %ui nodes", n);
        return NGX_ERROR;
    }

    for (i = 0; i < b; i++) {
        reg->id_index[i] = NGX_ERROR;
    }

    reg->id_mask = b - 1;
    reg->max_nodes = n;
    reg->avg_task_ms = 1000;

    (void) ngx_snprintf(reg->orch_id, NGX_HTTP_MESH_ORCH_ID_LEN, "%08xD%08xD",
                        (uint32_t) ngx_random() ^ (uint32_t) ngx_pid,
                        (uint32_t) ngx_random() ^ (uint32_t) ngx_time());

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mesh_registry_bucket(ngx_http_mesh_registry_sh_t *reg,
    const char *node_id)
{
    return ngx_hash_key((u_char *) node_id, ngx_strlen(node_id))
           & reg->id_mask;
}


ngx_int_t
ngx_http_mesh_registry_find(ngx_http_mesh_registry_sh_t *reg,
    const char *node_id)
{
    ngx_int_t  i;

    for (i = reg->id_index[ngx_http_mesh_registry_bucket(reg, node_id)];
         i != NGX_ERROR;
         i = reg->nodes[i].id_next)
    {
        if (reg->nodes[i].used
            && ngx_strcmp(reg->nodes[i].caps.node_id, node_id) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* slot k leaves its id's chain: its slot is reclaimed for another id */

static void
ngx_http_mesh_registry_unindex(ngx_http_mesh_registry_sh_t *reg,
    ngx_uint_t k)
{
    ngx_int_t  *link;

    link = &reg->id_index[ngx_http_mesh_registry_bucket(reg,
                                           reg->nodes[k].caps.node_id)];

    while (*link != NGX_ERROR) {
        if ((ngx_uint_t) *link == k) {
            *link = reg->nodes[k].id_next;
            return;
        }

        link = &reg->nodes[*link].id_next;
    }
}


/*
 * A new node id takes a slot never used, else the slot of the node silent
 * longest among those long dead: not routable (down or left), nothing
 * running here, silent for reg->reclaim_after.  Node ids that churn never
 * fill the zone, and a live node is never pushed out.
 */

static ngx_int_t
ngx_http_mesh_registry_free_slot(ngx_http_mesh_registry_sh_t *reg,
    int64_t now)
{
    ngx_int_t              best;
    ngx_uint_t             k;
    ngx_http_mesh_node_t  *node;

    if (reg->nnodes < reg->max_nodes) {
        return reg->nnodes;
    }

    best = NGX_ERROR;

    for (k = 0; k < reg->max_nodes; k++) {
        node = &reg->nodes[k];

        if (!node->used) {
            return k;
        }

        if ((node->left || node->down_since) && node->active == 0
            && reg->reclaim_after > 0
            && now - node->last_seen > reg->reclaim_after
            && (best == NGX_ERROR
                || node->last_seen < reg->nodes[best].last_seen))
        {
            best = k;
        }
    }

    return best;
}


ngx_int_t
ngx_http_mesh_registry_update(ngx_http_mesh_caps_t *caps, int64_t last_seen,
    time_t sent, ngx_uint_t *change)
{
    int64_t                       now, silent;
    ngx_int_t                     i, k, ended, rc;
    ngx_uint_t                    m, b;
    socklen_t                     socklen;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;
    struct sockaddr_storage       ss;
    char                          old[NGX_HTTP_MESH_ID_LEN];

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_mesh_registry_sockaddr(caps, &ss, &socklen) != NGX_OK) {
        return NGX_ERROR;
    }

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    i = ngx_http_mesh_registry_find(reg, caps->node_id);
    old[0] = '\0';
    silent = 0;

    if (i == NGX_ERROR) {
        now = ngx_http_mesh_now_ms();
        k = ngx_http_mesh_registry_free_slot(reg, now);

        if (k == NGX_ERROR) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }

        node = &reg->nodes[k];

        if (node->used) {
            ngx_memcpy(old, node->caps.node_id, NGX_HTTP_MESH_ID_LEN);
            silent = now - node->last_seen;
            ngx_http_mesh_registry_unindex(reg, k);
        }

        ngx_memzero(node, sizeof(ngx_http_mesh_node_t));
        node->used = 1;

        /* the id is set below (node->caps = *caps), under the same lock */

        b = ngx_http_mesh_registry_bucket(reg, caps->node_id);
        node->id_next = reg->id_index[b];
        reg->id_index[b] = k;

        if ((ngx_uint_t) k >= reg->nnodes) {
            reg->nnodes = k + 1;
        }

        *change = NGX_HTTP_MESH_CHANGE_JOIN;

    } else {
        node = &reg->nodes[i];

        /*
         * An older copy (a resync racing a heartbeat), or, for a node
         * marked down or gone, the very heartbeat it was last seen with
         * (Redis' copy, read back by a resync): only a newer one is news.
         */

        if (last_seen < node->last_seen
            || (last_seen == node->last_seen
                && (node->down_since || node->left)))
        {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            *change = NGX_HTTP_MESH_CHANGE_SAME;
            return NGX_OK;
        }

        if (node->left) {
            /* a node that left and joins again starts with a clean record */
            node->fails = 0;
            node->ejections = 0;
            node->ejected_until = 0;
            node->eject_end = 0;
        }

        if (node->down_since || node->left) {
            *change = NGX_HTTP_MESH_CHANGE_UP;

        } else if (ngx_http_mesh_registry_changed(&node->caps, caps)) {
            *change = NGX_HTTP_MESH_CHANGE_UPDATE;

        } else {
            *change = NGX_HTTP_MESH_CHANGE_SAME;
        }
    }

    /* the routers' indexes follow the models, never the load or RAM */

    if (*change == NGX_HTTP_MESH_CHANGE_JOIN
        || ngx_http_mesh_registry_models_changed(&node->caps, caps))
    {
        reg->models_generation++;
    }

    node->caps = *caps;

    /* the router compares lengths first: never a strlen per request */

    node->warm = 0;

    for (m = 0; m < caps->nmodels; m++) {
        node->model_len[m] = (u_char) ngx_strlen(caps->models[m].name);
        node->warm |= caps->models[m].loaded ? 1 : 0;
    }

    node->last_seen = last_seen;
    node->down_since = 0;
    node->left = 0;
    node->sockaddr = ss;
    node->socklen = socklen;

    /*
     * The agent knows its true load: it heals a count a crash left behind.
     * It counts the tasks running from here too, and the count in Redis
     * starts again from it.  But it counted as it sent the heartbeat:
     * tasks that ended here since were taken off the count already, and
     * are taken off the agent's (a heartbeat read late set a finished
     * task's count back, and a node that died then kept it).  Other
     * orchestrators' tasks that ended meanwhile are their ends to take
     * off; a count too low by them lasts until the next heartbeat.
     */
    ended = sent ? ngx_http_mesh_registry_ended_since(node, sent) : 0;

    if (ended < 0) {
        caps->active_tasks = (uint32_t) ngx_http_mesh_registry_load(node);
        rc = NGX_DONE;

    } else {
        caps->active_tasks = (ngx_uint_t) ended < caps->active_tasks
                             ? caps->active_tasks - ended : 0;
        node->remote_active = caps->active_tasks;
        node->own_remote = node->active;
        rc = NGX_OK;
    }

    node->caps.active_tasks = caps->active_tasks;

    ngx_http_mesh_registry_sum(reg, node);

    if (*change != NGX_HTTP_MESH_CHANGE_SAME) {
        reg->generation++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (old[0]) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mesh: slot of node \"%s\" (silent for %L ms) "
                      "reclaimed for node \"%s\"", old, silent,
                      caps->node_id);
    }

    if (*change != NGX_HTTP_MESH_CHANGE_SAME) {
        ngx_http_mesh_registry_changed_hook();
    }

    return rc;
}


/*
 * The caller holds the zone mutex: how many tasks ended here from unix
 * second sent on; -1 if sent is before the two seconds the node keeps.
 */

static ngx_int_t
ngx_http_mesh_registry_ended_since(ngx_http_mesh_node_t *node, time_t sent)
{
    if (sent > node->end_sec) {
        return 0;
    }

    if (sent == node->end_sec) {
        return node->ends[0];
    }

    if (sent == node->end_sec - 1) {
        return node->ends[0] + node->ends[1];
    }

    return -1;
}


ngx_int_t
ngx_http_mesh_registry_leave(const char *node_id)
{
    ngx_int_t                     rc;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;

    zone = ngx_http_mesh_registry_lock(node_id, &node);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    if (node && !node->left) {
        node->left = 1;
        ngx_http_mesh_registry_sum(ngx_http_mesh_reg(zone), node);
        ngx_http_mesh_reg(zone)->generation++;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_mesh_registry_task_end(ngx_uint_t index, ngx_uint_t ok,
    ngx_uint_t tokens, ngx_msec_t ms, ngx_log_t *log)
{
    double                        tps;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = &ngx_http_mesh_reg(zone)->nodes[index];

    if (ok) {
        node->tasks_done++;
        node->tokens += tokens;

        /* under the clock's resolution a task took 1 ms, not 0 */
        tps = tokens * 1000.0 / (ms ? ms : 1);
        node->recent_tps = node->recent_tps * 0.8 + tps * 0.2;
        node->recent_ms = node->recent_ms * 0.8 + ms * 0.2;

        reg = ngx_http_mesh_reg(zone);
        reg->avg_task_ms = reg->avg_task_ms * 0.9 + ms * 0.1;

    } else {
        node->tasks_failed++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Envoy's consecutive-failure rule: N failures in a row eject the node for
 * time x its ejections so far, at most max_time; one success resets the
 * count.  A node that stayed in for max_time since its last ejection
 * starts its multiplier over.
 */

ngx_int_t
ngx_http_mesh_registry_outcome(ngx_uint_t index, ngx_uint_t failed,
    int64_t now, ngx_http_mesh_eject_conf_t *conf,
    ngx_http_mesh_ejection_t *ej)
{
    ngx_int_t                     rc;
    ngx_msec_t                    ms;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = &reg->nodes[index];

    if (!failed) {
        node->fails = 0;
        goto done;
    }

    node->fails++;

    if (conf->failures == 0 || node->fails < conf->failures
        || node->ejected_until > now)
    {
        goto done;
    }

    if (node->eject_end && now - node->eject_end >= (int64_t) conf->max_time)
    {
        node->ejections = 0;
    }

    node->ejections++;

    ms = conf->time * node->ejections;

    if (ms > conf->max_time || ms / node->ejections != conf->time) {
        ms = conf->max_time;
    }

    node->ejected_until = now + ms;
    node->eject_end = node->ejected_until;
    ngx_http_mesh_registry_sum(reg, node);

    ngx_memcpy(ej->node_id, node->caps.node_id, NGX_HTTP_MESH_ID_LEN);
    ej->failures = node->fails;
    ej->ejections = node->ejections;
    ej->duration = ms;

    node->fails = 0;
    reg->generation++;
    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_mesh_registry_set_remote(const char *node_id, int64_t active,
    ngx_int_t own_delta)
{
    ngx_int_t              own;
    ngx_http_mesh_node_t  *node;
    ngx_http_mesh_zone_t  *zone;

    zone = ngx_http_mesh_registry_lock(node_id, &node);
    if (zone == NULL) {
        return;
    }

    if (node) {
        node->remote_active = active < 0 ? 0 : active;

        /* the reply to a count of ours: that much of Redis' count is ours */
        own = (ngx_int_t) node->own_remote + own_delta;
        node->own_remote = (active < 0 || own < 0) ? 0 : own;

        ngx_http_mesh_registry_sum_load(ngx_http_mesh_reg(zone), node);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_mesh_registry_changed_hook();
}


static ngx_int_t
ngx_http_mesh_registry_sockaddr(ngx_http_mesh_caps_t *caps,
    struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    ngx_memzero(ss, sizeof(struct sockaddr_storage));

    sin = (struct sockaddr_in *) ss;

    if (inet_pton(AF_INET, caps->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(caps->port);
        *len = sizeof(struct sockaddr_in);
        return NGX_OK;
    }

    sin6 = (struct sockaddr_in6 *) ss;

    if (inet_pton(AF_INET6, caps->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(caps->port);
        *len = sizeof(struct sockaddr_in6);
        return NGX_OK;
    }

    return NGX_ERROR;
}


static ngx_uint_t
ngx_http_mesh_registry_changed(ngx_http_mesh_caps_t *old,
    ngx_http_mesh_caps_t *caps)
{
    ngx_uint_t  i;

    if (old->status != caps->status
        || old->port != caps->port
        || old->max_tasks != caps->max_tasks
        || ngx_strcmp(old->host, caps->host) != 0
        || ngx_http_mesh_registry_models_changed(old, caps))
    {
        return 1;
    }

    for (i = 0; i < caps->nmodels; i++) {
        if (old->models[i].loaded != caps->models[i].loaded) {
            return 1;
        }
    }

    return 0;
}


/* what the route index holds: each model's name and type */

static ngx_uint_t
ngx_http_mesh_registry_models_changed(ngx_http_mesh_caps_t *old,
    ngx_http_mesh_caps_t *caps)
{
    ngx_uint_t  i;

    if (old->nmodels != caps->nmodels) {
        return 1;
    }

    for (i = 0; i < caps->nmodels; i++) {
        if (ngx_strcmp(old->models[i].name, caps->models[i].name) != 0
            || old->models[i].type != caps->models[i].type)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Under the lock that dispatch counted it with: the routing summary moves
 * with the count, and no two decrements can leave it behind.
 */

void
ngx_http_mesh_registry_release(ngx_uint_t index)
{
    int64_t                       sec;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return;
    }

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = &reg->nodes[index];

    if (node->active) {
        node->active--;
        ngx_http_mesh_registry_sum_load(reg, node);
    }

    /*
     * For a heartbeat the agent sent before this end (registry_update).
     * A worker's cached clock may lag the one that ended the last task:
     * this end came after that one (the mutex orders them), so it is in
     * end_sec still, never in an older second that would drop the ends
     * kept.
     */

    sec = ngx_http_mesh_now_ms() / 1000;

    if (sec > node->end_sec) {
        node->ends[1] = (sec == node->end_sec + 1) ? node->ends[0] : 0;
        node->ends[0] = 0;
        node->end_sec = sec;
    }

    node->ends[0]++;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* down until its next heartbeat; returns whether it was up */

ngx_uint_t
ngx_http_mesh_registry_down(ngx_uint_t index, int64_t now, char *node_id)
{
    ngx_uint_t             was_up;
    ngx_http_mesh_node_t  *node;
    ngx_http_mesh_zone_t  *zone;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = &ngx_http_mesh_reg(zone)->nodes[index];

    /* a node that left is not down: its Redis hash is gone, and the
       sync layer's mark-down would write a count back into it */
    was_up = node->left ? 0
                        : ngx_http_mesh_registry_mark_down(
                              ngx_http_mesh_reg(zone), node, now);

    ngx_memcpy(node_id, node->caps.node_id, NGX_HTTP_MESH_ID_LEN);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return was_up;
}


/*
 * A copy of node index, taken under the lock, for readers that walk the
 * registry (node list, /api/tags, the write-back to Redis): the lock is
 * held for one node at a time, never for the whole registry, and nothing
 * is allocated while it is held.
 */

ngx_int_t
ngx_http_mesh_registry_get(ngx_uint_t index, ngx_http_mesh_node_t *node)
{
    ngx_int_t                     rc;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return NGX_DONE;
    }

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = NGX_DONE;

    if (index < reg->nnodes) {
        *node = reg->nodes[index];
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_mesh_registry_down_by_id(const char *node_id, int64_t now)
{
    ngx_http_mesh_node_t  *node;
    ngx_http_mesh_zone_t  *zone;

    zone = ngx_http_mesh_registry_lock(node_id, &node);
    if (zone == NULL) {
        return;
    }

    if (node) {
        (void) ngx_http_mesh_registry_mark_down(ngx_http_mesh_reg(zone), node,
                                                now);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The zone, its mutex held, and in *node the node with that id or NULL;
 * NULL without a zone (nothing locked).
 */

static ngx_http_mesh_zone_t *
ngx_http_mesh_registry_lock(const char *node_id, ngx_http_mesh_node_t **node)
{
    ngx_int_t                     i;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return NULL;
    }

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    i = ngx_http_mesh_registry_find(reg, node_id);
    *node = (i == NGX_ERROR) ? NULL : &reg->nodes[i];

    return zone;
}


void
ngx_http_mesh_registry_set_change_handler(
    ngx_http_mesh_registry_change_pt handler)
{
    ngx_http_mesh_worker.registry_change = handler;
}


static void
ngx_http_mesh_registry_changed_hook(void)
{
    if (ngx_http_mesh_worker.registry_change) {
        ngx_http_mesh_worker.registry_change();
    }
}
