
/*
 * Unit tests of the NDJSON end-of-reply scanner: every reply is scanned
 * whole and cut at every byte (and again with a second cut a few bytes
 * or a line further, or at the end of the line), and each must agree
 * with what the reply is (complete or not, its eval_count or, for an
 * OpenAI reply, its usage.completion_tokens, its lines), read as one JSON
 * text (the walk, a reply not streamed) and line by line (a streamed
 * reply).  Then random NDJSON streams, read both ways at random cuts,
 * must agree.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ngx_http_mesh_ndjson.h"


#define BOTH   0           /* read either way */
#define WALK   1           /* read as one JSON text only */
#define LINES  2           /* read line by line only */
#define ONCE   3           /* line by line, cut only at "cut" (0: once) */


typedef struct {
    const char  *name;
    const char  *reply;
    int          done;
    long         eval;       /* -1: none */
    size_t       objects;
    unsigned     usage;      /* an OpenAI reply */
    unsigned     mode;
    size_t       cut;        /* ONCE: the one cut */
} test_case_t;


static int  failures;


static const test_case_t  cases[] = {

    { "a stream and its done line",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"response\":\"b\",\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\","
      "\"eval_count\":7}\n", 1, 7, 3, 0, BOTH, 0 },

    { "done with spaces",
      "{ \"done\" : true , \"eval_count\" : 12 }", 1, 12, 1, 0, BOTH, 0 },

    { "done:false is no end",
      "{\"response\":\"x\",\"done\":false}\n", 0, -1, 1, 0, BOTH, 0 },

    { "a tool call's arguments say done:true",
      "{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"finish\",\"arguments\":{\"done\":true}}}]},"
      "\"done\":false}\n", 0, -1, 1, 0, BOTH, 0 },

    { "the text \"done\":true in a string",
      "{\"response\":\"\\\"done\\\":true\",\"done\":false}\n",
      0, -1, 1, 0, BOTH, 0 },

    { "a line after the done line has begun",
      "{\"done\":true,\"eval_count\":3}\n{\"model\":\"m\",\"resp",
      0, 3, 1, 0, BOTH, 0 },

    { "an error line after the done line",
      "{\"done\":true}\n{\"error\":\"ollama stream failed\"}\n",
      0, -1, 2, 0, BOTH, 0 },

    { "a done line cut before its end",
      "{\"response\":\"\",\"done\":true,\"eval_co", 0, -1, 0, 0, BOTH, 0 },

    { "a brace inside a string",
      "{\"response\":\"}{\",\"done\":true}\n", 1, -1, 1, 0, BOTH, 0 },

    { "an OpenAI chat reply: usage.completion_tokens",
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":16,"
      "\"total_tokens\":20}}", 0, 16, 1, 1, BOTH, 0 },

    { "usage with spaces and details of its own",
      "{ \"object\" : \"text_completion\" , \"usage\" : { "
      "\"prompt_tokens\" : 1 , \"completion_tokens\" : 1234 , "
      "\"completion_tokens_details\" : { \"completion_tokens\" : 9 } , "
      "\"total_tokens\" : 1235 } }\n", 0, 1234, 1, 1, BOTH, 0 },

    { "embeddings: usage without completion_tokens",
      "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
      "\"embedding\":[0.1,-2e-3],\"index\":0}],\"model\":\"m\","
      "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}",
      0, -1, 1, 1, BOTH, 0 },

    { "only the top-level usage counts",
      "{\"choices\":[{\"usage\":{\"completion_tokens\":5}}],"
      "\"message\":\"\\\"usage\\\":{\\\"completion_tokens\\\":6}\","
      "\"completion_tokens\":7,\"usage\":{\"completion_tokens\":2}}",
      0, 2, 1, 1, BOTH, 0 },

    /* lines that a token line's shortcut must leave to the walk */

    { "a token line that counts: eval_count before done:false",
      "{\"eval_count\":5,\"response\":\"x\",\"done\":false}\n",
      0, 5, 1, 0, BOTH, 0 },

    { "a line whose object is not closed by its last brace",
      "{\"a\":{\"b\":1,\"done\":false}\n", 0, -1, 0, 0, WALK, 0 },

    { "a line ending inside a string: odd quotes",
      "{\"a\":\"b,\"done\":false}\n", 0, -1, 0, 0, WALK, 0 },

    { "an escaped quote before the tail",
      "{\"response\":\"\\\",\"done\":false}\n", 0, -1, 0, 0, WALK, 0 },

    { "a done line after token lines",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"response\":\"{\",\"done\":false}\n"
      "{\"response\":\"\\u00e9\",\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"context\":[1,2],"
      "\"eval_count\":3}\n", 1, 3, 4, 0, BOTH, 0 },

    { "usage not looked for: a native reply",
      "{\"usage\":{\"completion_tokens\":3},\"done\":true}\n",
      1, -1, 1, 0, BOTH, 0 },

    /* token lines: the count of the last complete line is the reply's */

    { "an eval_count token line, then a blank line",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"eval_count\":5,\"response\":\"x\",\"done\":false}\n\n",
      0, 5, 2, 0, BOTH, 0 },

    { "an eval_count token line, then a token line",
      "{\"eval_count\":5,\"response\":\"x\",\"done\":false}\n"
      "{\"response\":\"y\",\"done\":false}\n", 0, -1, 2, 0, BOTH, 0 },

    { "eval_count only inside a token line's strings and objects",
      "{\"response\":\"eval_count \\\"eval_count\\\":4\","
      "\"x\":{\"eval_count\":6},\"done\":false}\n", 0, -1, 1, 0, BOTH, 0 },

    { "a done line, then the next line's start",
      "{\"response\":\"\",\"done\":true,\"eval_count\":2}\n{\"resp",
      0, 2, 1, 0, BOTH, 0 },

    { "a done line, then spaces",
      "{\"response\":\"\",\"done\":true,\"eval_count\":2}\n  ",
      1, 2, 1, 0, BOTH, 0 },

    { "token lines in CRLF and with spaces: walked",
      "{\"response\":\"a\",\"done\":false}\r\n"
      " {\"response\":\"b\",\"done\":false}\n"
      "{\"response\":\"c\", \"done\":false }\n"
      "{\"done\":true,\"eval_count\":3}\r\n", 1, 3, 4, 0, BOTH, 0 },

    { "a token line longer than the carry, and a done line",
      "{\"response\":\""
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij\\\"}{[\","
      "\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"context\":[1,2,3],"
      "\"eval_count\":2}\n", 1, 2, 2, 0, BOTH, 0 },

    { "a long token line's last read looks like a token line",
      "{\"eval_count\":5,\"response\":\""
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"
      "0123456789abcdefghij0123456789abcdefghij"
      "{x\",\"done\":false}\n", 0, 5, 1, 0, BOTH, 0 },

    /*
     * Not NDJSON, read line by line: each line on its own (a raw newline
     * ends a string or an object), a token line one object, done false,
     * when read whole; cut between reads where a walk of its start could
     * have closed an object, it is walked (ONCE: these depend on the cut).
     */

    { "not NDJSON: a line whose object is not closed by its last brace",
      "{\"a\":{\"b\":1,\"done\":false}\n", 0, -1, 1, 0, ONCE, 0 },

    { "not NDJSON: the same line cut before its newline: walked",
      "{\"a\":{\"b\":1,\"done\":false}\n", 0, -1, 0, 0, ONCE, 25 },

    { "not NDJSON: a line ending inside a string",
      "{\"a\":\"b,\"done\":false}\n", 0, -1, 1, 0, ONCE, 0 },

    { "not NDJSON: an escaped quote before the tail",
      "{\"response\":\"\\\",\"done\":false}\n", 0, -1, 1, 0, ONCE, 0 },

    { "not NDJSON: the same line cut before its newline: walked",
      "{\"response\":\"\\\",\"done\":false}\n", 0, -1, 0, 0, ONCE, 29 },

    { "not NDJSON: a string cut by a raw newline, then a done line",
      "{\"response\":\"a\n{\"done\":true}\n", 1, -1, 1, 0, LINES, 0 },

    { "read whole, the string goes on: no done line",
      "{\"response\":\"a\n{\"done\":true}\n", 0, -1, 0, 0, WALK, 0 },

    { "not NDJSON: a done object over two lines is no done line",
      "{\"response\":\"\",\n\"done\":true}\n", 0, -1, 1, 0, LINES, 0 },

    { "read whole, the same object is a done reply",
      "{\"response\":\"\",\n\"done\":true}\n", 1, -1, 1, 0, WALK, 0 },

    { "not NDJSON: two objects on a token line count as one",
      "{\"eval_count\":4}{\"response\":\"x\",\"done\":false}\n",
      0, -1, 1, 0, ONCE, 0 },

    { "not NDJSON: the same line cut after its first object: walked",
      "{\"eval_count\":4}{\"response\":\"x\",\"done\":false}\n",
      0, -1, 2, 0, ONCE, 16 },

    { "not NDJSON: a token line that a walk leaves open has no count",
      "{\"eval_count\":4,\"x\":\"\\\",\"done\":false}\n",
      0, -1, 1, 0, ONCE, 0 },

    { "not NDJSON: garbage lines, then a done line",
      "}}]\"\n{{{{\n\"abc\n{\"done\":true}\n", 1, -1, 3, 0, LINES, 0 },

    { "not NDJSON: a done line, then a line start a bracket closes",
      "{\"done\":true}\n{]", 1, -1, 1, 0, BOTH, 0 },

    { "not NDJSON: a line not begun by a brace is walked",
      "\"a,\"done\":false}\n", 0, -1, 0, 0, ONCE, 0 },

    { "not NDJSON: a done line, then garbage that opens nothing",
      "{\"done\":true}\nxyz", 1, -1, 1, 0, BOTH, 0 },

    /*
     * Token lines long enough for the AVX2 one-line step: cut before an
     * inner '{', the rest of the line is one read that looks like a token
     * line of its own, after a carried start and after a walked one.
     */
    { "a long token line cut before its inner object",
      "{\"message\":{\"role\":\"assistant\",\"content\":\"abcdefghijklmn"
      "opqrstuwxyz0123456789abcdefghijklmnopqrstuwxyz\"},\"done\":false}\n"
      "{\"done\":true,\"eval_count\":2}\n", 1, 2, 2, 0, BOTH, 0 },

    { "a long token line whose start is walked, cut before an object",
      "{\"a\":{\"b\":[1]},\"message\":{\"role\":\"assistant\",\"content\":"
      "\"abcdefghijklmnopqrstuwxyz0123456789abcdefghijklmnopqrstuwxyz\"},"
      "\"done\":false}\n{\"done\":true,\"eval_count\":2}\n",
      1, 2, 2, 0, BOTH, 0 },
};


