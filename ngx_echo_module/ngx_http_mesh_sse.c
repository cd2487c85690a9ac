
/*
 * OpenAI stream scanner (see the header).  s->match is how much of
 * "\ndata: [DONE]" the last bytes matched, s->match_empty how much of
 * "choices":[]; the stream starts as after a newline.
 *
 * The result is that of a walk byte by byte running both matchers, each
 * on its own (tests/test_sse.c holds that walk).  With both at their
 * start, only a '\n' moves the first, and only a quote that begins "cho
 * the second (one that begins less falls back to the start, as a fresh
 * walk from its next byte would), so one pass finds the next of either
 * (ngx_http_mesh_sse_find(), 32 bytes a step with AVX2 where the CPU has
 * it, else 16 with SSE2).  A read that is one whole chunk, the usual
 * read, takes one pass and no stop (ngx_http_mesh_sse_chunk()).  After
 * a '\n', one compare each stands for "data: {" and "data: [DONE]" (no
 * quote in either: the other matcher stays at its start).  From a "cho,
 * with the whole pattern in the read, one compare stands for the walk: a
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


#define NGX_HTTP_MESH_SSE_DATA   "data: {"
#define NGX_HTTP_MESH_SSE_DONE   "\ndata: [DONE]"
#define NGX_HTTP_MESH_SSE_EMPTY  "\"choices\":[]"
#define NGX_HTTP_MESH_SSE_LEN(s)  (sizeof(s) - 1)

#define ngx_http_mesh_sse_inline  inline __attribute__ ((always_inline))

/* "data: {", a candidate's reach with AVX2 (43), "\n\n" */
#define NGX_HTTP_MESH_SSE_CHUNK_MIN  52

/* the read may be one whole chunk: see ngx_http_mesh_sse_chunk() */
#define ngx_http_mesh_sse_chunk_like(s, p, last)                             \
    ((s)->match == 1 && (s)->match_empty == 0                                \
     && (last) - (p) >= NGX_HTTP_MESH_SSE_CHUNK_MIN && (last)[-1] == '\n'    \
     && memcmp(p, NGX_HTTP_MESH_SSE_DATA,                                    \
               NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DATA))                \
        == 0)


typedef const unsigned char *(*ngx_http_mesh_sse_find_pt)(
    const unsigned char *p, const unsigned char *last);


