
/*
 * The JSON engine of the mesh parsers, on yajl's streaming API (its tree
 * API leaks on malformed input).  A body is described by a table of known
 * keys per object kind and one value handler (the schemas are in
 * ngx_http_mesh_parse.c); this core tracks nesting, skips unknown subtrees,
 * re-serialises a captured one (task options), rejects duplicate known keys
 * and names the offending field in every error.  Also the module's one JSON
 * string escaper.
 */


#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_mesh_parse_core.h"


#define NGX_HTTP_MESH_QUOTE_MAX  24     /* bytes of a bad value quoted back */

/*
 * yajl's own allocations for one parse (its handle, lexer, buffer and
 * state stack: a few hundred bytes, five mallocs and five frees a body,
 * and the lexer's 2,048-byte buffer, which its end-of-input check makes
 * for every body) come from a block on the parse's stack; past it, from
 * malloc.  Not under AddressSanitizer, so the fuzzer still sees every
 * allocation.
 */
#define NGX_HTTP_MESH_ARENA_SIZE  4096
#define NGX_HTTP_MESH_ARENA_HEAD  16     /* a block's size, and alignment */

#if defined(__SANITIZE_ADDRESS__)
#define NGX_HTTP_MESH_ARENA  0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NGX_HTTP_MESH_ARENA  0
#endif
#endif

#ifndef NGX_HTTP_MESH_ARENA
#define NGX_HTTP_MESH_ARENA  1
#endif


typedef struct {
    size_t                       used;
    unsigned                     spilled;   /* a block came from malloc */
    union {
        long double              align;
        unsigned char            bytes[NGX_HTTP_MESH_ARENA_SIZE];
    } mem;
} ngx_http_mesh_arena_t;


