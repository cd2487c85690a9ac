
/*
 * The end of a streamed reply, told from its NDJSON lines as they pass: a
 * scanner that survives any cut between reads and keeps no copy of the
 * bytes but a cut token line's start (plain C, no nginx types).  It
 * follows strings, escapes and nesting, so only a top-level "done":true
 * ends a reply (not the same text inside a tool call's arguments), and
 * only when no later line has begun.
 * With "usage" set (an OpenAI reply), the count of a reply is its
 * "usage":{"completion_tokens":N} instead of Ollama's "eval_count":N.
 *
 * With "lines" set (a streamed reply: NDJSON, one JSON value per line, and
 * no raw newline inside a JSON string), each line is read on its own: the
 * state goes back to the start at every '\n', and a token line (begins
 * with '{', ends with ,"done":false}) is taken whole without the walk.
 * On NDJSON the results are the walk's; on input that is not NDJSON they
 * can differ (a raw newline ends a line even inside a string or an open
 * object; a token line counts as one object with done false, its count
 * that of a walk of the line alone): see the .c file.
 */


#ifndef _NGX_HTTP_MESH_NDJSON_H_INCLUDED_
#define _NGX_HTTP_MESH_NDJSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_MESH_NDJSON_KEY_LEN  24
#define NGX_HTTP_MESH_NDJSON_CARRY    256   /* a line cut between reads */


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
    unsigned       lines:1;       /* each line on its own: NDJSON */
    unsigned       mid_line:1;    /* a line's start has been walked */
    size_t         carry_len;     /* a line's start, not yet read */
    unsigned char  carry[NGX_HTTP_MESH_NDJSON_CARRY];
} ngx_http_mesh_ndjson_t;


void ngx_http_mesh_ndjson_scan(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last);

/* the last complete line said "done":true and nothing has followed it */
#define ngx_http_mesh_ndjson_done(s)                                         \
    ((s)->objects && (s)->last_done && (s)->depth == 0 && !(s)->in_str      \
     && (s)->carry_len == 0)


#endif /* _NGX_HTTP_MESH_NDJSON_H_INCLUDED_ */
