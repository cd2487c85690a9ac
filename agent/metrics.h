/*
 * Counters for GET /metrics (Prometheus text) and the load figures the
 * heartbeat reports.
 */

#ifndef ECHO_AGENT_METRICS_H
#define ECHO_AGENT_METRICS_H

#include <stdint.h>

#include "buf.h"


typedef enum {
    EP_GENERATE = 0,
    EP_CHAT,
    EP_EMBED,
    EP_OA_CHAT,                 /* Ollama's OpenAI-compatible /v1 */
    EP_OA_COMPLETIONS,
    EP_OA_EMBEDDINGS,
    EP_OA_MODELS,
    EP_COUNT
} endpoint_t;

typedef enum {
    OUTCOME_OK = 0,
    OUTCOME_OLLAMA_ERROR,
    OUTCOME_STREAM_FAILED,
    OUTCOME_CANCELLED,
    OUTCOME_UNREACHABLE,
    OUTCOME_COUNT
} outcome_t;

typedef enum {
    REJECT_AUTH = 0,
    REJECT_FORBIDDEN,
    REJECT_NOT_FOUND,
    REJECT_METHOD,
    REJECT_TOO_LARGE,
    REJECT_BAD_JSON,
    REJECT_NO_MODEL,
    REJECT_BUSY,
    REJECT_DRAINING,
    REJECT_DEGRADED,
    REJECT_UPLOAD_MEMORY,
    REJECT_NO_MEMORY,
    REJECT_COUNT
} reject_t;

typedef enum {
    HB_FAILED_LOCAL = 0,
    HB_OK,
    HB_REFUSED,
    HB_UNREACHABLE,
    HB_UNPROVEN,            /* 2xx without a valid reply signature */
    HB_RESULT_COUNT
} hb_result_t;


typedef struct {
    unsigned  active;
    unsigned  max_tasks;
    int       ollama_up;
    unsigned  models;
    size_t    body_bytes;
    size_t    body_cap;
} metrics_gauges_t;


const char *endpoint_name(endpoint_t ep);
void metrics_task_done(endpoint_t ep, outcome_t outcome, double seconds,
    double first_byte_seconds, uint64_t tokens, double token_seconds);
void metrics_reject(reject_t reason);
void metrics_heartbeat(hb_result_t result);
double metrics_tokens_per_sec(void);
int metrics_render(buf_t *b, const metrics_gauges_t *g);


#endif /* ECHO_AGENT_METRICS_H */