static void
check(const test_case_t *t, ngx_http_mesh_ndjson_t *s, size_t c1, size_t c2)
{
    int   done;
    long  eval;

    done = ngx_http_mesh_ndjson_done(s) ? 1 : 0;
    eval = s->last_has_eval ? (long) s->last_eval : -1;

    if (done != t->done || eval != t->eval || s->objects != t->objects) {
        printf("FAIL %s (%s, cut at %zu and %zu): done %d eval %ld "
               "objects %zu, want %d %ld %zu\n", t->name,
               s->lines ? "lines" : "whole", c1, c2, done, eval, s->objects,
               t->done, t->eval, t->objects);
        failures++;
    }
}


static void
cases_run(void)
{
    size_t                   i, k, c1, c2, len;
    unsigned                 lines;
    const unsigned char     *p, *nl;
    ngx_http_mesh_ndjson_t   s;

    /* the second cut: the same place, a few bytes on, a line or more on */
    static const size_t      second[] = { 0, 1, 2, 3, 7, 20, 60, 150, 300 };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = (const unsigned char *) cases[i].reply;
        len = strlen(cases[i].reply);

        if (cases[i].mode == ONCE) {
            memset(&s, 0, sizeof(s));
            s.lines = 1;
            ngx_http_mesh_ndjson_scan(&s, p, p + cases[i].cut);
            ngx_http_mesh_ndjson_scan(&s, p + cases[i].cut, p + len);
            check(&cases[i], &s, cases[i].cut, cases[i].cut);
            continue;
        }

        for (lines = 0; lines < 2; lines++) {
            if (cases[i].mode == (lines ? WALK : LINES)) {
                continue;
            }

            for (c1 = 0; c1 <= len; c1++) {
                for (k = 0; k <= sizeof(second) / sizeof(second[0]); k++) {
                    if (k < sizeof(second) / sizeof(second[0])) {
                        c2 = c1 + second[k];

                    } else {
                        /* and at the end of the line: a read to its '\n' */
                        nl = memchr(p + c1, '\n', len - c1);

                        if (nl == NULL) {
                            break;
                        }

                        c2 = nl + 1 - p;
                    }

                    if (c2 > len) {
                        continue;
                    }

                    memset(&s, 0, sizeof(s));
                    s.usage = cases[i].usage;
                    s.lines = lines;
                    ngx_http_mesh_ndjson_scan(&s, p, p + c1);
                    ngx_http_mesh_ndjson_scan(&s, p + c1, p + c2);
                    ngx_http_mesh_ndjson_scan(&s, p + c2, p + len);
                    check(&cases[i], &s, c1, c2);
                }
            }
        }
    }
}


