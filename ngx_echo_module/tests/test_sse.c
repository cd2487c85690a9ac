
/*
 * Unit tests of the OpenAI stream scanner: ngx_http_mesh_sse_scan()
 * against a plain walk of its two matchers byte by byte ("\ndata: " then
 * "{" or "[DONE]", and "choices":[]), every counter and state compared
 * after every read.  Each read is copied to a buffer of its own length,
 * so a step that reads past it shows under valgrind.
 *
 *   - one read of every length up to 140 (around the 16- and 32-byte
 *     steps, and the 20 and 36 bytes the steps need) with each pattern,
 *     whole or cut short, at every place, from a fresh state, and up to
 *     72 from states part-way through either matcher;
 *   - reads that are one whole chunk ("data: {" to "\n\n", the usual
 *     read), of every length to 160, with a '\n', a "choices":[] or
 *     something like it at every place, and with other ends;
 *   - a stream holding "choices":[] and "\ndata: " pieces cut at every
 *     place into two reads, and at every two places into three;
 *   - random streams of SSE pieces and stray bytes, cut at random.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ngx_http_mesh_sse.h"


#define MAX_READ  140


static void ref_scan(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last);
static int same(const ngx_http_mesh_sse_t *a, const ngx_http_mesh_sse_t *b);
static int check(const char *what, const ngx_http_mesh_sse_t *got,
    const ngx_http_mesh_sse_t *want);
static void feed(ngx_http_mesh_sse_t *got, ngx_http_mesh_sse_t *want,
    const unsigned char *p, size_t len);
static void lengths_run(void);
static void chunks_run(void);
static void chunk_one(size_t second, size_t st, size_t i, size_t e,
    size_t len, size_t at);
static void splits_run(void);
static unsigned rnd(unsigned n);
static size_t random_stream(unsigned char *buf, size_t max);
static void random_run(unsigned streams);


static int  failures;
static int  reported;


/* what the scan did before it skipped: both matchers at every byte */

static void
ref_scan(ngx_http_mesh_sse_t *s, const unsigned char *p,
    const unsigned char *last)
{
    static const unsigned char  done[] = "\ndata: [DONE]";
    static const unsigned char  empty[] = "\"choices\":[]";

    if (!s->started) {
        s->started = 1;
        s->match = 1;
    }

    for ( /* void */ ; p < last; p++) {

        if (*p == empty[s->match_empty]) {
            if (++s->match_empty == sizeof(empty) - 1) {
                s->empty++;
                s->match_empty = 0;
            }

        } else {
            s->match_empty = (*p == empty[0]);
        }

        if (s->match == sizeof("\ndata: ") - 1 && *p == '{') {
            s->events++;
            s->done = 0;
            s->match = 0;
            continue;
        }

        if (s->match < sizeof(done) - 1 && *p == done[s->match]) {
            s->match++;

            if (s->match == sizeof(done) - 1) {
                s->done = 1;
            }

            continue;
        }

        s->match = (*p == '\n');
    }
}


static int
same(const ngx_http_mesh_sse_t *a, const ngx_http_mesh_sse_t *b)
{
    return a->match == b->match && a->events == b->events
           && a->match_empty == b->match_empty && a->empty == b->empty
           && a->started == b->started && a->done == b->done;
}


static int
check(const char *what, const ngx_http_mesh_sse_t *got,
    const ngx_http_mesh_sse_t *want)
{
    if (same(got, want)) {
        return 1;
    }

    failures++;

    if (reported++ < 20) {
        printf("FAIL %s: match %zu/%zu events %zu/%zu match_empty %zu/%zu "
               "empty %zu/%zu started %u/%u done %u/%u (scan/walk)\n",
               what, got->match, want->match, got->events, want->events,
               got->match_empty, want->match_empty, got->empty, want->empty,
               got->started, want->started, got->done, want->done);
    }

    return 0;
}


/* one read, in a buffer of exactly its length */

static void
feed(ngx_http_mesh_sse_t *got, ngx_http_mesh_sse_t *want,
    const unsigned char *p, size_t len)
{
    unsigned char  *b;

    b = malloc(len ? len : 1);
    if (b == NULL) {
        perror("malloc");
        exit(2);
    }

    memcpy(b, p, len);
    ngx_http_mesh_sse_scan(got, b, b + len);
    ref_scan(want, b, b + len);
    free(b);
}


/*
 * Every length of read, each pattern at every place in it (cut short by
 * the read's end where it does not fit), the rest filler that moves
 * neither matcher, and again with fillers that begin one ('"', '\n').
 */

