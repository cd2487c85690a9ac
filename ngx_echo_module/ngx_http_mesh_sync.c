
/*
 * Keeping the registry snapshot current from Redis: heartbeats received
 * here, events from other orchestrators, periodic resync, the load counts
 * flushed to Redis, and a sweep (one worker at a time) that marks silent
 * nodes down.  The Redis key layout lives here.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_redis.h"
#include "ngx_http_mesh_sign.h"
#include "ngx_http_mesh_sync.h"


#define NGX_HTTP_MESH_SWEEP_MS      1000
#define NGX_HTTP_MESH_RESYNC_EVERY  5         /* sweeps */
#define NGX_HTTP_MESH_FLUSH_MS      100
#define NGX_HTTP_MESH_GRACE_MS      35000     /* agents back off to 30 s */
#define NGX_HTTP_MESH_RECLAIM_WINDOWS  10
#define NGX_HTTP_MESH_RUN_ID_LEN    40        /* Redis' INFO run_id */

/*
 * How far past {"event":"node. a heartbeat's "by" may start: it follows
 * the kind and "ts" (node_api.c), so the search never reads the
 * capabilities after it.
 */
#define NGX_HTTP_MESH_BY_WITHIN     64

/* and its "sent" (the heartbeat's signed time) follows "by" */
#define NGX_HTTP_MESH_SENT_WITHIN   (NGX_HTTP_MESH_BY_WITHIN + 64)

/* a node's hash, mesh:node:<id> */
#define NGX_HTTP_MESH_NODE_KEY_LEN                                           \
    (sizeof(NGX_HTTP_MESH_KEY_PREFIX) - 1 + NGX_HTTP_MESH_ID_LEN)

/*
 * The commands of every heartbeat (and of a resync, per node) go as argv:
 * hiredis' format string parser cost ~14,000 instructions a command (the
 * most of a heartbeat's formatting), the argv form a fraction of that.
 */
#define ngx_http_mesh_sync_arg(n, s, l)                                      \
    argv[n] = (const char *) (s); argvlen[n] = (l)
#define ngx_http_mesh_sync_carg(n, s)                                        \
    ngx_http_mesh_sync_arg(n, s, sizeof(s) - 1)


/*
 * One node written back into Redis as its last heartbeat wrote it, unless
 * Redis has a copy at least as new.  KEYS: its hash, the live set; ARGV:
 * caps, last_seen, active, node_id.
 */
#define NGX_HTTP_MESH_RESTORE_LUA                                            \
    "local t = tonumber(redis.call('HGET', KEYS[1], 'last_seen'))"           \
    " if t and t >= tonumber(ARGV[2]) then return 0 end"                     \
    " redis.call('HSET', KEYS[1], 'caps', ARGV[1], 'last_seen', ARGV[2],"    \
    " 'active', ARGV[3])"                                                    \
    " redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])"                   \
    " return 1"


/* a node the resync asked Redis about, until the reply comes back */
typedef struct {
    int64_t                   seen;     /* its score in mesh:nodes */
    char                      node_id[NGX_HTTP_MESH_ID_LEN];
} ngx_http_mesh_sync_seen_t;


/* a flushed count change, until Redis' reply comes back */
typedef struct {
    ngx_int_t                 delta;
    char                      node_id[NGX_HTTP_MESH_ID_LEN];
} ngx_http_mesh_sync_load_t;


static void ngx_http_mesh_sync_on_message(ngx_str_t *msg, void *data);
static ngx_uint_t ngx_http_mesh_sync_own_event(u_char *p, u_char *last,
    size_t within);
static int64_t ngx_http_mesh_sync_event_int(u_char *p, u_char *last,
    const char *key, size_t within, int64_t max);
