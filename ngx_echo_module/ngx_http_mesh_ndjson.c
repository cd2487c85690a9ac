
/*
 * NDJSON end-of-reply scanner (see the header).
 *
 * A streamed reply ("lines") is read a line at a time: one memchr() finds
 * its '\n', and a token line is told from its own first and last bytes.
 * On a valid line, a last member "done":false just before the closing
 * brace is the top-level "done": that brace closes the line's one value,
 * and the quote before "done" follows a comma, so it opens the key (a
 * quote inside a string is escaped).  A top-level "eval_count" on such a
 * line would count too, but only the last complete line's count is ever
 * read, so only the last token line of each read is searched for one.
 * Any other line (the done line, an error line, a line too long for the
 * carry when cut between reads) is walked byte by byte from a clean state.
 *
 * Input that is not NDJSON is read the same way, line by line, and can
 * give other results than one walk of the whole: a raw newline ends a line
 * (and whatever string or object it left open); a line that begins with
 * '{' and ends with ,"done":false} counts as one object, done false, with
 * the count that a walk of that line alone finds, unless it is cut between
 * reads where its start holds '}' or ']' (then it is walked: on such input
 * the result can depend on the cut).  None of it can end a reply: only a
 * line walked from a clean state to a top-level "done":true, with nothing
 * after it, is a done line.
 */


#include <stddef.h>
#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

/* AVX2 where the CPU has it, chosen when called; the build needs no flag */
#if (__x86_64__ && __GNUC__ >= 5 && !NGX_HTTP_MESH_NDJSON_NO_AVX2)
#include <immintrin.h>
#define NGX_HTTP_MESH_NDJSON_AVX2  1
#endif

#include "ngx_http_mesh_ndjson.h"


#define NGX_HTTP_MESH_NDJSON_NONE   0
#define NGX_HTTP_MESH_NDJSON_DONE   1
#define NGX_HTTP_MESH_NDJSON_EVAL   2
#define NGX_HTTP_MESH_NDJSON_USAGE  3

/* what ngx_http_mesh_ndjson_bytes() found */
#define NGX_HTTP_MESH_NDJSON_NL     1
#define NGX_HTTP_MESH_NDJSON_V      2


/* what a line was */
typedef enum {
    NGX_HTTP_MESH_NDJSON_WALKED = 0,    /* walked, no object closed */
    NGX_HTTP_MESH_NDJSON_TOKEN,         /* a token line, read whole */
    NGX_HTTP_MESH_NDJSON_OBJECT         /* walked, an object closed */
} ngx_http_mesh_ndjson_rc_e;

/* where keys matter: the top level, and the top-level "usage" object */
#define ngx_http_mesh_ndjson_keyed(s)                                        \
    ((s)->depth == 1 || ((s)->depth == 2 && (s)->in_usage))