static size_t ngx_http_mesh_json_esc(unsigned char c, char *esc);
static int ngx_http_mesh_parse_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_key(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_end(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static void ngx_http_mesh_parse_next(ngx_http_mesh_parser_t *p);
static int ngx_http_mesh_parse_required(ngx_http_mesh_parser_t *p);
static int ngx_http_mesh_parse_lookup(const char *const *keys,
    const char *s, size_t len, unsigned fold);
static int ngx_http_mesh_parse_fold_eq(const char *key, const char *s,
    size_t len);
static int ngx_http_mesh_parse_forward(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_captured(ngx_http_mesh_parser_t *p);
static void ngx_http_mesh_parse_path(ngx_http_mesh_parser_t *p,
    unsigned depth, const char *leaf, char *buf, size_t size);
static int ngx_http_mesh_parse_limit(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void *ngx_http_mesh_arena_malloc(void *ctx, size_t size);
static void *ngx_http_mesh_arena_realloc(void *ctx, void *ptr, size_t size);
static void ngx_http_mesh_arena_free(void *ctx, void *ptr);
static int ngx_http_mesh_cb_null(void *ctx);
static int ngx_http_mesh_cb_boolean(void *ctx, int b);
static int ngx_http_mesh_cb_number(void *ctx, const char *s, size_t len);
static int ngx_http_mesh_cb_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_cb_start_map(void *ctx);
static int ngx_http_mesh_cb_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_cb_end_map(void *ctx);
static int ngx_http_mesh_cb_start_array(void *ctx);
static int ngx_http_mesh_cb_end_array(void *ctx);


static const yajl_callbacks  ngx_http_mesh_callbacks = {
    ngx_http_mesh_cb_null,
    ngx_http_mesh_cb_boolean,
    NULL,
    NULL,
    ngx_http_mesh_cb_number,
    ngx_http_mesh_cb_string,
    ngx_http_mesh_cb_start_map,
    ngx_http_mesh_cb_map_key,
    ngx_http_mesh_cb_end_map,
    ngx_http_mesh_cb_start_array,
    ngx_http_mesh_cb_end_array
};


/* the bytes c takes in a JSON string; *esc: its short escape, or 0 */

static size_t
ngx_http_mesh_json_esc(unsigned char c, char *esc)
{
    switch (c) {
    case '"':  *esc = '"';  break;
    case '\\': *esc = '\\'; break;
    case '\n': *esc = 'n';  break;
    case '\r': *esc = 'r';  break;
    case '\t': *esc = 't';  break;
    case '\b': *esc = 'b';  break;
    case '\f': *esc = 'f';  break;
    default:   *esc = 0;
    }

    return *esc ? 2 : (c < 0x20 ? 6 : 1);
}


size_t
ngx_http_mesh_json_escape_len(const char *s, size_t len)
{
    char    esc;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        n += ngx_http_mesh_json_esc((unsigned char) s[i], &esc);
    }

    return n;
}


int
ngx_http_mesh_json_escape(const char *s, size_t len, char *out,
    size_t outsize)
{
    char                 esc;
    size_t               i, n, need;
    unsigned char        c;
    static const char    hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        need = ngx_http_mesh_json_esc(c, &esc);

        /* always keep a byte for the NUL */

        if (n >= outsize || need >= outsize - n) {
            return -1;
        }

        if (esc) {
            out[n++] = '\\';
            out[n++] = esc;

        } else if (need == 6) {
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 0x0f];
            n += 6;

        } else {
            out[n++] = (char) c;
        }
    }

    if (n >= outsize || n > INT_MAX) {
        return -1;
    }

    out[n] = '\0';

    return (int) n;
}


int
ngx_http_mesh_parse_run(ngx_http_mesh_parser_t *p, const char *data,
    size_t len)
{
    int                     rc;
    char                    text[NGX_HTTP_MESH_ERR_LEN];
    size_t                  pos, n;
    yajl_status             st;
    yajl_handle             h;
    unsigned char          *msg;
    yajl_alloc_funcs        funcs;
    ngx_http_mesh_arena_t   arena;

    rc = -1;
    h = NULL;
    msg = NULL;
    p->err[0] = '\0';
    p->closed = 0;

    if (len == 0) {
        ngx_http_mesh_parse_error(p, "body is empty");
        goto done;
    }

    if (len > p->spec->max) {
        ngx_http_mesh_parse_error(p, "body is larger than %zu bytes",
                                  p->spec->max);
        goto done;
    }

    arena.used = 0;
    arena.spilled = 0;
    funcs.malloc = ngx_http_mesh_arena_malloc;
    funcs.realloc = ngx_http_mesh_arena_realloc;
    funcs.free = ngx_http_mesh_arena_free;
    funcs.ctx = &arena;

    h = yajl_alloc(&ngx_http_mesh_callbacks,
                   NGX_HTTP_MESH_ARENA ? &funcs : NULL, p);
    if (h == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        goto done;
    }

    p->yajl = h;
    p->yajl_data = data;

    /* yajl's defaults, spelled out: strict JSON, exactly one value */

    yajl_config(h, yajl_allow_comments, 0);
    yajl_config(h, yajl_dont_validate_strings, 0);
    yajl_config(h, yajl_allow_trailing_garbage, 0);
    yajl_config(h, yajl_allow_multiple_values, 0);
    yajl_config(h, yajl_allow_partial_values, 0);

    st = yajl_parse(h, (const unsigned char *) data, len);

    /*
     * Once the top-level object has closed, yajl_parse() has already
     * refused anything but white space after it, and yajl_complete_parse()
     * would only lex one more space to find it complete.
     */

    if (st == yajl_status_ok) {
        pos = len;

        if (!p->closed) {
            st = yajl_complete_parse(h);
        }

    } else {
        pos = yajl_get_bytes_consumed(h);
    }

    if (st == yajl_status_client_canceled) {
        if (p->at_byte) {
            n = strlen(p->err);
            snprintf(p->err + n, NGX_HTTP_MESH_ERR_LEN - n, " at byte %zu",
                     pos);
        }

        goto done;
    }

    if (st != yajl_status_ok) {
        msg = yajl_get_error(h, 0, (const unsigned char *) data, len);

        n = 0;
        if (msg != NULL) {
            n = snprintf(text, sizeof(text), "%s", (char *) msg);
            n = n < sizeof(text) ? n : sizeof(text) - 1;
        }

        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) {
            n--;
        }

        text[n] = '\0';

        ngx_http_mesh_parse_error(p, "invalid JSON at byte %zu: %s", pos,
                                  text);
        goto done;
    }

    rc = 0;

done:

    if (msg != NULL) {
        yajl_free_error(h, msg);
    }

    if (h != NULL) {
        /* all of it in the arena, on this stack: nothing to give back */

        if (!NGX_HTTP_MESH_ARENA || arena.spilled) {
            yajl_free(h);
        }

        p->yajl = NULL;
    }

    if (p->gen != NULL) {
        yajl_gen_free(p->gen);
        p->gen = NULL;
    }

    return rc;
}


