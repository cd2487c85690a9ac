
/*
 * libFuzzer harness: every input goes through every parser.  Besides not
 * crashing (ASan, UBSan), what is accepted must hold up: capabilities
 * survive caps -> JSON -> caps unchanged, re-serialised task options are
 * JSON again, every string is terminated, every error says something.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ngx_http_mesh_parse_core.h"
#include "../ngx_http_mesh_parse.h"
#include "../ngx_http_mesh_pipeline_parse.h"
#include "../ngx_http_mesh_parse_feed.h"
#include "test_arena.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_caps(const char *json, size_t len);
static void fuzz_task(const char *json, size_t len);
static void fuzz_ollama(const char *json, size_t len);
static void fuzz_leave(const char *json, size_t len);
static void fuzz_feed(const char *json, size_t len);
static void fuzz_escape(const char *s, size_t len);
static void fuzz_pipeline(const char *json, size_t len);
static int fuzz_text(void *data, const char *s, size_t len);
static void fuzz_err(int rc, const char *err);


#define FUZZ_ASSERT(c)                                                       \
    if (!(c)) {                                                              \
        fprintf(stderr, "fuzz_parse.c:%d: %s\n", __LINE__, #c);              \
        abort();                                                             \
    }


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *json;

    json = (const char *) data;

    fuzz_caps(json, size);
    fuzz_task(json, size);
    fuzz_ollama(json, size);
    fuzz_leave(json, size);
    fuzz_feed(json, size);
    fuzz_escape(json, size < 4096 ? size : 4096);
    fuzz_pipeline(json, size);

    return 0;
}


static void
fuzz_caps(const char *json, size_t len)
{
    int                   rc;
    char                  err[NGX_HTTP_MESH_ERR_LEN];
    char                  out[NGX_HTTP_MESH_CAPS_BODY_MAX];
    char                  again[NGX_HTTP_MESH_CAPS_BODY_MAX];
    size_t                n, m;
    ngx_http_mesh_caps_t  a, b;

    rc = ngx_http_mesh_parse_caps(json, len, &a, err);
    fuzz_err(rc, err);

    if (rc != 0) {
        return;
    }

    FUZZ_ASSERT(a.port != 0 && a.nmodels <= NGX_HTTP_MESH_MAX_MODELS);
    FUZZ_ASSERT(strlen(a.node_id) > 0 && strlen(a.host) > 0);

    n = ngx_http_mesh_caps_to_json(&a, out, sizeof(out));
    FUZZ_ASSERT(n > 0 && n == strlen(out));

    rc = ngx_http_mesh_parse_caps(out, n, &b, err);
    if (rc != 0) {
        fprintf(stderr, "%s\n%s\n", out, err);
    }

    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);

    m = ngx_http_mesh_caps_to_json(&b, again, sizeof(again));
    FUZZ_ASSERT(m == n && memcmp(out, again, n) == 0);
}


static void
fuzz_task(const char *json, size_t len)
{
    int                         rc;
    char                        err[NGX_HTTP_MESH_ERR_LEN], *wrap;
    size_t                      i;
    test_arena_t                arena;
    ngx_http_mesh_task_t        task;
    ngx_http_mesh_ollama_req_t  req;

    test_arena_init(&arena, -1);

    rc = ngx_http_mesh_parse_task(json, len, &task, test_arena_alloc, &arena,
                                  err);
    fuzz_err(rc, err);

    if (rc != 0) {
        test_arena_free(&arena);
        return;
    }

    FUZZ_ASSERT(task.type != NGX_HTTP_MESH_TYPE_EMBEDDING
                && task.type < NGX_HTTP_MESH_TYPE_UNKNOWN);
    FUZZ_ASSERT(task.stream <= 1);
    FUZZ_ASSERT(task.prompt.data != NULL
                && task.prompt.data[task.prompt.len] == '\0');
    FUZZ_ASSERT(task.model.len == 0
                || task.model.data[task.model.len] == '\0');
    FUZZ_ASSERT(task.system.len == 0
                || task.system.data[task.system.len] == '\0');
    FUZZ_ASSERT(task.nimages <= NGX_HTTP_MESH_MAX_IMAGES);

    for (i = 0; i < task.nimages; i++) {
        FUZZ_ASSERT(task.images[i].len > 0
                    && task.images[i].data[task.images[i].len] == '\0');
    }

    if (task.options.len > 0) {
        FUZZ_ASSERT(task.options.len <= NGX_HTTP_MESH_OPTIONS_MAX);
        FUZZ_ASSERT(task.options.data[0] == '{'
                    && task.options.data[task.options.len - 1] == '}');

        /* the copy is JSON at the same depth: any parser takes it back */

        wrap = malloc(task.options.len + 32);
        FUZZ_ASSERT(wrap != NULL);

        i = sprintf(wrap, "{\"model\":\"m\",\"o\":%s}", task.options.data);
        rc = ngx_http_mesh_parse_ollama(wrap, i, &req, err);
        if (rc != 0) {
            fprintf(stderr, "%s\n%s\n", wrap, err);
        }

        FUZZ_ASSERT(rc == 0);
        free(wrap);
    }

    test_arena_free(&arena);
}


