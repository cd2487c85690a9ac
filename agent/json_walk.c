/*
 * yajl's tree API leaks on malformed input, so everything here is the
 * callback parser; the path string is rebuilt from a stack of lengths.
 */

#include <stdio.h>
#include <string.h>

#include "json_walk.h"


static int jw_on_null(void *ctx);
static int jw_on_bool(void *ctx, int v);
static int jw_on_number(void *ctx, const char *s, size_t len);
static int jw_on_string(void *ctx, const unsigned char *s, size_t len);
static int jw_on_start_map(void *ctx);
static int jw_on_key(void *ctx, const unsigned char *s, size_t len);
static int jw_on_end_map(void *ctx);
static int jw_on_start_array(void *ctx);
static int jw_on_end_array(void *ctx);
static int jw_scalar(jw_t *jw, jw_type_t type, const char *v, size_t len);
static int jw_push(jw_t *jw, jw_type_t type, const char *suffix);
static int jw_pop(jw_t *jw, jw_type_t type);
static void jw_set_yajl_error(jw_t *jw, const char *chunk, size_t n);


static const yajl_callbacks  jw_callbacks = {
    jw_on_null,
    jw_on_bool,
    NULL,
    NULL,
    jw_on_number,
    jw_on_string,
    jw_on_start_map,
    jw_on_key,
    jw_on_end_map,
    jw_on_start_array,
    jw_on_end_array
};


int
jw_init(jw_t *jw, jw_handler_pt handler, void *ud)
{
    memset(jw, 0, sizeof(*jw));
    jw->handler = handler;
    jw->ud = ud;

    jw->yajl = yajl_alloc(&jw_callbacks, NULL, jw);
    if (jw->yajl == NULL) {
        return -1;
    }

    return 0;
}


void
jw_free(jw_t *jw)
{
    if (jw->yajl != NULL) {
        yajl_free(jw->yajl);
        jw->yajl = NULL;
    }
}


void
jw_fail(jw_t *jw, const char *msg)
{
    if (!jw->failed) {
        snprintf(jw->err, sizeof(jw->err), "%s", msg);
        jw->failed = 1;
    }
}


int
jw_feed(jw_t *jw, const char *p, size_t n)
{
    yajl_status  st;

    if (jw->failed) {
        return -1;
    }

    st = yajl_parse(jw->yajl, (const unsigned char *) p, n);
    if (st != yajl_status_ok) {
        jw->err_pos = jw->fed + yajl_get_bytes_consumed(jw->yajl);
        jw_set_yajl_error(jw, p, n);
        return -1;
    }

    jw->fed += n;
    return 0;
}


int
jw_finish(jw_t *jw)
{
    yajl_status  st;

    if (jw->failed) {
        return -1;
    }

    st = yajl_complete_parse(jw->yajl);
    if (st != yajl_status_ok) {
        jw->err_pos = jw->fed;
        jw_set_yajl_error(jw, NULL, 0);
        return -1;
    }

    return 0;
}


static void
jw_set_yajl_error(jw_t *jw, const char *chunk, size_t n)
{
    unsigned char  *msg = NULL;
    const char     *text;
    size_t          len;

    /* a handler that stopped the parse has already said why */
    if (jw->failed) {
        return;
    }

    msg = yajl_get_error(jw->yajl, 0, (const unsigned char *) chunk, n);
    text = msg ? (const char *) msg : "parse error";

    if (strncmp(text, "parse error: ", 13) == 0) {
        text += 13;
    }

    len = strcspn(text, "\n");
    snprintf(jw->err, sizeof(jw->err), "%.*s", (int) len, text);
    jw->failed = 1;

    if (msg != NULL) {
        yajl_free_error(jw->yajl, msg);
    }
}


static int
jw_scalar(jw_t *jw, jw_type_t type, const char *v, size_t len)
{
    int  rc;

    rc = jw->handler(jw->ud, jw->overflow ? "?" : jw->path, type, v, len);

    /* the next key of a map replaces this value's key in the path */
    jw->plen = jw->base[jw->depth];
    jw->path[jw->plen] = '\0';

    if (!rc) {
        jw_fail(jw, "rejected by the reader");
    }

    return rc;
}


static int
jw_on_null(void *ctx)
{
    return jw_scalar(ctx, JW_NULL, "null", 4);
}


static int
jw_on_bool(void *ctx, int v)
{
    return jw_scalar(ctx, JW_BOOL, v ? "true" : "false", v ? 4 : 5);
}


static int
jw_on_number(void *ctx, const char *s, size_t len)
{
    return jw_scalar(ctx, JW_NUMBER, s, len);
}


static int
jw_on_string(void *ctx, const unsigned char *s, size_t len)
{
    return jw_scalar(ctx, JW_STRING, (const char *) s, len);
}


static int
jw_push(jw_t *jw, jw_type_t type, const char *suffix)
{
    size_t  n;

    if (jw->depth >= JW_DEPTH_MAX) {
        jw_fail(jw, "nesting too deep");
        return 0;
    }

    if (!jw->handler(jw->ud, jw->overflow ? "?" : jw->path, type, NULL, 0)) {
        jw_fail(jw, "rejected by the reader");
        return 0;
    }

    n = strlen(suffix);
    if (jw->overflow || jw->plen + n >= sizeof(jw->path)) {
        jw->overflow++;

    } else {
        memcpy(jw->path + jw->plen, suffix, n + 1);
        jw->plen += n;
    }

    jw->depth++;
    jw->base[jw->depth] = jw->plen;
    return 1;
}


static int
jw_pop(jw_t *jw, jw_type_t type)
{
    int  rc;

    if (jw->overflow) {
        jw->overflow--;

    } else {
        /* back to the container's own path, without the "[]" suffix */
        jw->plen = jw->base[jw->depth]
                   - (type == JW_ARRAY_END ? 2 : 0);
    }

    jw->depth--;
    jw->path[jw->plen] = '\0';

    rc = jw->handler(jw->ud, jw->overflow ? "?" : jw->path, type, NULL, 0);

    jw->plen = jw->base[jw->depth];
    jw->path[jw->plen] = '\0';

    if (!rc) {
        jw_fail(jw, "rejected by the reader");
    }

    return rc;
}


static int
jw_on_start_map(void *ctx)
{
    return jw_push(ctx, JW_MAP_START, "");
}


static int
jw_on_end_map(void *ctx)
{
    return jw_pop(ctx, JW_MAP_END);
}


static int
jw_on_start_array(void *ctx)
{
    return jw_push(ctx, JW_ARRAY_START, "[]");
}


static int
jw_on_end_array(void *ctx)
{
    return jw_pop(ctx, JW_ARRAY_END);
}


static int
jw_on_key(void *ctx, const unsigned char *s, size_t len)
{
    jw_t    *jw = ctx;
    size_t   base;

    if (jw->overflow) {
        return 1;
    }

    base = jw->base[jw->depth];
    jw->plen = base;

    if (len > JW_KEY_MAX || memchr(s, '.', len) != NULL
        || memchr(s, '[', len) != NULL || memchr(s, '\0', len) != NULL)
    {
        s = (const unsigned char *) "?";
        len = 1;
    }

    if (base + 1 + len >= sizeof(jw->path)) {
        s = (const unsigned char *) "?";
        len = 1;
        if (base + 2 >= sizeof(jw->path)) {
            jw->path[base] = '\0';
            return 1;
        }
    }

    jw->path[base] = '.';
    memcpy(jw->path + base + 1, s, len);
    jw->plen = base + 1 + len;
    jw->path[jw->plen] = '\0';
    return 1;
}
