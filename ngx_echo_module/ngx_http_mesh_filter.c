
/*
 * Output of routed tasks: headers naming the node, the native API's first
 * "routed" line, and counting of streamed lines (tokens) and the final
 * "done" line, which tells a complete reply from a broken one.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_task.h"

#if (__SSE2__)
#include <emmintrin.h>
#endif

/* AVX2 where the CPU has it, chosen when called; the build needs no flag */
#if (__x86_64__ && __GNUC__ >= 5 && !NGX_HTTP_MESH_SSE_NO_AVX2)
#include <immintrin.h>
#define NGX_HTTP_MESH_SSE_AVX2  1
#endif


static ngx_int_t ngx_http_mesh_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mesh_add_header(ngx_http_request_t *r,
    const char *key, u_char *value);
static void ngx_http_mesh_count(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_mesh_sse_scan(ngx_http_mesh_ctx_t *ctx, u_char *p,
    u_char *last);
static u_char *ngx_http_mesh_sse_find_cho(u_char *p, u_char *last);
static u_char *ngx_http_mesh_sse_find_cho_tail(u_char *p, u_char *last);
#if (__SSE2__)
static ngx_inline int ngx_http_mesh_sse_cho16(u_char *p);
#endif
#if (NGX_HTTP_MESH_SSE_AVX2)
static u_char *ngx_http_mesh_sse_find_cho_avx2(u_char *p, u_char *last)
    __attribute__ ((target ("avx2")));
static ngx_inline uint32_t ngx_http_mesh_sse_cho32(u_char *p)
    __attribute__ ((target ("avx2")));
#endif
static ngx_chain_t *ngx_http_mesh_routed_line(ngx_http_request_t *r,
    ngx_http_mesh_ctx_t *ctx, ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_mesh_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mesh_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mesh_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_header_filter(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL || !ctx->routed || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_mesh_add_header(r, "X-Mesh-Node", ctx->node_id) != NGX_OK
        || ngx_http_mesh_add_header(r, "X-Mesh-Model", ctx->serve_model)
           != NGX_OK
        || ngx_http_mesh_add_header(r, "X-Mesh-Task", ctx->task_id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->task && ctx->stream && r->headers_out.status == NGX_HTTP_OK) {
        /* the routed line changes the length */
        ngx_http_clear_content_length(r);
    }

    return ngx_http_next_header_filter(r);
}


/* replaces a header of the same name: agents send their own X-Mesh-Node */

static ngx_int_t
ngx_http_mesh_add_header(ngx_http_request_t *r, const char *key,
    u_char *value)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(key);
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                h = NULL;
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) key, len) == 0)
        {
            h = &h[i];
            break;
        }
    }

    if (h == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_mesh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL || !ctx->routed || r->upstream == NULL || in == NULL
        || r->headers_out.status != NGX_HTTP_OK)
    {
        return ngx_http_next_body_filter(r, in);
    }

    ngx_http_mesh_count(r, ctx, in);

    if (ctx->task && ctx->stream && !ctx->sent_routed_line) {
        ctx->sent_routed_line = 1;

        in = ngx_http_mesh_routed_line(r, ctx, in);
        if (in == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * The first body bytes are the first token.  The reply's lines go through
 * the NDJSON scanner, whatever the cuts between reads: a reply is complete
 * when its last complete line says "done":true at the top level (a reply
 * without streaming, when its one object is complete), and that line's
 * "eval_count" counts the tokens exactly (an OpenAI reply's
 * "usage":{"completion_tokens"}); without it, the lines are the count.
 */

static void
ngx_http_mesh_count(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t               *b;
    ngx_uint_t               data, n;
    ngx_chain_t             *cl;
    ngx_http_mesh_ndjson_t  *s;

    data = 0;
    s = &ctx->ndjson;
    s->usage = ctx->openai;

    /* a streamed Ollama reply is NDJSON: its lines are read one by one */
    s->lines = ctx->stream && !ctx->openai;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) || b->pos == b->last) {
            continue;
        }

        data = 1;

        if (ctx->openai && ctx->stream) {
            ngx_http_mesh_sse_scan(ctx, b->pos, b->last);

        } else {
            ngx_http_mesh_ndjson_scan(s, b->pos, b->last);
        }
    }

    ctx->tokens = s->last_has_eval ? (ngx_uint_t) s->last_eval : s->objects;

    if (data && ctx->first_data == 0) {
        ctx->first_data = ngx_current_msec;
    }

    if (ctx->openai && ctx->stream) {
        /*
         * every chunk is a token but the one that carries finish_reason
         * and include_usage's, which has no choices
         */
        n = ctx->sse_empty + (ctx->done_seen ? 1 : 0);
        ctx->tokens = ctx->sse_events > n ? ctx->sse_events - n : 0;

    } else if (ctx->stream) {
        ctx->done_seen = ngx_http_mesh_ndjson_done(s);

    } else {
        ctx->done_seen = s->objects && s->depth == 0 && !s->in_str;
    }

    /* a one-object reply has no first token apart from the whole reply */

    if (!ctx->first_seen && data && ctx->stream) {
        ctx->first_seen = 1;
        ctx->first_byte = ngx_current_msec;
        ngx_http_mesh_task_event(r, ctx, "task.first_token", NULL);
    }
}


