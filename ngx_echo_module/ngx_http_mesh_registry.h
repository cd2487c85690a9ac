
/*
 * The node registry: Redis holds the truth, every nginx keeps a snapshot in
 * the mesh shared zone (this store), and routing reads only the snapshot.
 */


#ifndef _NGX_HTTP_MESH_REGISTRY_H_INCLUDED_
#define _NGX_HTTP_MESH_REGISTRY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_caps.h"


/* this nginx among those sharing the Redis: its own events come back */
#define NGX_HTTP_MESH_ORCH_ID_LEN    16

#define NGX_HTTP_MESH_CHANGE_SAME    0
#define NGX_HTTP_MESH_CHANGE_JOIN    1
#define NGX_HTTP_MESH_CHANGE_UP      2
#define NGX_HTTP_MESH_CHANGE_UPDATE  3


typedef struct {
    ngx_atomic_t                  active;      /* dispatched here, not ended */
    ngx_atomic_t                  remote_active; /* mesh-wide, from Redis */
    ngx_atomic_t                  own_remote;  /* this nginx's part of it */
    int64_t                       end_sec;     /* a task's last end here, s */
    ngx_uint_t                    ends[2];     /* in end_sec, in the one
                                                  before */
    int64_t                       last_seen;   /* ms since the epoch */
    int64_t                       down_since;  /* 0: up */
    uint64_t                      tasks_done;
    uint64_t                      tasks_failed;
    uint64_t                      tokens;
    double                        recent_tps;  /* tokens/s, moving average */
    double                        recent_ms;   /* task duration, average */
    int64_t                       ejected_until; /* ms; passive ejection */
    int64_t                       eject_end;   /* the last one's end, ms */
    ngx_uint_t                    fails;       /* failed tasks in a row */
    ngx_uint_t                    ejections;   /* the multiplier */
    struct sockaddr_storage       sockaddr;
    socklen_t                     socklen;
    ngx_int_t                     id_next;     /* the id index's chain */
    u_char                        model_len[NGX_HTTP_MESH_MAX_MODELS];
    unsigned                      used:1;
    unsigned                      left:1;
    unsigned                      warm:1;      /* a model is loaded */
    /* last, its models at its end: what the router reads for each
       candidate sits in the first few cache lines of the slot */
    ngx_http_mesh_caps_t          caps;
} ngx_http_mesh_node_t;


/*
 * What the router reads of a slot for every candidate, kept beside the
 * slots in one array (40 bytes a slot, not the slot's 4.9 KB): every
 * writer of a field it is made of calls ngx_http_mesh_registry_sum() or,
 * for the load alone, ngx_http_mesh_registry_sum_load(), under the zone
 * mutex, so it never disagrees with the slot.
 */

#define NGX_HTTP_MESH_SUM_MEMBER    0x01   /* used, not left */
#define NGX_HTTP_MESH_SUM_ROUTABLE  0x02   /* live but for last_seen */
#define NGX_HTTP_MESH_SUM_FULL      0x04   /* at its max_tasks */

/*
 * And bitmaps of the member slots, kept with the summaries: per load 0 ..
 * NGX_HTTP_MESH_SUM_LEVELS - 1, those with a model loaded, and per range
 * of free RAM: the router visits the candidates at the least load first,
 * at one load the warm ones and then the most free RAM first, not all of
 * them.
 */

#define NGX_HTTP_MESH_SUM_LEVELS    4
#define NGX_HTTP_MESH_SUM_WARM      4      /* the map of a model loaded */
#define NGX_HTTP_MESH_SUM_RAM       5      /* the first RAM range's map */
#define NGX_HTTP_MESH_SUM_RAMS      16
#define NGX_HTTP_MESH_SUM_MAPS      (NGX_HTTP_MESH_SUM_RAM                  \
                                     + NGX_HTTP_MESH_SUM_RAMS)
#define ngx_http_mesh_sum_words(n)  (((n) + 63) / 64)

