/*
 * Counters are plain integers updated with atomic builtins: no lock on the
 * request path.  Histograms use fixed buckets, counted cumulatively only
 * when rendered.
 */

#include <pthread.h>
#include <string.h>

#include "metrics.h"


#define HIST_BUCKETS  12


typedef struct {
    uint64_t  le[HIST_BUCKETS + 1];
    uint64_t  sum_us;
} histogram_t;


static void hist_observe(histogram_t *h, double seconds);
static int hist_render(buf_t *b, const char *name, const char *help,
    histogram_t *h);
static int counters_render(buf_t *b, const char *name, const char *help,
    const char *label, const char **names, const uint64_t *values, int n);


static const double  hist_bounds[HIST_BUCKETS] = {
    0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
};

static const char  *endpoint_names[EP_COUNT] = {
    "generate", "chat", "embed", "openai_chat", "openai_completions",
    "openai_embeddings", "openai_models"
};

static const char  *outcome_names[OUTCOME_COUNT] = {
    "ok", "ollama_error", "stream_failed", "cancelled", "unreachable"
};

static const char  *reject_names[REJECT_COUNT] = {
    "unauthorized", "forbidden", "not_found", "method", "too_large",
    "bad_json", "unknown_model", "busy", "draining", "degraded",
    "upload_memory", "out_of_memory"
};

/* local: the report could not be built; refused: a non-2xx answer;
   unproven: a 2xx that did not prove the mesh secret (sign.h) */
static const char  *hb_result_names[HB_RESULT_COUNT] = {
    "error", "ok", "refused", "unreachable", "unproven"
};

static uint64_t     tasks[EP_COUNT][OUTCOME_COUNT];
static uint64_t     rejects[REJECT_COUNT];
static uint64_t     tokens_total;
static uint64_t     heartbeats[HB_RESULT_COUNT];
static histogram_t  duration_hist;
static histogram_t  first_byte_hist;

/* the recent token rate, a moving average over finished tasks */
static pthread_mutex_t  rate_lock = PTHREAD_MUTEX_INITIALIZER;
static double           rate_tps;


const char *
endpoint_name(endpoint_t ep)
{
    return (unsigned) ep < EP_COUNT ? endpoint_names[ep] : "?";
}


static void
hist_observe(histogram_t *h, double seconds)
{
    int  i;

    for (i = 0; i < HIST_BUCKETS; i++) {
        if (seconds <= hist_bounds[i]) {
            break;
        }
    }

    __atomic_fetch_add(&h->le[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_us, (uint64_t) (seconds * 1e6),
                       __ATOMIC_RELAXED);
}


void
metrics_task_done(endpoint_t ep, outcome_t outcome, double seconds,
    double first_byte_seconds, uint64_t tokens, double token_seconds)
{
    double  sample;

    __atomic_fetch_add(&tasks[ep][outcome], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&tokens_total, tokens, __ATOMIC_RELAXED);

    hist_observe(&duration_hist, seconds);
    if (first_byte_seconds >= 0) {
        hist_observe(&first_byte_hist, first_byte_seconds);
    }

    /* one or two tokens say nothing about the generation speed */
    if (tokens < 2 || token_seconds <= 0) {
        return;
    }

    sample = (double) tokens / token_seconds;

    pthread_mutex_lock(&rate_lock);
    rate_tps = rate_tps == 0 ? sample : 0.7 * rate_tps + 0.3 * sample;
    pthread_mutex_unlock(&rate_lock);
}


void
metrics_reject(reject_t reason)
{
    __atomic_fetch_add(&rejects[reason], 1, __ATOMIC_RELAXED);
}


void
metrics_heartbeat(hb_result_t result)
{
    __atomic_fetch_add(&heartbeats[result], 1, __ATOMIC_RELAXED);
}


double
metrics_tokens_per_sec(void)
{
    double  v;

    pthread_mutex_lock(&rate_lock);
    v = rate_tps;
    pthread_mutex_unlock(&rate_lock);

    return v;
}


static int
hist_render(buf_t *b, const char *name, const char *help, histogram_t *h)
{
    int       i, rc;
    uint64_t  cum = 0;

    rc = buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
                    name);

    for (i = 0; i < HIST_BUCKETS; i++) {
        cum += __atomic_load_n(&h->le[i], __ATOMIC_RELAXED);
        rc |= buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                         hist_bounds[i], (unsigned long long) cum);
    }
    cum += __atomic_load_n(&h->le[HIST_BUCKETS], __ATOMIC_RELAXED);

    rc |= buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
                     "%s_count %llu\n", name, (unsigned long long) cum,
                     name,
                     __atomic_load_n(&h->sum_us, __ATOMIC_RELAXED) / 1e6,
                     name, (unsigned long long) cum);
    return rc;
}