static void
lengths_run(void)
{
    char                  what[160];
    size_t                len, at, n, i, f, k;
    unsigned char         buf[MAX_READ];
    ngx_http_mesh_sse_t   got, want;

    static const char  *patterns[] = {
        "\"choices\":[]", "\"choices\":[{", "\"choices\":", "\"choices\"",
        "\"choices\":[\"choices\":[]", "\"cho", "\"ch", "\"c\"choices\":[]",
        "\"chx", "\"\"choices\":[]", "\ndata: {", "\ndata: [DONE]",
        "\ndata: [DONE]\n\ndata: {", "\ndata: [DON", "\ndata:", "\n\n",
        "\ndata: {\"choices\":[]}\n", "\ndata: x", "data: {"
    };

    /* states to start from: fresh, after a newline, part-way into each */
    static const char  *before[] = {
        "", "x", "\n", "\ndata", "\ndata: ", "\ndata: [DO", "\ndata: [DONE]",
        "\"", "\"cho", "\"choices\":", "\"choices\":["
    };

    static const char  fillers[] = "a\"\n";

    for (k = 0; k < sizeof(before) / sizeof(before[0]); k++) {
        for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
            n = strlen(patterns[i]);

            /* from a state part-way, reads up to two AVX2 steps */
            for (f = 0; f < (k ? 1 : sizeof(fillers) - 1); f++) {
                for (len = 0; len <= (k ? 72 : MAX_READ); len++) {
                    for (at = 0; at <= len; at++) {
                        memset(buf, fillers[f], len);
                        memcpy(buf + at, patterns[i],
                               (len - at < n) ? len - at : n);

                        memset(&got, 0, sizeof(got));
                        memset(&want, 0, sizeof(want));

                        if (before[k][0]) {
                            feed(&got, &want, (unsigned char *) before[k],
                                 strlen(before[k]));
                        }

                        feed(&got, &want, buf, len);

                        snprintf(what, sizeof(what),
                                 "after \"%s\", pattern %zu at %zu of a "
                                 "read of %zu, filler '%c'", before[k], i,
                                 at, len, fillers[f] == '\n' ? 'n'
                                                             : fillers[f]);
                        check(what, &got, &want);
                    }
                }
            }
        }
    }
}


/*
 * Reads of one chunk each: "data: {", filler, "\n\n" (or another end),
 * with a piece at every place of the filler, after a first chunk or as
 * the stream's first read.
 */

static const char  *chunk_pieces[] = {
    "", "\n", "\"choices\":[]", "\"xxxxxxxxx[]", "\"choices\":[{",
    "\"choices\"choices\":[]", "\"choices\":[\"choices\":[]", "\"cho",
    "[]", "\"", "\n\ndata: {", "\ndata: [DONE]", "\"choices\":[]\n"
};

static const char  *chunk_ends[] = { "\n\n", "\n", "\r\n", "}\n", "\n\nd" };

static const char  *chunk_starts[] = { "data: {", "data: [", "data:{" };


static void
chunks_run(void)
{
    size_t  len, at, i, k, e, st;

    for (k = 0; k < 2; k++) {
        for (e = 0; e < sizeof(chunk_ends) / sizeof(chunk_ends[0]); e++) {
            for (i = 0; i < sizeof(chunk_pieces) / sizeof(chunk_pieces[0]);
                 i++)
            {
                for (len = 0; len <= 150; len++) {
                    for (at = 0; at + strlen(chunk_pieces[i]) <= len; at++) {

                        /* other starts only for the plain filler */
                        for (st = 0;
                             st < (i ? 1 : sizeof(chunk_starts)
                                           / sizeof(chunk_starts[0]));
                             st++)
                        {
                            chunk_one(k, st, i, e, len, at);
                        }
                    }
                }
            }
        }
    }
}


static void
chunk_one(size_t second, size_t st, size_t i, size_t e, size_t len,
    size_t at)
{
    char                  what[160];
    size_t                total;
    unsigned char         buf[200];
    ngx_http_mesh_sse_t   got, want;

    memcpy(buf, chunk_starts[st], 7);
    total = 7;
    memset(buf + total, 'a', len);
    memcpy(buf + total + at, chunk_pieces[i], strlen(chunk_pieces[i]));
    total += len;
    memcpy(buf + total, chunk_ends[e], strlen(chunk_ends[e]));
    total += strlen(chunk_ends[e]);

    memset(&got, 0, sizeof(got));
    memset(&want, 0, sizeof(want));

    if (second) {
        feed(&got, &want, (unsigned char *) "data: {\"a\":1}\n\n", 15);
    }

    feed(&got, &want, buf, total);

    snprintf(what, sizeof(what), "chunk of %zu (%s), start %zu, piece %zu "
             "at %zu, end %zu", total, second ? "second" : "first", st, i,
             at, e);
    check(what, &got, &want);
}