typedef struct {
    uint64_t                      load;        /* registry_load() */
    int64_t                       last_seen;
    int64_t                       ejected_until;
    double                        ram_free_gb;
    uint32_t                      loaded;      /* bit m: model m loaded */
    uint32_t                      flags;
} ngx_http_mesh_node_sum_t;


/* waiting tasks counted per process too: a crash cannot leave them */
#define NGX_HTTP_MESH_QUEUE_SLOTS  64

typedef struct {
    ngx_pid_t                     pid;
    ngx_atomic_t                  queued;
    /* this process's gauges for mesh_metrics, written by sync and feed */
    ngx_atomic_t                  redis_up;
    ngx_atomic_t                  redis_pending;
    ngx_atomic_t                  feed_clients;
} ngx_http_mesh_queue_slot_t;


typedef struct {
    ngx_http_mesh_node_t         *nodes;
    ngx_http_mesh_node_sum_t     *sums;         /* one per slot */
    uint64_t                     *maps;         /* SUM_MAPS bitmaps */
    ngx_uint_t                    map_words;    /* each bitmap's */
    ngx_int_t                    *id_index;     /* node id hash -> a chain */
    ngx_uint_t                    id_mask;      /* buckets - 1 */
    ngx_uint_t                    max_nodes;
    ngx_uint_t                    nnodes;       /* high-water mark */
    ngx_atomic_t                  generation;   /* bumped on every change */
    ngx_atomic_t                  models_generation; /* a slot's models */
    ngx_atomic_t                  queued;       /* waiting, all workers */
    int64_t                       last_sweep;   /* ms */
    int64_t                       reclaim_after; /* ms silent, long dead */
    u_char                        redis_run_id[40]; /* the last one seen */
    u_char                        orch_id[NGX_HTTP_MESH_ORCH_ID_LEN + 1];
    ngx_uint_t                    sweeps;
    double                        avg_task_ms;  /* for the estimated wait */
    ngx_http_mesh_queue_slot_t    queue_slots[NGX_HTTP_MESH_QUEUE_SLOTS];
} ngx_http_mesh_registry_sh_t;


/* the zone's init hook: a new registry in a new zone */
ngx_int_t ngx_http_mesh_registry_init_zone(ngx_slab_pool_t *shpool,
    void **data);

/* the registry of an ngx_http_mesh_zone_t */
#define ngx_http_mesh_reg(zone)                                              \
    ((ngx_http_mesh_registry_sh_t *) (zone)->sh->data)

/* the caller holds the zone mutex */
ngx_int_t ngx_http_mesh_registry_find(ngx_http_mesh_registry_sh_t *reg,
    const char *node_id);

/* a copy of node index (the lock held for it alone); NGX_DONE past the
   last node */
ngx_int_t ngx_http_mesh_registry_get(ngx_uint_t index,
    ngx_http_mesh_node_t *node);

/*
 * These take the zone mutex themselves.  update: a heartbeat, sent (signed)
 * at unix second sent, 0 if unknown.  Tasks that ended here since may be
 * in the agent's count still: caps->active_tasks becomes the count taken,
 * less them.  NGX_DONE: a heartbeat older than the ends this zone keeps
 * (see ngx_http_mesh_registry_ended_since), whose count is not taken at
 * all; caps->active_tasks is then the zone's.
 */
ngx_int_t ngx_http_mesh_registry_update(ngx_http_mesh_caps_t *caps,
    int64_t last_seen, time_t sent, ngx_uint_t *change);
ngx_int_t ngx_http_mesh_registry_leave(const char *node_id);
void ngx_http_mesh_registry_task_end(ngx_uint_t index, ngx_uint_t ok,
    ngx_uint_t tokens, ngx_msec_t ms, ngx_log_t *log);

/* passive ejection: how often, how long (mesh_eject) */
typedef struct {
    ngx_uint_t                    failures;    /* in a row; 0: off */
    ngx_msec_t                    time;
    ngx_msec_t                    max_time;
} ngx_http_mesh_eject_conf_t;

