
/*
 * NDJSON end-of-reply scanner (see the header).
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE                 /* memmem() */
#endif

#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_http_mesh_ndjson.h"


#define NGX_HTTP_MESH_NDJSON_NONE   0
#define NGX_HTTP_MESH_NDJSON_DONE   1
#define NGX_HTTP_MESH_NDJSON_EVAL   2
#define NGX_HTTP_MESH_NDJSON_USAGE  3

/* where keys matter: the top level, and the top-level "usage" object */
#define ngx_http_mesh_ndjson_keyed(s)                                        \
    ((s)->depth == 1 || ((s)->depth == 2 && (s)->in_usage))


static const unsigned char *ngx_http_mesh_ndjson_str(
    const unsigned char *p, const unsigned char *last);
static const unsigned char *ngx_http_mesh_ndjson_line(
    ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last);
static unsigned ngx_http_mesh_ndjson_walk(const unsigned char *p,
    const unsigned char *last);
static unsigned ngx_http_mesh_ndjson_has_eval(const unsigned char *p,
    const unsigned char *last);
static void ngx_http_mesh_ndjson_key(ngx_http_mesh_ndjson_t *s);


/*
 * Outside strings, where no key is looked for, only these bytes change the
 * state: numbers, literals, commas and spaces are skipped in one loop.
 */
static const unsigned char  ngx_http_mesh_ndjson_stop[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, [':'] = 1
};