static void ngx_http_mesh_sync_down(const char *node_id, ngx_log_t *log);
static void ngx_http_mesh_sync_on_connect(void *data);
static void ngx_http_mesh_sync_redis_info(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mesh_sync_restore(ngx_http_mesh_redis_t *rc);
static void ngx_http_mesh_sync_sweep_handler(ngx_event_t *ev);
static void ngx_http_mesh_sync_resync(void);
static void ngx_http_mesh_sync_resync_ids(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static ngx_uint_t ngx_http_mesh_sync_has_seen(const char *node_id,
    int64_t seen);
static void ngx_http_mesh_sync_resync_node(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mesh_sync_resync_active(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mesh_sync_load_reply(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mesh_sync_flush_handler(ngx_event_t *ev);


/*
 * While this worker's Redis is away, agents get 503 and back off, so
 * their silence says nothing: routing goes on from the last known
 * registry, as the sweep does, until Redis is back, and for a grace period
 * after, long enough for agents at their longest backoff to heartbeat
 * again.  "Back" means both links: the grace starts when the subscriber
 * is ready too, so until then the timeout stays suspended.  A dead node is
 * still found at once by a failed connect.
 */

int64_t
ngx_http_mesh_sync_timeout(void)
{
    ngx_http_mesh_redis_t      *rc;
    ngx_http_mesh_main_conf_t  *mmcf;

    rc = ngx_http_mesh_redis_commands();

    if (rc != NULL
        && (!ngx_http_mesh_redis_connected(rc)
            || !ngx_http_mesh_redis_subscribed()))
    {
        return INT64_MAX;
    }

    if (ngx_http_mesh_worker.grace_until
        && ngx_http_mesh_now_ms() < ngx_http_mesh_worker.grace_until)
    {
        return INT64_MAX;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_mesh_module);

    return (int64_t) mmcf->heartbeat_interval * mmcf->heartbeat_misses;
}


/* a dispatch could not even connect: the node is down at once */

void
ngx_http_mesh_sync_node_failed(ngx_uint_t index, ngx_log_t *log)
{
    char  node_id[NGX_HTTP_MESH_ID_LEN];

    if (ngx_http_mesh_registry_down(index, ngx_http_mesh_now_ms(), node_id)) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mesh: node \"%s\" is down: connect failed", node_id);
        ngx_http_mesh_sync_down(node_id, log);
    }
}


/*
 * A node this nginx marked down: Redis' count of it starts again from 0,
 * as the zone's did (ngx_http_mesh_registry_mark_down), and node.down
 * tells the others.  A task still ending after it takes the count below
 * zero, and its flush's reply sets it back to 0; the node's next heartbeat
 * brings its own count.
 */

static void
ngx_http_mesh_sync_down(const char *node_id, ngx_log_t *log)
{
    size_t                  argvlen[4];
    const char             *argv[4];
    ngx_http_mesh_redis_t  *rc;
    u_char                  key[NGX_HTTP_MESH_NODE_KEY_LEN];

    rc = ngx_http_mesh_redis_commands();

    /* as argv: a sweep may mark many down at once (see _sync_arg) */

    if (rc != NULL && ngx_http_mesh_redis_connected(rc)) {
        ngx_http_mesh_sync_carg(0, "HSET");
        ngx_http_mesh_sync_arg(1, key,
                               ngx_sprintf(key, NGX_HTTP_MESH_KEY_PREFIX "%s",
                                           node_id) - key);
        ngx_http_mesh_sync_carg(2, "active");
        ngx_http_mesh_sync_carg(3, "0");

        (void) ngx_http_mesh_redis_command_argv(rc, NULL, NULL, 4, argv,
                                                argvlen);
    }

    ngx_http_mesh_event_node("node.down", node_id, log);
}


/*
 * Load: the shared-zone counter is exact for this nginx.  Redis' HINCRBY
 * makes it mesh-wide and its reply, published as node.load, tells other
 * orchestrators.  Changes are summed per node and flushed every 100 ms, so
 * a busy node costs Redis one command per flush, not two per task.  The
 * zone counter itself is dispatch's (reserve and release).
 */

void
ngx_http_mesh_sync_count(ngx_uint_t index, ngx_int_t delta,
    ngx_log_t *log)
{
    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    if (w->load_delta == NULL || index >= w->load_n) {
        return;
    }

    w->load_delta[index] += delta;

    /* the flush visits these slots only, not every slot of the zone */

    if (!w->load_listed[index]) {
        w->load_listed[index] = 1;
        w->load_dirty[w->load_ndirty++] = index;
    }

    if (!w->flush_event.timer_set) {
        ngx_add_timer(&w->flush_event, NGX_HTTP_MESH_FLUSH_MS);
    }

    /* an exiting worker sends its last counts before it leaves */
    w->flush_event.cancelable = ngx_exiting ? 0 : 1;
}


static void
ngx_http_mesh_sync_flush_handler(ngx_event_t *ev)
{
    ngx_http_mesh_sync_flush_load(ev->log);
    ngx_http_mesh_events_linger();
}


/*
 * Also called before a heartbeat writes the agent's own count: the
 * changes summed so far go to Redis first, so a task the agent already
 * counts is not added on top of its count a moment later.  It visits the
 * slots changed since the last flush (a heartbeat with 10,000 slots
 * scanned them all); one changed meanwhile is added to the list's end.
 */

void
ngx_http_mesh_sync_flush_load(ngx_log_t *log)
{
    ngx_int_t                   delta;
    ngx_uint_t                  i, k;
    ngx_http_mesh_zone_t       *zone;
    ngx_http_mesh_worker_t     *w;
    ngx_http_mesh_redis_t      *rc;
    ngx_http_mesh_sync_load_t  *sent;

    w = &ngx_http_mesh_worker;
    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    rc = ngx_http_mesh_redis_commands();

    for (k = 0; k < w->load_ndirty; k++) {
        i = w->load_dirty[k];
        w->load_listed[i] = 0;
        delta = w->load_delta[i];

        if (delta == 0) {
            continue;
        }

        w->load_delta[i] = 0;

        /* Redis away: the next heartbeat resets the count anyway */

        if (zone == NULL || rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
            continue;
        }

        sent = ngx_alloc(sizeof(ngx_http_mesh_sync_load_t), log);
        if (sent == NULL) {
            continue;
        }

        sent->delta = delta;
        ngx_memcpy(sent->node_id,
                   ngx_http_mesh_reg(zone)->nodes[i].caps.node_id,
                   NGX_HTTP_MESH_ID_LEN);

        if (ngx_http_mesh_redis_command(rc,
                                        ngx_http_mesh_sync_load_reply,
                                        sent, "HINCRBY "
                                        NGX_HTTP_MESH_KEY_PREFIX
                                        "%s active %d", sent->node_id,
                                        (int) delta)
            != NGX_OK)
        {
            ngx_free(sent);
        }
    }

    w->load_ndirty = 0;
}


static void
ngx_http_mesh_sync_load_reply(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data)
{
    ngx_http_mesh_sync_load_t  *sent = data;

    char                       *node_id;
    ngx_pool_t                 *pool;
    ngx_http_mesh_zone_t       *zone;
    ngx_http_mesh_json_t        w;

    node_id = sent->node_id;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        goto done;
    }

    if (reply->integer < 0) {
        /* an old count from before a crash: start again from zero */
        (void) ngx_http_mesh_redis_command(rc, NULL, NULL,
                                           "HSET " NGX_HTTP_MESH_KEY_PREFIX
                                           "%s active 0", node_id);
        reply->integer = 0;
    }

    ngx_http_mesh_registry_set_remote(node_id, reply->integer, sent->delta);

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        goto done;
    }

    if (ngx_http_mesh_event_start(&w, pool, "node.load") == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "node_id", node_id);
        ngx_http_mesh_json_kint(&w, "active", reply->integer);

        if (zone) {
            ngx_http_mesh_json_kcstr(&w, "by",
                                     (char *) ngx_http_mesh_reg(zone)->orch_id);
        }

        ngx_http_mesh_event_publish(&w, ngx_cycle->log);
    }

    ngx_destroy_pool(pool);

done:

    ngx_free(sent);
}