static void ngx_http_mesh_sse_scan_sse2(ngx_http_mesh_sse_t *s,
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((noinline));
static ngx_http_mesh_sse_inline void ngx_http_mesh_sse_run(
    ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last, ngx_http_mesh_sse_find_pt find);
static ngx_http_mesh_sse_inline void ngx_http_mesh_sse_byte(
    ngx_http_mesh_sse_t *s, unsigned char c);
static const unsigned char *ngx_http_mesh_sse_find(const unsigned char *p,
    const unsigned char *last);
#if (__SSE2__)
static inline int ngx_http_mesh_sse_chunk(const unsigned char *p,
    const unsigned char *last);
static inline __m128i ngx_http_mesh_sse_any16(__m128i acc,
    const unsigned char *q, __m128i kq, __m128i kn, __m128i kc);
static inline int ngx_http_mesh_sse_mask16(const unsigned char *p);
#endif
#if (NGX_HTTP_MESH_SSE_AVX2)
static inline int ngx_http_mesh_sse_chunk_avx2(const unsigned char *p,
    const unsigned char *last) __attribute__ ((target ("avx2")));
static void ngx_http_mesh_sse_scan_avx2(ngx_http_mesh_sse_t *s,
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((target ("avx2")));
static inline __m256i ngx_http_mesh_sse_any32(__m256i acc,
    const unsigned char *q, __m256i kq, __m256i kn, __m256i kc)
    __attribute__ ((target ("avx2")));
static inline const unsigned char *ngx_http_mesh_sse_find_avx2(
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((target ("avx2")));
static inline uint32_t ngx_http_mesh_sse_mask32(const unsigned char *p)
    __attribute__ ((target ("avx2")));
#endif


void
ngx_http_mesh_sse_scan(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last)
{
    if (!s->started) {
        s->started = 1;
        s->match = 1;
    }

#if (NGX_HTTP_MESH_SSE_AVX2)
    if (__builtin_cpu_supports("avx2")) {
        ngx_http_mesh_sse_scan_avx2(s, p, last);
        return;
    }
#endif

    ngx_http_mesh_sse_scan_sse2(s, p, last);
}


/* SSE2, or plain C: not inlined, the AVX2 path needs none of its registers */

static void
ngx_http_mesh_sse_scan_sse2(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last)
{
#if (__SSE2__)
    if (ngx_http_mesh_sse_chunk_like(s, p, last)
        && ngx_http_mesh_sse_chunk(p, last))
    {
        s->events++;
        s->done = 0;
        return;
    }
#endif

    ngx_http_mesh_sse_run(s, p, last, ngx_http_mesh_sse_find);
}


#if (NGX_HTTP_MESH_SSE_AVX2)

static void
ngx_http_mesh_sse_scan_avx2(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last)
{
    if (ngx_http_mesh_sse_chunk_like(s, p, last)
        && ngx_http_mesh_sse_chunk_avx2(p, last))
    {
        s->events++;
        s->done = 0;
        return;
    }

    ngx_http_mesh_sse_run(s, p, last, ngx_http_mesh_sse_find_avx2);
}

#endif


static ngx_http_mesh_sse_inline void
ngx_http_mesh_sse_run(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last, ngx_http_mesh_sse_find_pt find)
{
    const unsigned char  *q;

    static const unsigned char  empty[] = NGX_HTTP_MESH_SSE_EMPTY;

    while (p < last) {

        if (s->match_empty != 0 || s->match > 1) {
            goto walk;
        }

        if (s->match == 1) {
            if (last - p < (ptrdiff_t) NGX_HTTP_MESH_SSE_LEN("data: [DONE]")) {
                goto walk;
            }

            if (memcmp(p, NGX_HTTP_MESH_SSE_DATA,
                       NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DATA))
                == 0)
            {
                s->events++;
                s->done = 0;
                s->match = 0;
                p += NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DATA);

            } else if (memcmp(p, "data: [DONE]",
                              NGX_HTTP_MESH_SSE_LEN("data: [DONE]"))
                       == 0)
            {
                s->done = 1;
                s->match = NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DONE);
                p += NGX_HTTP_MESH_SSE_LEN("data: [DONE]");
                continue;

            } else {
                s->match = 0;
            }
        }

        /* both matchers at their start */

        q = find(p, last);

        if (q == last) {
            return;
        }

        if (*q == '\n') {
            s->match = 1;
            p = q + 1;
            continue;
        }

        if (last - q >= 4 && memcmp(q + 1, "cho", 3) != 0) {
            p = q + 1;
            continue;
        }

        if (last - q >= (ptrdiff_t) sizeof(empty) - 1) {
            if (memcmp(q, empty, sizeof(empty) - 1) == 0) {
                s->empty++;
                p = q + sizeof(empty) - 1;

            } else if (memcmp(q, empty, sizeof("\"choices\"") - 1) == 0) {
                /* its closing quote is taken: on from the first miss */
                p = q + sizeof("\"choices\"") - 1;
                p += (*p == ':') ? ((p[1] == '[') ? 2 : 1) : 0;

            } else {
                p = q + 1;
            }

            continue;
        }

        p = q;

    walk:

        ngx_http_mesh_sse_byte(s, *p++);
    }
}


/* one byte through both matchers, as the walk takes it */

