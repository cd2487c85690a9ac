
/*
 * Mesh-wide counters in the shared zone (see the header).  A counter is an
 * atomic add; only a label or series seen for the first time takes the
 * zone mutex, for a scan of at most NGX_HTTP_MESH_STATS_SERIES entries.
 */


#include "ngx_http_mesh_stats.h"


#define NGX_HTTP_MESH_LABEL_OTHER  0
#define NGX_HTTP_MESH_LABEL_NONE   1

/* room kept for the "_other" series of every door and outcome */
#define NGX_HTTP_MESH_SERIES_SPARE                                           \
    ((NGX_HTTP_MESH_DOORS + 1) * (NGX_HTTP_MESH_OUTCOMES + 1))


static ngx_uint_t ngx_http_mesh_stats_label(ngx_http_mesh_label_t *labels,
    ngx_atomic_t *n, ngx_shmtx_t *mutex, const char *name);
static ngx_int_t ngx_http_mesh_stats_find(ngx_http_mesh_stats_t *st,
    ngx_uint_t door, ngx_uint_t outcome, ngx_uint_t node, ngx_uint_t model);
static ngx_http_mesh_series_t *ngx_http_mesh_stats_series(
    ngx_http_mesh_stats_t *st, ngx_shmtx_t *mutex, ngx_uint_t door,
    ngx_uint_t outcome, ngx_uint_t node, ngx_uint_t model);


const ngx_msec_t  ngx_http_mesh_stats_bounds[NGX_HTTP_MESH_STATS_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    120000
};

const char *const  ngx_http_mesh_stats_le[NGX_HTTP_MESH_STATS_BUCKETS + 1] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30", "60", "120", "+Inf"
};

static const char *const  ngx_http_mesh_doors[NGX_HTTP_MESH_DOORS + 1] = {
    "unknown", "native", "ollama", "openai", "grpc", "pipeline", "feed"
};

static const char *const  ngx_http_mesh_outcomes[NGX_HTTP_MESH_OUTCOMES + 1] = {
    "unknown", "done", "failed", "client_gone", "queue_timeout",
    "queue_full", "no_node", "unknown_model", "rejected"
};


void
ngx_http_mesh_stats_init(ngx_http_mesh_stats_t *st)
{
    ngx_memzero(st, sizeof(ngx_http_mesh_stats_t));

    ngx_cpystrn((u_char *) st->nodes[NGX_HTTP_MESH_LABEL_OTHER].name,
                (u_char *) "_other", NGX_HTTP_MESH_MODEL_LEN);
    ngx_cpystrn((u_char *) st->nodes[NGX_HTTP_MESH_LABEL_NONE].name,
                (u_char *) "none", NGX_HTTP_MESH_MODEL_LEN);
    st->nodes[NGX_HTTP_MESH_LABEL_OTHER].used = 1;
    st->nodes[NGX_HTTP_MESH_LABEL_NONE].used = 1;
    st->nnodes = 2;

    st->models[NGX_HTTP_MESH_LABEL_OTHER] = st->nodes[0];
    st->models[NGX_HTTP_MESH_LABEL_NONE] = st->nodes[1];
    st->nmodels = 2;
}


const char *
ngx_http_mesh_door_name(ngx_uint_t door)
{
    return ngx_http_mesh_doors[door <= NGX_HTTP_MESH_DOORS ? door : 0];
}


const char *
ngx_http_mesh_outcome_name(ngx_uint_t outcome)
{
    return ngx_http_mesh_outcomes[outcome <= NGX_HTTP_MESH_OUTCOMES
                                  ? outcome : 0];
}


void
ngx_http_mesh_stats_observe(ngx_http_mesh_hist_t *h, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_MESH_STATS_BUCKETS; i++) {
        if (ms <= ngx_http_mesh_stats_bounds[i]) {
            break;
        }
    }

    /* one bucket per observation; the writer sums them up to "le" */
    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum_ms, ms);
    (void) ngx_atomic_fetch_add(&h->count, 1);
}