/*
 * An event this nginx published ("by" is its zone's id): what it says is
 * in the shared zone already (a node.load's reply, a heartbeat's update).
 * within: how far from p "by" may start, 0 anywhere.
 */

static ngx_uint_t
ngx_http_mesh_sync_own_event(u_char *p, u_char *last, size_t within)
{
    u_char                *end;
    ngx_http_mesh_zone_t  *zone;

    static const char      by[] = "\"by\":\"";

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return 0;
    }

    end = (within && (size_t) (last - p) > within) ? p + within : last;

    p = ngx_strlcasestrn(p, end, (u_char *) by, sizeof(by) - 1 - 1);

    return p != NULL
           && last - p >= (ssize_t) (sizeof(by) - 1
                                     + NGX_HTTP_MESH_ORCH_ID_LEN + 1)
           && ngx_strncmp(p + sizeof(by) - 1, ngx_http_mesh_reg(zone)->orch_id,
                          NGX_HTTP_MESH_ORCH_ID_LEN) == 0
           && p[sizeof(by) - 1 + NGX_HTTP_MESH_ORCH_ID_LEN] == '"';
}


/*
 * Events from every orchestrator sharing the Redis, ours included: every
 * worker of this nginx gets each message it published, and skips those
 * whose change the publishing worker made in the shared zone already (a
 * heartbeat's capabilities would otherwise be parsed and applied again by
 * each worker).  Messages are ours, so the kind is at a fixed place:
 * {"event":"node.xxx",...
 */