/*
 * Random NDJSON streams (token lines with strings full of escapes,
 * braces and "eval_count", nested values, done and error lines, lines
 * longer than the carry, a last line cut anywhere), read whole and line
 * by line at the same random cuts: after every read both must tell the
 * same (done or not, the count, the objects).
 */

#define RAND_STREAM  (256 * 1024)

static uint64_t       seed = 12345;
static char           stream[RAND_STREAM];
static size_t         stream_len;


static unsigned
rnd(unsigned n)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned) ((seed >> 33) % n);
}


static void
put(const char *str)
{
    size_t  n;

    n = strlen(str);

    if (stream_len + n < RAND_STREAM) {
        memcpy(stream + stream_len, str, n);
        stream_len += n;
    }
}


static void
put_str(void)
{
    unsigned  i, n;

    static const char  *bits[] = {
        "a", "v", " ", "eval_count", "\\\"", "\\\\", "\\n", "{", "}", "[",
        "]", ":", ",", "\\\"done\\\":true", "\\\"eval_count\\\":3", "\\u00e9",
        "\xc3\xa9", "\\\\\\\"", "done", "\\/"
    };

    put("\"");
    n = rnd(8);

    for (i = 0; i < n; i++) {
        put(bits[rnd(sizeof(bits) / sizeof(bits[0]))]);
    }

    put("\"");
}


