
/*
 * Echo-System orchestrator: shared declarations of ngx_http_mesh_module.
 */


#ifndef _NGX_HTTP_MESH_MODULE_H_INCLUDED_
#define _NGX_HTTP_MESH_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_ndjson.h"
#include "ngx_http_mesh_sse.h"


#define NGX_HTTP_MESH_VERSION         "0.1.0"
#define NGX_HTTP_MESH_SECRET_MAX      4096


typedef struct {
    struct ngx_http_mesh_redis_addr_s  *registry;   /* the Redis adapter's */
    ngx_shm_zone_t               *shm_zone;
    ngx_str_t                     secret;
    ngx_str_t                     secret_file;
    struct ngx_http_mesh_sign_key_s  *sign_key;   /* the secret, keyed */
    time_t                        auth_window;
    ngx_array_t                  *node_networks;    /* ngx_cidr_t */
    ngx_uint_t                    node_networks_source;
    ngx_msec_t                    heartbeat_interval;
    ngx_uint_t                    heartbeat_misses;
    ngx_msec_t                    queue_ttl;
    ngx_uint_t                    queue_size;
    ngx_uint_t                    tries;
    size_t                        node_body_max;
    ngx_uint_t                    eject_failures;   /* 0: off */
    ngx_msec_t                    eject_time;
    ngx_msec_t                    eject_max_time;
    ngx_array_t                   balancers;  /* upstreams with mesh_balancer */
    ngx_array_t                  *pipelines;        /* mesh_pipeline */
    ngx_uint_t                    pipeline_max_steps;
    size_t                        pipeline_buffer;
    size_t                        feed_buffer;
    ngx_uint_t                    feed_max_clients;
    ngx_msec_t                    feed_ping_interval;
    ngx_array_t                  *api_keys;   /* ngx_http_mesh_api_key_t */
} ngx_http_mesh_main_conf_t;


typedef ngx_int_t (*ngx_http_mesh_handler_pt)(ngx_http_request_t *r);


#define NGX_HTTP_MESH_ROUTE_OFF     0
#define NGX_HTTP_MESH_ROUTE_OLLAMA  1       /* /api/generate, chat, embed */
#define NGX_HTTP_MESH_ROUTE_TASK    2       /* native /mesh/v1/tasks */
#define NGX_HTTP_MESH_ROUTE_OPENAI  3       /* /v1/chat/completions, ... */


typedef struct {
    ngx_http_mesh_handler_pt      handler;
    ngx_uint_t                    route;
    ngx_str_t                     pipeline_uri;     /* of mesh_pipelines */
    ngx_uint_t                    key_args;         /* "?key=" too: feed */
} ngx_http_mesh_loc_conf_t;


/* per request state of a routed task */
typedef struct {
    ngx_http_request_t           *request;
    ngx_uint_t                    type;         /* ngx_http_mesh_type_e */
    u_char                        model[128];   /* requested, NUL-terminated */
    size_t                        model_len;
    ngx_uint_t                    stream;
    ngx_int_t                     route_rc;
    ngx_int_t                     node;         /* reserved node index, -1 */
    ngx_int_t                     last_node;    /* the node that served */
    u_char                        node_id[64];
    u_char                        serve_model[128];
    struct sockaddr_storage       sockaddr;
    socklen_t                     socklen;
    ngx_uint_t                    tried[8];     /* node indexes tried */
    ngx_uint_t                    ntried;
    ngx_msec_t                    arrival;      /* for the queue's TTL */
    ngx_msec_t                    dispatched;   /* this try, to its node */
    ngx_msec_t                    first_byte;
    ngx_uint_t                    tokens;
    ngx_uint_t                    door;         /* NGX_HTTP_MESH_DOOR_* */
    ngx_uint_t                    outcome;      /* NGX_HTTP_MESH_OUTCOME_* */
    ngx_msec_t                    first_routed; /* the first reserve */
    ngx_msec_t                    first_data;   /* the reply's first byte */
    ngx_http_mesh_ndjson_t        ndjson;       /* the reply's lines */
    ngx_str_t                     openai_body;  /* as the client sent it */
    size_t                        model_start;  /* its "model" string */
    size_t                        model_end;
    size_t                        messages_start;   /* past its "[" */
    ngx_http_mesh_sse_t           sse;          /* an OpenAI stream's */
    u_char                        task_id[40];
    time_t                        auth_ts;      /* $mesh_agent_auth's */
    u_char                        auth_sig[64];
    void                         *task;         /* ngx_http_mesh_task_t */
    void                         *pipeline;     /* a pipeline's main request */
    void                         *grpc;         /* a gRPC call's main request */
    ngx_queue_t                   queue;        /* in this worker's queue */
    ngx_event_t                   ttl;
    ngx_event_t                   resume;
    void                        (*finalize)(ngx_http_request_t *r,
                                      ngx_int_t rc);   /* proxy's */
    unsigned                      auth_signed:1;
    unsigned                      body_read:1;
    unsigned                      parsed:1;
    unsigned                      routed:1;
    unsigned                      rewritten:1;
    unsigned                      queued:1;
    unsigned                      sent_routed_line:1;
    unsigned                      first_seen:1;
    unsigned                      done_seen:1;
    unsigned                      failed:1;
    unsigned                      node_fault:1;     /* counts for ejection */
    unsigned                      client_gone:1;
    unsigned                      balanced:1;       /* mesh_balancer took it */
    unsigned                      requeued:1;       /* waits after a try */
    unsigned                      queue_cleanup:1;
    unsigned                      openai:1;         /* came by /v1 */
    unsigned                      was_queued:1;
    unsigned                      recorded:1;       /* in the metrics */
} ngx_http_mesh_ctx_t;


/* ngx_http_mesh_reply.c, ngx_http_mesh_body.c: for every HTTP handler */
ngx_int_t ngx_http_mesh_read_json_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_mesh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json);
ngx_int_t ngx_http_mesh_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message);
/*
 * OpenAI's {"error":{"message","type","param","code"}}; code NULL: null.
 * ngx_http_mesh_send_error() writes it in mesh_route openai locations.
 */
ngx_int_t ngx_http_mesh_send_openai_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, const char *code,
    const char *message);
/* the OpenAI error type and code for a status */
void ngx_http_mesh_openai_kind(ngx_uint_t status, const char **type,
    const char **code);


extern ngx_module_t  ngx_http_mesh_module;


#endif /* _NGX_HTTP_MESH_MODULE_H_INCLUDED_ */