/* the yajl callbacks: 1 goes on, 0 stops the parse with p->err set */

static int
ngx_http_mesh_parse_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    int                          rc, container;
    ngx_http_mesh_frame_t       *f;
    const ngx_http_mesh_kind_t  *kind;

    container = (v->type == NGX_HTTP_MESH_V_OBJECT
                 || v->type == NGX_HTTP_MESH_V_ARRAY);

    if (v->type == NGX_HTTP_MESH_V_NUMBER
        && v->len > NGX_HTTP_MESH_NUMBER_MAX)
    {
        return ngx_http_mesh_parse_limit(p,
                                         "number longer than %d characters",
                                         NGX_HTTP_MESH_NUMBER_MAX);
    }

    if (container && p->depth == NGX_HTTP_MESH_PARSE_DEPTH) {
        return ngx_http_mesh_parse_limit(p,
                                         "JSON nested deeper than %d levels",
                                         NGX_HTTP_MESH_PARSE_DEPTH);
    }

    if (p->skip || p->capture) {
        if (p->capture && ngx_http_mesh_parse_forward(p, v) != 0) {
            return 0;
        }

        p->depth += container;
        return 1;
    }

    if (p->depth == 0) {
        if (v->type != NGX_HTTP_MESH_V_OBJECT) {
            ngx_http_mesh_parse_error(p, "body must be a JSON object");
            return 0;
        }

        rc = 0;

    } else {
        f = &p->stack[p->depth];
        kind = &p->spec->kinds[f->kind];

        if (!f->array && f->key < 0) {
            rc = NGX_HTTP_MESH_P_DONE;

        } else if (!f->array && v->type == NGX_HTTP_MESH_V_NULL
                   && !(kind->required & (1u << f->key)))
        {
            /* null for an optional field: as if absent */
            rc = NGX_HTTP_MESH_P_DONE;

        } else {
            rc = p->spec->value(p, f, v);
        }
    }

    if (rc == NGX_HTTP_MESH_P_ERROR) {
        return 0;
    }

    if (!container) {
        ngx_http_mesh_parse_next(p);
        return 1;
    }

    p->depth++;

    if (rc >= 0) {
        f = &p->stack[p->depth];
        f->kind = rc;
        f->key = -1;
        f->seen = 0;
        f->index = 0;
        f->array = (v->type == NGX_HTTP_MESH_V_ARRAY);
        return 1;
    }

    if (rc == NGX_HTTP_MESH_P_CAPTURE) {
        p->capture = p->depth;

        p->gen = yajl_gen_alloc(NULL);
        if (p->gen == NULL) {
            ngx_http_mesh_parse_error(p, "out of memory");
            return 0;
        }

        return ngx_http_mesh_parse_forward(p, v) == 0;
    }

    p->skip = p->depth;

    return 1;
}


static int
ngx_http_mesh_parse_key(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    uint32_t                bit;
    ngx_http_mesh_frame_t  *f;

    if (v->len > NGX_HTTP_MESH_KEY_MAX) {
        return ngx_http_mesh_parse_limit(p, "key longer than %d bytes",
                                         NGX_HTTP_MESH_KEY_MAX);
    }

    if (p->capture) {
        return ngx_http_mesh_parse_forward(p, v) == 0;
    }

    if (p->skip) {
        return 1;
    }

    f = &p->stack[p->depth];
    f->key = ngx_http_mesh_parse_lookup(p->spec->kinds[f->kind].keys,
                                        v->data, v->len, p->spec->fold);
    if (f->key < 0) {
        return 1;
    }

    /* two values for one field: reject rather than guess which one counts */

    bit = 1u << f->key;

    if (f->seen & bit) {
        ngx_http_mesh_parse_fail(p, "appears twice");
        return 0;
    }

    f->seen |= bit;

    return 1;
}


