
/*
 * The end of a streamed reply, told from its NDJSON lines as they pass: a
 * scanner that keeps no copy of the bytes and survives any cut between
 * reads (plain C, no nginx types).  It follows strings, escapes and
 * nesting, so only a top-level "done":true ends a reply (not the same text
 * inside a tool call's arguments), and only when no later line has begun.
 * With "usage" set (an OpenAI reply), the count of a reply is its
 * "usage":{"completion_tokens":N} instead of Ollama's "eval_count":N.
 */


#ifndef _NGX_HTTP_MESH_NDJSON_H_INCLUDED_
#define _NGX_HTTP_MESH_NDJSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_MESH_NDJSON_KEY_LEN  24


typedef struct {
    size_t         depth;
    size_t         key_len;       /* > KEY_LEN: not a key we look for */
    unsigned char  key[NGX_HTTP_MESH_NDJSON_KEY_LEN];
    unsigned       want;          /* the value being read matters */
    uint64_t       eval;          /* this object's token count */
    size_t         objects;       /* complete top-level objects */
    uint64_t       last_eval;     /* of the last complete object */
    unsigned       in_str:1;
    unsigned       esc:1;
    unsigned       is_key:1;
    unsigned       key_ready:1;
    unsigned       expect_key:1;
    unsigned       done:1;        /* this object has "done":true */
    unsigned       has_eval:1;
    unsigned       last_done:1;   /* the last complete object had it */
    unsigned       last_has_eval:1;
    unsigned       usage:1;       /* count usage.completion_tokens */
    unsigned       in_usage:1;    /* inside the top-level "usage" */
} ngx_http_mesh_ndjson_t;


void ngx_http_mesh_ndjson_scan(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last);

/* the last complete line said "done":true and nothing has followed it */
#define ngx_http_mesh_ndjson_done(s)                                         \
    ((s)->objects && (s)->last_done && (s)->depth == 0 && !(s)->in_str)


#endif /* _NGX_HTTP_MESH_NDJSON_H_INCLUDED_ */
