
/*
 * Unit tests of the NDJSON end-of-reply scanner: every reply is scanned
 * whole and cut in two at every byte, and both must agree with what the
 * reply is (complete or not, its eval_count or, for an OpenAI reply, its
 * usage.completion_tokens, its lines).
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
    unsigned     usage;      /* an OpenAI reply */
} test_case_t;


static int  failures;


static const test_case_t  cases[] = {

    { "a stream and its done line",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"response\":\"b\",\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\","
      "\"eval_count\":7}\n", 1, 7, 3, 0 },

    { "done with spaces",
      "{ \"done\" : true , \"eval_count\" : 12 }", 1, 12, 1, 0 },

    { "done:false is no end",
      "{\"response\":\"x\",\"done\":false}\n", 0, -1, 1, 0 },

    { "a tool call's arguments say done:true",
      "{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"finish\",\"arguments\":{\"done\":true}}}]},"
      "\"done\":false}\n", 0, -1, 1, 0 },

    { "the text \"done\":true in a string",
      "{\"response\":\"\\\"done\\\":true\",\"done\":false}\n", 0, -1, 1, 0 },

    { "a line after the done line has begun",
      "{\"done\":true,\"eval_count\":3}\n{\"model\":\"m\",\"resp",
      0, 3, 1, 0 },

    { "an error line after the done line",
      "{\"done\":true}\n{\"error\":\"ollama stream failed\"}\n", 0, -1, 2, 0 },

    { "a done line cut before its end",
      "{\"response\":\"\",\"done\":true,\"eval_co", 0, -1, 0, 0 },

    { "a brace inside a string",
      "{\"response\":\"}{\",\"done\":true}\n", 1, -1, 1, 0 },

    { "an OpenAI chat reply: usage.completion_tokens",
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":16,"
      "\"total_tokens\":20}}", 0, 16, 1, 1 },

    { "usage with spaces and details of its own",
      "{ \"object\" : \"text_completion\" , \"usage\" : { "
      "\"prompt_tokens\" : 1 , \"completion_tokens\" : 1234 , "
      "\"completion_tokens_details\" : { \"completion_tokens\" : 9 } , "
      "\"total_tokens\" : 1235 } }\n", 0, 1234, 1, 1 },

    { "embeddings: usage without completion_tokens",
      "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
      "\"embedding\":[0.1,-2e-3],\"index\":0}],\"model\":\"m\","
      "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}", 0, -1, 1, 1 },

    { "only the top-level usage counts",
      "{\"choices\":[{\"usage\":{\"completion_tokens\":5}}],"
      "\"message\":\"\\\"usage\\\":{\\\"completion_tokens\\\":6}\","
      "\"completion_tokens\":7,\"usage\":{\"completion_tokens\":2}}",
      0, 2, 1, 1 },

    /* lines a whole-line shortcut must leave to the walk */

    { "a token line that counts: eval_count before done:false",
      "{\"eval_count\":5,\"response\":\"x\",\"done\":false}\n",
      0, 5, 1, 0 },

    { "a line whose object is not closed by its last brace",
      "{\"a\":{\"b\":1,\"done\":false}\n", 0, -1, 0, 0 },

    { "a line ending inside a string: odd quotes",
      "{\"a\":\"b,\"done\":false}\n", 0, -1, 0, 0 },

    { "an escaped quote before the tail",
      "{\"response\":\"\\\",\"done\":false}\n", 0, -1, 0, 0 },

    { "a done line after token lines",
      "{\"response\":\"a\",\"done\":false}\n"
      "{\"response\":\"{\",\"done\":false}\n"
      "{\"response\":\"\\u00e9\",\"done\":false}\n"
      "{\"response\":\"\",\"done\":true,\"context\":[1,2],"
      "\"eval_count\":3}\n", 1, 3, 4, 0 },

    { "usage not looked for: a native reply",
      "{\"usage\":{\"completion_tokens\":3},\"done\":true}\n",
      1, -1, 1, 0 },
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
            s.usage = cases[i].usage;
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
