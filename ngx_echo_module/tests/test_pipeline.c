
/*
 * Unit tests of the pipeline parsers (ngx_http_mesh_pipeline_parse.c):
 * request bodies, step checks with their exact messages, sizes, template
 * walking, and the NDJSON reply reader fed in pieces.  Prints "N passed,
 * M failed" and exits 1 on any failure.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ngx_http_mesh_parse_core.h"
#include "../ngx_http_mesh_parse.h"
#include "../ngx_http_mesh_pipeline_parse.h"
#include "test_arena.h"
#include "test_check.h"




typedef struct {
    char    text[256];
    size_t  len;
    size_t  max;
} test_out_t;


static void test_request(void);
static void test_steps(void);
static void test_sizes(void);
static void test_templates(void);
static void test_reader(void);
static int test_walk_emit(void *data, int var, const char *s, size_t len);
static int test_text(void *data, const char *s, size_t len);
static void test_reader_start(ngx_http_mesh_gen_reader_t *gr, test_out_t *o,
    size_t max);
static const char *test_step_err(const char *json);


int
main(void)
{
    test_request();
    test_steps();
    test_sizes();
    test_templates();
    test_reader();

    return test_check_report();
}


static void
test_request(void)
{
    int                           rc;
    char                          err[NGX_HTTP_MESH_ERR_LEN];
    test_arena_t                  a;
    ngx_http_mesh_pipeline_req_t  req;
    static const char             body[] =
        "{\"prompt\":\"in\",\"images\":[\"aGk=\"],\"stream\":false,"
        "\"future\":1,\"steps\":[{\"type\":\"vision\",\"prompt\":\"p1\","
        "\"max_output\":\"2k\"},{\"model\":\"m:7b\",\"prompt\":\"p2\","
        "\"system\":\"s\",\"options\":{\"num_predict\":3},"
        "\"max_output\":100}]}";

    test_arena_init(&a, -1);

    rc = ngx_http_mesh_parse_pipeline_req(body, sizeof(body) - 1, &req,
                                          test_arena_alloc, &a, err);
    CHECK(rc == 0);
    CHECK(req.has_steps && req.nsteps == 2);
    CHECK(req.stream == 0);
    CHECK(req.nimages == 1 && strcmp(req.images[0].data, "aGk=") == 0);
    CHECK(req.prompt.len == 2 && strcmp(req.prompt.data, "in") == 0);
    CHECK(req.steps[0].type == NGX_HTTP_MESH_TYPE_VISION);
    CHECK(req.steps[0].max_output == 2048);
    CHECK(req.steps[0].model.len == 0);
    CHECK(req.steps[1].type == NGX_HTTP_MESH_TYPE_UNKNOWN);
    CHECK(strcmp(req.steps[1].model.data, "m:7b") == 0);
    CHECK(strcmp(req.steps[1].system.data, "s") == 0);
    CHECK(strcmp(req.steps[1].options.data, "{\"num_predict\":3}") == 0);
    CHECK(req.steps[1].max_output == 100);

    rc = ngx_http_mesh_parse_pipeline_req("{}", 2, &req, test_arena_alloc,
                                          &a, err);
    CHECK(rc == 0 && !req.has_steps && req.stream == 1);

    rc = ngx_http_mesh_parse_pipeline_req("{\"steps\":{}}", 12, &req,
                                          test_arena_alloc, &a, err);
    CHECK(rc == -1);
    CHECK_STR(err, "\"steps\" must be an array");

    rc = ngx_http_mesh_parse_pipeline_req("{\"steps\":[1]}", 13, &req,
                                          test_arena_alloc, &a, err);
    CHECK(rc == -1);
    CHECK_STR(err, "\"steps[0]\" must be an object");

    rc = ngx_http_mesh_parse_pipeline_req("{\"images\":[\"a b\"]}", 18, &req,
                                          test_arena_alloc, &a, err);
    CHECK(rc == -1);

    /* out of memory at every allocation: an error, never a crash */

    {
        int  i;

        for (i = 0; i < 8; i++) {
            test_arena_free(&a);
            test_arena_init(&a, i);
            rc = ngx_http_mesh_parse_pipeline_req(body, sizeof(body) - 1,
                                                  &req, test_arena_alloc, &a,
                                                  err);
            CHECK(rc == -1 && strcmp(err, "out of memory") == 0);
        }
    }

    test_arena_free(&a);
}