static void
ngx_http_mesh_sync_on_message(ngx_str_t *msg, void *data)
{
    u_char                *p, *last;
    int64_t                active, sent;
    ngx_uint_t             change;
    ngx_http_mesh_caps_t  *caps;
    char                   node_id[NGX_HTTP_MESH_ID_LEN];
    char                   err[NGX_HTTP_MESH_ERR_LEN];

    static const char      prefix[] = "{\"event\":\"node.";

    if (msg->len < sizeof(prefix) - 1 + 4
        || ngx_strncmp(msg->data, prefix, sizeof(prefix) - 1) != 0)
    {
        return;                     /* task events: for the live feed */
    }

    p = msg->data + sizeof(prefix) - 1;
    last = msg->data + msg->len;

    if (last - p >= 8 && ngx_strncmp(p, "ejected\"", 8) == 0) {
        return;                     /* each nginx ejects for itself */
    }

    if (ngx_strncmp(p, "load\"", 5) == 0) {
        if (ngx_http_mesh_sync_own_event(p, last, 0)) {
            return;
        }

        if (ngx_http_mesh_parse_node_id((char *) msg->data, msg->len,
                                        node_id, err) != 0)
        {
            return;
        }

        active = ngx_http_mesh_sync_event_int(p, last, "\"active\":", 0,
                                              1000000);
        if (active < 0) {
            return;
        }

        ngx_http_mesh_registry_set_remote(node_id, active, 0);
        return;
    }

    if (ngx_strncmp(p, "down\"", 5) == 0
        || ngx_strncmp(p, "leave\"", 6) == 0)
    {
        if (ngx_http_mesh_parse_node_id((char *) msg->data, msg->len,
                                        node_id, err) != 0)
        {
            return;
        }

        if (p[0] == 'l') {
            (void) ngx_http_mesh_registry_leave(node_id);
            return;
        }

        /* another orchestrator failed to connect: trust it, a heartbeat
           brings the node back */
        ngx_http_mesh_registry_down_by_id(node_id, ngx_http_mesh_now_ms());

        return;
    }

    /* join, up, update, heartbeat: the full capabilities */

    if (ngx_http_mesh_sync_own_event(p, last, NGX_HTTP_MESH_BY_WITHIN)) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "mesh: own event, not applied again: %*s",
                       ngx_min(msg->len, NGX_HTTP_MESH_BY_WITHIN),
                       msg->data);
        return;
    }

    caps = ngx_alloc(sizeof(ngx_http_mesh_caps_t), ngx_cycle->log);
    if (caps == NULL) {
        return;
    }

    /* an orchestrator before "sent": -1, the count taken as it is */
    sent = ngx_http_mesh_sync_event_int(p, last, "\"sent\":",
                                        NGX_HTTP_MESH_SENT_WITHIN,
                                        NGX_MAX_TIME_T_VALUE / 10);

    /* counted before it reached us: a later time is a clock ahead */
    if (sent > ngx_time()) {
        sent = ngx_time();
    }

    if (ngx_http_mesh_parse_caps((char *) msg->data, msg->len, caps, err)
        == 0)
    {
        (void) ngx_http_mesh_registry_update(caps, ngx_http_mesh_now_ms(),
                                             sent > 0 ? (time_t) sent : 0,
                                             &change);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "mesh: event of node \"%s\" applied: %*s",
                       caps->node_id,
                       ngx_min(msg->len, NGX_HTTP_MESH_BY_WITHIN),
                       msg->data);
    }

    ngx_free(caps);
}


/*
 * The number after key (with its colon) in an event, within that many
 * bytes of p (0: anywhere); -1 if not there.  Its digits are read until
 * it reaches max.
 */

static int64_t
ngx_http_mesh_sync_event_int(u_char *p, u_char *last, const char *key,
    size_t within, int64_t max)
{
    size_t    len;
    u_char   *end;
    int64_t   n;

    len = ngx_strlen(key);
    end = (within && (size_t) (last - p) > within) ? p + within : last;

    p = ngx_strlcasestrn(p, end, (u_char *) key, len - 1);
    if (p == NULL) {
        return -1;
    }

    p += len;
    n = 0;

    while (p < last && *p >= '0' && *p <= '9' && n < max) {
        n = n * 10 + (*p++ - '0');
    }

    return n;
}


static void
ngx_http_mesh_sync_on_connect(void *data)
{
    ngx_http_mesh_zone_t   *zone;
    ngx_http_mesh_redis_t  *rc;

    if (ngx_http_mesh_worker.connects++ > 0) {
        ngx_http_mesh_worker.grace_until = ngx_http_mesh_now_ms()
                                    + NGX_HTTP_MESH_GRACE_MS;

        zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);

        if (zone && zone->sh->stats) {
            (void) ngx_atomic_fetch_add(&zone->sh->stats->redis_reconnects,
                                        1);
        }
    }

    ngx_http_mesh_sync_gauges();

    rc = ngx_http_mesh_redis_commands();

    if (rc != NULL) {
        (void) ngx_http_mesh_redis_command(rc, ngx_http_mesh_sync_redis_info,
                                           NULL, "INFO server");
    }

    ngx_http_mesh_sync_resync();
}


/*
 * A Redis restarted without persistence comes back empty, and agents
 * in their backoff may not heartbeat again for half a minute.  A restart
 * shows as a new run_id; the first worker to see it (the zone remembers
 * the last one, across reloads) writes the registry back.
 */