typedef struct {
    char                          node_id[NGX_HTTP_MESH_ID_LEN];
    ngx_uint_t                    failures;
    ngx_uint_t                    ejections;
    ngx_msec_t                    duration;
} ngx_http_mesh_ejection_t;

/*
 * A task's end with a node: failed by the node's fault, or served.  NGX_OK
 * when this failure ejects the node now (*ej says how), else NGX_DECLINED.
 */
ngx_int_t ngx_http_mesh_registry_outcome(ngx_uint_t index, ngx_uint_t failed,
    int64_t now, ngx_http_mesh_eject_conf_t *conf,
    ngx_http_mesh_ejection_t *ej);

/* the mesh-wide load of a node, as Redis counts it */
void ngx_http_mesh_registry_set_remote(const char *node_id, int64_t active,
    ngx_int_t own_delta);

/* a task ended with node index: its count here, never below zero */
void ngx_http_mesh_registry_release(ngx_uint_t index);

/* down until a newer heartbeat; node_id gets its id; 1 if it was up */
ngx_uint_t ngx_http_mesh_registry_down(ngx_uint_t index, int64_t now,
    char *node_id);
void ngx_http_mesh_registry_down_by_id(const char *node_id, int64_t now);

/*
 * Called in this worker after a node joined, came back, changed or had its
 * mesh-wide load updated: something waiting may be able to run now.
 */
typedef void (*ngx_http_mesh_registry_change_pt)(void);

void ngx_http_mesh_registry_set_change_handler(
    ngx_http_mesh_registry_change_pt handler);


/* not marked down, not leaving or degraded: live while it heartbeats */

static ngx_inline ngx_uint_t
ngx_http_mesh_registry_routable(ngx_http_mesh_node_t *node)
{
    if (!node->used || node->left || node->down_since) {
        return 0;
    }

    return node->caps.status != NGX_HTTP_MESH_STATUS_DRAINING
           && node->caps.status != NGX_HTTP_MESH_STATUS_DEGRADED;
}


/* routable: heartbeating, not marked down, not leaving or degraded */

static ngx_inline ngx_uint_t
ngx_http_mesh_registry_live(ngx_http_mesh_node_t *node, int64_t now,
    int64_t timeout)
{
    return ngx_http_mesh_registry_routable(node)
           && now - node->last_seen <= timeout;
}


/*
 * What this nginx dispatched, exact, plus what the rest of the mesh adds:
 * the Redis count less this nginx's part of it.  Taking the larger of the
 * two counts instead would keep a task that just ended here counted until
 * the next flush's reply came back.
 */

static ngx_inline ngx_uint_t
ngx_http_mesh_registry_load(ngx_http_mesh_node_t *node)
{
    ngx_uint_t  local, remote, own;

    local = node->active;
    remote = node->remote_active;
    own = node->own_remote;

    return local + (remote > own ? remote - own : 0);
}


/*
 * The range of free RAM: below 0.5 GB, then from 0.5, 0.71, 1, 1.41, 2 GB
 * and so on (sqrt(2) apart), the top from 64 GB.  The RAM is finite (the
 * parser bounds it): the ranges order it as the router compares it.
 */

static ngx_inline ngx_uint_t
ngx_http_mesh_registry_ram_range(double ram)
{
    double      from;
    ngx_uint_t  k;

    for (k = 0; k < NGX_HTTP_MESH_SUM_RAMS - 1; k++) {
        from = (double) ((uint64_t) 1 << (k / 2)) / 2;

        if (k & 1) {
            from *= 1.41421356237309504880;
        }

        if (ram < from) {
            break;
        }
    }

    return k;
}


/* the bitmaps a summary's slot is in, a bit each */

static ngx_inline uint32_t
ngx_http_mesh_registry_maps(ngx_http_mesh_node_sum_t *s)
{
    uint32_t  maps;

    if (!(s->flags & NGX_HTTP_MESH_SUM_MEMBER)) {
        return 0;
    }

    maps = (uint32_t) 1 << (NGX_HTTP_MESH_SUM_RAM
                            + ngx_http_mesh_registry_ram_range(s->ram_free_gb));

    if (s->load < NGX_HTTP_MESH_SUM_LEVELS) {
        maps |= (uint32_t) 1 << s->load;
    }

    if (s->loaded) {
        maps |= (uint32_t) 1 << NGX_HTTP_MESH_SUM_WARM;
    }

    return maps;
}