static int
ngx_http_mesh_parse_end(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    if (p->capture) {
        if (ngx_http_mesh_parse_forward(p, v) != 0) {
            return 0;
        }

        if (p->capture == p->depth) {
            if (ngx_http_mesh_parse_captured(p) != 0) {
                return 0;
            }

            p->capture = 0;
        }

    } else if (p->skip) {
        if (p->skip == p->depth) {
            p->skip = 0;
        }

    } else if (v->type == NGX_HTTP_MESH_V_END_OBJECT
               && ngx_http_mesh_parse_required(p) != 0)
    {
        return 0;
    }

    p->depth--;

    if (p->depth == 0) {
        p->closed = 1;
    }

    if (p->skip == 0 && p->capture == 0) {
        ngx_http_mesh_parse_next(p);
    }

    return 1;
}


static void
ngx_http_mesh_parse_next(ngx_http_mesh_parser_t *p)
{
    if (p->depth > 0 && p->stack[p->depth].array) {
        p->stack[p->depth].index++;
    }
}


static int
ngx_http_mesh_parse_required(ngx_http_mesh_parser_t *p)
{
    int                     i;
    char                    path[NGX_HTTP_MESH_ERR_LEN];
    uint32_t                missing;
    ngx_http_mesh_frame_t  *f;

    f = &p->stack[p->depth];
    missing = p->spec->kinds[f->kind].required & ~f->seen;

    if (missing == 0) {
        return 0;
    }

    for (i = 0; !(missing & (1u << i)); i++) {
        /* the first missing key */
    }

    ngx_http_mesh_parse_path(p, p->depth, p->spec->kinds[f->kind].keys[i],
                             path, sizeof(path));
    ngx_http_mesh_parse_error(p, "\"%s\" is missing", path);

    return -1;
}


static int
ngx_http_mesh_parse_lookup(const char *const *keys, const char *s,
    size_t len, unsigned fold)
{
    int  i;

    for (i = 0; keys[i] != NULL; i++) {
        if (fold) {
            if (ngx_http_mesh_parse_fold_eq(keys[i], s, len)) {
                return i;
            }

        } else if (strlen(keys[i]) == len && memcmp(keys[i], s, len) == 0) {
            return i;
        }
    }

    return -1;
}


/*
 * Go's case folding of a lower-case ASCII key: ASCII letters in either
 * case, plus the two non-ASCII letters that fold to ASCII ones, U+017F
 * (long s) and U+212A (Kelvin sign).
 */

static int
ngx_http_mesh_parse_fold_eq(const char *key, const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    i = 0;

    for ( /* void */ ; *key != '\0'; key++) {
        if (i >= len) {
            return 0;
        }

        c = (unsigned char) s[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c == (unsigned char) *key) {
            i++;

        } else if (*key == 's' && len - i >= 2
                   && memcmp(s + i, "\xc5\xbf", 2) == 0)
        {
            i += 2;

        } else if (*key == 'k' && len - i >= 3
                   && memcmp(s + i, "\xe2\x84\xaa", 3) == 0)
        {
            i += 3;

        } else {
            return 0;
        }
    }

    return i == len;
}