void
ngx_http_mesh_stats_task(ngx_http_mesh_stats_t *st, ngx_shmtx_t *mutex,
    ngx_http_mesh_stats_task_t *t)
{
    ngx_uint_t               node, model, door, outcome;
    ngx_http_mesh_series_t  *s;

    door = t->door <= NGX_HTTP_MESH_DOORS ? t->door : 0;
    outcome = t->outcome <= NGX_HTTP_MESH_OUTCOMES ? t->outcome : 0;

    node = ngx_http_mesh_stats_label(st->nodes, &st->nnodes, mutex, t->node);
    model = ngx_http_mesh_stats_label(st->models, &st->nmodels, mutex,
                                      t->model);

    s = ngx_http_mesh_stats_series(st, mutex, door, outcome, node, model);

    (void) ngx_atomic_fetch_add(&s->tasks, 1);

    if (t->tokens) {
        (void) ngx_atomic_fetch_add(&s->tokens, t->tokens);
    }

    if (t->queue_ms >= 0) {
        ngx_http_mesh_stats_observe(&st->queue_wait, t->queue_ms);
    }

    if (t->ttft_ms >= 0) {
        ngx_http_mesh_stats_observe(&st->ttft, t->ttft_ms);
    }

    if (t->duration_ms >= 0) {
        ngx_http_mesh_stats_observe(&st->duration, t->duration_ms);
    }
}


static ngx_uint_t
ngx_http_mesh_stats_label(ngx_http_mesh_label_t *labels, ngx_atomic_t *n,
    ngx_shmtx_t *mutex, const char *name)
{
    ngx_uint_t  i, found;

    if (name == NULL || name[0] == '\0') {
        return NGX_HTTP_MESH_LABEL_NONE;
    }

    for (i = 2; i < *n; i++) {
        if (labels[i].used && ngx_strcmp(labels[i].name, name) == 0) {
            return i;
        }
    }

    found = NGX_HTTP_MESH_LABEL_OTHER;

    ngx_shmtx_lock(mutex);

    for (i = 2; i < *n; i++) {
        if (ngx_strcmp(labels[i].name, name) == 0) {
            found = i;
            goto done;
        }
    }

    if (*n < NGX_HTTP_MESH_STATS_LABELS) {
        found = *n;
        ngx_cpystrn((u_char *) labels[found].name, (u_char *) name,
                    NGX_HTTP_MESH_MODEL_LEN);
        ngx_memory_barrier();
        labels[found].used = 1;
        ngx_memory_barrier();
        *n = found + 1;
    }

done:

    ngx_shmtx_unlock(mutex);

    return found;
}


static ngx_int_t
ngx_http_mesh_stats_find(ngx_http_mesh_stats_t *st, ngx_uint_t door,
    ngx_uint_t outcome, ngx_uint_t node, ngx_uint_t model)
{
    ngx_uint_t               i, n;
    ngx_http_mesh_series_t  *s;

    n = st->nseries;

    for (i = 0; i < n; i++) {
        s = &st->series[i];

        if (s->used && s->door == door && s->outcome == outcome
            && s->node == node && s->model == model)
        {
            return i;
        }
    }

    return -1;
}


static ngx_http_mesh_series_t *
ngx_http_mesh_stats_series(ngx_http_mesh_stats_t *st, ngx_shmtx_t *mutex,
    ngx_uint_t door, ngx_uint_t outcome, ngx_uint_t node, ngx_uint_t model)
{
    ngx_int_t                i;
    ngx_http_mesh_series_t  *s;

    i = ngx_http_mesh_stats_find(st, door, outcome, node, model);

    if (i >= 0) {
        return &st->series[i];
    }

    ngx_shmtx_lock(mutex);

    i = ngx_http_mesh_stats_find(st, door, outcome, node, model);

    if (i < 0
        && st->nseries >= NGX_HTTP_MESH_STATS_SERIES
                          - NGX_HTTP_MESH_SERIES_SPARE)
    {
        node = NGX_HTTP_MESH_LABEL_OTHER;
        model = NGX_HTTP_MESH_LABEL_OTHER;
        i = ngx_http_mesh_stats_find(st, door, outcome, node, model);
    }

    if (i < 0) {
        i = st->nseries;
        s = &st->series[i];
        s->door = (u_char) door;
        s->outcome = (u_char) outcome;
        s->node = (u_char) node;
        s->model = (u_char) model;
        ngx_memory_barrier();
        s->used = 1;
        ngx_memory_barrier();
        st->nseries = i + 1;
    }

    ngx_shmtx_unlock(mutex);

    return &st->series[i];
}
