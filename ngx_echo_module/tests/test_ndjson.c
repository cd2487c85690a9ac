
/*
 * Unit tests of the NDJSON end-of-reply scanner: every reply is scanned
 * whole and cut in two at every byte, and both must agree with what the
 * reply is (complete or not, its eval_count, its lines).
 */


#include <stdio.h>
#include <string.h>

#include "../ngx_http_mesh_ndjson.h"


typedef struct {
    const char  *name;
    const char  *reply;
    int          done;
    long         eval;       /* -1: none */
    size_t       objects;
} test_case_t;


static int  failures;


static const test_case_t  cases[] = {

    { "a stream and its done line",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"response\":\"b\",\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\","
      "\"eval_count\":7}\n", 1, 7, 3 },

    { "done with spaces",
      "{ \"done\" : true , \"eval_count\" : 12 }", 1, 12, 1 },

    { "done:false is no end",
      "{\"response\":\"x\",\"done\":false}\n", 0, -1, 1 },

    { "a tool call's arguments say done:true",
      "{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"finish\",\"arguments\":{\"done\":true}}}]},"
      "\"done\":false}\n", 0, -1, 1 },

    { "the text \"done\":true in a string",
      "{\"response\":\"\\\"done\\\":true\",\"done\":false}\n", 0, -1, 1 },

    { "a line after the done line has begun",
      "{\"done\":true,\"eval_count\":3}\n{\"model\":\"m\",\"resp", 0, 3, 1 },

    { "an error line after the done line",
      "{\"done\":true}\n{\"error\":\"ollama stream failed\"}\n", 0, -1, 2 },

    { "a done line cut before its end",
      "{\"response\":\"\",\"done\":true,\"eval_co", 0, -1, 0 },

    { "a brace inside a string",
      "{\"response\":\"}{\",\"done\":true}\n", 1, -1, 1 },
};


static void
check(const test_case_t *t, ngx_http_mesh_ndjson_t *s, size_t cut)
{
    int   done;
    long  eval;

    done = ngx_http_mesh_ndjson_done(s) ? 1 : 0;
    eval = s->last_has_eval ? (long) s->last_eval : -1;

    if (done != t->done || eval != t->eval || s->objects != t->objects) {
        printf("FAIL %s (cut at %zu): done %d eval %ld objects %zu, "
               "want %d %ld %zu\n", t->name, cut, done, eval, s->objects,
               t->done, t->eval, t->objects);
        failures++;
    }
}


int
main(void)
{
    size_t                   i, cut, len;
    const unsigned char     *p;
    ngx_http_mesh_ndjson_t   s;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = (const unsigned char *) cases[i].reply;
        len = strlen(cases[i].reply);

        for (cut = 0; cut <= len; cut++) {
            memset(&s, 0, sizeof(s));
            ngx_http_mesh_ndjson_scan(&s, p, p + cut);
            ngx_http_mesh_ndjson_scan(&s, p + cut, p + len);
            check(&cases[i], &s, cut);
        }
    }

    if (failures) {
        printf("test_ndjson: %d failures\n", failures);
        return 1;
    }

    printf("test_ndjson: %zu replies, every cut: ok\n",
           sizeof(cases) / sizeof(cases[0]));

    return 0;
}