static int
ngx_http_mesh_parse_forward(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v)
{
    size_t                len;
    yajl_gen              g;
    yajl_gen_status       st;
    const unsigned char  *buf;

    g = p->gen;

    switch (v->type) {

    case NGX_HTTP_MESH_V_NULL:
        st = yajl_gen_null(g);
        break;

    case NGX_HTTP_MESH_V_BOOL:
        st = yajl_gen_bool(g, v->boolean);
        break;

    case NGX_HTTP_MESH_V_NUMBER:
        st = yajl_gen_number(g, v->data, v->len);
        break;

    case NGX_HTTP_MESH_V_STRING:
    case NGX_HTTP_MESH_V_KEY:
        st = yajl_gen_string(g, (const unsigned char *) v->data, v->len);
        break;

    case NGX_HTTP_MESH_V_OBJECT:
        st = yajl_gen_map_open(g);
        break;

    case NGX_HTTP_MESH_V_ARRAY:
        st = yajl_gen_array_open(g);
        break;

    case NGX_HTTP_MESH_V_END_OBJECT:
        st = yajl_gen_map_close(g);
        break;

    default: /* NGX_HTTP_MESH_V_END_ARRAY */
        st = yajl_gen_array_close(g);
        break;
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_get_buf(g, &buf, &len);
    }

    if (st != yajl_gen_status_ok) {
        ngx_http_mesh_parse_error(p, "cannot re-serialise JSON (%d)", st);
        return -1;
    }

    if (len > NGX_HTTP_MESH_OPTIONS_MAX) {
        ngx_http_mesh_parse_fail(p, "is larger than %d bytes",
                                 NGX_HTTP_MESH_OPTIONS_MAX);
        return -1;
    }

    return 0;
}


static int
ngx_http_mesh_parse_captured(ngx_http_mesh_parser_t *p)
{
    char                 *copy;
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(p->gen, &buf, &len) != yajl_gen_status_ok) {
        ngx_http_mesh_parse_error(p, "cannot re-serialise JSON");
        return -1;
    }

    copy = p->alloc(p->alloc_ctx, len + 1);
    if (copy == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        return -1;
    }

    memcpy(copy, buf, len);
    copy[len] = '\0';

    p->captured->data = copy;
    p->captured->len = len;

    yajl_gen_free(p->gen);
    p->gen = NULL;

    return 0;
}


/*
 * The field at depth: "models[2].name".  During a capture the frames
 * above p->capture - 1 were never pushed, so the path ends at the field
 * captured, which is the one to name.
 */

static void
ngx_http_mesh_parse_path(ngx_http_mesh_parser_t *p, unsigned depth,
    const char *leaf, char *buf, size_t size)
{
    int                     n;
    size_t                  used;
    unsigned                i;
    const char             *name;
    ngx_http_mesh_frame_t  *f;

    used = 0;
    buf[0] = '\0';

    if (p->capture && depth >= p->capture) {
        depth = p->capture - 1;
    }

    for (i = 1; i <= depth; i++) {
        f = &p->stack[i];

        if (f->array) {
            n = snprintf(buf + used, size - used, "[%u]", f->index);

        } else {
            if (i == depth && leaf != NULL) {
                name = leaf;

            } else if (f->key >= 0) {
                name = p->spec->kinds[f->kind].keys[f->key];

            } else {
                name = "?";
            }

            n = snprintf(buf + used, size - used, "%s%s",
                         used ? "." : "", name);
        }

        if (n < 0 || (size_t) n >= size - used) {
            return;
        }

        used += n;
    }
}


size_t
ngx_http_mesh_parse_offset(ngx_http_mesh_parser_t *p)
{
    return p->yajl ? yajl_get_bytes_consumed(p->yajl) : 0;
}


void
ngx_http_mesh_parse_error(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(p->err, NGX_HTTP_MESH_ERR_LEN, fmt, args);
    va_end(args);
}


/* "<field>" <what> */

int
ngx_http_mesh_parse_fail(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    char     path[NGX_HTTP_MESH_ERR_LEN], what[NGX_HTTP_MESH_ERR_LEN];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);

    ngx_http_mesh_parse_path(p, p->depth, NULL, path, sizeof(path));
    ngx_http_mesh_parse_error(p, "\"%s\" %s", path, what);

    return NGX_HTTP_MESH_P_ERROR;
}


/* a size limit of the JSON itself: where it was crossed helps the sender */

static int
ngx_http_mesh_parse_limit(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(p->err, NGX_HTTP_MESH_ERR_LEN, fmt, args);
    va_end(args);

    p->at_byte = 1;

    return 0;
}


/* an unknown enumerated value, quoted back: unknown task type "x" */