/* a stream with every piece either matcher knows, cut in two and three */

static void
splits_run(void)
{
    char                  what[96];
    size_t                len, i, j;
    const unsigned char  *p;
    ngx_http_mesh_sse_t   got, want;

    static const char  stream[] =
        "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}"
        "\n\n"
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"total\":3}}\n\n"
        "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";

    p = (const unsigned char *) stream;
    len = sizeof(stream) - 1;

    for (i = 0; i <= len; i++) {
        memset(&got, 0, sizeof(got));
        memset(&want, 0, sizeof(want));

        feed(&got, &want, p, i);
        snprintf(what, sizeof(what), "split at %zu, first read", i);
        check(what, &got, &want);

        feed(&got, &want, p + i, len - i);
        snprintf(what, sizeof(what), "split at %zu, second read", i);
        check(what, &got, &want);

        if (want.events != 3 || want.empty != 1 || !want.done) {
            snprintf(what, sizeof(what), "split at %zu: the walk itself", i);
            failures++;
            printf("FAIL %s: events %zu empty %zu done %u\n", what,
                   want.events, want.empty, want.done);
        }

        for (j = i; j <= len; j++) {
            memset(&got, 0, sizeof(got));
            memset(&want, 0, sizeof(want));

            feed(&got, &want, p, i);
            feed(&got, &want, p + i, j - i);
            feed(&got, &want, p + j, len - j);

            snprintf(what, sizeof(what), "split at %zu and %zu", i, j);
            check(what, &got, &want);
        }
    }
}


static uint64_t  seed = 424242;


static unsigned
rnd(unsigned n)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned) ((seed >> 33) % n);
}


/* SSE chunks, pieces of them and stray bytes that either matcher knows */

static size_t
random_stream(unsigned char *buf, size_t max)
{
    size_t       len, n, pieces, i;
    const char  *s;

    static const char  *piece[] = {
        "data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"tok\"}}]}"
        "\n\n",
        "data: {\"choices\":[],\"usage\":{\"completion_tokens\":9}}\n\n",
        "data: [DONE]\n\n", "data: [DONE]", "\ndata: {", "\ndata: ",
        "\"choices\":[]", "\"choices\":[", "\"choices\"", "\"cho", "\"c",
        "\"", "\n", "\n\n", "data:", "[DONE]", "{", "}", "[", "]", ":",
        "ch", "o", "ices", " ", "abcdefghijklmnopqrstuvwxyz0123456789",
        ": keep-alive\n\n", "event: x\n"
    };

    len = 0;
    pieces = rnd(120);

    for (i = 0; i < pieces; i++) {
        s = piece[rnd(sizeof(piece) / sizeof(piece[0]))];
        n = strlen(s);

        if (len + n > max) {
            break;
        }

        memcpy(buf + len, s, n);
        len += n;

        /* now and then a run of plain text, as long as a chunk's content */
        if (rnd(8) == 0) {
            n = rnd(80);

            if (len + n > max) {
                break;
            }

            memset(buf + len, 'a' + rnd(26), n);
            len += n;
        }
    }

    return len;
}


static void
random_run(unsigned streams)
{
    char                  what[96];
    size_t                len, at, n;
    unsigned              i, reads;
    unsigned char         buf[8192];
    ngx_http_mesh_sse_t   got, want;

    for (i = 0; i < streams; i++) {
        len = random_stream(buf, sizeof(buf));

        memset(&got, 0, sizeof(got));
        memset(&want, 0, sizeof(want));

        for (at = 0, reads = 0; at < len; at += n, reads++) {
            /* short reads, reads around the steps, and long ones */
            switch (rnd(3)) {
            case 0:
                n = 1 + rnd(8);
                break;
            case 1:
                n = 12 + rnd(30);
                break;
            default:
                n = 1 + rnd(400);
            }

            if (n > len - at) {
                n = len - at;
            }

            feed(&got, &want, buf + at, n);

            snprintf(what, sizeof(what), "random stream %u, read %u "
                     "(bytes %zu-%zu)", i, reads, at, at + n);

            if (!check(what, &got, &want)) {
                break;
            }
        }
    }
}


int
main(int argc, char **argv)
{
    unsigned  streams;

    streams = (argc > 1) ? (unsigned) atoi(argv[1]) : 20000;

    lengths_run();
    chunks_run();
    splits_run();
    random_run(streams);

    if (failures) {
        printf("test_sse: %d failures\n", failures);
        return 1;
    }

    printf("test_sse: reads of every length with each pattern at every "
           "place, one-chunk reads, a stream cut at every one and two "
           "places, %u random streams: ok\n", streams);

    return 0;
}
