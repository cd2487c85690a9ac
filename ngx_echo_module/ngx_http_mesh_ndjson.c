
/*
 * NDJSON end-of-reply scanner (see the header).
 */


#include <string.h>

#include "ngx_http_mesh_ndjson.h"


#define NGX_HTTP_MESH_NDJSON_NONE   0
#define NGX_HTTP_MESH_NDJSON_DONE   1
#define NGX_HTTP_MESH_NDJSON_EVAL   2
#define NGX_HTTP_MESH_NDJSON_USAGE  3

/* where keys matter: the top level, and the top-level "usage" object */
#define ngx_http_mesh_ndjson_keyed(s)                                        \
    ((s)->depth == 1 || ((s)->depth == 2 && (s)->in_usage))


static void ngx_http_mesh_ndjson_key(ngx_http_mesh_ndjson_t *s);


void
ngx_http_mesh_ndjson_scan(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    unsigned char  c;

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (s->in_str) {
            if (s->esc) {
                s->esc = 0;

            } else if (c == '\\') {
                s->esc = 1;

                /* an escaped key is never one we look for */
                s->key_len = NGX_HTTP_MESH_NDJSON_KEY_LEN + 1;

            } else if (c == '"') {
                s->in_str = 0;

                if (s->is_key) {
                    s->is_key = 0;
                    s->key_ready = 1;
                }

            } else if (s->is_key) {
                if (s->key_len < NGX_HTTP_MESH_NDJSON_KEY_LEN) {
                    s->key[s->key_len] = c;
                }

                s->key_len++;
            }

            continue;
        }

        switch (c) {

        case '"':
            s->in_str = 1;

            if (ngx_http_mesh_ndjson_keyed(s) && s->expect_key) {
                s->is_key = 1;
                s->expect_key = 0;
                s->key_len = 0;

            } else {
                s->want = NGX_HTTP_MESH_NDJSON_NONE;
            }

            break;

        case '{':
            if (s->depth == 0) {
                s->done = 0;
                s->has_eval = 0;
                s->eval = 0;
                s->expect_key = 1;
                s->in_usage = 0;

            } else if (s->depth == 1
                       && s->want == NGX_HTTP_MESH_NDJSON_USAGE)
            {
                s->in_usage = 1;
                s->expect_key = 1;
            }

            s->depth++;
            s->want = NGX_HTTP_MESH_NDJSON_NONE;
            break;

        case '[':
            s->depth++;
            s->want = NGX_HTTP_MESH_NDJSON_NONE;
            break;

        case '}':
        case ']':
            if (s->depth > 0) {
                s->depth--;
            }

            if (s->depth < 2) {
                s->in_usage = 0;
            }

            s->want = NGX_HTTP_MESH_NDJSON_NONE;

            if (s->depth == 0 && c == '}') {
                s->objects++;
                s->last_done = s->done;
                s->last_has_eval = s->has_eval;
                s->last_eval = s->eval;
            }

            break;

        case ':':
            if (ngx_http_mesh_ndjson_keyed(s) && s->key_ready) {
                ngx_http_mesh_ndjson_key(s);
            }

            s->key_ready = 0;
            break;

        case ',':
            if (ngx_http_mesh_ndjson_keyed(s)) {
                s->expect_key = 1;
            }

            s->want = NGX_HTTP_MESH_NDJSON_NONE;
            break;

        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;

        default:
            if (s->want == NGX_HTTP_MESH_NDJSON_DONE) {
                s->done = (c == 't');
                s->want = NGX_HTTP_MESH_NDJSON_NONE;

            } else if (s->want == NGX_HTTP_MESH_NDJSON_EVAL
                       && c >= '0' && c <= '9')
            {
                /* a count of tokens: far below this bound */
                if (s->eval < 1000000000) {
                    s->eval = s->eval * 10 + (c - '0');
                }

                s->has_eval = 1;

            } else {
                s->want = NGX_HTTP_MESH_NDJSON_NONE;
            }
        }
    }
}


static void
ngx_http_mesh_ndjson_key(ngx_http_mesh_ndjson_t *s)
{
    s->want = NGX_HTTP_MESH_NDJSON_NONE;

    if (s->depth == 2) {
        /* in "usage" */
        if (s->key_len == 17 && memcmp(s->key, "completion_tokens", 17) == 0)
        {
            s->want = NGX_HTTP_MESH_NDJSON_EVAL;
            s->eval = 0;
            s->has_eval = 0;
        }

        return;
    }

    if (s->usage && s->key_len == 5 && memcmp(s->key, "usage", 5) == 0) {
        s->want = NGX_HTTP_MESH_NDJSON_USAGE;

    } else if (s->key_len == 4 && memcmp(s->key, "done", 4) == 0) {
        s->want = NGX_HTTP_MESH_NDJSON_DONE;
        s->done = 0;

    } else if (s->key_len == 10 && memcmp(s->key, "eval_count", 10) == 0) {
        s->want = NGX_HTTP_MESH_NDJSON_EVAL;
        s->eval = 0;
        s->has_eval = 0;
    }
}