void
ngx_http_mesh_ndjson_scan(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    size_t                n;
    unsigned char         c;
    const unsigned char  *q;

    for ( /* void */ ; p < last; p++) {

        /*
         * The runs that cannot change the state go by without the byte by
         * byte walk below: a string's text up to its quote or backslash
         * (a key's is kept), the bytes between a value's structure, and a
         * streamed token's whole line.
         */

        if (s->in_str && !s->esc) {
            q = ngx_http_mesh_ndjson_str(p, last);

            if (s->is_key && s->key_len < NGX_HTTP_MESH_NDJSON_KEY_LEN) {
                n = NGX_HTTP_MESH_NDJSON_KEY_LEN - s->key_len;
                n = ((size_t) (q - p) < n) ? (size_t) (q - p) : n;
                memcpy(s->key + s->key_len, p, n);
            }

            s->key_len += s->is_key ? (size_t) (q - p) : 0;
            p = q;

        } else if (!s->in_str && !ngx_http_mesh_ndjson_keyed(s)) {
            while (p < last && !ngx_http_mesh_ndjson_stop[*p]) {
                p++;
            }

            if (p < last && *p == '{' && s->depth == 0 && !s->key_ready) {
                q = ngx_http_mesh_ndjson_line(s, p, last);

                if (q != NULL) {
                    p = q;
                    continue;
                }
            }
        }

        if (p == last) {
            break;
        }

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


/*
 * A streamed token's whole line, read without the walk: a flat object
 * (no brace, bracket or backslash inside, an even count of quotes, so its
 * strings are the text between quote pairs) whose last member is
 * "done":false and with no "eval_count" leaves exactly the state the walk
 * would.  Returns its last byte ('\n'), or NULL: the walk reads it.
 */

static const unsigned char *
ngx_http_mesh_ndjson_line(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    size_t                len;
    const unsigned char  *nl;

    static const char     tail[] = ",\"done\":false}";

    nl = memchr(p, '\n', last - p);

    if (nl == NULL) {
        return NULL;
    }

    len = nl - p;

    if (len < sizeof(tail) || memcmp(nl - (sizeof(tail) - 1), tail,
                                     sizeof(tail) - 1) != 0)
    {
        return NULL;
    }

    if (ngx_http_mesh_ndjson_walk(p + 1, nl - 1)
        || ngx_http_mesh_ndjson_has_eval(p, nl))
    {
        return NULL;
    }

    s->objects++;
    s->done = 0;
    s->has_eval = 0;
    s->eval = 0;
    s->last_done = 0;
    s->last_has_eval = 0;
    s->last_eval = 0;
    s->expect_key = 0;
    s->in_usage = 0;
    s->want = NGX_HTTP_MESH_NDJSON_NONE;
    s->key_len = sizeof("done") - 1;
    memcpy(s->key, "done", sizeof("done") - 1);

    return nl;
}


/*
 * Not 0 when [p, last) has a brace, bracket or backslash (or '|', or a
 * byte 0xdb-0xdd, 0xfb-0xfd: the test below takes bits 5 and 7 off, so
 * they only send a line to the walk) or an odd count of quotes; sixteen
 * bytes a step with SSE2, then eight at a time.
 */

static unsigned
ngx_http_mesh_ndjson_walk(const unsigned char *p, const unsigned char *last)
{
    uint64_t   w, x, y, quotes, special;
    unsigned   odd;

#define NGX_HTTP_MESH_NDJSON_B(c)  (0x0101010101010101ULL * (c))

    quotes = 0;
    special = 0;
    odd = 0;

#if (__SSE2__)
    {
        unsigned  mask;
        __m128i   v, m, q, s;

        /* the same tests, sixteen bytes a step (every x86-64 has SSE2) */

        q = _mm_setzero_si128();
        s = _mm_setzero_si128();

        for ( /* void */ ; last - p >= 16; p += 16) {
            v = _mm_loadu_si128((const __m128i *) p);
            q = _mm_xor_si128(q, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));

            m = _mm_and_si128(v, _mm_set1_epi8(0x5f));
            s = _mm_or_si128(s, _mm_cmpeq_epi8(m, _mm_set1_epi8(0x5b)));
            s = _mm_or_si128(s, _mm_cmpeq_epi8(m, _mm_set1_epi8(0x5c)));
            s = _mm_or_si128(s, _mm_cmpeq_epi8(m, _mm_set1_epi8(0x5d)));
        }

        if (_mm_movemask_epi8(s)) {
            return 1;
        }

        /* a lane is 0xff when an odd count of quotes fell in it */
        mask = _mm_movemask_epi8(q);
        mask ^= mask >> 8;
        mask ^= mask >> 4;
        mask ^= mask >> 2;
        mask ^= mask >> 1;
        odd = mask & 1;
    }
#endif

    for ( /* void */ ; last - p >= 8; p += 8) {
        memcpy(&w, p, 8);

        /* the high bit of each byte that was a quote */
        x = w ^ NGX_HTTP_MESH_NDJSON_B('"');
        quotes ^= ~(((x & NGX_HTTP_MESH_NDJSON_B(0x7f))
                     + NGX_HTTP_MESH_NDJSON_B(0x7f)) | x);

        /* ... of each byte in [0x5b, 0x5d] once bits 5 and 7 are off */
        y = w & NGX_HTTP_MESH_NDJSON_B(0x5f);
        special |= (y + NGX_HTTP_MESH_NDJSON_B(0x80 - 0x5b))
                   & ~(y + NGX_HTTP_MESH_NDJSON_B(0x80 - 0x5e));
    }

    quotes &= NGX_HTTP_MESH_NDJSON_B(0x80);
    quotes ^= quotes >> 32;
    quotes ^= quotes >> 16;
    quotes ^= quotes >> 8;
    odd ^= (quotes >> 7) & 1;

    for ( /* void */ ; p < last; p++) {
        odd ^= (*p == '"');
        special |= ((*p & 0x5f) >= 0x5b && (*p & 0x5f) <= 0x5d) ? 0x80 : 0;
    }

#undef NGX_HTTP_MESH_NDJSON_B

    return odd || (special & 0x8080808080808080ULL) != 0;
}


/* "eval_count" in [p, last), with its quotes: the key's only bytes */

static unsigned
ngx_http_mesh_ndjson_has_eval(const unsigned char *p,
    const unsigned char *last)
{
    const unsigned char  *v;

    static const char     key[] = "\"eval_count\"";

    for (v = p + 2; v < last; v++) {
        v = memchr(v, 'v', last - v);

        if (v == NULL) {
            return 0;
        }

        if (last - v >= (ptrdiff_t) sizeof(key) - 3
            && memcmp(v - 2, key, sizeof(key) - 1) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the first quote or backslash from p, or last */

static const unsigned char *
ngx_http_mesh_ndjson_str(const unsigned char *p, const unsigned char *last)
{
    const unsigned char  *q, *e;

    q = memchr(p, '"', last - p);

    if (q == NULL) {
        q = last;
    }

    e = memchr(p, '\\', q - p);

    return (e != NULL) ? e : q;
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