static void
ngx_http_mesh_sync_redis_info(ngx_http_mesh_redis_t *rc, redisReply *reply,
    void *data)
{
    u_char                       *p, *last;
    ngx_uint_t                    restarted;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);

    if (zone == NULL || reply == NULL || reply->type != REDIS_REPLY_STRING) {
        return;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    p = ngx_strlcasestrn(p, last, (u_char *) "run_id:", 7 - 1);

    if (p == NULL || last - p < 7 + NGX_HTTP_MESH_RUN_ID_LEN) {
        return;
    }

    p += 7;
    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    restarted = reg->redis_run_id[0]
                && ngx_memcmp(reg->redis_run_id, p, NGX_HTTP_MESH_RUN_ID_LEN)
                   != 0;

    ngx_memcpy(reg->redis_run_id, p, NGX_HTTP_MESH_RUN_ID_LEN);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (restarted) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mesh registry: redis restarted, writing the live "
                      "nodes back");
        ngx_http_mesh_sync_restore(rc);
    }
}


static void
ngx_http_mesh_sync_restore(ngx_http_mesh_redis_t *rc)
{
    char                  *json;
    size_t                 len;
    int64_t                now, timeout;
    ngx_uint_t             i, n;
    ngx_http_mesh_caps_t  *caps;
    ngx_http_mesh_node_t  *node;

    node = ngx_alloc(sizeof(ngx_http_mesh_node_t)
                     + NGX_HTTP_MESH_CAPS_JSON_MAX, ngx_cycle->log);
    if (node == NULL) {
        return;
    }

    json = (char *) (node + 1);
    caps = &node->caps;
    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();
    n = 0;

    for (i = 0; ngx_http_mesh_registry_get(i, node) == NGX_OK; i++) {
        if (!ngx_http_mesh_registry_live(node, now, timeout)) {
            continue;
        }

        len = ngx_http_mesh_caps_to_json(caps, json,
                                         NGX_HTTP_MESH_CAPS_JSON_MAX);
        if (len == 0) {
            continue;
        }

        if (ngx_http_mesh_redis_command(rc, NULL, NULL,
                                        "EVAL %s 2 " NGX_HTTP_MESH_KEY_PREFIX
                                        "%s " NGX_HTTP_MESH_LIVE_KEY
                                        " %b %lld %u %s",
                                        NGX_HTTP_MESH_RESTORE_LUA,
                                        caps->node_id, json, len,
                                        (long long) node->last_seen,
                                        (unsigned) caps->active_tasks,
                                        caps->node_id)
            == NGX_OK)
        {
            n++;
        }
    }

    ngx_free(node);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "mesh registry: %ui live nodes written back to redis", n);
}


/* the full registry from Redis: after a reconnect and every few sweeps */

static void
ngx_http_mesh_sync_resync(void)
{
    int64_t                 since;
    ngx_http_mesh_redis_t  *rc;

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        return;
    }

    since = ngx_http_mesh_now_ms() - ngx_http_mesh_sync_timeout();

    (void) ngx_http_mesh_redis_command(rc,
                                       ngx_http_mesh_sync_resync_ids,
                                       NULL,
                                       "ZRANGEBYSCORE " NGX_HTTP_MESH_LIVE_KEY
                                       " %lld +inf WITHSCORES",
                                       (long long) since);
}


/*
 * Only what changed is read and parsed: a node whose score (its last
 * heartbeat) the zone already has, or an older one, gets its mesh-wide
 * count alone (HGET active); its capabilities would change nothing (see
 * ngx_http_mesh_registry_update: an older copy is ignored, and so is the
 * same one for a node down or gone).  With 10,000 live agents the resync
 * read and parsed every one of them every 5 s, whatever changed.
 */

