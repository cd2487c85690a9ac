
/*
 * mesh_metrics: the Prometheus text exposition format (version 0.0.4) of
 * the zone's counters (ngx_http_mesh_stats.h), the registry's node states,
 * the queue, and the gauges each worker keeps in its slot of the zone.
 * Every worker answers for the whole mesh of this nginx.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_stats.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_api.h"


/* a line's room beyond its label values */
#define NGX_HTTP_MESH_METRIC_LINE   160


typedef struct {
    ngx_uint_t                    state[5];
    ngx_uint_t                    redis_up;
    ngx_uint_t                    redis_down;
    ngx_uint_t                    pending;
    ngx_uint_t                    feed;
    ngx_uint_t                    queued;
} ngx_http_mesh_gauges_t;


static void ngx_http_mesh_metrics_gauges(ngx_http_mesh_zone_t *zone,
    ngx_http_mesh_gauges_t *g);
static u_char *ngx_http_mesh_metrics_head(u_char *p, const char *name,
    const char *type, const char *help);
static u_char *ngx_http_mesh_metrics_series(u_char *p, const char *name,
    ngx_http_mesh_stats_t *st, ngx_uint_t n, ngx_uint_t tokens);
static u_char *ngx_http_mesh_metrics_hist(u_char *p, const char *name,
    const char *help, ngx_http_mesh_hist_t *h);
static u_char *ngx_http_mesh_metrics_label(u_char *p, const char *value);


static const char *const  ngx_http_mesh_node_states[5] = {
    "up", "ejected", "draining", "degraded", "down"
};


ngx_int_t
ngx_http_mesh_metrics_handler(ngx_http_request_t *r)
{
    u_char                  *p;
    size_t                   len;
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_uint_t               i, n;
    ngx_chain_t              out;
    ngx_http_mesh_zone_t    *zone;
    ngx_http_mesh_stats_t   *st;
    ngx_http_mesh_gauges_t   g;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method not allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    zone = ngx_http_mesh_zone_get(r);
    st = zone ? zone->sh->stats : NULL;

    if (st == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "the mesh zone has no room for "
                                        "the metrics");
    }

    ngx_http_mesh_metrics_gauges(zone, &g);

    /* the series there are now; each escaped label at most twice as long */

    n = st->nseries;

    len = 8192 + n * 2
                 * (NGX_HTTP_MESH_METRIC_LINE
                    + 2 * (NGX_HTTP_MESH_MODEL_LEN + NGX_HTTP_MESH_ID_LEN));

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_http_mesh_metrics_head(p, "mesh_tasks_total", "counter",
                                   "Tasks ended, by front door, node, model "
                                   "and outcome.");
    p = ngx_http_mesh_metrics_series(p, "mesh_tasks_total", st, n, 0);

    p = ngx_http_mesh_metrics_head(p, "mesh_tokens_total", "counter",
                                   "Tokens the nodes generated, by front "
                                   "door, node, model and outcome.");
    p = ngx_http_mesh_metrics_series(p, "mesh_tokens_total", st, n, 1);

    p = ngx_http_mesh_metrics_head(p, "mesh_retries_total", "counter",
                                   "Tries of a task that failed before the "
                                   "first byte and moved on.");
    p = ngx_sprintf(p, "mesh_retries_total %uA\n", st->retries);

    p = ngx_http_mesh_metrics_head(p, "mesh_ejections_total", "counter",
                                   "Nodes ejected for failing tasks in a "
                                   "row.");
    p = ngx_sprintf(p, "mesh_ejections_total %uA\n", st->ejections);

    p = ngx_http_mesh_metrics_head(p, "mesh_unauthorized_requests_total",
                                   "counter",
                                   "Requests refused for a missing or "
                                   "wrong API key, by front door.");

    for (i = 1; i <= NGX_HTTP_MESH_DOORS; i++) {
        p = ngx_sprintf(p, "mesh_unauthorized_requests_total{door=\"%s\"} "
                        "%uA\n", ngx_http_mesh_door_name(i),
                        st->unauthorized[i]);
    }

    p = ngx_http_mesh_metrics_head(p, "mesh_queue_length", "gauge",
                                   "Tasks waiting for a node, all workers.");
    p = ngx_sprintf(p, "mesh_queue_length %ui\n", g.queued);

    p = ngx_http_mesh_metrics_head(p, "mesh_queue_wakeups_total", "counter",
                                   "Times a worker looked for nodes for its "
                                   "waiting tasks.");
    p = ngx_sprintf(p, "mesh_queue_wakeups_total %uA\n", st->queue_wakeups);

    p = ngx_http_mesh_metrics_head(p, "mesh_queue_route_decisions_total",
                                   "counter",
                                   "Routing decisions made for waiting "
                                   "tasks; a waiter asking what another got "
                                   "busy for in the same wake-up is not "
                                   "routed.");
    p = ngx_sprintf(p, "mesh_queue_route_decisions_total %uA\n",
                    st->queue_routes);

    p = ngx_http_mesh_metrics_hist(p, "mesh_queue_wait_seconds",
                                   "Time from a task's arrival to its first "
                                   "node, or to its end in the queue.",
                                   &st->queue_wait);
    p = ngx_http_mesh_metrics_hist(p, "mesh_time_to_first_token_seconds",
                                   "Time from a task's arrival to the first "
                                   "byte of its reply.", &st->ttft);
    p = ngx_http_mesh_metrics_hist(p, "mesh_task_duration_seconds",
                                   "Time from a task's arrival to its end, "
                                   "for tasks sent to a node.",
                                   &st->duration);

    p = ngx_http_mesh_metrics_head(p, "mesh_nodes", "gauge",
                                   "Nodes of the registry, by state.");

    for (i = 0; i < 5; i++) {
        p = ngx_sprintf(p, "mesh_nodes{state=\"%s\"} %ui\n",
                        ngx_http_mesh_node_states[i], g.state[i]);
    }

    p = ngx_http_mesh_metrics_head(p, "mesh_redis_links", "gauge",
                                   "Worker processes whose Redis command "
                                   "link is up or down.");
    p = ngx_sprintf(p, "mesh_redis_links{state=\"up\"} %ui\n"
                    "mesh_redis_links{state=\"down\"} %ui\n",
                    g.redis_up, g.redis_down);

    p = ngx_http_mesh_metrics_head(p, "mesh_redis_reconnects_total",
                                   "counter",
                                   "Redis links made again after a loss.");
    p = ngx_sprintf(p, "mesh_redis_reconnects_total %uA\n",
                    st->redis_reconnects);

    p = ngx_http_mesh_metrics_head(p, "mesh_redis_pending_commands", "gauge",
                                   "Redis commands sent and not answered "
                                   "yet, all workers.");
    p = ngx_sprintf(p, "mesh_redis_pending_commands %ui\n", g.pending);

    p = ngx_http_mesh_metrics_head(p, "mesh_feed_clients", "gauge",
                                   "Live feed clients, WebSocket and SSE, "
                                   "all workers.");
    p = ngx_sprintf(p, "mesh_feed_clients %ui\n", g.feed);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_mesh_metrics_gauges(ngx_http_mesh_zone_t *zone,
    ngx_http_mesh_gauges_t *g)
{
    int64_t                       now, timeout;
    ngx_uint_t                    i, s;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_queue_slot_t   *slot;
    ngx_http_mesh_registry_sh_t  *reg;

    ngx_memzero(g, sizeof(ngx_http_mesh_gauges_t));

    ngx_http_mesh_sync_gauges();

    reg = ngx_http_mesh_reg(zone);
    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < reg->nnodes; i++) {
        node = &reg->nodes[i];

        if (!node->used || node->left) {
            continue;
        }

        if (node->caps.status == NGX_HTTP_MESH_STATUS_DRAINING) {
            s = 2;

        } else if (node->caps.status == NGX_HTTP_MESH_STATUS_DEGRADED) {
            s = 3;

        } else if (!ngx_http_mesh_registry_live(node, now, timeout)) {
            s = 4;

        } else if (node->ejected_until > now) {
            s = 1;

        } else {
            s = 0;
        }

        g->state[s]++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    g->queued = reg->queued;

    /* a slot of a process that is gone counts no more */

    for (i = 0; i < NGX_HTTP_MESH_QUEUE_SLOTS; i++) {
        slot = &reg->queue_slots[i];

        if (slot->pid == 0
            || (slot->pid != ngx_pid && kill(slot->pid, 0) == -1
                && ngx_errno == NGX_ESRCH))
        {
            continue;
        }

        if (slot->redis_up) {
            g->redis_up++;

        } else {
            g->redis_down++;
        }

        g->pending += slot->redis_pending;
        g->feed += slot->feed_clients;
    }
}


