
/*
 * JSON request parsers of the mesh: node capabilities (heartbeat), native
 * tasks, the routing fields of Ollama API bodies, and the leave body.  Plain
 * C on the engine of ngx_http_mesh_parse_core.c, no nginx types: unit tested
 * and fuzzed outside nginx (tests/).
 *
 * Every parser returns 0 on success, or -1 with a NUL-terminated message of
 * at most NGX_HTTP_MESH_ERR_LEN bytes in err, fit for a 400 reply.
 */


#ifndef _NGX_HTTP_MESH_PARSE_H_INCLUDED_
#define _NGX_HTTP_MESH_PARSE_H_INCLUDED_


#include "ngx_http_mesh_caps.h"


#define NGX_HTTP_MESH_CAPS_BODY_MAX  65536        /* heartbeat, leave */
#define NGX_HTTP_MESH_BODY_MAX       (64 << 20)   /* task, Ollama body */
#define NGX_HTTP_MESH_TEXT_MAX       (1 << 20)    /* prompt, system */
#define NGX_HTTP_MESH_IMAGE_MAX      (32 << 20)   /* one base64 image */
#define NGX_HTTP_MESH_MAX_IMAGES     16
#define NGX_HTTP_MESH_COUNT_MAX      999999       /* tasks, queue */
#define NGX_HTTP_MESH_GB_MAX         1e6          /* RAM, VRAM, model size */
#define NGX_HTTP_MESH_RATE_MAX       1e6          /* tokens per second */


int ngx_http_mesh_parse_caps(const char *data, size_t len,
    ngx_http_mesh_caps_t *caps, char *err);

/*
 * Every string of the task (spans and the images array) is allocated with
 * alloc, NUL-terminated beyond its len; nothing else needs freeing.
 */
int ngx_http_mesh_parse_task(const char *data, size_t len,
    ngx_http_mesh_task_t *task, ngx_http_mesh_alloc_pt alloc, void *alloc_ctx,
    char *err);

int ngx_http_mesh_parse_ollama(const char *data, size_t len,
    ngx_http_mesh_ollama_req_t *req, char *err);

/*
 * The routing fields of an OpenAI API body (chat, completions,
 * embeddings): model_start and model_end hold the bytes of the model's
 * JSON string, quotes included, so the door can put the served name in;
 * messages_start is just past the "[" of "messages" (0: none), where a
 * system message can go in.
 */
typedef struct {
    char                   model[NGX_HTTP_MESH_MODEL_LEN];
    size_t                 model_start;
    size_t                 model_end;
    size_t                 messages_start;
    uint8_t                has_model;
    uint8_t                stream;      /* default 0, as OpenAI */
    uint8_t                has_images;  /* an image_url content part */
} ngx_http_mesh_openai_req_t;

int ngx_http_mesh_parse_openai(const char *data, size_t len,
    ngx_http_mesh_openai_req_t *req, char *err);

/* node_id has room for NGX_HTTP_MESH_ID_LEN bytes */
int ngx_http_mesh_parse_node_id(const char *data, size_t len, char *node_id,
    char *err);

ngx_http_mesh_type_e ngx_http_mesh_type_from_name(const char *s, size_t len);
const char *ngx_http_mesh_type_name(ngx_http_mesh_type_e t);
const char *ngx_http_mesh_status_name(ngx_http_mesh_status_e s);

/* room for the canonical JSON of any caps: 32 models of 127 bytes */
#define NGX_HTTP_MESH_CAPS_JSON_MAX  16384

/*
 * The canonical capability JSON, the fields parse_caps reads, all of them,
 * in a fixed order; parsing it gives back the same caps.  Returns the length
 * without the terminating NUL, or 0 if outsize is too small.
 */
size_t ngx_http_mesh_caps_to_json(const ngx_http_mesh_caps_t *caps,
    char *out, size_t outsize);


#endif /* _NGX_HTTP_MESH_PARSE_H_INCLUDED_ */