/* one counter with a label, a line per value */
static int
counters_render(buf_t *b, const char *name, const char *help,
    const char *label, const char **names, const uint64_t *values, int n)
{
    int  i, rc;

    rc = buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help,
                    name);

    for (i = 0; i < n; i++) {
        rc |= buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
                         (unsigned long long)
                         __atomic_load_n(&values[i], __ATOMIC_RELAXED));
    }

    return rc;
}


int
metrics_render(buf_t *b, const metrics_gauges_t *g)
{
    int  e, o, rc;

    rc = buf_puts(b, "# HELP echo_agent_tasks_total Tasks relayed to "
                  "Ollama, by endpoint and outcome.\n"
                  "# TYPE echo_agent_tasks_total counter\n");

    for (e = 0; e < EP_COUNT; e++) {
        for (o = 0; o < OUTCOME_COUNT; o++) {
            rc |= buf_printf(b, "echo_agent_tasks_total{endpoint=\"%s\","
                             "outcome=\"%s\"} %llu\n", endpoint_names[e],
                             outcome_names[o], (unsigned long long)
                             __atomic_load_n(&tasks[e][o],
                                             __ATOMIC_RELAXED));
        }
    }

    rc |= counters_render(b, "echo_agent_rejected_total", "Requests "
                          "answered without calling Ollama, by reason.",
                          "reason", reject_names, rejects, REJECT_COUNT);
    rc |= counters_render(b, "echo_agent_heartbeats_total", "Heartbeats "
                          "sent, by result.", "result", hb_result_names,
                          heartbeats, HB_RESULT_COUNT);

    rc |= buf_printf(b,
        "# HELP echo_agent_tokens_total Tokens streamed to clients.\n"
        "# TYPE echo_agent_tokens_total counter\n"
        "echo_agent_tokens_total %llu\n"
        "# HELP echo_agent_active_tasks Tasks running now.\n"
        "# TYPE echo_agent_active_tasks gauge\n"
        "echo_agent_active_tasks %u\n"
        "# HELP echo_agent_max_tasks Tasks allowed at once.\n"
        "# TYPE echo_agent_max_tasks gauge\n"
        "echo_agent_max_tasks %u\n"
        "# HELP echo_agent_body_bytes Request body bytes held in memory.\n"
        "# TYPE echo_agent_body_bytes gauge\n"
        "echo_agent_body_bytes %zu\n"
        "# HELP echo_agent_body_bytes_max Cap on request body bytes held "
        "(max_tasks x max_body).\n"
        "# TYPE echo_agent_body_bytes_max gauge\n"
        "echo_agent_body_bytes_max %zu\n"
        "# HELP echo_agent_ollama_up Whether Ollama answered the last "
        "poll.\n"
        "# TYPE echo_agent_ollama_up gauge\n"
        "echo_agent_ollama_up %d\n"
        "# HELP echo_agent_models Models installed in Ollama.\n"
        "# TYPE echo_agent_models gauge\n"
        "echo_agent_models %u\n"
        "# HELP echo_agent_tokens_per_second Recent generation speed.\n"
        "# TYPE echo_agent_tokens_per_second gauge\n"
        "echo_agent_tokens_per_second %.2f\n",
        (unsigned long long) __atomic_load_n(&tokens_total,
                                             __ATOMIC_RELAXED),
        g->active, g->max_tasks, g->body_bytes, g->body_cap, g->ollama_up,
        g->models, metrics_tokens_per_sec());

    rc |= hist_render(b, "echo_agent_task_duration_seconds",
                      "Time from request to the end of the reply.",
                      &duration_hist);
    rc |= hist_render(b, "echo_agent_first_byte_seconds",
                      "Time from request to Ollama's first reply byte.",
                      &first_byte_hist);

    return rc ? -1 : 0;
}