/*
 * An OpenAI stream (text/event-stream): each chunk is a line
 * "data: {...}", the end of a complete reply the line "data: [DONE]".
 * JSON inside a chunk has no raw newline, so only a line start can begin
 * either, and no unescaped quote in a string, so "choices":[] is the key
 * of a chunk without choices.  sse_match is how much of "\ndata: [DONE]"
 * the last bytes matched; the stream starts as after a newline.
 *
 * Two matchers over the same bytes, each on its own, as a walk byte by
 * byte would run them: "\ndata: " (then "{" or "[DONE]") and
 * "choices":[].  A matcher at its start moves only from a '\n', or from
 * a quote that begins "cho (one that begins less falls back to the start,
 * as a fresh walk from its next byte would), so the bytes before go by
 * with memchr() or ngx_http_mesh_sse_find_cho().  From there, with the
 * whole pattern in the read, one compare does what the walk would: a
 * partial match holds no other first byte (but the closing quote of
 * "choices", which the walk takes: it goes on after it), so the walk goes
 * on from the start at the first byte that differs.  Near the end of a
 * read, and on from a match cut between reads, it walks byte by byte.
 */

static void
ngx_http_mesh_sse_scan(ngx_http_mesh_ctx_t *ctx, u_char *p, u_char *last)
{
    u_char  *q;

    static u_char  done[] = "\ndata: [DONE]";
    static u_char  empty[] = "\"choices\":[]";

    if (!ctx->sse_started) {
        ctx->sse_started = 1;
        ctx->sse_match = 1;
    }

    for (q = p; q < last; q++) {

        if (ctx->sse_match_empty == 0) {
            q = ngx_http_mesh_sse_find_cho(q, last);

            if (q == last) {
                break;
            }

            if (last - q >= (ssize_t) sizeof(empty) - 1) {
                if (ngx_memcmp(q, empty, sizeof(empty) - 1) == 0) {
                    ctx->sse_empty++;
                    q += sizeof(empty) - 2;

                } else if (ngx_memcmp(q, empty, sizeof("\"choices\"") - 1)
                           == 0)
                {
                    /* its closing quote is taken: on from the first miss */
                    q += sizeof("\"choices\"") - 1;
                    q += (*q == ':') ? ((q[1] == '[') ? 2 : 1) : 0;
                    q--;
                }

                continue;
            }
        }

        if (*q == empty[ctx->sse_match_empty]) {
            if (++ctx->sse_match_empty == sizeof(empty) - 1) {
                ctx->sse_empty++;
                ctx->sse_match_empty = 0;
            }

        } else {
            ctx->sse_match_empty = (*q == empty[0]);
        }
    }

    while (p < last) {

        /* just after a newline */
        if (ctx->sse_match == 1 && last - p >= (ssize_t) sizeof(done) - 2) {
            if (ngx_memcmp(p, "data: {", sizeof("data: {") - 1) == 0) {
                ctx->sse_events++;
                ctx->done_seen = 0;
                ctx->sse_match = 0;
                p += sizeof("data: {") - 1;

            } else if (ngx_memcmp(p, done + 1, sizeof(done) - 2) == 0) {
                ctx->done_seen = 1;
                ctx->sse_match = sizeof(done) - 1;
                p += sizeof(done) - 2;
                continue;

            } else {
                ctx->sse_match = 0;
            }
        }

        if (ctx->sse_match == 0) {
            p = memchr(p, '\n', last - p);

            if (p == NULL) {
                break;
            }
        }

        if (ctx->sse_match == sizeof("\ndata: ") - 1 && *p == '{') {
            ctx->sse_events++;
            ctx->done_seen = 0;
            ctx->sse_match = 0;

        } else if (ctx->sse_match < sizeof(done) - 1
                   && *p == done[ctx->sse_match])
        {
            ctx->sse_match++;

            if (ctx->sse_match == sizeof(done) - 1) {
                ctx->done_seen = 1;
            }

        } else {
            ctx->sse_match = (*p == '\n');
        }

        p++;
    }
}