static void
ngx_http_mesh_sync_resync_ids(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data)
{
    int                            argc;
    size_t                         i, argvlen[4];
    u_char                        *id;
    const char                    *argv[4];
    redisReply                    *e;
    ngx_http_mesh_sync_seen_t     *seen;
    ngx_http_mesh_redis_reply_pt   handler;
    u_char                         key[NGX_HTTP_MESH_NODE_KEY_LEN];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    id = ngx_cpymem(key, NGX_HTTP_MESH_KEY_PREFIX,
                    sizeof(NGX_HTTP_MESH_KEY_PREFIX) - 1);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len >= NGX_HTTP_MESH_ID_LEN) {
            continue;
        }

        seen = ngx_alloc(sizeof(ngx_http_mesh_sync_seen_t), ngx_cycle->log);
        if (seen == NULL) {
            return;
        }

        seen->seen = ngx_atoof((u_char *) reply->element[i + 1]->str,
                               reply->element[i + 1]->len);
        *ngx_cpymem(seen->node_id, e->str, e->len) = '\0';

        ngx_http_mesh_sync_arg(1, key, ngx_cpymem(id, e->str, e->len) - key);

        if (seen->seen > 0
            && ngx_http_mesh_sync_has_seen(seen->node_id, seen->seen))
        {
            ngx_http_mesh_sync_carg(0, "HGET");
            ngx_http_mesh_sync_carg(2, "active");
            handler = ngx_http_mesh_sync_resync_active;
            argc = 3;

        } else {
            ngx_http_mesh_sync_carg(0, "HMGET");
            ngx_http_mesh_sync_carg(2, "caps");
            ngx_http_mesh_sync_carg(3, "active");
            handler = ngx_http_mesh_sync_resync_node;
            argc = 4;
        }

        if (ngx_http_mesh_redis_command_argv(rc, handler, seen, argc, argv,
                                             argvlen)
            != NGX_OK)
        {
            ngx_free(seen);
        }
    }
}


/* the zone has the node with this heartbeat or a newer one */

static ngx_uint_t
ngx_http_mesh_sync_has_seen(const char *node_id, int64_t seen)
{
    ngx_int_t                     i;
    ngx_uint_t                    has;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return 0;
    }

    reg = ngx_http_mesh_reg(zone);

    ngx_shmtx_lock(&zone->shpool->mutex);

    i = ngx_http_mesh_registry_find(reg, node_id);
    has = (i != NGX_ERROR && reg->nodes[i].last_seen >= seen);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return has;
}


static void
ngx_http_mesh_sync_resync_node(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data)
{
    ngx_http_mesh_sync_seen_t  *seen = data;

    ngx_uint_t                  change;
    ngx_http_mesh_caps_t       *caps;
    char                        err[NGX_HTTP_MESH_ERR_LEN];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        goto done;
    }

    caps = ngx_alloc(sizeof(ngx_http_mesh_caps_t), ngx_cycle->log);
    if (caps == NULL) {
        goto done;
    }

    if (ngx_http_mesh_parse_caps(reply->element[0]->str,
                                 reply->element[0]->len, caps, err) == 0
        && seen->seen > 0)
    {
        (void) ngx_http_mesh_registry_update(caps, seen->seen, 0, &change);

        if (reply->element[1]->type == REDIS_REPLY_STRING) {
            ngx_http_mesh_registry_set_remote(caps->node_id,
                ngx_atoi((u_char *) reply->element[1]->str,
                         reply->element[1]->len), 0);
        }
    }

    ngx_free(caps);

done:

    ngx_free(seen);
}


/*
 * The count of a node whose heartbeat the zone has: Redis' count, less
 * this nginx's part of it, which only the replies to its own flushes move
 * (ngx_http_mesh_sync_load_reply).  Taking this nginx's running tasks as
 * its part instead, as this did before, counted a task that ended here
 * within the last flush period (its -1 not yet in Redis) as another
 * orchestrator's, until the flush's reply: a phantom load that could send
 * the next task elsewhere.
 */

static void
ngx_http_mesh_sync_resync_active(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data)
{
    ngx_http_mesh_sync_seen_t  *seen = data;

    /* nil: the hash is gone (a leave), as a missing "caps" was before */

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        goto done;
    }

    ngx_http_mesh_registry_set_remote(seen->node_id,
                                      ngx_atoi((u_char *) reply->str,
                                               reply->len), 0);

done:

    ngx_free(seen);
}


ngx_int_t
ngx_http_mesh_sync_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_mesh_zone_t       *zone;
    ngx_http_mesh_worker_t     *w;
    ngx_http_mesh_main_conf_t  *mmcf;

    zone = ngx_http_mesh_zone_from_cycle(cycle);
    if (zone == NULL) {
        return NGX_OK;
    }

    w = &ngx_http_mesh_worker;
    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mesh_module);

    /* long dead: silent for ten liveness windows (README, mesh_zone) */
    ngx_http_mesh_reg(zone)->reclaim_after =
        (int64_t) mmcf->heartbeat_interval * mmcf->heartbeat_misses
        * NGX_HTTP_MESH_RECLAIM_WINDOWS;

    w->sweep_event.handler = ngx_http_mesh_sync_sweep_handler;
    w->sweep_event.data = &w->timer_conn;
    w->sweep_event.log = cycle->log;
    w->sweep_event.cancelable = 1;

    w->flush_event.handler = ngx_http_mesh_sync_flush_handler;
    w->flush_event.data = &w->timer_conn;
    w->flush_event.log = cycle->log;
    w->flush_event.cancelable = 1;

    w->load_n = ngx_http_mesh_reg(zone)->max_nodes;
    w->load_delta = ngx_pcalloc(cycle->pool, w->load_n * sizeof(ngx_int_t));
    w->load_dirty = ngx_palloc(cycle->pool, w->load_n * sizeof(ngx_uint_t));
    w->load_listed = ngx_pcalloc(cycle->pool, w->load_n);

    if (w->load_delta == NULL || w->load_dirty == NULL
        || w->load_listed == NULL)
    {
        return NGX_ERROR;
    }

    ngx_add_timer(&w->sweep_event,
                  NGX_HTTP_MESH_SWEEP_MS / 2 + ngx_random() % 200);

    return NGX_OK;
}