static void
fuzz_ollama(const char *json, size_t len)
{
    int                         rc;
    char                        err[NGX_HTTP_MESH_ERR_LEN];
    ngx_http_mesh_ollama_req_t  req;

    rc = ngx_http_mesh_parse_ollama(json, len, &req, err);
    fuzz_err(rc, err);

    if (rc == 0) {
        FUZZ_ASSERT(req.has_model && req.stream <= 1 && req.has_images <= 1);
        FUZZ_ASSERT(strlen(req.model) > 0
                    && strlen(req.model) < NGX_HTTP_MESH_MODEL_LEN);
    }
}


static void
fuzz_leave(const char *json, size_t len)
{
    int   rc;
    char  err[NGX_HTTP_MESH_ERR_LEN], id[NGX_HTTP_MESH_ID_LEN];

    rc = ngx_http_mesh_parse_node_id(json, len, id, err);
    fuzz_err(rc, err);

    if (rc == 0) {
        FUZZ_ASSERT(strlen(id) > 0 && strlen(id) < NGX_HTTP_MESH_ID_LEN);
    }
}


static void
fuzz_feed(const char *json, size_t len)
{
    int                          rc, i;
    char                         err[NGX_HTTP_MESH_ERR_LEN];
    ngx_http_mesh_feed_filter_t  f;

    memset(&f, 0, sizeof(f));
    err[0] = '\0';

    rc = ngx_http_mesh_parse_feed_filter(json, len, &f, err);
    fuzz_err(rc, err);

    err[0] = '\0';
    rc = ngx_http_mesh_feed_filter_list(&f, 1, json, len, err);
    fuzz_err(rc, err);

    for (i = 0; i < 2; i++) {
        FUZZ_ASSERT(f.lists[i].n <= NGX_HTTP_MESH_FEED_NAMES);
    }

    (void) ngx_http_mesh_feed_filter_pass(&f, json, len);
}


static void
fuzz_escape(const char *s, size_t len)
{
    int     n;
    char    out[6 * 4096 + 1];
    size_t  i;

    n = ngx_http_mesh_json_escape(s, len, out, 6 * len + 1);
    FUZZ_ASSERT(n >= 0 && (size_t) n == strlen(out));
    FUZZ_ASSERT((size_t) n == ngx_http_mesh_json_escape_len(s, len));

    for (i = 0; i < (size_t) n; i++) {
        FUZZ_ASSERT((unsigned char) out[i] >= 0x20);

        if (out[i] == '\\') {
            i++;
            FUZZ_ASSERT(strchr("\"\\nrtbfu", out[i]) != NULL);
        }
    }

    if (n > 0) {
        FUZZ_ASSERT(ngx_http_mesh_json_escape(s, len, out, n) == -1);
    }
}


static void
fuzz_err(int rc, const char *err)
{
    size_t  n;

    FUZZ_ASSERT(rc == 0 || rc == -1);

    n = strnlen(err, NGX_HTTP_MESH_ERR_LEN);
    FUZZ_ASSERT(n < NGX_HTTP_MESH_ERR_LEN);
    FUZZ_ASSERT(rc == 0 ? n == 0 : n > 0);
}


/* pipeline bodies and checks, and the reply reader fed in two pieces */

static void
fuzz_pipeline(const char *json, size_t len)
{
    int                           rc;
    char                          err[NGX_HTTP_MESH_ERR_LEN];
    size_t                        i, out;
    test_arena_t                  a;
    ngx_http_mesh_gen_reader_t    gr;
    ngx_http_mesh_pipeline_req_t  req;

    test_arena_init(&a, -1);

    rc = ngx_http_mesh_parse_pipeline_req(json, len, &req, test_arena_alloc,
                                          &a, err);
    fuzz_err(rc, err);

    if (rc == 0) {
        FUZZ_ASSERT(req.nsteps <= NGX_HTTP_MESH_PIPELINE_STEPS_MAX);

        for (i = 0; i < req.nsteps; i++) {
            rc = ngx_http_mesh_step_check(&req.steps[i], i + 1, err);
            fuzz_err(rc, err);
            FUZZ_ASSERT(req.steps[i].max_output
                        <= NGX_HTTP_MESH_PIPELINE_OUTPUT_MAX);
        }
    }

    test_arena_free(&a);

    out = 0;
    memset(&gr, 0, sizeof(gr));
    gr.text = fuzz_text;
    gr.data = &out;

    if (ngx_http_mesh_gen_reader_init(&gr) == 0) {
        (void) ngx_http_mesh_gen_reader_feed(&gr, json, len / 2);
        (void) ngx_http_mesh_gen_reader_feed(&gr, json + len / 2,
                                             len - len / 2);
        FUZZ_ASSERT(out <= 64);
        FUZZ_ASSERT(memchr(gr.error, '\0', sizeof(gr.error)) != NULL);
        ngx_http_mesh_gen_reader_free(&gr);
    }
}


static int
fuzz_text(void *data, const char *s, size_t len)
{
    size_t  *out = data;

    (void) s;

    if (len > 64 - *out) {
        return -1;
    }

    *out += len;

    return 0;
}
