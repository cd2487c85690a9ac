
/*
 * JSON writer helpers for every reply the module builds.
 */


#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_parse_core.h"


static u_char *ngx_http_mesh_json_reserve(ngx_http_mesh_json_t *w,
    size_t len);
static void ngx_http_mesh_json_raw(ngx_http_mesh_json_t *w, const char *s,
    size_t len);
static void ngx_http_mesh_json_value(ngx_http_mesh_json_t *w);
static u_char *ngx_http_mesh_json_digits(u_char *p, uint64_t u);


/* the bytes a JSON string escapes: controls, the quote, the backslash */
static const u_char  ngx_http_mesh_json_escaped[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1
};


ngx_int_t
ngx_http_mesh_json_init(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    size_t size)
{
    ngx_memzero(w, sizeof(ngx_http_mesh_json_t));

    w->pool = pool;
    w->start = ngx_pnalloc(pool, size);
    if (w->start == NULL) {
        return NGX_ERROR;
    }

    w->pos = w->start;
    w->end = w->start + size;

    return NGX_OK;
}


static u_char *
ngx_http_mesh_json_reserve(ngx_http_mesh_json_t *w, size_t len)
{
    size_t   used, size;
    u_char  *p;

    if (w->failed) {
        return NULL;
    }

    if ((size_t) (w->end - w->pos) >= len) {
        return w->pos;
    }

    used = w->pos - w->start;
    size = 2 * (w->end - w->start);

    if (size < used + len) {
        size = used + len;
    }

    p = ngx_pnalloc(w->pool, size);
    if (p == NULL) {
        w->failed = 1;
        return NULL;
    }

    ngx_memcpy(p, w->start, used);

    /* the old buffer stays in the pool until the request ends: cheap */

    w->start = p;
    w->pos = p + used;
    w->end = p + size;

    return w->pos;
}


static void
ngx_http_mesh_json_raw(ngx_http_mesh_json_t *w, const char *s, size_t len)
{
    if (ngx_http_mesh_json_reserve(w, len) == NULL) {
        return;
    }

    w->pos = ngx_cpymem(w->pos, s, len);
}


/* a comma before every value but the first of its object or array */

static void
ngx_http_mesh_json_value(ngx_http_mesh_json_t *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }

    if (w->comma[w->depth]) {
        ngx_http_mesh_json_raw(w, ",", 1);
    }

    w->comma[w->depth] = 1;
}


void
ngx_http_mesh_json_obj_start(ngx_http_mesh_json_t *w)
{
    ngx_http_mesh_json_value(w);

    if (w->depth + 1 >= NGX_HTTP_MESH_JSON_DEPTH) {
        w->failed = 1;
        return;
    }

    ngx_http_mesh_json_raw(w, "{", 1);
    w->comma[++w->depth] = 0;
}


void
ngx_http_mesh_json_obj_end(ngx_http_mesh_json_t *w)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }

    w->depth--;
    ngx_http_mesh_json_raw(w, "}", 1);
}


void
ngx_http_mesh_json_arr_start(ngx_http_mesh_json_t *w)
{
    ngx_http_mesh_json_value(w);

    if (w->depth + 1 >= NGX_HTTP_MESH_JSON_DEPTH) {
        w->failed = 1;
        return;
    }

    ngx_http_mesh_json_raw(w, "[", 1);
    w->comma[++w->depth] = 0;
}


void
ngx_http_mesh_json_arr_end(ngx_http_mesh_json_t *w)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }

    w->depth--;
    ngx_http_mesh_json_raw(w, "]", 1);
}


void
ngx_http_mesh_json_key(ngx_http_mesh_json_t *w, const char *key)
{
    ngx_http_mesh_json_cstr(w, key);
    ngx_http_mesh_json_raw(w, ":", 1);
    w->after_key = 1;
}


void
ngx_http_mesh_json_str(ngx_http_mesh_json_t *w, ngx_str_t *s)
{
    size_t   len;
    u_char  *p;

    ngx_http_mesh_json_value(w);

    /* most strings (ids, names, a prompt) need no escaping: one copy */

    for (len = 0; len < s->len; len++) {
        if (ngx_http_mesh_json_escaped[s->data[len]]) {
            break;
        }
    }

    if (len == s->len) {
        p = ngx_http_mesh_json_reserve(w, len + 2);
        if (p == NULL) {
            return;
        }

        *p++ = '"';
        p = ngx_cpymem(p, s->data, len);
        *p++ = '"';

        w->pos = p;
        return;
    }

    len = ngx_http_mesh_json_escape_len((char *) s->data, s->len);

    /* the quotes, and the NUL the escaper ends with */

    p = ngx_http_mesh_json_reserve(w, len + 3);
    if (p == NULL) {
        return;
    }

    *p++ = '"';

    if (ngx_http_mesh_json_escape((char *) s->data, s->len, (char *) p,
                                  len + 1)
        != (int) len)
    {
        w->failed = 1;
        return;
    }

    p += len;
    *p++ = '"';

    w->pos = p;
}


/*
 * s as a JSON string, for a caller that has reserved
 * NGX_HTTP_MESH_JSON_STR_LEN(len) bytes at p: the same bytes as
 * ngx_http_mesh_json_str() writes.
 */