/* the caller holds the zone mutex: slot i was in the bitmaps from */

static ngx_inline void
ngx_http_mesh_registry_sum_move(ngx_http_mesh_registry_sh_t *reg,
    ngx_uint_t i, uint32_t from)
{
    uint32_t    diff;
    uint64_t    bit;
    ngx_uint_t  k;

    if (reg->maps == NULL) {
        return;
    }

    diff = from ^ ngx_http_mesh_registry_maps(&reg->sums[i]);
    bit = (uint64_t) 1 << (i & 63);

    for (k = 0; diff; k++, diff >>= 1) {
        if (diff & 1) {
            reg->maps[k * reg->map_words + (i >> 6)] ^= bit;
        }
    }
}


/* the caller holds the zone mutex: the node's load changed */

static ngx_inline void
ngx_http_mesh_registry_sum_load(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_node_t *node)
{
    uint32_t                   maps;
    ngx_uint_t                 load;
    ngx_http_mesh_node_sum_t  *s;

    s = &reg->sums[node - reg->nodes];
    load = ngx_http_mesh_registry_load(node);
    maps = ngx_http_mesh_registry_maps(s);

    s->load = load;
    s->flags &= ~NGX_HTTP_MESH_SUM_FULL;

    if (node->caps.max_tasks && load >= node->caps.max_tasks) {
        s->flags |= NGX_HTTP_MESH_SUM_FULL;
    }

    ngx_http_mesh_registry_sum_move(reg, node - reg->nodes, maps);
}


/* the caller holds the zone mutex: any field of the node changed */

static ngx_inline void
ngx_http_mesh_registry_sum(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_node_t *node)
{
    uint32_t                   maps;
    ngx_uint_t                 m;
    ngx_http_mesh_node_sum_t  *s;

    s = &reg->sums[node - reg->nodes];
    maps = ngx_http_mesh_registry_maps(s);

    s->last_seen = node->last_seen;
    s->ejected_until = node->ejected_until;
    s->ram_free_gb = node->caps.ram_free_gb;
    s->loaded = 0;
    s->flags = 0;

    for (m = 0; m < node->caps.nmodels; m++) {
        if (node->caps.models[m].loaded) {
            s->loaded |= (uint32_t) 1 << m;
        }
    }

    if (node->used && !node->left) {
        s->flags = NGX_HTTP_MESH_SUM_MEMBER;

        if (ngx_http_mesh_registry_routable(node)) {
            s->flags |= NGX_HTTP_MESH_SUM_ROUTABLE;
        }
    }

    /* all but the load, then the load */
    ngx_http_mesh_registry_sum_move(reg, node - reg->nodes, maps);
    ngx_http_mesh_registry_sum_load(reg, node);
}


/* the caller holds the zone mutex: a task dispatched to node */

static ngx_inline void
ngx_http_mesh_registry_reserve(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_node_t *node)
{
    (void) ngx_atomic_fetch_add(&node->active, 1);
    ngx_http_mesh_registry_sum_load(reg, node);
}


/*
 * The caller holds the zone mutex.  A node down runs nothing, for this
 * nginx or another: its load is what still runs from here until those
 * tasks end, never a count the rest of the mesh left in Redis.
 */

static ngx_inline ngx_uint_t
ngx_http_mesh_registry_mark_down(ngx_http_mesh_registry_sh_t *reg,
    ngx_http_mesh_node_t *node, int64_t now)
{
    if (node->down_since) {
        return 0;
    }

    node->down_since = now;
    node->remote_active = node->own_remote;
    ngx_http_mesh_registry_sum(reg, node);
    reg->generation++;

    return 1;
}


#endif /* _NGX_HTTP_MESH_REGISTRY_H_INCLUDED_ */