static void put_value(unsigned depth);


static void
put_key(void)
{
    static const char  *keys[] = {
        "\"done\"", "\"eval_count\"", "\"response\"", "\"x\"", "\"usage\"",
        "\"completion_tokens\"", "\"do\\u006ee\"", "\"eval_count \""
    };

    put(keys[rnd(sizeof(keys) / sizeof(keys[0]))]);
}


static unsigned
put_members(unsigned depth)
{
    unsigned  i, n;

    n = rnd(4);

    for (i = 0; i < n; i++) {
        put(i ? "," : "");
        put(rnd(4) ? "" : " ");
        put_key();
        put(rnd(4) ? ":" : " : ");
        put_value(depth + 1);
    }

    return n;
}


static void
put_value(unsigned depth)
{
    char      num[24];
    unsigned  i, n;

    switch (depth < 3 ? rnd(8) : rnd(4)) {

    case 0:
        put_str();
        break;

    case 1:
        snprintf(num, sizeof(num), "%u", rnd(100000));
        put(num);
        break;

    case 2:
        put(rnd(2) ? "true" : "false");
        break;

    case 3:
        put(rnd(2) ? "null" : "-1.5e3");
        break;

    case 4:
    case 5:
        put("{");
        (void) put_members(depth);
        put("}");
        break;

    default:
        put("[");
        n = rnd(4);

        for (i = 0; i < n; i++) {
            put(i ? "," : "");
            put_value(depth + 1);
        }

        put("]");
    }
}


