
/*
 * The JSON engine under the mesh parsers (plain C on yajl, no nginx types)
 * and the module's one JSON string escaper.  Only parsers include the
 * engine's types; everyone may use the escaper.
 */


#ifndef _NGX_HTTP_MESH_PARSE_CORE_H_INCLUDED_
#define _NGX_HTTP_MESH_PARSE_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "ngx_http_mesh_caps.h"


#define NGX_HTTP_MESH_PARSE_DEPTH    32           /* nested objects/arrays */
#define NGX_HTTP_MESH_KEY_MAX        256          /* bytes of any key */
#define NGX_HTTP_MESH_NUMBER_MAX     32           /* characters of a number */
#define NGX_HTTP_MESH_OPTIONS_MAX    65536        /* re-serialised options */


/* what a value handler answers; 0 and above: enter a container of that kind */
#define NGX_HTTP_MESH_P_ERROR    -1
#define NGX_HTTP_MESH_P_DONE     -2     /* handled, or a container ignored */
#define NGX_HTTP_MESH_P_CAPTURE  -3     /* re-serialise the container */


typedef enum {
    NGX_HTTP_MESH_V_NULL = 0,
    NGX_HTTP_MESH_V_BOOL,
    NGX_HTTP_MESH_V_NUMBER,
    NGX_HTTP_MESH_V_STRING,
    NGX_HTTP_MESH_V_OBJECT,
    NGX_HTTP_MESH_V_ARRAY,
    NGX_HTTP_MESH_V_KEY,
    NGX_HTTP_MESH_V_END_OBJECT,
    NGX_HTTP_MESH_V_END_ARRAY
} ngx_http_mesh_vtype_e;


typedef struct {
    ngx_http_mesh_vtype_e        type;
    int                          boolean;
    const char                  *data;      /* string, key or number text */
    size_t                       len;
} ngx_http_mesh_value_t;


typedef struct {
    int                          kind;      /* index into the spec's kinds */
    int                          key;       /* current key, -1: unknown */
    uint32_t                     seen;      /* known keys met so far */
    uint32_t                     index;     /* current element of an array */
    unsigned                     array:1;
} ngx_http_mesh_frame_t;


typedef struct ngx_http_mesh_parser_s  ngx_http_mesh_parser_t;

typedef int (*ngx_http_mesh_value_pt)(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);


typedef struct {
    const char *const           *keys;      /* NULL-terminated, <= 32 */
    uint32_t                     required;  /* bit i: keys[i] must appear */
} ngx_http_mesh_kind_t;


typedef struct {
    const ngx_http_mesh_kind_t  *kinds;     /* kinds[0]: the body itself */
    ngx_http_mesh_value_pt       value;
    size_t                       max;       /* body bytes */
    unsigned                     fold:1;    /* match keys as Go's json does */
} ngx_http_mesh_spec_t;


struct ngx_http_mesh_parser_s {
    const ngx_http_mesh_spec_t  *spec;
    void                        *data;      /* what the handler fills */
    char                        *err;
    ngx_http_mesh_alloc_pt       alloc;
    void                        *alloc_ctx;
    void                        *yajl;      /* the handle, while parsing */
    const char                  *yajl_data; /* its input */
    yajl_gen                     gen;       /* the capture in progress */
    ngx_http_mesh_span_t        *captured;  /* where a capture lands */
    unsigned                     depth;
    unsigned                     skip;      /* depth of the skipped one */
    unsigned                     capture;   /* depth of the captured one */
    unsigned                     at_byte:1; /* append the input position */
    unsigned                     closed:1;  /* the top-level value ended */
    ngx_http_mesh_frame_t        stack[NGX_HTTP_MESH_PARSE_DEPTH + 1];
};


/* the parse of data with spec into parser->data; 0 or -1 with err set */
int ngx_http_mesh_parse_run(ngx_http_mesh_parser_t *p,
    const char *data, size_t len);
/* in a value handler: the offset just past the current token */
size_t ngx_http_mesh_parse_offset(ngx_http_mesh_parser_t *p);
void ngx_http_mesh_parse_error(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
int ngx_http_mesh_parse_fail(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
int ngx_http_mesh_parse_bad(ngx_http_mesh_parser_t *p,
    const char *what, ngx_http_mesh_value_t *v);
int ngx_http_mesh_get_container(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, ngx_http_mesh_vtype_e type, int kind);
int ngx_http_mesh_get_uint(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, uint32_t min, uint32_t max, uint32_t *out);
int ngx_http_mesh_get_real(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, double max, double *out);
int ngx_http_mesh_get_bool(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, uint8_t *out);
int ngx_http_mesh_get_chars(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, int (*valid)(int c), size_t min, size_t max,
    const char *what);
int ngx_http_mesh_get_text(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, size_t max, ngx_http_mesh_span_t *out);


/*
 * Writes s as the inside of a JSON string, NUL-terminated; returns the bytes
 * written without the NUL, or -1 if outsize is too small.
 */
int ngx_http_mesh_json_escape(const char *s, size_t len, char *out,
    size_t outsize);
/* the length ngx_http_mesh_json_escape() writes for s, without the NUL */
size_t ngx_http_mesh_json_escape_len(const char *s, size_t len);


#endif /* _NGX_HTTP_MESH_PARSE_CORE_H_INCLUDED_ */
