
/*
 * The end of an OpenAI stream (text/event-stream) and its chunks, told as
 * the bytes pass (plain C, no nginx types), whatever the cuts between
 * reads: each chunk is a line "data: {...}", the end of a complete reply
 * the line "data: [DONE]", and a chunk without choices (finish_reason's,
 * include_usage's) has "choices":[].  JSON inside a chunk has no raw
 * newline and no unescaped quote in a string, so only a line start can
 * begin a chunk and "choices":[] is a key.
 */


#ifndef _NGX_HTTP_MESH_SSE_H_INCLUDED_
#define _NGX_HTTP_MESH_SSE_H_INCLUDED_


#include <stddef.h>


typedef struct {
    size_t    match;          /* of "\ndata: [DONE]" */
    size_t    events;         /* "data: {" chunks */
    size_t    match_empty;    /* of "choices":[] */
    size_t    empty;          /* chunks without choices */
    unsigned  started:1;
    unsigned  done:1;         /* "data: [DONE]" and no chunk after it */
} ngx_http_mesh_sse_t;


void ngx_http_mesh_sse_scan(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last);


#endif /* _NGX_HTTP_MESH_SSE_H_INCLUDED_ */
