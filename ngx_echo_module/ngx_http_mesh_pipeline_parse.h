
/*
 * Pipelines, the plain C part: the request bodies of /mesh/v1/pipelines,
 * one step's definition (from a request or from nginx.conf, through the
 * same parser), prompt templates, and the reader that takes the text out
 * of a step's streamed /api/generate reply.  No nginx types.
 */


#ifndef _NGX_HTTP_MESH_PIPELINE_PARSE_H_INCLUDED_
#define _NGX_HTTP_MESH_PIPELINE_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_http_mesh_caps.h"


#define NGX_HTTP_MESH_PIPELINE_STEPS_MAX   64     /* any pipeline */
#define NGX_HTTP_MESH_PIPELINE_OUTPUT_MAX  (16 << 20)   /* max_output */


/* one step: type and/or model, a prompt template, what Ollama gets */
typedef struct {
    uint8_t                type;        /* UNKNOWN: only a model */
    ngx_http_mesh_span_t   model;       /* len 0: by type */
    ngx_http_mesh_span_t   prompt;      /* the template */
    ngx_http_mesh_span_t   system;
    ngx_http_mesh_span_t   options;     /* a JSON object, or len 0 */
    size_t                 max_output;  /* bytes; 0: the default */
} ngx_http_mesh_step_t;


/* POST /mesh/v1/pipelines[/<name>] */
typedef struct {
    ngx_http_mesh_step_t  *steps;       /* ad hoc only */
    size_t                 nsteps;
    uint8_t                has_steps;
    uint8_t                stream;      /* default 1 */
    ngx_http_mesh_span_t   prompt;      /* {{input}} */
    ngx_http_mesh_span_t  *images;
    size_t                 nimages;
} ngx_http_mesh_pipeline_req_t;


/* what a step's NDJSON reply says, read as it arrives */
typedef struct {
    void                  *yajl;        /* yajl_handle */
    int                  (*text)(void *data, const char *s, size_t len);
    void                  *data;
    int                    depth;
    int                    key;
    uint8_t                done;        /* a line said "done":true */
    uint8_t                failed;      /* text() refused, or bad JSON */
    uint64_t               eval_count;
    char                   error[NGX_HTTP_MESH_ERR_LEN];  /* an "error" */
} ngx_http_mesh_gen_reader_t;


/* 0, or -1 with err (NGX_HTTP_MESH_ERR_LEN) set */
int ngx_http_mesh_parse_pipeline_req(const char *data, size_t len,
    ngx_http_mesh_pipeline_req_t *req, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err);
/* one step object: {"type":..,"model":..,"prompt":..,...} */
int ngx_http_mesh_parse_step(const char *data, size_t len,
    ngx_http_mesh_step_t *step, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err);
/* what every step must hold: type or model, a prompt, a valid template */
int ngx_http_mesh_step_check(ngx_http_mesh_step_t *step, size_t index,
    char *err);
/* "256k", "1m", "4096": bytes, 1 .. NGX_HTTP_MESH_PIPELINE_OUTPUT_MAX */
int ngx_http_mesh_pipeline_size(const char *s, size_t len, size_t *out);

/*
 * A template's variables: {{input}}, {{previous}}, {{stepN}}.  For each
 * piece of text between them, and for each variable (var > 0: 1 input,
 * 2 previous, 3 + N - 1 stepN), calls emit; stops at its first non-zero.
 */
#define NGX_HTTP_MESH_VAR_TEXT      0
#define NGX_HTTP_MESH_VAR_INPUT     1
#define NGX_HTTP_MESH_VAR_PREVIOUS  2
#define NGX_HTTP_MESH_VAR_STEP      3       /* + N - 1 */

int ngx_http_mesh_template_walk(const char *t, size_t len,
    int (*emit)(void *data, int var, const char *s, size_t len), void *data);

int ngx_http_mesh_gen_reader_init(ngx_http_mesh_gen_reader_t *gr);
/* 0, or -1 when the reply is not NDJSON or text() refused */
int ngx_http_mesh_gen_reader_feed(ngx_http_mesh_gen_reader_t *gr,
    const char *data, size_t len);
void ngx_http_mesh_gen_reader_free(ngx_http_mesh_gen_reader_t *gr);


#endif /* _NGX_HTTP_MESH_PIPELINE_PARSE_H_INCLUDED_ */