static void
put_line(void)
{
    char      num[48];
    unsigned  i, n;

    switch (rnd(10)) {

    case 0:
        /* a done line, its context as long as a run of numbers gets */
        put("{\"response\":\"\",\"done\":true,\"context\":[");
        n = rnd(80);

        for (i = 0; i < n; i++) {
            snprintf(num, sizeof(num), i ? ",%u" : "%u", rnd(40000));
            put(num);
        }

        snprintf(num, sizeof(num), "],\"eval_count\":%u}\n", rnd(5000));
        put(num);
        break;

    case 1:
        put("{\"error\":");
        put_str();
        put("}\n");
        break;

    case 2:
        /* any object, maybe with a top-level done or count */
        put(rnd(3) ? "{" : " { ");
        (void) put_members(0);
        put(rnd(3) ? "}\n" : " }\n");
        break;

    case 3:
        /* a count before the token's tail */
        snprintf(num, sizeof(num), "{\"eval_count\":%u,", rnd(5000));
        put(num);
        put("\"response\":");
        put_str();
        put(",\"done\":false}\n");
        break;

    case 4:
        /* any members, then the tail */
        put("{");
        put(put_members(0) ? "," : "");
        put("\"done\":false}\n");
        break;

    case 5:
        /* longer than the carry */
        put("{\"response\":\"");

        for (i = 0; i < 30; i++) {
            put(rnd(5) ? "0123456789" : "\\\"}{[]");
        }

        put("\",\"done\":false}\n");
        break;

    case 6:
        put(rnd(4) ? "\n" : "\r\n");
        break;

    default:
        put("{\"model\":\"mistral:7b\",\"created_at\":\"2026-12-01T22:00:00Z\","
            "\"response\":");
        put_str();

        if (rnd(4) == 0) {
            put(",\"message\":");
            put_value(1);
        }

        put(",\"done\":false}\n");
    }
}


static int
same(ngx_http_mesh_ndjson_t *w, ngx_http_mesh_ndjson_t *l)
{
    return (ngx_http_mesh_ndjson_done(w) ? 1 : 0)
           == (ngx_http_mesh_ndjson_done(l) ? 1 : 0)
           && w->objects == l->objects
           && w->last_has_eval == l->last_has_eval
           && (!w->last_has_eval || w->last_eval == l->last_eval);
}


static void
random_run(unsigned streams)
{
    size_t                   cuts[8], from, to;
    unsigned                 i, j, n, k;
    const unsigned char     *p;
    ngx_http_mesh_ndjson_t   w, l;

    p = (const unsigned char *) stream;

    for (i = 0; i < streams; i++) {
        stream_len = 0;
        n = 1 + rnd(30);

        for (j = 0; j < n; j++) {
            put_line();
        }

        /* a stream cut short, anywhere */
        if (rnd(3) == 0) {
            stream_len = rnd((unsigned) stream_len + 1);
        }

        n = rnd(8);

        for (j = 0; j < n; j++) {
            cuts[j] = rnd((unsigned) stream_len + 1);
        }

        /* in order: a few cuts, then the end */
        for (j = 1; j < n; j++) {
            for (k = j; k > 0 && cuts[k - 1] > cuts[k]; k--) {
                from = cuts[k];
                cuts[k] = cuts[k - 1];
                cuts[k - 1] = from;
            }
        }

        cuts[n++] = stream_len;

        memset(&w, 0, sizeof(w));
        memset(&l, 0, sizeof(l));
        l.lines = 1;
        from = 0;

        for (j = 0; j < n; j++) {
            to = cuts[j];
            ngx_http_mesh_ndjson_scan(&w, p + from, p + to);
            ngx_http_mesh_ndjson_scan(&l, p + from, p + to);

            if (!same(&w, &l)) {
                printf("FAIL random stream %u, read %u (bytes %zu-%zu): "
                       "whole done %d objects %zu eval %d/%lu, lines "
                       "done %d objects %zu eval %d/%lu:\n%.*s\n", i, j,
                       from, to, ngx_http_mesh_ndjson_done(&w) ? 1 : 0,
                       w.objects, w.last_has_eval,
                       (unsigned long) w.last_eval,
                       ngx_http_mesh_ndjson_done(&l) ? 1 : 0, l.objects,
                       l.last_has_eval, (unsigned long) l.last_eval,
                       (int) stream_len, stream);
                failures++;
                return;
            }

            from = to;
        }
    }
}


/*
 * Reads of one token line each, the scanner's one-step path, at every
 * length around its 16 and 32-byte steps, with a 'v', a top-level
 * "eval_count", "eval_count" inside a string, or a second line's '\n' at
 * every place: after every read the lines mode must tell what a walk of
 * the same bytes tells, and what the lines mode tells when the same bytes
 * come one at a time (which never takes the one-step path).
 */