static ngx_http_mesh_sse_inline void
ngx_http_mesh_sse_byte(ngx_http_mesh_sse_t *s, unsigned char c)
{
    static const unsigned char  done[] = NGX_HTTP_MESH_SSE_DONE;
    static const unsigned char  empty[] = NGX_HTTP_MESH_SSE_EMPTY;

    if (c == empty[s->match_empty]) {
        if (++s->match_empty == sizeof(empty) - 1) {
            s->empty++;
            s->match_empty = 0;
        }

    } else {
        s->match_empty = (c == empty[0]);
    }

    if (s->match == NGX_HTTP_MESH_SSE_LEN("\ndata: ") && c == '{') {
        s->events++;
        s->done = 0;
        s->match = 0;

    } else if (s->match < sizeof(done) - 1 && c == done[s->match]) {
        if (++s->match == sizeof(done) - 1) {
            s->done = 1;
        }

    } else {
        s->match = (c == '\n');
    }
}


/*
 * The first byte from p that is a '\n' or a quote that begins "cho (any
 * quote in the last three bytes), or last: 16 bytes a step with SSE2,
 * the last step over the last whole four bytes (some seen twice), then
 * the last three byte by byte.
 */

static const unsigned char *
ngx_http_mesh_sse_find(const unsigned char *p, const unsigned char *last)
{
#if (__SSE2__)
    int                   mask;
    const unsigned char  *e;

    if (last - p >= 19) {
        e = last - 19;

        for ( /* void */ ; p < e; p += 16) {
            mask = ngx_http_mesh_sse_mask16(p);

            if (mask) {
                return p + __builtin_ctz(mask);
            }
        }

        mask = ngx_http_mesh_sse_mask16(e) & (~0U << (p - e));

        if (mask) {
            return e + __builtin_ctz(mask);
        }

        p = last - 3;
    }

#else

    for ( /* void */ ; last - p >= 4; p++) {
        if (*p == '\n' || (*p == '"' && memcmp(p + 1, "cho", 3) == 0)) {
            return p;
        }
    }

#endif

    for ( /* void */ ; p < last; p++) {
        if (*p == '\n' || *p == '"') {
            return p;
        }
    }

    return last;
}


#if (__SSE2__)

/*
 * A read that is one whole chunk, "data: {" to a '\n', with no other '\n'
 * (but just before that one, where it changes nothing) and no quote with
 * a ']' eleven bytes on (as in "choices":[]) ends as the walk
 * would: one chunk more, both matchers after a newline.  One pass for
 * both, 16 bytes a step, the last steps over the last bytes (some seen
 * twice: only whether any is there matters): 1 when none is there, else
 * 0, and the read goes the long way.
 */

static inline int
ngx_http_mesh_sse_chunk(const unsigned char *p, const unsigned char *last)
{
    __m128i               acc, b, kq, kn, kc;
    const unsigned char  *q, *e;

    kq = _mm_set1_epi8('"');
    kn = _mm_set1_epi8('\n');
    kc = _mm_set1_epi8(']');
    acc = _mm_setzero_si128();

    /* a candidate at q reads to q + 11, a '\n' is looked for to last - 2 */
    e = last - 27;

    for (q = p + NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DATA);
         q < e;
         q += 16)
    {
        acc = ngx_http_mesh_sse_any16(acc, q, kq, kn, kc);
    }

    acc = ngx_http_mesh_sse_any16(acc, e, kq, kn, kc);

    b = _mm_loadu_si128((const __m128i *) (last - 18));
    acc = _mm_or_si128(acc, _mm_cmpeq_epi8(b, kn));

    return _mm_movemask_epi8(acc) == 0;
}


/* into acc: a '\n' at each of 16 bytes from q, a quote with a ']' 11 on */

static inline __m128i
ngx_http_mesh_sse_any16(__m128i acc, const unsigned char *q, __m128i kq,
    __m128i kn, __m128i kc)
{
    __m128i  b, c;

    b = _mm_loadu_si128((const __m128i *) q);
    c = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (q + 11)), kc);
    c = _mm_and_si128(_mm_cmpeq_epi8(b, kq), c);

    return _mm_or_si128(acc, _mm_or_si128(_mm_cmpeq_epi8(b, kn), c));
}


/* a bit for each of the 16 bytes from p that ngx_http_mesh_sse_find() wants */