/* not inlined: the usual read, one token line, needs none of its registers */
static void ngx_http_mesh_ndjson_lines(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((noinline));
static ngx_http_mesh_ndjson_rc_e ngx_http_mesh_ndjson_line(
    ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *nl);
static unsigned ngx_http_mesh_ndjson_token(const unsigned char *p,
    const unsigned char *nl);
static unsigned ngx_http_mesh_ndjson_bytes(const unsigned char *p,
    const unsigned char *last);
#if (NGX_HTTP_MESH_NDJSON_AVX2)
static void ngx_http_mesh_ndjson_scan_avx2(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((target ("avx2")));
static inline unsigned ngx_http_mesh_ndjson_any_avx2(const unsigned char *p,
    const unsigned char *last) __attribute__ ((target ("avx2")));
#endif
/* not inlined: the usual read needs none of its registers */
static void ngx_http_mesh_ndjson_read(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last)
    __attribute__ ((noinline));
static void ngx_http_mesh_ndjson_count(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *nl);
static void ngx_http_mesh_ndjson_rest(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last);
static void ngx_http_mesh_ndjson_spill(ngx_http_mesh_ndjson_t *s);
static void ngx_http_mesh_ndjson_reset(ngx_http_mesh_ndjson_t *s);
static void ngx_http_mesh_ndjson_walk(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last);
static unsigned ngx_http_mesh_ndjson_has_eval(const unsigned char *p,
    const unsigned char *last);
static const unsigned char *ngx_http_mesh_ndjson_skip(
    const unsigned char *p, const unsigned char *last);
static const unsigned char *ngx_http_mesh_ndjson_str(
    const unsigned char *p, const unsigned char *last);
static void ngx_http_mesh_ndjson_key(ngx_http_mesh_ndjson_t *s);


/*
 * Outside strings, where no key is looked for, only these bytes change the
 * state: numbers, literals, commas and spaces are skipped in one loop.
 */
static const unsigned char  ngx_http_mesh_ndjson_stop[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, [':'] = 1
};

/* a token line's last bytes, before its '\n' */
static const char  ngx_http_mesh_ndjson_tail[] = ",\"done\":false}";

#define NGX_HTTP_MESH_NDJSON_TAIL  (sizeof(ngx_http_mesh_ndjson_tail) - 1)


void
ngx_http_mesh_ndjson_scan(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
#if (NGX_HTTP_MESH_NDJSON_AVX2)
    if (__builtin_cpu_supports("avx2")) {
        ngx_http_mesh_ndjson_scan_avx2(s, p, last);
        return;
    }
#endif

    ngx_http_mesh_ndjson_read(s, p, last);
}


#if (NGX_HTTP_MESH_NDJSON_AVX2)

/*
 * The usual read, one token line of 32 bytes or more between its first
 * byte and its tail with neither a '\n' nor a 'v' there, decided with the
 * pass inline and no register to save; anything else as before.
 */

static void
ngx_http_mesh_ndjson_scan_avx2(ngx_http_mesh_ndjson_t *s,
    const unsigned char *p, const unsigned char *last)
{
    if (s->lines && s->carry_len == 0 && !s->mid_line
        && last - p >= (ptrdiff_t) NGX_HTTP_MESH_NDJSON_TAIL + 2 + 32
        && last[-1] == '\n'
        && ngx_http_mesh_ndjson_token(p, last - 1)
        && !ngx_http_mesh_ndjson_any_avx2(p + 1,
                                          last - 1 - NGX_HTTP_MESH_NDJSON_TAIL))
    {
        s->objects++;
        s->last_done = 0;
        s->last_has_eval = 0;
        s->last_eval = 0;
        return;
    }

    ngx_http_mesh_ndjson_read(s, p, last);
}

#endif


static void
ngx_http_mesh_ndjson_read(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    unsigned  m;

    if (!s->lines) {
        ngx_http_mesh_ndjson_walk(s, p, last);
        return;
    }

    /*
     * Most reads are one token line: a reply's chunk is one of its lines.
     * One pass tells both that it has no other '\n' and whether it has a
     * 'v' (of "eval_count"); its first byte and its tail have neither.
     */

    if (s->carry_len == 0 && !s->mid_line
        && last - p > (ptrdiff_t) NGX_HTTP_MESH_NDJSON_TAIL + 1
        && last[-1] == '\n'
        && ngx_http_mesh_ndjson_token(p, last - 1))
    {
        m = ngx_http_mesh_ndjson_bytes(p + 1,
                                       last - 1 - NGX_HTTP_MESH_NDJSON_TAIL);

        if (!(m & NGX_HTTP_MESH_NDJSON_NL)) {
            s->objects++;

            if (m & NGX_HTTP_MESH_NDJSON_V) {
                ngx_http_mesh_ndjson_count(s, p, last - 1);

            } else {
                s->last_done = 0;
                s->last_has_eval = 0;
                s->last_eval = 0;
            }

            return;
        }
    }

    ngx_http_mesh_ndjson_lines(s, p, last);
}


/*
 * One read of a streamed reply: its complete lines (the first one joined
 * to the start that the carry holds), then the start of the next.  tok is
 * the last token line read whole with no object walked after it: the one
 * whose count is the reply's now, looked for once, at the end.
 */

static void
ngx_http_mesh_ndjson_lines(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    size_t                      n;
    const unsigned char        *nl, *line, *tok, *tok_end;
    ngx_http_mesh_ndjson_rc_e   rc;

    tok = NULL;
    tok_end = NULL;

    while (p < last) {
        nl = memchr(p, '\n', last - p);

        if (nl == NULL) {
            break;
        }

        line = p;
        n = nl - p;
        p = nl + 1;

        if (s->carry_len + n <= NGX_HTTP_MESH_NDJSON_CARRY
            && s->carry_len != 0)
        {
            /* nothing is carried again before tok is read */
            memcpy(s->carry + s->carry_len, line, n);
            n += s->carry_len;
            s->carry_len = 0;
            line = s->carry;
            nl = s->carry + n;

        } else if (s->carry_len != 0) {
            ngx_http_mesh_ndjson_spill(s);
        }

        rc = ngx_http_mesh_ndjson_line(s, line, nl);

        if (rc == NGX_HTTP_MESH_NDJSON_TOKEN) {
            tok = line;
            tok_end = nl;

        } else if (rc == NGX_HTTP_MESH_NDJSON_OBJECT) {
            /* this line's object is the last now */
            tok = NULL;
        }
    }

    if (tok != NULL) {
        ngx_http_mesh_ndjson_count(s, tok, tok_end);
    }

    if (p < last) {
        ngx_http_mesh_ndjson_rest(s, p, last);
    }
}


/* [p, nl) begins with '{' and ends with ,"done":false} */

static unsigned
ngx_http_mesh_ndjson_token(const unsigned char *p, const unsigned char *nl)
{
    return (size_t) (nl - p) > NGX_HTTP_MESH_NDJSON_TAIL
           && p[0] == '{'
           && memcmp(nl - NGX_HTTP_MESH_NDJSON_TAIL,
                     ngx_http_mesh_ndjson_tail, NGX_HTTP_MESH_NDJSON_TAIL)
              == 0;
}


/*
 * Whether [p, last) has a '\n' or a 'v', the byte that the search for
 * "eval_count" starts from: 0 when it has neither (the usual token line,
 * one pass: 32 bytes a step with AVX2, 16 with SSE2, the last step over
 * the last bytes, some seen twice), else which (NL, V).
 */

static unsigned
ngx_http_mesh_ndjson_bytes(const unsigned char *p, const unsigned char *last)
{
#if (__SSE2__)
    __m128i               b, c, acc, knl, kv;
    const unsigned char  *q, *end;
#endif

#if (NGX_HTTP_MESH_NDJSON_AVX2)
    if (last - p >= 32 && __builtin_cpu_supports("avx2")) {
        if (!ngx_http_mesh_ndjson_any_avx2(p, last)) {
            return 0;
        }

    } else
#endif

#if (__SSE2__)
    if (last - p >= 16) {
        knl = _mm_set1_epi8('\n');
        kv = _mm_set1_epi8('v');
        acc = _mm_setzero_si128();
        end = last - 16;

        for (q = p; q < end; q += 16) {
            b = _mm_loadu_si128((const __m128i *) q);
            c = _mm_cmpeq_epi8(b, knl);
            b = _mm_cmpeq_epi8(b, kv);
            acc = _mm_or_si128(acc, _mm_or_si128(b, c));
        }

        b = _mm_loadu_si128((const __m128i *) end);
        c = _mm_cmpeq_epi8(b, knl);
        b = _mm_cmpeq_epi8(b, kv);
        acc = _mm_or_si128(acc, _mm_or_si128(b, c));

        if (_mm_movemask_epi8(acc) == 0) {
            return 0;
        }
    }
#endif

    return (memchr(p, '\n', last - p) ? NGX_HTTP_MESH_NDJSON_NL : 0)
           | (memchr(p, 'v', last - p) ? NGX_HTTP_MESH_NDJSON_V : 0);
}


#if (NGX_HTTP_MESH_NDJSON_AVX2)

/* whether [p, last), at least 32 bytes long, has a '\n' or a 'v' */

static inline unsigned
ngx_http_mesh_ndjson_any_avx2(const unsigned char *p,
    const unsigned char *last)
{
    __m256i               b, acc, knl, kv;
    const unsigned char  *q, *end;

    knl = _mm256_set1_epi8('\n');
    kv = _mm256_set1_epi8('v');
    acc = _mm256_setzero_si256();
    end = last - 32;

    for (q = p; q < end; q += 32) {
        b = _mm256_loadu_si256((const __m256i *) q);
        acc = _mm256_or_si256(acc,
                              _mm256_or_si256(_mm256_cmpeq_epi8(b, knl),
                                              _mm256_cmpeq_epi8(b, kv)));
    }

    b = _mm256_loadu_si256((const __m256i *) end);
    acc = _mm256_or_si256(acc,
                          _mm256_or_si256(_mm256_cmpeq_epi8(b, knl),
                                          _mm256_cmpeq_epi8(b, kv)));

    return !_mm256_testz_si256(acc, acc);
}

#endif


/* the last complete line is the token line [p, nl): its count is the one */

static void
ngx_http_mesh_ndjson_count(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *nl)
{
    size_t  objects;

    s->last_done = 0;
    s->last_has_eval = 0;
    s->last_eval = 0;

    if (!ngx_http_mesh_ndjson_has_eval(p, nl)) {
        return;
    }

    /* the state is clean between lines: a walk of this one alone */

    objects = s->objects;

    ngx_http_mesh_ndjson_walk(s, p, nl);
    ngx_http_mesh_ndjson_reset(s);

    s->objects = objects;
    s->last_done = 0;
}


static ngx_http_mesh_ndjson_rc_e
ngx_http_mesh_ndjson_line(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *nl)
{
    size_t  objects;

    if (!s->mid_line && ngx_http_mesh_ndjson_token(p, nl)) {
        s->objects++;
        return NGX_HTTP_MESH_NDJSON_TOKEN;
    }

    objects = s->objects;

    ngx_http_mesh_ndjson_walk(s, p, nl);
    ngx_http_mesh_ndjson_reset(s);

    return (s->objects != objects) ? NGX_HTTP_MESH_NDJSON_OBJECT
                                   : NGX_HTTP_MESH_NDJSON_WALKED;
}


/*
 * The start of a line: carried while it may still be a token line and a
 * walk of it could not have ended an object or left its first '{' (it
 * begins with '{', has no '}' or ']', and fits), else walked.  So what is
 * carried changes nothing that the scanner tells until its line ends.
 */

static void
ngx_http_mesh_ndjson_rest(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    size_t  n;

    n = last - p;

    if (s->carry_len == 0 && (s->mid_line || *p != '{')) {
        ngx_http_mesh_ndjson_walk(s, p, last);
        s->mid_line = 1;
        return;
    }

    if (s->carry_len + n <= NGX_HTTP_MESH_NDJSON_CARRY
        && memchr(p, '}', n) == NULL && memchr(p, ']', n) == NULL)
    {
        memcpy(s->carry + s->carry_len, p, n);
        s->carry_len += n;
        return;
    }

    ngx_http_mesh_ndjson_spill(s);
    ngx_http_mesh_ndjson_walk(s, p, last);
}


/* a carried start that cannot be carried on: walked after all */

static void
ngx_http_mesh_ndjson_spill(ngx_http_mesh_ndjson_t *s)
{
    ngx_http_mesh_ndjson_walk(s, s->carry, s->carry + s->carry_len);
    s->carry_len = 0;
    s->mid_line = 1;
}


/* a line's end: nothing of it is left but its objects */

static void
ngx_http_mesh_ndjson_reset(ngx_http_mesh_ndjson_t *s)
{
    s->depth = 0;
    s->key_len = 0;
    s->want = NGX_HTTP_MESH_NDJSON_NONE;
    s->eval = 0;
    s->in_str = 0;
    s->esc = 0;
    s->is_key = 0;
    s->key_ready = 0;
    s->expect_key = 0;
    s->done = 0;
    s->has_eval = 0;
    s->in_usage = 0;
    s->mid_line = 0;
}


/* the walk: every byte's effect on the state, but for runs that have none */

static void
ngx_http_mesh_ndjson_walk(ngx_http_mesh_ndjson_t *s, const unsigned char *p,
    const unsigned char *last)
{
    size_t                n;
    unsigned char         c;
    const unsigned char  *q;

    for ( /* void */ ; p < last; p++) {

        /*
         * The runs that cannot change the state go by without the byte by
         * byte walk below: a string's text up to its quote or backslash
         * (a key's is kept), and the bytes between a value's structure.
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
            p = ngx_http_mesh_ndjson_skip(p, last);
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


/*
 * The first byte from p that ngx_http_mesh_ndjson_stop[] has, or last:
 * sixteen bytes a step with SSE2 (every x86-64 has it), where a done
 * line's "context" array, thousands of numbers, goes by.
 */

static const unsigned char *
ngx_http_mesh_ndjson_skip(const unsigned char *p, const unsigned char *last)
{
#if (__SSE2__)
    int       mask;
    __m128i   v, b;

    for ( /* void */ ; last - p >= 16; p += 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        /* with bit 5 set, '[' is '{' and ']' is '}' */
        b = _mm_or_si128(v, _mm_set1_epi8(0x20));

        mask = _mm_movemask_epi8(
                   _mm_or_si128(
                       _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('{')),
                                    _mm_cmpeq_epi8(b, _mm_set1_epi8('}'))),
                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                    _mm_cmpeq_epi8(v, _mm_set1_epi8(':')))));

        if (mask) {
            return p + __builtin_ctz(mask);
        }
    }
#endif

    while (p < last && !ngx_http_mesh_ndjson_stop[*p]) {
        p++;
    }

    return p;
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