static size_t
token_line(char *buf, unsigned kind, size_t len, size_t pos)
{
    size_t  n, i;

    static const char  *open = "{\"response\":\"";
    static const char  *tail = "\",\"done\":false}\n";

    n = 0;

    if (kind == 1) {
        /* a top-level count before the text */
        n += sprintf(buf + n, "{\"eval_count\":%zu,\"response\":\"",
                     len * 7 + pos);

    } else {
        n += sprintf(buf + n, "%s", open);
    }

    for (i = 0; i < len; i++) {
        if (i == pos) {
            switch (kind) {
            case 0:
                buf[n++] = 'v';
                continue;
            case 2:
                n += sprintf(buf + n, "\\\"eval_count\\\":%zu", i);
                continue;
            case 3:
                /* this line ends here, the next one begins */
                n += sprintf(buf + n, "%s%s", tail, open);
                continue;
            case 4:
                n += sprintf(buf + n, "\",\"eval_count\":%zu,\"x\":\"", i);
                continue;
            }
        }

        buf[n++] = "abcdefghijklmnopqrstuwxyz 0123456789"[(i * 7 + pos) % 36];
    }

    n += sprintf(buf + n, "%s", tail);

    return n;
}


static void
token_lines_run(void)
{
    char                     buf[512];
    size_t                   len, pos, n, i;
    unsigned                 kind;
    const unsigned char     *p;
    ngx_http_mesh_ndjson_t   w, l, b;

    p = (const unsigned char *) buf;

    for (kind = 0; kind < 5; kind++) {
        for (len = 0; len < 120; len++) {
            memset(&w, 0, sizeof(w));
            memset(&l, 0, sizeof(l));
            memset(&b, 0, sizeof(b));
            l.lines = 1;
            b.lines = 1;

            for (pos = 0; pos <= len; pos++) {
                n = token_line(buf, kind, len, pos);

                ngx_http_mesh_ndjson_scan(&w, p, p + n);
                ngx_http_mesh_ndjson_scan(&l, p, p + n);

                for (i = 0; i < n; i++) {
                    ngx_http_mesh_ndjson_scan(&b, p + i, p + i + 1);
                }

                if (!same(&w, &l) || !same(&b, &l)) {
                    printf("FAIL token line, kind %u, text %zu, at %zu: "
                           "whole objects %zu eval %d/%lu, lines objects "
                           "%zu eval %d/%lu, bytewise objects %zu eval "
                           "%d/%lu:\n%.*s", kind, len, pos, w.objects,
                           w.last_has_eval, (unsigned long) w.last_eval,
                           l.objects, l.last_has_eval,
                           (unsigned long) l.last_eval, b.objects,
                           b.last_has_eval, (unsigned long) b.last_eval,
                           (int) n, buf);
                    failures++;
                    return;
                }
            }
        }
    }

    /*
     * Not NDJSON: a token line with a raw '\n' at any place, even just
     * after its '{' or just before its tail, is more than one line, as
     * when its bytes come one at a time.
     */

    for (len = 0; len < 80; len++) {
        for (pos = 1; pos + 2 < token_line(buf, 0, len, len); pos++) {
            n = token_line(buf, 0, len, len);
            buf[pos] = '\n';

            memset(&l, 0, sizeof(l));
            memset(&b, 0, sizeof(b));
            l.lines = 1;
            b.lines = 1;

            ngx_http_mesh_ndjson_scan(&l, p, p + n);

            for (i = 0; i < n; i++) {
                ngx_http_mesh_ndjson_scan(&b, p + i, p + i + 1);
            }

            if (!same(&b, &l)) {
                printf("FAIL raw newline in a token line, text %zu, at "
                       "%zu: lines objects %zu, bytewise objects %zu\n",
                       len, pos, l.objects, b.objects);
                failures++;
                return;
            }
        }
    }
}


int
main(int argc, char **argv)
{
    unsigned  streams;

    streams = (argc > 1) ? (unsigned) atoi(argv[1]) : 3000;

    cases_run();
    token_lines_run();
    random_run(streams);

    if (failures) {
        printf("test_ndjson: %d failures\n", failures);
        return 1;
    }

    printf("test_ndjson: %zu replies, whole and line by line, every cut; "
           "token lines read whole; %u random streams: ok\n",
           sizeof(cases) / sizeof(cases[0]), streams);

    return 0;
}
