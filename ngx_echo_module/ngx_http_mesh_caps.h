
/*
 * Node capabilities and task requests as plain C structures, parsed from
 * JSON by ngx_http_mesh_parse.c.  No nginx types here: the parsers are unit
 * tested and fuzzed outside nginx.
 */


#ifndef _NGX_HTTP_MESH_CAPS_H_INCLUDED_
#define _NGX_HTTP_MESH_CAPS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_MESH_ID_LEN        64     /* node_id, bytes */
#define NGX_HTTP_MESH_HOST_LEN      46     /* an IPv4 or IPv6 literal */
#define NGX_HTTP_MESH_MODEL_LEN     128    /* model name, bytes */
#define NGX_HTTP_MESH_VERSION_LEN   32
#define NGX_HTTP_MESH_MAX_MODELS    32
#define NGX_HTTP_MESH_ERR_LEN       160


typedef enum {
    NGX_HTTP_MESH_TYPE_TEXT = 0,
    NGX_HTTP_MESH_TYPE_CODE,
    NGX_HTTP_MESH_TYPE_VISION,
    NGX_HTTP_MESH_TYPE_EMBEDDING,
    NGX_HTTP_MESH_TYPE_SUMMARIZE,     /* a task type only; served by text */
    NGX_HTTP_MESH_TYPE_UNKNOWN
} ngx_http_mesh_type_e;


typedef enum {
    NGX_HTTP_MESH_STATUS_IDLE = 0,
    NGX_HTTP_MESH_STATUS_BUSY,
    NGX_HTTP_MESH_STATUS_DEGRADED,
    NGX_HTTP_MESH_STATUS_DRAINING
} ngx_http_mesh_status_e;


typedef struct {
    char          name[NGX_HTTP_MESH_MODEL_LEN];   /* NUL-terminated */
    uint8_t       type;                            /* ngx_http_mesh_type_e */
    uint8_t       loaded;
    double        size_gb;
} ngx_http_mesh_model_t;


typedef struct {
    char                   node_id[NGX_HTTP_MESH_ID_LEN];
    char                   host[NGX_HTTP_MESH_HOST_LEN];
    uint16_t               port;
    uint16_t               nmodels;
    uint8_t                has_gpu;
    uint8_t                status;                 /* ngx_http_mesh_status_e */
    uint32_t               active_tasks;
    uint32_t               max_tasks;              /* 0: not reported */
    uint32_t               queued;
    double                 ram_total_gb;
    double                 ram_free_gb;
    double                 gpu_vram_gb;
    double                 tokens_per_sec;
    char                   agent_version[NGX_HTTP_MESH_VERSION_LEN];
    /* last: the router reads the fields above for every candidate */
    ngx_http_mesh_model_t  models[NGX_HTTP_MESH_MAX_MODELS];
} ngx_http_mesh_caps_t;


typedef struct {
    const char   *data;
    size_t        len;
} ngx_http_mesh_span_t;


/* a native task: POST /mesh/v1/tasks */
typedef struct {
    uint8_t                type;        /* ngx_http_mesh_type_e */
    uint8_t                stream;      /* default 1 */
    ngx_http_mesh_span_t   model;       /* len 0: not given */
    ngx_http_mesh_span_t   prompt;      /* unescaped UTF-8 */
    ngx_http_mesh_span_t   system;      /* len 0: not given */
    ngx_http_mesh_span_t  *images;      /* base64 text, as sent */
    size_t                 nimages;
    ngx_http_mesh_span_t   options;     /* re-serialised JSON, or len 0 */
} ngx_http_mesh_task_t;


/* the top-level fields routing needs from an Ollama API body */
typedef struct {
    char                   model[NGX_HTTP_MESH_MODEL_LEN];
    uint8_t                has_model;
    uint8_t                stream;      /* default 1, as Ollama */
    uint8_t                has_images;  /* images in the body or in messages */
} ngx_http_mesh_ollama_req_t;


typedef void *(*ngx_http_mesh_alloc_pt)(void *ctx, size_t size);


#endif /* _NGX_HTTP_MESH_CAPS_H_INCLUDED_ */