static inline int
ngx_http_mesh_sse_mask16(const unsigned char *p)
{
    __m128i  b, q, c, h, o, n;

    b = _mm_loadu_si128((const __m128i *) p);
    q = _mm_cmpeq_epi8(b, _mm_set1_epi8('"'));
    n = _mm_cmpeq_epi8(b, _mm_set1_epi8('\n'));
    c = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 1)),
                       _mm_set1_epi8('c'));
    h = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 2)),
                       _mm_set1_epi8('h'));
    o = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + 3)),
                       _mm_set1_epi8('o'));

    q = _mm_and_si128(_mm_and_si128(q, c), _mm_and_si128(h, o));

    return _mm_movemask_epi8(_mm_or_si128(q, n));
}

#endif


#if (NGX_HTTP_MESH_SSE_AVX2)

/* ngx_http_mesh_sse_chunk(), 32 bytes a step */

static inline int
ngx_http_mesh_sse_chunk_avx2(const unsigned char *p,
    const unsigned char *last)
{
    __m256i               acc, b, kq, kn, kc;
    const unsigned char  *q, *e;

    kq = _mm256_set1_epi8('"');
    kn = _mm256_set1_epi8('\n');
    kc = _mm256_set1_epi8(']');
    acc = _mm256_setzero_si256();

    /* a candidate at q reads to q + 11, a '\n' is looked for to last - 2 */
    e = last - 43;

    for (q = p + NGX_HTTP_MESH_SSE_LEN(NGX_HTTP_MESH_SSE_DATA);
         q < e;
         q += 32)
    {
        acc = ngx_http_mesh_sse_any32(acc, q, kq, kn, kc);
    }

    acc = ngx_http_mesh_sse_any32(acc, e, kq, kn, kc);

    b = _mm256_loadu_si256((const __m256i *) (last - 34));
    acc = _mm256_or_si256(acc, _mm256_cmpeq_epi8(b, kn));

    return _mm256_testz_si256(acc, acc);
}


/* the same, 32 bytes */

static inline __m256i
ngx_http_mesh_sse_any32(__m256i acc, const unsigned char *q, __m256i kq,
    __m256i kn, __m256i kc)
{
    __m256i  b, c;

    b = _mm256_loadu_si256((const __m256i *) q);
    c = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (q + 11)), kc);
    c = _mm256_and_si256(_mm256_cmpeq_epi8(b, kq), c);

    return _mm256_or_si256(acc, _mm256_or_si256(_mm256_cmpeq_epi8(b, kn), c));
}


/* ngx_http_mesh_sse_find(), 32 bytes a step */

static inline const unsigned char *
ngx_http_mesh_sse_find_avx2(const unsigned char *p, const unsigned char *last)
{
    uint32_t              mask;
    const unsigned char  *e;

    if (last - p < 35) {
        return ngx_http_mesh_sse_find(p, last);
    }

    e = last - 35;

    for ( /* void */ ; p < e; p += 32) {
        mask = ngx_http_mesh_sse_mask32(p);

        if (mask) {
            return p + __builtin_ctz(mask);
        }
    }

    mask = ngx_http_mesh_sse_mask32(e) & (~0U << (p - e));

    if (mask) {
        return e + __builtin_ctz(mask);
    }

    for (p = last - 3; p < last; p++) {
        if (*p == '\n' || *p == '"') {
            return p;
        }
    }

    return last;
}


static inline uint32_t
ngx_http_mesh_sse_mask32(const unsigned char *p)
{
    __m256i  b, q, c, h, o, n;

    b = _mm256_loadu_si256((const __m256i *) p);
    q = _mm256_cmpeq_epi8(b, _mm256_set1_epi8('"'));
    n = _mm256_cmpeq_epi8(b, _mm256_set1_epi8('\n'));
    c = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 1)),
                          _mm256_set1_epi8('c'));
    h = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 2)),
                          _mm256_set1_epi8('h'));
    o = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + 3)),
                          _mm256_set1_epi8('o'));

    q = _mm256_and_si256(_mm256_and_si256(q, c), _mm256_and_si256(h, o));

    return _mm256_movemask_epi8(_mm256_or_si256(q, n));
}

#endif