/* the message of parsing and checking one step as step 2, or "ok" */

static const char *
test_step_err(const char *json)
{
    static char            err[NGX_HTTP_MESH_ERR_LEN];
    test_arena_t           a;
    ngx_http_mesh_step_t   step;

    test_arena_init(&a, -1);

    if (ngx_http_mesh_parse_step(json, strlen(json), &step, test_arena_alloc,
                                 &a, err)
        == 0
        && ngx_http_mesh_step_check(&step, 2, err) == 0)
    {
        strcpy(err, "ok");
    }

    test_arena_free(&a);

    return err;
}


static void
test_steps(void)
{
    CHECK_STR(test_step_err("{\"type\":\"text\",\"prompt\":\"a\"}"), "ok");
    CHECK_STR(test_step_err("{\"model\":\"x\",\"prompt\":\"{{step1}} "
                            "{{previous}} {{input}}\"}"), "ok");
    CHECK_STR(test_step_err("{\"prompt\":\"a\"}"),
              "step 2 has neither a type nor a model");
    CHECK_STR(test_step_err("{\"type\":\"code\"}"), "step 2 has no prompt");
    CHECK_STR(test_step_err("{\"type\":\"code\",\"prompt\":\"{{x}}\"}"),
              "step 2: unknown variable \"{{x}}\" in the prompt");
    CHECK_STR(test_step_err("{\"type\":\"code\",\"prompt\":\"{{step2}}\"}"),
              "step 2: \"{{step2}}\" does not run before it");
    CHECK_STR(test_step_err("{\"type\":\"code\",\"prompt\":\"{{step0}}\"}"),
              "step 2: unknown variable \"{{step0}}\" in the prompt");
    CHECK_STR(test_step_err("{\"type\":\"code\",\"prompt\":\"a {{in\"}"),
              "step 2: unclosed variable \"{{in\" in the prompt");
    CHECK_STR(test_step_err("{\"type\":\"embedding\",\"prompt\":\"a\"}"),
              "\"type\" must be code, vision, summarize or text");
    CHECK_STR(test_step_err("{\"type\":\"text\",\"prompt\":\"a\","
                            "\"model\":\"a b\"}"),
              "\"model\" must be 1-127 printable characters without spaces"
              " or quotes");
    CHECK_STR(test_step_err("{\"type\":\"text\",\"prompt\":\"a\","
                            "\"options\":[]}"),
              "\"options\" must be an object");
    CHECK_STR(test_step_err("{\"type\":\"text\",\"prompt\":\"a\","
                            "\"max_output\":0}"),
              "\"max_output\" must be a size from 1 to 16m (bytes, or with k"
              " or m)");
    CHECK_STR(test_step_err("{\"type\":\"text\",\"prompt\":\"a\","
                            "\"prompt\":\"b\"}"), "\"prompt\" appears twice");
}


