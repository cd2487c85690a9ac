
/*
 * OpenAI stream scanner (see the header).  sse_match is how much of
 * "\ndata: [DONE]" the last bytes matched; the stream starts as after a
 * newline.
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


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

/* AVX2 where the CPU has it, chosen when called; the build needs no flag */
#if (__x86_64__ && __GNUC__ >= 5 && !NGX_HTTP_MESH_SSE_NO_AVX2)
#include <immintrin.h>
#define NGX_HTTP_MESH_SSE_AVX2  1
#endif

#include "ngx_http_mesh_sse.h"


static const unsigned char *ngx_http_mesh_sse_find_cho(
    const unsigned char *p, const unsigned char *last);
static const unsigned char *ngx_http_mesh_sse_find_cho_tail(
    const unsigned char *p, const unsigned char *last);
#if (__SSE2__)
static inline int ngx_http_mesh_sse_cho16(const unsigned char *p);
#endif
#if (NGX_HTTP_MESH_SSE_AVX2)
static const unsigned char *ngx_http_mesh_sse_find_cho_avx2(
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((target ("avx2")));
static inline uint32_t ngx_http_mesh_sse_cho32(const unsigned char *p)
    __attribute__ ((target ("avx2")));
#endif


void
ngx_http_mesh_sse_scan(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last)
{
    const unsigned char  *q;

    static const unsigned char  done[] = "\ndata: [DONE]";
    static const unsigned char  empty[] = "\"choices\":[]";

    if (!s->started) {
        s->started = 1;
        s->match = 1;
    }

    for (q = p; q < last; q++) {

        if (s->match_empty == 0) {
            q = ngx_http_mesh_sse_find_cho(q, last);

            if (q == last) {
                break;
            }

            if (last - q >= (ptrdiff_t) sizeof(empty) - 1) {
                if (memcmp(q, empty, sizeof(empty) - 1) == 0) {
                    s->empty++;
                    q += sizeof(empty) - 2;

                } else if (memcmp(q, empty, sizeof("\"choices\"") - 1) == 0) {
                    /* its closing quote is taken: on from the first miss */
                    q += sizeof("\"choices\"") - 1;
                    q += (*q == ':') ? ((q[1] == '[') ? 2 : 1) : 0;
                    q--;
                }

                continue;
            }
        }

        if (*q == empty[s->match_empty]) {
            if (++s->match_empty == sizeof(empty) - 1) {
                s->empty++;
                s->match_empty = 0;
            }

        } else {
            s->match_empty = (*q == empty[0]);
        }
    }

    while (p < last) {

        /* just after a newline */
        if (s->match == 1 && last - p >= (ptrdiff_t) sizeof(done) - 2) {
            if (memcmp(p, "data: {", sizeof("data: {") - 1) == 0) {
                s->events++;
                s->done = 0;
                s->match = 0;
                p += sizeof("data: {") - 1;

            } else if (memcmp(p, done + 1, sizeof(done) - 2) == 0) {
                s->done = 1;
                s->match = sizeof(done) - 1;
                p += sizeof(done) - 2;
                continue;

            } else {
                s->match = 0;
            }
        }

        if (s->match == 0) {
            p = memchr(p, '\n', last - p);

            if (p == NULL) {
                break;
            }
        }

        if (s->match == sizeof("\ndata: ") - 1 && *p == '{') {
            s->events++;
            s->done = 0;
            s->match = 0;

        } else if (s->match < sizeof(done) - 1 && *p == done[s->match]) {
            s->match++;

            if (s->match == sizeof(done) - 1) {
                s->done = 1;
            }

        } else {
            s->match = (*p == '\n');
        }

        p++;
    }
}


/*
 * The first quote from p that begins "cho (in full, or up to last), or
 * last: 32 bytes a step with AVX2 where the CPU has it, else 16 with SSE2,
 * the last step over the last whole four bytes, then the last three.
 */

static const unsigned char *
ngx_http_mesh_sse_find_cho(const unsigned char *p, const unsigned char *last)
{
#if (__SSE2__)
    int                   mask;
    const unsigned char  *e;

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

static const unsigned char *
ngx_http_mesh_sse_find_cho_tail(const unsigned char *p,
    const unsigned char *last)
{
    size_t  n;

    for ( /* void */ ; p < last; p++) {
        n = last - p - 1;

        if (*p == '"' && memcmp(p + 1, "cho", n < 3 ? n : 3) == 0) {
            return p;
        }
    }

    return last;
}


#if (__SSE2__)

/* a bit for each of the 16 bytes from p that begins "cho */

static inline int
ngx_http_mesh_sse_cho16(const unsigned char *p)
{
    __m128i  q, c, h, o;

    q = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) p),
                       _mm_set1_epi8('"'));
    c = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 1)),
                       _mm_set1_epi8('c'));
    h = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 2)),
                       _mm_set1_epi8('h'));
    o = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 3)),
                       _mm_set1_epi8('o'));

    return _mm_movemask_epi8(_mm_and_si128(_mm_and_si128(q, c),
                                           _mm_and_si128(h, o)));
}

#endif


#if (NGX_HTTP_MESH_SSE_AVX2)

/* the same, [p, last) 36 bytes long or more */

static const unsigned char *
ngx_http_mesh_sse_find_cho_avx2(const unsigned char *p,
    const unsigned char *last)
{
    uint32_t              mask;
    const unsigned char  *e;

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

static inline uint32_t
ngx_http_mesh_sse_cho32(const unsigned char *p)
{
    __m256i  q, c, h, o;

    q = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) p),
                          _mm256_set1_epi8('"'));
    c = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 1)),
                          _mm256_set1_epi8('c'));
    h = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 2)),
                          _mm256_set1_epi8('h'));
    o = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 3)),
                          _mm256_set1_epi8('o'));

    return _mm256_movemask_epi8(_mm256_and_si256(_mm256_and_si256(q, c),
                                                 _mm256_and_si256(h, o)));
}

#endif