static u_char *
ngx_http_mesh_metrics_head(u_char *p, const char *name, const char *type,
    const char *help)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                       name, help, name, type);
}


static u_char *
ngx_http_mesh_metrics_series(u_char *p, const char *name,
    ngx_http_mesh_stats_t *st, ngx_uint_t n, ngx_uint_t tokens)
{
    ngx_uint_t               i;
    ngx_http_mesh_series_t  *s;

    for (i = 0; i < n; i++) {
        s = &st->series[i];

        if (!s->used) {
            continue;
        }

        p = ngx_sprintf(p, "%s{door=\"%s\",node=\"", name,
                        ngx_http_mesh_door_name(s->door));
        p = ngx_http_mesh_metrics_label(p, st->nodes[s->node].name);
        p = ngx_cpymem(p, "\",model=\"", sizeof("\",model=\"") - 1);
        p = ngx_http_mesh_metrics_label(p, st->models[s->model].name);
        p = ngx_sprintf(p, "\",outcome=\"%s\"} %uA\n",
                        ngx_http_mesh_outcome_name(s->outcome),
                        tokens ? s->tokens : s->tasks);
    }

    return p;
}


static u_char *
ngx_http_mesh_metrics_hist(u_char *p, const char *name, const char *help,
    ngx_http_mesh_hist_t *h)
{
    ngx_uint_t  i, sum, total;

    p = ngx_http_mesh_metrics_head(p, name, "histogram", help);

    /* read once: the count is the +Inf bucket, whatever lands meanwhile */

    total = 0;

    for (i = 0; i <= NGX_HTTP_MESH_STATS_BUCKETS; i++) {
        total += h->bucket[i];
        p = ngx_sprintf(p, "%s_bucket{le=\"%s\"} %ui\n", name,
                        ngx_http_mesh_stats_le[i], total);
    }

    sum = h->sum_ms;

    return ngx_sprintf(p, "%s_sum %ui.%03ui\n%s_count %ui\n",
                       name, sum / 1000, sum % 1000, name, total);
}


/* a label value: backslash, quote and newline escaped */

static u_char *
ngx_http_mesh_metrics_label(u_char *p, const char *value)
{
    const u_char  *v;

    for (v = (const u_char *) value; *v; v++) {
        if (*v == '\\' || *v == '"') {
            *p++ = '\\';
            *p++ = *v;

        } else if (*v == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = *v;
        }
    }

    return p;
}