/*
 * A heartbeat's writes, in order: the node's hash (its count unless not
 * counted) and its place in the live set, then the event, whose reply
 * goes to cb.  NGX_DECLINED: Redis is away and nothing was sent; otherwise
 * what sending the event gave.
 */

ngx_int_t
ngx_http_mesh_sync_heartbeat(ngx_http_mesh_caps_t *caps, ngx_str_t *caps_json,
    int64_t now, ngx_uint_t counted, ngx_str_t *event,
    ngx_http_mesh_redis_reply_pt cb, void *data, ngx_log_t *log)
{
    size_t                  argvlen[8], seen_len;
    const char             *argv[8];
    ngx_http_mesh_redis_t  *rc;
    u_char                  key[NGX_HTTP_MESH_NODE_KEY_LEN];
    u_char                  seen[NGX_INT64_LEN], active[NGX_INT_T_LEN];

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        return NGX_DECLINED;
    }

    /* the agent's own count heals one a crashed orchestrator left;
       the load changes summed so far must reach Redis before it */
    ngx_http_mesh_sync_flush_load(log);

    seen_len = ngx_sprintf(seen, "%L", now) - seen;

    ngx_http_mesh_sync_carg(0, "HSET");
    ngx_http_mesh_sync_arg(1, key,
                           ngx_sprintf(key, NGX_HTTP_MESH_KEY_PREFIX "%s",
                                       caps->node_id) - key);
    ngx_http_mesh_sync_carg(2, "caps");
    ngx_http_mesh_sync_arg(3, caps_json->data, caps_json->len);
    ngx_http_mesh_sync_carg(4, "last_seen");
    ngx_http_mesh_sync_arg(5, seen, seen_len);
    ngx_http_mesh_sync_carg(6, "active");
    ngx_http_mesh_sync_arg(7, active,
                           ngx_sprintf(active, "%ui",
                                       (ngx_uint_t) caps->active_tasks)
                           - active);

    /* not counted: too old for this nginx's ends, the count stays Redis' */
    (void) ngx_http_mesh_redis_command_argv(rc, NULL, NULL, counted ? 8 : 6,
                                            argv, argvlen);

    ngx_http_mesh_sync_carg(0, "ZADD");
    ngx_http_mesh_sync_carg(1, NGX_HTTP_MESH_LIVE_KEY);
    ngx_http_mesh_sync_arg(2, seen, seen_len);
    ngx_http_mesh_sync_arg(3, caps->node_id, ngx_strlen(caps->node_id));

    (void) ngx_http_mesh_redis_command_argv(rc, NULL, NULL, 4, argv, argvlen);

    ngx_http_mesh_sync_carg(0, "PUBLISH");
    ngx_http_mesh_sync_carg(1, NGX_HTTP_MESH_EVENT_CHANNEL);
    ngx_http_mesh_sync_arg(2, event->data, event->len);

    return ngx_http_mesh_redis_command_argv(rc, cb, data, 3, argv, argvlen);
}


/* a leave's: out of the live set and deleted, node.leave, then a PING */

ngx_int_t
ngx_http_mesh_sync_leave(const char *node_id, ngx_http_mesh_redis_reply_pt cb,
    void *data, ngx_log_t *log)
{
    size_t                  argvlen[1];
    const char             *argv[1];
    ngx_http_mesh_redis_t  *rc;

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        return NGX_DECLINED;
    }

    (void) ngx_http_mesh_redis_command(rc, NULL, NULL,
                                       "ZREM " NGX_HTTP_MESH_LIVE_KEY " %s",
                                       node_id);
    (void) ngx_http_mesh_redis_command(rc, NULL, NULL,
                                       "DEL " NGX_HTTP_MESH_KEY_PREFIX "%s",
                                       node_id);

    ngx_http_mesh_event_node("node.leave", node_id, log);

    argv[0] = "PING";
    argvlen[0] = 4;

    return ngx_http_mesh_redis_command_argv(rc, cb, data, 1, argv, argvlen);
}


