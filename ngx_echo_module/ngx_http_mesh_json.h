
/*
 * A small streaming JSON writer on an nginx pool: the caller emits values in
 * order, the writer adds commas and escaping and grows its buffer.
 */


#ifndef _NGX_HTTP_MESH_JSON_H_INCLUDED_
#define _NGX_HTTP_MESH_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_MESH_JSON_DEPTH  16

/* the most a number, or a string of len bytes, takes as JSON */
#define NGX_HTTP_MESH_JSON_NUM_LEN      (NGX_INT64_LEN + 8)
#define NGX_HTTP_MESH_JSON_STR_LEN(len) (6 * (len) + 3)


typedef struct {
    ngx_pool_t   *pool;
    u_char       *start;
    u_char       *pos;
    u_char       *end;
    ngx_uint_t    depth;
    u_char        comma[NGX_HTTP_MESH_JSON_DEPTH];  /* value seen at depth */
    unsigned      after_key:1;
    unsigned      failed:1;
} ngx_http_mesh_json_t;


ngx_int_t ngx_http_mesh_json_init(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    size_t size);
void ngx_http_mesh_json_obj_start(ngx_http_mesh_json_t *w);
void ngx_http_mesh_json_obj_end(ngx_http_mesh_json_t *w);
void ngx_http_mesh_json_arr_start(ngx_http_mesh_json_t *w);
void ngx_http_mesh_json_arr_end(ngx_http_mesh_json_t *w);
void ngx_http_mesh_json_key(ngx_http_mesh_json_t *w, const char *key);
void ngx_http_mesh_json_str(ngx_http_mesh_json_t *w, ngx_str_t *s);
void ngx_http_mesh_json_cstr(ngx_http_mesh_json_t *w, const char *s);
void ngx_http_mesh_json_int(ngx_http_mesh_json_t *w, int64_t n);
void ngx_http_mesh_json_double(ngx_http_mesh_json_t *w, double d);
void ngx_http_mesh_json_bool(ngx_http_mesh_json_t *w, ngx_uint_t b);
void ngx_http_mesh_json_null(ngx_http_mesh_json_t *w);
/* "key":value in one call */
void ngx_http_mesh_json_kint(ngx_http_mesh_json_t *w, const char *key,
    int64_t n);
void ngx_http_mesh_json_kcstr(ngx_http_mesh_json_t *w, const char *key,
    const char *s);
void ngx_http_mesh_json_kstr(ngx_http_mesh_json_t *w, const char *key,
    ngx_str_t *s);
void ngx_http_mesh_json_kdouble(ngx_http_mesh_json_t *w, const char *key,
    double d);
void ngx_http_mesh_json_kbool(ngx_http_mesh_json_t *w, const char *key,
    ngx_uint_t b);
/* a value that is already JSON text, copied as is */
void ngx_http_mesh_json_raw_value(ngx_http_mesh_json_t *w, ngx_str_t *json);
/* the members of a compact JSON object "{...}", as if written one by one */
void ngx_http_mesh_json_raw_members(ngx_http_mesh_json_t *w,
    ngx_str_t *object);
/* a value written at p, which has room for it (the sizes above) */
u_char *ngx_http_mesh_json_put_str(u_char *p, u_char *s, size_t len);
u_char *ngx_http_mesh_json_put_int(u_char *p, int64_t n);
u_char *ngx_http_mesh_json_put_double(u_char *p, double d);
ngx_int_t ngx_http_mesh_json_result(ngx_http_mesh_json_t *w, ngx_str_t *out);


#endif /* _NGX_HTTP_MESH_JSON_H_INCLUDED_ */