u_char *
ngx_http_mesh_json_put_str(u_char *p, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (ngx_http_mesh_json_escaped[s[i]]) {
            break;
        }
    }

    *p++ = '"';
    p = ngx_cpymem(p, s, i);

    if (i < len) {
        p += ngx_http_mesh_json_escape((char *) s + i, len - i, (char *) p,
                                       6 * (len - i) + 1);
    }

    *p++ = '"';

    return p;
}


void
ngx_http_mesh_json_cstr(ngx_http_mesh_json_t *w, const char *s)
{
    ngx_str_t  str;

    str.data = (u_char *) s;
    str.len = ngx_strlen(s);

    ngx_http_mesh_json_str(w, &str);
}


void
ngx_http_mesh_json_int(ngx_http_mesh_json_t *w, int64_t n)
{
    u_char  *p;

    ngx_http_mesh_json_value(w);

    p = ngx_http_mesh_json_reserve(w, NGX_INT64_LEN);
    if (p == NULL) {
        return;
    }

    w->pos = ngx_http_mesh_json_put_int(p, n);
}


u_char *
ngx_http_mesh_json_put_int(u_char *p, int64_t n)
{
    if (n < 0) {
        *p++ = '-';
    }

    return ngx_http_mesh_json_digits(p, n < 0 ? - (uint64_t) n
                                              : (uint64_t) n);
}


/* what ngx_sprintf("%L") writes, without parsing a format per number */

static u_char *
ngx_http_mesh_json_digits(u_char *p, uint64_t u)
{
    u_char   buf[NGX_INT64_LEN], *d;

    d = buf + sizeof(buf);

    do {
        *--d = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    return ngx_cpymem(p, d, buf + sizeof(buf) - d);
}


void
ngx_http_mesh_json_double(ngx_http_mesh_json_t *w, double d)
{
    u_char  *p;

    ngx_http_mesh_json_value(w);

    p = ngx_http_mesh_json_reserve(w, NGX_HTTP_MESH_JSON_NUM_LEN);
    if (p == NULL) {
        return;
    }

    w->pos = ngx_http_mesh_json_put_double(p, d);
}


u_char *
ngx_http_mesh_json_put_double(u_char *p, double d)
{
    int64_t  milli;

    /* three decimals are plenty for GB and tokens/s; no locale surprises */

    milli = (int64_t) (d * 1000 + (d < 0 ? -0.5 : 0.5));

    if (milli < 0) {
        *p++ = '-';
        milli = -milli;
    }

    p = ngx_http_mesh_json_digits(p, (uint64_t) milli / 1000);
    milli %= 1000;

    *p++ = '.';
    *p++ = (u_char) ('0' + milli / 100);
    *p++ = (u_char) ('0' + milli / 10 % 10);
    *p++ = (u_char) ('0' + milli % 10);

    return p;
}


void
ngx_http_mesh_json_bool(ngx_http_mesh_json_t *w, ngx_uint_t b)
{
    ngx_http_mesh_json_value(w);

    if (b) {
        ngx_http_mesh_json_raw(w, "true", 4);

    } else {
        ngx_http_mesh_json_raw(w, "false", 5);
    }
}


void
ngx_http_mesh_json_null(ngx_http_mesh_json_t *w)
{
    ngx_http_mesh_json_value(w);
    ngx_http_mesh_json_raw(w, "null", 4);
}


void
ngx_http_mesh_json_raw_value(ngx_http_mesh_json_t *w, ngx_str_t *json)
{
    ngx_http_mesh_json_value(w);
    ngx_http_mesh_json_raw(w, (const char *) json->data, json->len);
}


void
ngx_http_mesh_json_raw_members(ngx_http_mesh_json_t *w, ngx_str_t *object)
{
    if (object->len < 2
        || object->data[0] != '{'
        || object->data[object->len - 1] != '}')
    {
        w->failed = 1;
        return;
    }

    if (object->len == 2) {
        return;
    }

    ngx_http_mesh_json_value(w);
    ngx_http_mesh_json_raw(w, (const char *) object->data + 1,
                           object->len - 2);
}


void
ngx_http_mesh_json_kint(ngx_http_mesh_json_t *w, const char *key, int64_t n)
{
    ngx_http_mesh_json_key(w, key);
    ngx_http_mesh_json_int(w, n);
}


void
ngx_http_mesh_json_kcstr(ngx_http_mesh_json_t *w, const char *key,
    const char *s)
{
    ngx_http_mesh_json_key(w, key);
    ngx_http_mesh_json_cstr(w, s);
}


void
ngx_http_mesh_json_kstr(ngx_http_mesh_json_t *w, const char *key,
    ngx_str_t *s)
{
    ngx_http_mesh_json_key(w, key);
    ngx_http_mesh_json_str(w, s);
}


void
ngx_http_mesh_json_kdouble(ngx_http_mesh_json_t *w, const char *key,
    double d)
{
    ngx_http_mesh_json_key(w, key);
    ngx_http_mesh_json_double(w, d);
}


void
ngx_http_mesh_json_kbool(ngx_http_mesh_json_t *w, const char *key,
    ngx_uint_t b)
{
    ngx_http_mesh_json_key(w, key);
    ngx_http_mesh_json_bool(w, b);
}


ngx_int_t
ngx_http_mesh_json_result(ngx_http_mesh_json_t *w, ngx_str_t *out)
{
    if (w->failed || w->depth != 0) {
        return NGX_ERROR;
    }

    out->data = w->start;
    out->len = w->pos - w->start;

    return NGX_OK;
}