ngx_int_t
ngx_http_mesh_sync_nonce(ngx_str_t *nonce, ngx_msec_t ttl,
    ngx_http_mesh_redis_reply_pt cb, void *data)
{
    u_char                 *p;
    size_t                  argvlen[6];
    const char             *argv[6];
    ngx_http_mesh_redis_t  *rc;
    u_char                  key[sizeof(NGX_HTTP_MESH_NONCE_PREFIX) - 1
                                + NGX_HTTP_MESH_NONCE_MAX];
    u_char                  px[NGX_INT_T_LEN];

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        return NGX_DECLINED;
    }

    if (nonce->len > NGX_HTTP_MESH_NONCE_MAX) {
        return NGX_ERROR;           /* the signature's parse refused it */
    }

    p = ngx_cpymem(key, NGX_HTTP_MESH_NONCE_PREFIX,
                   sizeof(NGX_HTTP_MESH_NONCE_PREFIX) - 1);

    ngx_http_mesh_sync_carg(0, "SET");
    ngx_http_mesh_sync_arg(1, key, ngx_cpymem(p, nonce->data, nonce->len)
                                   - key);
    ngx_http_mesh_sync_carg(2, "1");
    ngx_http_mesh_sync_carg(3, "NX");
    ngx_http_mesh_sync_carg(4, "PX");
    ngx_http_mesh_sync_arg(5, px, ngx_sprintf(px, "%ui", (ngx_uint_t) ttl)
                                  - px);

    return ngx_http_mesh_redis_command_argv(rc, cb, data, 6, argv, argvlen);
}


/* the Redis adapter, with this layer listening to it */

ngx_int_t
ngx_http_mesh_sync_connect(ngx_cycle_t *cycle,
    ngx_http_mesh_redis_addr_t *addr)
{
    ngx_http_mesh_redis_handlers_t  handlers;

    handlers.channel = NGX_HTTP_MESH_EVENT_CHANNEL;
    handlers.message = ngx_http_mesh_sync_on_message;
    handlers.ready = ngx_http_mesh_sync_on_connect;
    handlers.data = NULL;

    return ngx_http_mesh_redis_init_worker(cycle, addr, &handlers);
}


/*
 * Whichever worker gets the zone mutex first in a sweep period does the
 * sweep; the others find last_sweep fresh and skip.  While Redis is away
 * the registry is frozen: agents cannot heartbeat, they are not dead.
 */

void
ngx_http_mesh_sync_gauges(void)
{
    ngx_http_mesh_queue_slot_t  *slot;

    slot = ngx_http_mesh_worker.queue_slot;

    if (slot == NULL) {
        return;
    }

    slot->redis_up = ngx_http_mesh_redis_connected(
                         ngx_http_mesh_redis_commands());
    slot->redis_pending = ngx_http_mesh_redis_pending();
}


static void
ngx_http_mesh_sync_sweep_handler(ngx_event_t *ev)
{
    int64_t                       now, timeout;
    ngx_uint_t                    i, n, resync;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_redis_t        *rc;
    ngx_http_mesh_registry_sh_t  *reg;
    char                          down[8][NGX_HTTP_MESH_ID_LEN];

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_MESH_SWEEP_MS + ngx_random() % 100);

    ngx_http_mesh_sync_gauges();

    zone = ngx_http_mesh_zone_from_cycle((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return;
    }

    rc = ngx_http_mesh_redis_commands();

    if (rc != NULL && !ngx_http_mesh_redis_connected(rc)) {
        return;
    }

    if (!ngx_shmtx_trylock(&zone->shpool->mutex)) {
        return;
    }

    reg = ngx_http_mesh_reg(zone);
    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();
    n = 0;
    resync = 0;

    if (now - reg->last_sweep >= NGX_HTTP_MESH_SWEEP_MS * 9 / 10) {
        reg->last_sweep = now;
        resync = (++reg->sweeps % NGX_HTTP_MESH_RESYNC_EVERY == 0);

        for (i = 0; i < reg->nnodes; i++) {
            node = &reg->nodes[i];

            if (!node->used || node->left || node->down_since) {
                continue;
            }

            if (now - node->last_seen > timeout) {
                (void) ngx_http_mesh_registry_mark_down(reg, node, now);

                if (n < 8) {
                    ngx_memcpy(down[n++], node->caps.node_id,
                               NGX_HTTP_MESH_ID_LEN);
                }
            }
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    for (i = 0; i < n; i++) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "mesh: node \"%s\" is down: no heartbeat for %L ms",
                      down[i], timeout);
        ngx_http_mesh_sync_down(down[i], ev->log);
    }

    if (resync) {
        ngx_http_mesh_sync_resync();
    }
}