int
ngx_http_mesh_parse_bad(ngx_http_mesh_parser_t *p, const char *what,
    ngx_http_mesh_value_t *v)
{
    char    quoted[NGX_HTTP_MESH_ERR_LEN];
    size_t  n;

    if (v->type != NGX_HTTP_MESH_V_STRING) {
        return ngx_http_mesh_parse_fail(p, "must be a string");
    }

    n = v->len < NGX_HTTP_MESH_QUOTE_MAX ? v->len : NGX_HTTP_MESH_QUOTE_MAX;

    /* whole UTF-8 characters only */

    while (n > 0 && n < v->len && ((unsigned char) v->data[n] & 0xc0) == 0x80)
    {
        n--;
    }

    if (ngx_http_mesh_json_escape(v->data, n, quoted, sizeof(quoted)) < 0) {
        quoted[0] = '\0';
    }

    ngx_http_mesh_parse_error(p, "%s \"%s%s\"", what, quoted,
                              n < v->len ? "..." : "");

    return NGX_HTTP_MESH_P_ERROR;
}


/* a block: its size in the head before it; the last one can grow */

static void *
ngx_http_mesh_arena_malloc(void *ctx, size_t size)
{
    ngx_http_mesh_arena_t *a = ctx;

    size_t          need;
    unsigned char  *b;

    need = NGX_HTTP_MESH_ARENA_HEAD
           + (size + NGX_HTTP_MESH_ARENA_HEAD - 1)
             / NGX_HTTP_MESH_ARENA_HEAD * NGX_HTTP_MESH_ARENA_HEAD;

    if (size > NGX_HTTP_MESH_ARENA_SIZE
        || need > NGX_HTTP_MESH_ARENA_SIZE - a->used)
    {
        a->spilled = 1;
        return malloc(size);
    }

    b = a->mem.bytes + a->used;
    memcpy(b, &size, sizeof(size_t));
    a->used += need;

    return b + NGX_HTTP_MESH_ARENA_HEAD;
}


static void *
ngx_http_mesh_arena_realloc(void *ctx, void *ptr, size_t size)
{
    ngx_http_mesh_arena_t *a = ctx;

    size_t          old, used;
    void           *n;
    unsigned char  *b;

    b = ptr;

    if (b == NULL) {
        return ngx_http_mesh_arena_malloc(a, size);
    }

    if (b < a->mem.bytes || b >= a->mem.bytes + NGX_HTTP_MESH_ARENA_SIZE) {
        return realloc(ptr, size);
    }

    memcpy(&old, b - NGX_HTTP_MESH_ARENA_HEAD, sizeof(size_t));

    /* the last block: give it back first, so it grows in place if it fits */
    used = a->used;
    ngx_http_mesh_arena_free(a, ptr);

    n = ngx_http_mesh_arena_malloc(a, size);

    if (n == NULL) {
        /* as realloc(): the old block stays */
        a->used = used;
        return NULL;
    }

    if (n != ptr) {
        memmove(n, ptr, old < size ? old : size);
    }

    return n;
}


static void
ngx_http_mesh_arena_free(void *ctx, void *ptr)
{
    ngx_http_mesh_arena_t *a = ctx;

    size_t          size;
    unsigned char  *b;

    b = ptr;

    if (b == NULL) {
        return;
    }

    if (b < a->mem.bytes || b >= a->mem.bytes + NGX_HTTP_MESH_ARENA_SIZE) {
        free(ptr);
        return;
    }

    memcpy(&size, b - NGX_HTTP_MESH_ARENA_HEAD, sizeof(size_t));

    if (b + (size + NGX_HTTP_MESH_ARENA_HEAD - 1)
            / NGX_HTTP_MESH_ARENA_HEAD * NGX_HTTP_MESH_ARENA_HEAD
        == a->mem.bytes + a->used)
    {
        a->used = b - NGX_HTTP_MESH_ARENA_HEAD - a->mem.bytes;
    }
}