static void
test_sizes(void)
{
    size_t  n;

    CHECK(ngx_http_mesh_pipeline_size("1", 1, &n) == 0 && n == 1);
    CHECK(ngx_http_mesh_pipeline_size("256k", 4, &n) == 0 && n == 262144);
    CHECK(ngx_http_mesh_pipeline_size("16M", 3, &n) == 0 && n == 16 << 20);
    CHECK(ngx_http_mesh_pipeline_size("17m", 3, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("0", 1, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("k", 1, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("", 0, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("1.5k", 4, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("9999999999", 10, &n) == -1);
    CHECK(ngx_http_mesh_pipeline_size("-1", 2, &n) == -1);
}


/* writes "T(text)" or "V(var)" per piece */

static int
test_walk_emit(void *data, int var, const char *s, size_t len)
{
    test_out_t *o = data;

    int  n;

    if (var == NGX_HTTP_MESH_VAR_TEXT) {
        n = snprintf(o->text + o->len, sizeof(o->text) - o->len, "T(%.*s)",
                     (int) len, s);
    } else {
        n = snprintf(o->text + o->len, sizeof(o->text) - o->len, "V(%d)",
                     var);
    }

    o->len += n;

    return 0;
}


static void
test_templates(void)
{
    test_out_t   o;
    const char  *t;

    memset(&o, 0, sizeof(o));
    t = "a {{input}}{{previous}} b {{step12}}{{";
    CHECK(ngx_http_mesh_template_walk(t, strlen(t), test_walk_emit, &o) == 0);
    CHECK_STR(o.text, "T(a )V(1)V(2)T( b )V(14)V(-2)");

    memset(&o, 0, sizeof(o));
    t = "{{step65}}{{Input}}}}x{";
    CHECK(ngx_http_mesh_template_walk(t, strlen(t), test_walk_emit, &o) == 0);
    CHECK_STR(o.text, "V(-1)V(-1)T(}}x{)");

    memset(&o, 0, sizeof(o));
    CHECK(ngx_http_mesh_template_walk("", 0, test_walk_emit, &o) == 0);
    CHECK_STR(o.text, "");
}


static int
test_text(void *data, const char *s, size_t len)
{
    test_out_t *o = data;

    if (len > o->max - o->len) {
        return -1;
    }

    memcpy(o->text + o->len, s, len);
    o->len += len;
    o->text[o->len] = '\0';

    return 0;
}


static void
test_reader_start(ngx_http_mesh_gen_reader_t *gr, test_out_t *o, size_t max)
{
    memset(o, 0, sizeof(test_out_t));
    o->max = max;
    memset(gr, 0, sizeof(ngx_http_mesh_gen_reader_t));
    gr->text = test_text;
    gr->data = o;

    CHECK(ngx_http_mesh_gen_reader_init(gr) == 0);
}


static void
test_reader(void)
{
    size_t                      i;
    test_out_t                  o;
    ngx_http_mesh_gen_reader_t  gr;
    static const char           reply[] =
        "{\"model\":\"m\",\"response\":\"he\\u00e9\",\"done\":false}\n"
        "{\"model\":\"m\",\"response\":\" \\\"x\\\"\",\"x\":{\"response\":"
        "\"no\",\"done\":true},\"done\":false}\n"
        "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"context\":[1,2],"
        "\"eval_count\":3}\n";

    /* fed one byte at a time: nothing depends on where a piece ends */

    test_reader_start(&gr, &o, sizeof(o.text) - 1);

    for (i = 0; i < sizeof(reply) - 1; i++) {
        CHECK(ngx_http_mesh_gen_reader_feed(&gr, reply + i, 1) == 0);
    }

    CHECK_STR(o.text, "he\xc3\xa9 \"x\"");
    CHECK(gr.done == 1 && gr.eval_count == 3 && gr.error[0] == '\0');
    ngx_http_mesh_gen_reader_free(&gr);

    /* past the bound: the reader stops and says so */

    test_reader_start(&gr, &o, 3);
    CHECK(ngx_http_mesh_gen_reader_feed(&gr, reply, sizeof(reply) - 1) == -1);
    CHECK(gr.failed == 1 && gr.done == 0);
    CHECK(ngx_http_mesh_gen_reader_feed(&gr, "{}", 2) == -1);
    ngx_http_mesh_gen_reader_free(&gr);

    /* an Ollama error line, and a reply that is not JSON */

    test_reader_start(&gr, &o, sizeof(o.text) - 1);
    CHECK(ngx_http_mesh_gen_reader_feed(&gr, "{\"error\":\"boom\"}\n", 17)
          == 0);
    CHECK_STR(gr.error, "boom");
    CHECK(ngx_http_mesh_gen_reader_feed(&gr, "<html>", 6) == -1);
    CHECK(gr.failed == 1);
    ngx_http_mesh_gen_reader_free(&gr);
    ngx_http_mesh_gen_reader_free(&gr);
}