/*
 * The first quote from p that begins "cho (in full, or up to last), or
 * last: 32 bytes a step with AVX2 where the CPU has it, else 16 with SSE2,
 * the last step over the last whole four bytes, then the last three.
 */

static u_char *
ngx_http_mesh_sse_find_cho(u_char *p, u_char *last)
{
#if (__SSE2__)
    int        mask;
    u_char    *e;

#if (NGX_HTTP_MESH_SSE_AVX2)
    if (last - p >= 36 && __builtin_cpu_supports("avx2")) {
        return ngx_http_mesh_sse_find_cho_avx2(p, last);
    }
#endif

    if (last - p >= 20) {
        e = last - 19;

        for ( /* void */ ; p < e; p += 16) {
            mask = ngx_http_mesh_sse_cho16(p);

            if (mask) {
                return p + __builtin_ctz(mask);
            }
        }

        /* the last whole four, but for those seen */
        mask = ngx_http_mesh_sse_cho16(e) & (~0U << (p - e));

        if (mask) {
            return e + __builtin_ctz(mask);
        }

        p = last - 3;
    }
#endif

    return ngx_http_mesh_sse_find_cho_tail(p, last);
}


/* the same, byte by byte: [p, last) short, or its last three bytes */

static u_char *
ngx_http_mesh_sse_find_cho_tail(u_char *p, u_char *last)
{
    for ( /* void */ ; p < last; p++) {
        if (*p == '"'
            && ngx_memcmp(p + 1, "cho", ngx_min(3, last - p - 1)) == 0)
        {
            return p;
        }
    }

    return last;
}


#if (__SSE2__)

/* a bit for each of the 16 bytes from p that begins "cho */

static ngx_inline int
ngx_http_mesh_sse_cho16(u_char *p)
{
    __m128i  q, c, h, o;

    q = _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) p), _mm_set1_epi8('"'));
    c = _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 1)),
                       _mm_set1_epi8('c'));
    h = _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 2)),
                       _mm_set1_epi8('h'));
    o = _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 3)),
                       _mm_set1_epi8('o'));

    return _mm_movemask_epi8(_mm_and_si128(_mm_and_si128(q, c),
                                           _mm_and_si128(h, o)));
}

#endif


#if (NGX_HTTP_MESH_SSE_AVX2)

/* the same, [p, last) 36 bytes long or more */

static u_char *
ngx_http_mesh_sse_find_cho_avx2(u_char *p, u_char *last)
{
    u_char    *e;
    uint32_t   mask;

    e = last - 35;

    for ( /* void */ ; p < e; p += 32) {
        mask = ngx_http_mesh_sse_cho32(p);

        if (mask) {
            return p + __builtin_ctz(mask);
        }
    }

    mask = (p - e < 32) ? ngx_http_mesh_sse_cho32(e) & (~0U << (p - e)) : 0;

    if (mask) {
        return e + __builtin_ctz(mask);
    }

    return ngx_http_mesh_sse_find_cho_tail(last - 3, last);
}


/* a bit for each of the 32 bytes from p that begins "cho */

static ngx_inline uint32_t
ngx_http_mesh_sse_cho32(u_char *p)
{
    __m256i  q, c, h, o;

    q = _mm256_cmpeq_epi8(_mm256_loadu_si256((__m256i *) p),
                          _mm256_set1_epi8('"'));
    c = _mm256_cmpeq_epi8(_mm256_loadu_si256((__m256i *) (p + 1)),
                          _mm256_set1_epi8('c'));
    h = _mm256_cmpeq_epi8(_mm256_loadu_si256((__m256i *) (p + 2)),
                          _mm256_set1_epi8('h'));
    o = _mm256_cmpeq_epi8(_mm256_loadu_si256((__m256i *) (p + 3)),
                          _mm256_set1_epi8('o'));

    return _mm256_movemask_epi8(_mm256_and_si256(_mm256_and_si256(q, c),
                                                 _mm256_and_si256(h, o)));
}

#endif


static ngx_chain_t *
ngx_http_mesh_routed_line(ngx_http_request_t *r, ngx_http_mesh_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, 96 + sizeof(ctx->task_id)
                                    + sizeof(ctx->node_id)
                                    + 2 * sizeof(ctx->serve_model));
    if (b == NULL) {
        return NULL;
    }

    /* node ids and model names are checked at registration: no escaping */

    b->last = ngx_sprintf(b->last,
                          "{\"event\":\"routed\",\"task_id\":\"%s\","
                          "\"node\":\"%s\",\"model\":\"%s\"}\n",
                          ctx->task_id, ctx->node_id, ctx->serve_model);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = in;

    return cl;
}