static int
ngx_http_mesh_cb_null(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_NULL, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_boolean(void *ctx, int b)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_BOOL, b, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_number(void *ctx, const char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_NUMBER, 0, s, len };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_STRING, 0, (const char *) s,
                                 len };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_start_map(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_OBJECT, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_KEY, 0, (const char *) s,
                                 len };

    return ngx_http_mesh_parse_key(ctx, &v);
}


static int
ngx_http_mesh_cb_end_map(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_END_OBJECT, 0, NULL, 0 };

    return ngx_http_mesh_parse_end(ctx, &v);
}


static int
ngx_http_mesh_cb_start_array(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_ARRAY, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_end_array(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_END_ARRAY, 0, NULL, 0 };

    return ngx_http_mesh_parse_end(ctx, &v);
}


/* value helpers for the handlers: NGX_HTTP_MESH_P_DONE or _ERROR */

int
ngx_http_mesh_get_container(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, ngx_http_mesh_vtype_e type, int kind)
{
    if (v->type != type) {
        return ngx_http_mesh_parse_fail(p, "must be %s",
                   type == NGX_HTTP_MESH_V_ARRAY ? "an array" : "an object");
    }

    return kind;
}


int
ngx_http_mesh_get_uint(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    uint32_t min, uint32_t max, uint32_t *out)
{
    char                buf[NGX_HTTP_MESH_NUMBER_MAX + 1];
    size_t              i;
    unsigned long long  n;

    if (v->type != NGX_HTTP_MESH_V_NUMBER) {
        goto invalid;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            goto invalid;
        }
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    errno = 0;
    n = strtoull(buf, NULL, 10);

    if (errno != 0 || n < min || n > max) {
        goto invalid;
    }

    *out = (uint32_t) n;

    return NGX_HTTP_MESH_P_DONE;

invalid:

    return ngx_http_mesh_parse_fail(p, "must be an integer %u-%u", min, max);
}


int
ngx_http_mesh_get_real(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    double max, double *out)
{
    char    buf[NGX_HTTP_MESH_NUMBER_MAX + 1];
    double  d;

    if (v->type != NGX_HTTP_MESH_V_NUMBER) {
        goto invalid;
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    d = strtod(buf, NULL);

    if (!(d >= 0 && d < max)) {
        goto invalid;
    }

    /* -0 would print as "-0" */
    *out = (d == 0) ? 0 : d;

    return NGX_HTTP_MESH_P_DONE;

invalid:

    return ngx_http_mesh_parse_fail(p, "must be a number >= 0 and < %.0f",
                                    max);
}


int
ngx_http_mesh_get_bool(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    uint8_t *out)
{
    if (v->type != NGX_HTTP_MESH_V_BOOL) {
        return ngx_http_mesh_parse_fail(p, "must be true or false");
    }

    *out = (uint8_t) (v->boolean != 0);

    return NGX_HTTP_MESH_P_DONE;
}


/* a string of min..max bytes, each accepted by valid */

int
ngx_http_mesh_get_chars(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    int (*valid)(int c), size_t min, size_t max, const char *what)
{
    size_t  i;

    if (v->type != NGX_HTTP_MESH_V_STRING || v->len < min || v->len > max) {
        return ngx_http_mesh_parse_fail(p, "%s", what);
    }

    for (i = 0; i < v->len; i++) {
        if (!valid((unsigned char) v->data[i])) {
            return ngx_http_mesh_parse_fail(p, "%s", what);
        }
    }

    return NGX_HTTP_MESH_P_DONE;
}


/* a string copied with the caller's allocator, NUL-terminated */

int
ngx_http_mesh_get_text(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    size_t max, ngx_http_mesh_span_t *out)
{
    char  *copy;

    if (v->type != NGX_HTTP_MESH_V_STRING || v->len > max) {
        return ngx_http_mesh_parse_fail(p, "must be a string of at most %zu"
                                        " bytes", max);
    }

    copy = p->alloc(p->alloc_ctx, v->len + 1);
    if (copy == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        return NGX_HTTP_MESH_P_ERROR;
    }

    memcpy(copy, v->data, v->len);
    copy[v->len] = '\0';

    out->data = copy;
    out->len = v->len;

    return NGX_HTTP_MESH_P_DONE;
}
