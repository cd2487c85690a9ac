
/*
 * Unit tests of the mesh JSON parsers (ngx_http_mesh_parse.c): good bodies,
 * every error path with its exact message, the limits, truncated input and
 * the capability JSON round trip.  Prints "N passed, M failed" and exits 1
 * on any failure.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ngx_http_mesh_parse_core.h"
#include "../ngx_http_mesh_parse.h"
#include "../ngx_http_mesh_parse_feed.h"
#include "test_arena.h"
#include "test_check.h"



/* a literal body, embedded NULs included */
#define ERR(which, json, want)                                               \
    test_err(which, json, sizeof(json) - 1, want, __LINE__)
#define OK(which, json)                                                      \
    test_ok(which, json, sizeof(json) - 1, __LINE__)

/* the required capability fields, to append one field under test to */
#define CAPS_HEAD                                                            \
    "{\"node_id\":\"n1\",\"host\":\"127.0.0.1\",\"port\":50052,\"models\":[]"

#define SAMPLE_CAPS                                                          \
    "{\"node_id\":\"macbook-pro\",\"host\":\"127.0.0.1\",\"port\":50052,"   \
    "\"models\":[{\"name\":\"codellama\",\"type\":\"code\",\"size_gb\":4.1," \
    "\"loaded\":true}],\"hardware\":{\"ram_total_gb\":16,"                  \
    "\"ram_free_gb\":6.2,\"has_gpu\":true,\"gpu_vram_gb\":8},"              \
    "\"status\":\"idle\",\"active_tasks\":0,\"max_tasks\":4,\"queued\":0,"  \
    "\"tokens_per_sec\":31.5,\"agent_version\":\"0.1.0\"}"

#define SAMPLE_TASK                                                          \
    "{\"type\":\"vision\",\"model\":\"llava:7b\","                          \
    "\"prompt\":\"h\\u00e9llo \\ud83d\\ude00\\n\\\"q\\\"\","               \
    "\"system\":\"be brief\",\"images\":[\"aGk=\",\"aGk\\r\\naGk=\"],"     \
    "\"stream\":false,\"options\":{\"temperature\": 0.7, \"num_predict\":8,"\
    " \"stop\":[\"\\n\",\"\\u00e9\"],\"x\":{\"a\":[1,true,null,-2.5e3]}},"  \
    "\"future\":{\"deep\":[[{}]]}}"

#define SAMPLE_CHAT                                                          \
    "{\"model\":\"llava\",\"messages\":[{\"role\":\"system\","              \
    "\"content\":\"x\"},{\"role\":\"user\",\"content\":\"what?\","          \
    "\"images\":[\"aGk=\"]}],\"options\":{\"seed\":1},\"stream\":false}"


typedef enum {
    CAPS = 0,
    TASK,
    OLLAMA,
    LEAVE
} test_parser_e;


static int test_parse(test_parser_e which, const char *json, size_t len,
    char *err);
static void test_err(test_parser_e which, const char *json, size_t len,
    const char *want, int line);
static void test_ok(test_parser_e which, const char *json, size_t len,
    int line);
static char *test_repeat(const char *head, char c, size_t n,
    const char *tail);

static void test_names(void);
static void test_escape(void);
static void test_caps_good(void);
static void test_caps_fields(void);
static void test_caps_models(void);
static void test_caps_roundtrip(void);
static void test_json_errors(void);
static void test_limits(void);
static void test_truncated(void);
static void test_task_good(void);
static void test_task_errors(void);
static void test_task_oom(void);
static void test_ollama(void);
static void test_openai(void);
static void test_leave(void);
static void test_feed(void);
static int test_feed_parse(const char *json, char *err);


int
main(void)
{
    test_names();
    test_escape();
    test_caps_good();
    test_caps_fields();
    test_caps_models();
    test_caps_roundtrip();
    test_json_errors();
    test_limits();
    test_truncated();
    test_task_good();
    test_task_errors();
    test_task_oom();
    test_ollama();
    test_openai();
    test_leave();
    test_feed();

    return test_check_report();
}


static int
test_parse(test_parser_e which, const char *json, size_t len, char *err)
{
    int                         rc;
    char                        id[NGX_HTTP_MESH_ID_LEN];
    test_arena_t                arena;
    ngx_http_mesh_caps_t        caps;
    ngx_http_mesh_task_t        task;
    ngx_http_mesh_ollama_req_t  req;

    switch (which) {

    case CAPS:
        return ngx_http_mesh_parse_caps(json, len, &caps, err);

    case TASK:
        test_arena_init(&arena, -1);
        rc = ngx_http_mesh_parse_task(json, len, &task, test_arena_alloc,
                                      &arena, err);
        test_arena_free(&arena);
        return rc;

    case OLLAMA:
        return ngx_http_mesh_parse_ollama(json, len, &req, err);

    default:
        return ngx_http_mesh_parse_node_id(json, len, id, err);
    }
}


static void
test_err(test_parser_e which, const char *json, size_t len, const char *want,
    int line)
{
    int   rc;
    char  err[NGX_HTTP_MESH_ERR_LEN];

    memset(err, 'x', sizeof(err));

    rc = test_parse(which, json, len, err);

    test_check(rc == -1, "the parser fails", __FILE__, line);
    test_check(memchr(err, '\0', sizeof(err)) != NULL, "err is terminated",
               __FILE__, line);
    test_check_str(err, want, __FILE__, line);
}


static void
test_ok(test_parser_e which, const char *json, size_t len, int line)
{
    int   rc;
    char  err[NGX_HTTP_MESH_ERR_LEN];

    err[0] = '\0';

    rc = test_parse(which, json, len, err);

    test_check(rc == 0, "the parser succeeds", __FILE__, line);
    test_check_str(err, "", __FILE__, line);
}


/* head, n times c, tail: a malloc()ed string */

static char *
test_repeat(const char *head, char c, size_t n, const char *tail)
{
    char    *s;
    size_t   h, t;

    h = strlen(head);
    t = strlen(tail);

    s = malloc(h + n + t + 1);
    if (s == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    memcpy(s, head, h);
    memset(s + h, c, n);
    memcpy(s + h + n, tail, t + 1);

    return s;
}


static void
test_names(void)
{
    CHECK(ngx_http_mesh_type_from_name("text", 4) == NGX_HTTP_MESH_TYPE_TEXT);
    CHECK(ngx_http_mesh_type_from_name("code", 4) == NGX_HTTP_MESH_TYPE_CODE);
    CHECK(ngx_http_mesh_type_from_name("vision", 6)
          == NGX_HTTP_MESH_TYPE_VISION);
    CHECK(ngx_http_mesh_type_from_name("embedding", 9)
          == NGX_HTTP_MESH_TYPE_EMBEDDING);
    CHECK(ngx_http_mesh_type_from_name("summarize", 9)
          == NGX_HTTP_MESH_TYPE_SUMMARIZE);
    CHECK(ngx_http_mesh_type_from_name("code", 3)
          == NGX_HTTP_MESH_TYPE_UNKNOWN);
    CHECK(ngx_http_mesh_type_from_name("Code", 4)
          == NGX_HTTP_MESH_TYPE_UNKNOWN);
    CHECK(ngx_http_mesh_type_from_name("", 0) == NGX_HTTP_MESH_TYPE_UNKNOWN);

    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_TEXT), "text");
    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_CODE), "code");
    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_VISION), "vision");
    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_EMBEDDING),
              "embedding");
    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_SUMMARIZE),
              "summarize");
    CHECK_STR(ngx_http_mesh_type_name(NGX_HTTP_MESH_TYPE_UNKNOWN), "unknown");
    CHECK_STR(ngx_http_mesh_type_name((ngx_http_mesh_type_e) 99), "unknown");

    CHECK_STR(ngx_http_mesh_status_name(NGX_HTTP_MESH_STATUS_IDLE), "idle");
    CHECK_STR(ngx_http_mesh_status_name(NGX_HTTP_MESH_STATUS_BUSY), "busy");
    CHECK_STR(ngx_http_mesh_status_name(NGX_HTTP_MESH_STATUS_DEGRADED),
              "degraded");
    CHECK_STR(ngx_http_mesh_status_name(NGX_HTTP_MESH_STATUS_DRAINING),
              "draining");
    CHECK_STR(ngx_http_mesh_status_name((ngx_http_mesh_status_e) 4),
              "unknown");
}


static void
test_escape(void)
{
    int   n;
    char  out[64];

    n = ngx_http_mesh_json_escape("a\"b\\c\n\r\t\b\f\x01\x1f/\xc3\xa9", 15,
                                  out, sizeof(out));
    CHECK_STR(out, "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\xc3\xa9");
    CHECK(n == (int) strlen(out));

    /* a NUL inside the input is escaped, not a terminator */
    n = ngx_http_mesh_json_escape("a\0b", 3, out, sizeof(out));
    CHECK_STR(out, "a\\u0000b");
    CHECK(n == 8);

    n = ngx_http_mesh_json_escape("", 0, out, 1);
    CHECK(n == 0);
    CHECK_STR(out, "");

    CHECK(ngx_http_mesh_json_escape("", 0, out, 0) == -1);
    CHECK(ngx_http_mesh_json_escape("abc", 3, out, 3) == -1);
    CHECK(ngx_http_mesh_json_escape("abc", 3, out, 4) == 3);
    CHECK(ngx_http_mesh_json_escape("\n", 1, out, 2) == -1);
    CHECK(ngx_http_mesh_json_escape("\n", 1, out, 3) == 2);
    CHECK(ngx_http_mesh_json_escape("\x01", 1, out, 6) == -1);
    CHECK(ngx_http_mesh_json_escape("\x01", 1, out, 7) == 6);

    /* the length the nginx JSON writer reserves: exactly what is written */
    CHECK(ngx_http_mesh_json_escape_len("a\"b\\c\n\r\t\b\f\x01\x1f/"
                                        "\xc3\xa9", 15) == 32);
    CHECK(ngx_http_mesh_json_escape_len("a\0b", 3) == 8);
    CHECK(ngx_http_mesh_json_escape_len("", 0) == 0);
    CHECK(ngx_http_mesh_json_escape("\x1f\"", 2, out,
              ngx_http_mesh_json_escape_len("\x1f\"", 2) + 1) == 8);
}


static void
test_caps_good(void)
{
    int                    rc;
    char                   err[NGX_HTTP_MESH_ERR_LEN];
    ngx_http_mesh_caps_t   caps;
    ngx_http_mesh_model_t *m;

    rc = ngx_http_mesh_parse_caps(SAMPLE_CAPS, sizeof(SAMPLE_CAPS) - 1, &caps,
                                  err);
    CHECK(rc == 0);
    CHECK_STR(caps.node_id, "macbook-pro");
    CHECK_STR(caps.host, "127.0.0.1");
    CHECK(caps.port == 50052);
    CHECK(caps.nmodels == 1);

    m = &caps.models[0];
    CHECK_STR(m->name, "codellama");
    CHECK(m->type == NGX_HTTP_MESH_TYPE_CODE);
    CHECK(m->size_gb == 4.1);
    CHECK(m->loaded == 1);

    CHECK(caps.ram_total_gb == 16);
    CHECK(caps.ram_free_gb == 6.2);
    CHECK(caps.has_gpu == 1);
    CHECK(caps.gpu_vram_gb == 8);
    CHECK(caps.status == NGX_HTTP_MESH_STATUS_IDLE);
    CHECK(caps.active_tasks == 0);
    CHECK(caps.max_tasks == 4);
    CHECK(caps.queued == 0);
    CHECK(caps.tokens_per_sec == 31.5);
    CHECK_STR(caps.agent_version, "0.1.0");

    /* the minimum, every default; unknown keys anywhere are ignored */
    rc = ngx_http_mesh_parse_caps(
        "{\"future\":{\"a\":[1,{\"b\":null}]},\"node_id\":\"pi_4.local\","
        "\"host\":\"::1\",\"port\":1,\"models\":[{\"name\":\"m\","
        "\"digest\":\"x\"}],\"hardware\":{\"cpu\":\"arm\"},\"loaded\":true}",
        strlen("{\"future\":{\"a\":[1,{\"b\":null}]},\"node_id\":"
               "\"pi_4.local\",\"host\":\"::1\",\"port\":1,\"models\":"
               "[{\"name\":\"m\",\"digest\":\"x\"}],\"hardware\":"
               "{\"cpu\":\"arm\"},\"loaded\":true}"),
        &caps, err);
    CHECK(rc == 0);
    CHECK_STR(caps.node_id, "pi_4.local");
    CHECK_STR(caps.host, "::1");
    CHECK(caps.port == 1);
    CHECK(caps.nmodels == 1);
    CHECK(caps.models[0].type == NGX_HTTP_MESH_TYPE_TEXT);
    CHECK(caps.models[0].loaded == 0);
    CHECK(caps.models[0].size_gb == 0);
    CHECK(caps.ram_total_gb == 0 && caps.has_gpu == 0);
    CHECK(caps.status == NGX_HTTP_MESH_STATUS_IDLE);
    CHECK(caps.max_tasks == 0);
    CHECK_STR(caps.agent_version, "");

    /* escapes decode before validation; null means absent when optional */
    rc = ngx_http_mesh_parse_caps(
        "{\"node_id\":\"\\u0061b\",\"host\":\"\\u0031.2.3.4\",\"port\":65535,"
        "\"models\":[],\"status\":null,\"hardware\":null,\"queued\":null,"
        "\"max_tasks\":999999,\"status\":\"draining\"}",
        strlen("{\"node_id\":\"\\u0061b\",\"host\":\"\\u0031.2.3.4\","
               "\"port\":65535,\"models\":[],\"status\":null,\"hardware\":"
               "null,\"queued\":null,\"max_tasks\":999999,"
               "\"status\":\"draining\"}"),
        &caps, err);

    /* a second "status" is a duplicate even after a null */
    CHECK(rc == -1);
    CHECK_STR(err, "\"status\" appears twice");

    rc = ngx_http_mesh_parse_caps(
        "{\"node_id\":\"\\u0061b\",\"host\":\"\\u0031.2.3.4\",\"port\":65535,"
        "\"models\":[],\"hardware\":null,\"queued\":null,"
        "\"max_tasks\":999999,\"status\":\"draining\"}",
        strlen("{\"node_id\":\"\\u0061b\",\"host\":\"\\u0031.2.3.4\","
               "\"port\":65535,\"models\":[],\"hardware\":null,"
               "\"queued\":null,\"max_tasks\":999999,"
               "\"status\":\"draining\"}"),
        &caps, err);
    CHECK(rc == 0);
    CHECK_STR(caps.node_id, "ab");
    CHECK_STR(caps.host, "1.2.3.4");
    CHECK(caps.port == 65535);
    CHECK(caps.max_tasks == 999999);
    CHECK(caps.status == NGX_HTTP_MESH_STATUS_DRAINING);

    OK(CAPS, CAPS_HEAD ",\"status\":\"busy\",\"active_tasks\":999999}");
    OK(CAPS, CAPS_HEAD ",\"status\":\"degraded\",\"tokens_per_sec\":0}");
    OK(CAPS, CAPS_HEAD ",\"tokens_per_sec\":999999.9,\"agent_version\":\"\"}");
    OK(CAPS, CAPS_HEAD ",\"hardware\":{\"ram_total_gb\":1e-400}}");
    OK(CAPS, CAPS_HEAD ",\"agent_version\":"
             "\"0123456789012345678901234567890\"}");
    OK(CAPS, "{\"node_id\":\"" "abcdefghijklmnopqrstuvwxyz"
             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" "\",\"host\":"
             "\"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255\","
             "\"port\":2,\"models\":[]}");
    OK(CAPS, " \r\n\t" CAPS_HEAD "} \n");
}


static void
test_caps_fields(void)
{
    ERR(CAPS, "{\"host\":\"127.0.0.1\",\"port\":1,\"models\":[]}",
        "\"node_id\" is missing");
    ERR(CAPS, "{\"node_id\":\"a\",\"port\":1,\"models\":[]}",
        "\"host\" is missing");
    ERR(CAPS, "{\"node_id\":\"a\",\"host\":\"::1\",\"models\":[]}",
        "\"port\" is missing");
    ERR(CAPS, "{\"node_id\":\"a\",\"host\":\"::1\",\"port\":1}",
        "\"models\" is missing");
    ERR(CAPS, "{}", "\"node_id\" is missing");

#define BAD_ID  "\"node_id\" must be 1-63 characters of A-Z a-z 0-9 . _ -"
    ERR(CAPS, "{\"node_id\":\"\"}", BAD_ID);
    ERR(CAPS, "{\"node_id\":\"a b\"}", BAD_ID);
    ERR(CAPS, "{\"node_id\":\"a/b\"}", BAD_ID);
    ERR(CAPS, "{\"node_id\":\"\\u00e9\"}", BAD_ID);
    ERR(CAPS, "{\"node_id\":\"a\\u0000\"}", BAD_ID);
    ERR(CAPS, "{\"node_id\":7}", BAD_ID);
    ERR(CAPS, "{\"node_id\":null}", BAD_ID);
    ERR(CAPS, "{\"node_id\":[\"a\"]}", BAD_ID);
    ERR(CAPS, "{\"node_id\":"
        "\"0123456789012345678901234567890123456789012345678901234567890123\""
        "}", BAD_ID);

#define BAD_HOST  "\"host\" must be an IPv4 or IPv6 address"
    ERR(CAPS, "{\"host\":\"localhost\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"1.2.3\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"1.2.3.256\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"127.0.0.1 \"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"127.0.0.1\\u0000x\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"fe80::1%eth0\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"[::1]\"}", BAD_HOST);
    ERR(CAPS, "{\"host\":\"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2550\"}",
        BAD_HOST);
    ERR(CAPS, "{\"host\":2130706433}", BAD_HOST);

#define BAD_PORT  "\"port\" must be an integer 1-65535"
    ERR(CAPS, "{\"port\":0}", BAD_PORT);
    ERR(CAPS, "{\"port\":65536}", BAD_PORT);
    ERR(CAPS, "{\"port\":-1}", BAD_PORT);
    ERR(CAPS, "{\"port\":-0}", BAD_PORT);
    ERR(CAPS, "{\"port\":80.0}", BAD_PORT);
    ERR(CAPS, "{\"port\":8e1}", BAD_PORT);
    ERR(CAPS, "{\"port\":\"80\"}", BAD_PORT);
    ERR(CAPS, "{\"port\":true}", BAD_PORT);
    ERR(CAPS, "{\"port\":99999999999999999999999999999999}", BAD_PORT);

    ERR(CAPS, "{\"hardware\":[]}", "\"hardware\" must be an object");
    ERR(CAPS, "{\"hardware\":{\"ram_total_gb\":-1}}",
        "\"hardware.ram_total_gb\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"hardware\":{\"ram_free_gb\":1e6}}",
        "\"hardware.ram_free_gb\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"hardware\":{\"gpu_vram_gb\":\"8\"}}",
        "\"hardware.gpu_vram_gb\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"hardware\":{\"gpu_vram_gb\":1e400}}",
        "\"hardware.gpu_vram_gb\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"hardware\":{\"has_gpu\":1}}",
        "\"hardware.has_gpu\" must be true or false");
    ERR(CAPS, "{\"hardware\":{\"has_gpu\":false,\"has_gpu\":true}}",
        "\"hardware.has_gpu\" appears twice");

    ERR(CAPS, "{\"status\":\"sleeping\"}", "unknown status \"sleeping\"");
    ERR(CAPS, "{\"status\":\"Idle\"}", "unknown status \"Idle\"");
    ERR(CAPS, "{\"status\":\"\"}", "unknown status \"\"");
    ERR(CAPS, "{\"status\":\"a\\\"b\\n\"}", "unknown status \"a\\\"b\\n\"");
    ERR(CAPS, "{\"status\":\"abcdefghijklmnopqrstuvwxyz0123\"}",
        "unknown status \"abcdefghijklmnopqrstuvwx...\"");

    /* a cut never splits a UTF-8 character: 23 x then a 2-byte e-acute */
    ERR(CAPS, "{\"status\":\"xxxxxxxxxxxxxxxxxxxxxxx\\u00e9\"}",
        "unknown status \"xxxxxxxxxxxxxxxxxxxxxxx...\"");
    ERR(CAPS, "{\"status\":1}", "\"status\" must be a string");

    ERR(CAPS, "{\"active_tasks\":1000000}",
        "\"active_tasks\" must be an integer 0-999999");
    ERR(CAPS, "{\"max_tasks\":-1}",
        "\"max_tasks\" must be an integer 0-999999");
    ERR(CAPS, "{\"queued\":1.0}", "\"queued\" must be an integer 0-999999");
    ERR(CAPS, "{\"tokens_per_sec\":1000000}",
        "\"tokens_per_sec\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"tokens_per_sec\":false}",
        "\"tokens_per_sec\" must be a number >= 0 and < 1000000");

#define BAD_VERSION                                                          \
    "\"agent_version\" must be at most 31 printable characters without "     \
    "spaces or quotes"
    ERR(CAPS, "{\"agent_version\":\"01234567890123456789012345678901\"}",
        BAD_VERSION);
    ERR(CAPS, "{\"agent_version\":\"0.1 beta\"}", BAD_VERSION);
    ERR(CAPS, "{\"agent_version\":1}", BAD_VERSION);

    ERR(CAPS, "{\"port\":1,\"port\":1}", "\"port\" appears twice");
    ERR(CAPS, "{\"x\":1,\"x\":2,\"node_id\":\"\"}", BAD_ID);
}


static void
test_caps_models(void)
{
    int    i;
    char  *body, *p;

    ERR(CAPS, "{\"models\":{}}", "\"models\" must be an array");
    ERR(CAPS, "{\"models\":null}", "\"models\" must be an array");
    ERR(CAPS, "{\"models\":[\"codellama\"]}",
        "\"models[0]\" must be an object");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\"},[]]}",
        "\"models[1]\" must be an object");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\"},{\"type\":\"code\"}]}",
        "\"models[1].name\" is missing");

#define BAD_NAME(f)                                                          \
    "\"" f "\" must be 1-127 printable characters without spaces or quotes"
    ERR(CAPS, "{\"models\":[{\"name\":\"\"}]}", BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":\"a b\"}]}", BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":\"a'b\"}]}", BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":\"a\\\"b\"}]}",
        BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":\"a\\tb\"}]}",
        BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":\"caf\\u00e9\"}]}",
        BAD_NAME("models[0].name"));
    ERR(CAPS, "{\"models\":[{\"name\":null}]}", BAD_NAME("models[0].name"));

    ERR(CAPS, "{\"models\":[{\"name\":\"a\"},{\"name\":\"b\"},"
              "{\"name\":\"a\"}]}",
        "\"models[2].name\" repeats model \"a\"");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"name\":\"b\"}]}",
        "\"models[0].name\" appears twice");

    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"type\":\"summarize\"}]}",
        "unknown model type \"summarize\"");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"type\":\"audio\"}]}",
        "unknown model type \"audio\"");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"type\":2}]}",
        "\"models[0].type\" must be a string");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"size_gb\":-0.5}]}",
        "\"models[0].size_gb\" must be a number >= 0 and < 1000000");
    ERR(CAPS, "{\"models\":[{\"name\":\"a\",\"loaded\":\"true\"}]}",
        "\"models[0].loaded\" must be true or false");

    /* names of 127 bytes fit, 128 do not */
    body = test_repeat(CAPS_HEAD ",\"models\":[{\"name\":\"", 'm', 127,
                       "\"}]}");
    p = strstr(body, ",\"models\":[]");
    memset(p, ' ', strlen(",\"models\":[]"));
    test_ok(CAPS, body, strlen(body), __LINE__);
    free(body);

    body = test_repeat("{\"models\":[{\"name\":\"", 'm', 128, "\"}]}");
    test_err(CAPS, body, strlen(body), BAD_NAME("models[0].name"), __LINE__);
    free(body);

    /* 32 models fit, 33 do not */
    body = malloc(64 * 32 + 256);
    CHECK(body != NULL);
    if (body == NULL) {
        return;
    }

    p = body + sprintf(body, "{\"node_id\":\"a\",\"host\":\"::1\",\"port\":1,"
                             "\"models\":[");
    for (i = 0; i < 33; i++) {
        p += sprintf(p, "%s{\"name\":\"m%d\",\"type\":\"%s\"}", i ? "," : "",
                     i, ngx_http_mesh_type_name(i % 4));
    }

    strcpy(p, "]}");
    test_err(CAPS, body, strlen(body), "\"models\" has more than 32 entries",
             __LINE__);

    p = strstr(body, ",{\"name\":\"m32\"");
    strcpy(p, "]}");
    test_ok(CAPS, body, strlen(body), __LINE__);

    free(body);
}


static void
test_caps_roundtrip(void)
{
    int                    i;
    char                   err[NGX_HTTP_MESH_ERR_LEN], json[16384], *big;
    size_t                 len, n;
    ngx_http_mesh_caps_t   a, b;

    /* the sample is already canonical: it comes back byte for byte */
    CHECK(ngx_http_mesh_parse_caps(SAMPLE_CAPS, strlen(SAMPLE_CAPS), &a, err)
          == 0);
    len = ngx_http_mesh_caps_to_json(&a, json, sizeof(json));
    CHECK(len == strlen(SAMPLE_CAPS));
    CHECK_STR(json, SAMPLE_CAPS);

    /* too small a buffer, by any amount: 0 and an empty string */
    for (n = 1; n <= len; n++) {
        json[0] = 'x';
        if (ngx_http_mesh_caps_to_json(&a, json, n) != 0 || json[0] != '\0') {
            break;
        }
    }

    CHECK(n == len + 1);
    CHECK(ngx_http_mesh_caps_to_json(&a, json, 0) == 0);
    CHECK(ngx_http_mesh_caps_to_json(&a, json, len + 1) == len);

    /* every field at its widest, doubles that print badly */
    memset(&a, 0, sizeof(a));
    memset(a.node_id, 'n', NGX_HTTP_MESH_ID_LEN - 1);
    strcpy(a.host, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    a.port = 65535;
    a.nmodels = NGX_HTTP_MESH_MAX_MODELS;

    for (i = 0; i < NGX_HTTP_MESH_MAX_MODELS; i++) {
        memset(a.models[i].name, "0123456789abcdefghijklmnopqrstuv"[i],
               NGX_HTTP_MESH_MODEL_LEN - 1);
        a.models[i].type = (uint8_t) (i % 4);
        a.models[i].loaded = (uint8_t) (i & 1);
        a.models[i].size_gb = i * 0.1 + 1e-9 * i;
    }

    a.models[0].size_gb = 5e-324;
    a.models[1].size_gb = 999999.99999999988;
    a.ram_total_gb = 0.1 + 0.2;
    a.ram_free_gb = 1.0 / 3;
    a.has_gpu = 1;
    a.gpu_vram_gb = 1e-300;
    a.status = NGX_HTTP_MESH_STATUS_DRAINING;
    a.active_tasks = NGX_HTTP_MESH_COUNT_MAX;
    a.max_tasks = 1;
    a.queued = 7;
    a.tokens_per_sec = 123456.789;
    memset(a.agent_version, 'v', NGX_HTTP_MESH_VERSION_LEN - 1);

    len = ngx_http_mesh_caps_to_json(&a, json, sizeof(json));
    CHECK(len > 0 && len == strlen(json));
    CHECK(ngx_http_mesh_parse_caps(json, len, &b, err) == 0);
    CHECK_STR(err, "");
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);

    /* and once more, to a fixed point */
    big = malloc(len + 1);
    CHECK(big != NULL);
    if (big != NULL) {
        memcpy(big, json, len + 1);
        n = ngx_http_mesh_caps_to_json(&b, json, sizeof(json));
        CHECK(n == len && memcmp(big, json, len) == 0);
        free(big);
    }

    CHECK(strstr(json, "\"ram_total_gb\":0.30000000000000004,") != NULL);
    CHECK(strstr(json, "\"tokens_per_sec\":123456.789,") != NULL);

    /* what JSON cannot carry is written as 0 */
    a.ram_total_gb = NAN;
    a.tokens_per_sec = INFINITY;
    CHECK(ngx_http_mesh_caps_to_json(&a, json, sizeof(json)) > 0);
    CHECK(strstr(json, "\"ram_total_gb\":0,") != NULL);
    CHECK(strstr(json, "\"tokens_per_sec\":0,") != NULL);

    /* a string the parser never produces is still escaped */
    memset(&a, 0, sizeof(a));
    strcpy(a.node_id, "a\"b\n");
    CHECK(ngx_http_mesh_caps_to_json(&a, json, sizeof(json)) > 0);
    CHECK(strncmp(json, "{\"node_id\":\"a\\\"b\\n\",", 20) == 0);
}


static void
test_json_errors(void)
{
    ERR(CAPS, "", "body is empty");
    ERR(TASK, "", "body is empty");
    ERR(OLLAMA, "", "body is empty");
    ERR(LEAVE, "", "body is empty");
    ERR(CAPS, "   ", "invalid JSON at byte 3: parse error: premature EOF");
    ERR(CAPS, "{", "invalid JSON at byte 1: parse error: premature EOF");

    ERR(CAPS, "[]", "body must be a JSON object");
    ERR(CAPS, "\"x\"", "body must be a JSON object");
    ERR(CAPS, "12", "body must be a JSON object");
    ERR(CAPS, "null", "body must be a JSON object");
    ERR(OLLAMA, "[{\"model\":\"m\"}]", "body must be a JSON object");

    /* the position is where yajl stopped, counted from 1 */
    ERR(CAPS, "{\"node_id\":x}",
        "invalid JSON at byte 12: lexical error: invalid char in json text.");
    ERR(CAPS, "{\"node_id\":\"a\",}",
        "invalid JSON at byte 16: parse error: invalid object key "
        "(must be a string)");
    ERR(CAPS, "{'node_id':1}",
        "invalid JSON at byte 2: lexical error: invalid char in json text.");
    ERR(CAPS, CAPS_HEAD "} x",
        "invalid JSON at byte 62: parse error: trailing garbage");
    ERR(CAPS, CAPS_HEAD "}{}",
        "invalid JSON at byte 61: parse error: trailing garbage");
    ERR(CAPS, "{\"a\":/* no */1}",
        "invalid JSON at byte 5: lexical error: probable comment found in "
        "input text, comments are not enabled.");
    ERR(CAPS, "{\"a\":01}",
        "invalid JSON at byte 6: parse error: after key and value, inside "
        "map, I expect ',' or '}'");
    ERR(CAPS, "{\"a\":1.}",
        "invalid JSON at byte 7: lexical error: malformed number, a digit is "
        "required after the decimal point.");
    ERR(CAPS, "{\"a\":tru}",
        "invalid JSON at byte 8: lexical error: invalid string in json "
        "text.");
    ERR(CAPS, "{\"a\":\"\xff\"}",
        "invalid JSON at byte 7: lexical error: invalid bytes in UTF8 "
        "string.");
    ERR(CAPS, "{\"a\":\"\xc3\"}",
        "invalid JSON at byte 8: lexical error: invalid bytes in UTF8 "
        "string.");
    ERR(CAPS, "{\"a\":\"\\x\"}",
        "invalid JSON at byte 7: lexical error: inside a string, '\\' occurs "
        "before a character which it may not.");
    ERR(CAPS, "{\"a\":\"\t\"}",
        "invalid JSON at byte 6: lexical error: invalid character inside "
        "string.");
    ERR(CAPS, "{\"a\":\"\0\"}",
        "invalid JSON at byte 6: lexical error: invalid character inside "
        "string.");
    ERR(CAPS, "{\"a\":[1 2]}",
        "invalid JSON at byte 9: parse error: after array element, I expect "
        "',' or ']'");
}


static void
test_limits(void)
{
    char    *body, *big;
    size_t   n;

    /* nesting: the body and 31 levels below fit, the 33rd level does not */
    body = test_repeat(CAPS_HEAD ",\"x\":", '[', 31, "");
    big = test_repeat(body, ']', 31, "}");
    test_ok(CAPS, big, strlen(big), __LINE__);
    free(big);
    free(body);

    body = test_repeat(CAPS_HEAD ",\"x\":", '[', 32, "");
    big = test_repeat(body, ']', 32, "}");
    n = strlen(CAPS_HEAD ",\"x\":") + 32;
    {
        char  want[NGX_HTTP_MESH_ERR_LEN];

        snprintf(want, sizeof(want),
                 "JSON nested deeper than 32 levels at byte %zu", n);
        test_err(CAPS, big, strlen(big), want, __LINE__);
    }
    free(big);
    free(body);

    /* a bomb of a million brackets stops at the limit, in every parser */
    body = test_repeat("{\"x\":", '[', 1000000, "");
    test_err(TASK, body, strlen(body),
             "JSON nested deeper than 32 levels at byte 37", __LINE__);
    test_err(OLLAMA, body, strlen(body),
             "JSON nested deeper than 32 levels at byte 37", __LINE__);
    free(body);

    body = test_repeat("{\"x\":", '[', 10000, "");
    test_err(CAPS, body, strlen(body),
             "JSON nested deeper than 32 levels at byte 37", __LINE__);
    test_err(LEAVE, body, strlen(body),
             "JSON nested deeper than 32 levels at byte 37", __LINE__);
    free(body);

    body = test_repeat("{\"type\":\"text\",\"prompt\":\"\",\"options\":", '[',
                       40, "");
    test_err(TASK, body, strlen(body), "\"options\" must be an object",
             __LINE__);
    free(body);

    body = test_repeat("{\"options\":{\"a\":", '[', 40, "");
    test_err(TASK, body, strlen(body),
             "JSON nested deeper than 32 levels at byte 47", __LINE__);
    free(body);

    /* numbers: 32 characters fit, 33 do not */
    OK(CAPS, CAPS_HEAD ",\"x\":-1.234567890123456789012345e+300}");
    ERR(CAPS, CAPS_HEAD ",\"x\":123456789012345678901234567890123}",
        "number longer than 32 characters at byte 97");
    ERR(CAPS, CAPS_HEAD ",\"tokens_per_sec\":1234567890123456789012345678901"
        "23}",
        "number longer than 32 characters at byte 110");

    /* keys: 256 bytes fit, 257 do not */
    body = test_repeat(CAPS_HEAD ",\"", 'k', 256, "\":1}");
    test_ok(CAPS, body, strlen(body), __LINE__);
    free(body);

    body = test_repeat("{\"", 'k', 257, "\":1}");
    test_err(CAPS, body, strlen(body), "key longer than 256 bytes at byte 260",
             __LINE__);
    free(body);

    /* body sizes, checked before parsing */
    big = malloc(NGX_HTTP_MESH_BODY_MAX + 1);
    CHECK(big != NULL);
    if (big != NULL) {
        memset(big, ' ', NGX_HTTP_MESH_CAPS_BODY_MAX + 1);
        big[0] = '{';
        big[NGX_HTTP_MESH_CAPS_BODY_MAX - 1] = '}';
        test_err(CAPS, big, NGX_HTTP_MESH_CAPS_BODY_MAX,
                 "\"node_id\" is missing", __LINE__);
        test_err(CAPS, big, NGX_HTTP_MESH_CAPS_BODY_MAX + 1,
                 "body is larger than 65536 bytes", __LINE__);
        test_err(LEAVE, big, NGX_HTTP_MESH_CAPS_BODY_MAX + 1,
                 "body is larger than 65536 bytes", __LINE__);
        test_err(TASK, big, NGX_HTTP_MESH_BODY_MAX + 1,
                 "body is larger than 67108864 bytes", __LINE__);
        test_err(OLLAMA, big, NGX_HTTP_MESH_BODY_MAX + 1,
                 "body is larger than 67108864 bytes", __LINE__);
        free(big);
    }

    /* text: a prompt of 1 MiB fits, one byte more does not */
    body = test_repeat("{\"type\":\"text\",\"prompt\":\"", 'p',
                       NGX_HTTP_MESH_TEXT_MAX, "\"}");
    test_ok(TASK, body, strlen(body), __LINE__);
    free(body);

    body = test_repeat("{\"type\":\"text\",\"system\":\"", 's',
                       NGX_HTTP_MESH_TEXT_MAX + 1, "\"}");
    test_err(TASK, body, strlen(body),
             "\"system\" must be a string of at most 1048576 bytes", __LINE__);
    free(body);

    /* options re-serialised: 64 KiB fit, more do not */
    body = test_repeat("{\"type\":\"text\",\"prompt\":\"\","
                       "\"options\":{\"s\":\"", 'o',
                       NGX_HTTP_MESH_OPTIONS_MAX - 8, "\"}}");
    test_ok(TASK, body, strlen(body), __LINE__);
    free(body);

    body = test_repeat("{\"options\":{\"s\":\"", 'o',
                       NGX_HTTP_MESH_OPTIONS_MAX - 7, "\"}}");
    test_err(TASK, body, strlen(body), "\"options\" is larger than 65536 bytes",
             __LINE__);
    free(body);

    body = test_repeat("{\"options\":{\"a\":[1,{\"s\":\"", 'o',
                       NGX_HTTP_MESH_OPTIONS_MAX, "\"}]}}");
    test_err(TASK, body, strlen(body), "\"options\" is larger than 65536 bytes",
             __LINE__);
    free(body);
}


/* every proper prefix of a good body is an error, never a crash or a pass */

static void
test_truncated(void)
{
    size_t       i, n;
    const char  *bodies[] = { SAMPLE_CAPS, SAMPLE_TASK, SAMPLE_CHAT };
    int          which[] = { CAPS, TASK, OLLAMA };
    char         err[NGX_HTTP_MESH_ERR_LEN];
    int          bad;

    for (i = 0; i < 3; i++) {
        bad = 0;

        for (n = 1; n < strlen(bodies[i]); n++) {
            if (test_parse(which[i], bodies[i], n, err) != -1
                || strncmp(err, "invalid JSON at byte ", 21) != 0)
            {
                fprintf(stderr, "prefix %zu of body %zu: %s\n", n, i, err);
                bad++;
            }
        }

        CHECK(bad == 0);
        CHECK(test_parse(which[i], bodies[i], n, err) == 0);
    }
}


static void
test_task_good(void)
{
    int                   rc;
    char                  err[NGX_HTTP_MESH_ERR_LEN];
    test_arena_t          arena;
    ngx_http_mesh_task_t  task;

    test_arena_init(&arena, -1);

    rc = ngx_http_mesh_parse_task(SAMPLE_TASK, strlen(SAMPLE_TASK), &task,
                                  test_arena_alloc, &arena, err);
    CHECK(rc == 0);
    CHECK(task.type == NGX_HTTP_MESH_TYPE_VISION);
    CHECK(task.stream == 0);
    CHECK(task.model.len == 8);
    CHECK_STR(task.model.data, "llava:7b");
    CHECK(task.prompt.len == strlen("h\xc3\xa9llo \xf0\x9f\x98\x80\n\"q\""));
    CHECK_STR(task.prompt.data, "h\xc3\xa9llo \xf0\x9f\x98\x80\n\"q\"");
    CHECK_STR(task.system.data, "be brief");
    CHECK(task.nimages == 2);
    CHECK_STR(task.images[0].data, "aGk=");
    CHECK(task.images[1].len == 9);
    CHECK_STR(task.images[1].data, "aGk\r\naGk=");
    CHECK_STR(task.options.data,
              "{\"temperature\":0.7,\"num_predict\":8,\"stop\":[\"\\n\","
              "\"\xc3\xa9\"],\"x\":{\"a\":[1,true,null,-2.5e3]}}");
    CHECK(task.options.len == strlen(task.options.data));
    test_arena_free(&arena);

    /* the minimum: defaults everywhere */
#define MIN_TASK  "{\"prompt\":\"\",\"type\":\"summarize\"}"
    rc = ngx_http_mesh_parse_task(MIN_TASK, strlen(MIN_TASK), &task,
                                  test_arena_alloc, &arena, err);
    CHECK(rc == 0);
    CHECK(task.type == NGX_HTTP_MESH_TYPE_SUMMARIZE);
    CHECK(task.stream == 1);
    CHECK(task.model.len == 0 && task.model.data == NULL);
    CHECK(task.prompt.len == 0 && task.prompt.data != NULL);
    CHECK(task.system.len == 0 && task.nimages == 0);
    CHECK(task.options.len == 0 && task.options.data == NULL);
    test_arena_free(&arena);

#define NULL_TASK                                                            \
    "{\"type\":\"code\",\"prompt\":\"x\",\"model\":\"\",\"images\":[],"       \
    "\"options\":{},\"stream\":null,\"system\":null}"
    rc = ngx_http_mesh_parse_task(NULL_TASK, strlen(NULL_TASK), &task,
                                  test_arena_alloc, &arena, err);
    CHECK(rc == 0);
    CHECK(task.type == NGX_HTTP_MESH_TYPE_CODE);
    CHECK(task.model.len == 0 && task.nimages == 0 && task.stream == 1);
    CHECK_STR(task.options.data, "{}");
    test_arena_free(&arena);

    OK(TASK, "{\"type\":\"text\",\"prompt\":\"a\\u0000b\"}");
    OK(TASK, "{\"type\":\"text\",\"prompt\":\"\",\"images\":[\"aGk=\","
             "\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\","
             "\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\",\"aGk=\","
             "\"aGk=\",\"aGk=\",\"aGk=\"]}");
}


static void
test_task_errors(void)
{
    ERR(TASK, "{\"prompt\":\"x\"}", "\"type\" is missing");
    ERR(TASK, "{\"type\":\"text\"}", "\"prompt\" is missing");
    ERR(TASK, "{\"type\":\"embedding\"}", "unknown task type \"embedding\"");
    ERR(TASK, "{\"type\":\"Code\"}", "unknown task type \"Code\"");
    ERR(TASK, "{\"type\":\"\"}", "unknown task type \"\"");
    ERR(TASK, "{\"type\":\"\\u0000\"}", "unknown task type \"\\u0000\"");
    ERR(TASK, "{\"type\":3}", "\"type\" must be a string");
    ERR(TASK, "{\"type\":null}", "\"type\" must be a string");
    ERR(TASK, "{\"type\":\"text\",\"type\":\"code\"}",
        "\"type\" appears twice");

    ERR(TASK, "{\"prompt\":null}",
        "\"prompt\" must be a string of at most 1048576 bytes");
    ERR(TASK, "{\"prompt\":[\"a\"]}",
        "\"prompt\" must be a string of at most 1048576 bytes");
    ERR(TASK, "{\"system\":{}}",
        "\"system\" must be a string of at most 1048576 bytes");
    ERR(TASK, "{\"model\":\"a b\"}", BAD_NAME("model"));
    ERR(TASK, "{\"model\":7}", BAD_NAME("model"));

    ERR(TASK, "{\"images\":\"aGk=\"}", "\"images\" must be an array");
    ERR(TASK, "{\"images\":[\"aGk=\",1]}",
        "\"images[1]\" must be a base64 string");
    ERR(TASK, "{\"images\":[\"\"]}", "\"images[0]\" must be a base64 string");
    ERR(TASK, "{\"images\":[\"data:image/png;base64,aGk=\"]}",
        "\"images[0]\" must be a base64 string");
    ERR(TASK, "{\"images\":[[\"aGk=\"]]}",
        "\"images[0]\" must be a base64 string");
    ERR(TASK, "{\"images\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
              "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
        "\"images\" has more than 16 entries");

    ERR(TASK, "{\"stream\":\"yes\"}", "\"stream\" must be true or false");
    ERR(TASK, "{\"options\":[]}", "\"options\" must be an object");
    ERR(TASK, "{\"options\":\"{}\"}", "\"options\" must be an object");
    ERR(TASK, "{\"options\":{},\"options\":{}}", "\"options\" appears twice");

    /* what is wrong inside options is still found */
    ERR(TASK, "{\"options\":{\"a\":[1,2}}",
        "invalid JSON at byte 21: parse error: after array element, I expect "
        "',' or ']'");
    ERR(TASK, "{\"options\":{\"a\":1234567890123456789012345678901234}}",
        "number longer than 32 characters at byte 50");
}


/* every allocation the task parser makes can fail, cleanly */

static void
test_task_oom(void)
{
    int                   i, rc, needed, bad;
    char                  err[NGX_HTTP_MESH_ERR_LEN];
    test_arena_t          arena;
    ngx_http_mesh_task_t  task;

    test_arena_init(&arena, -1);
    rc = ngx_http_mesh_parse_task(SAMPLE_TASK, strlen(SAMPLE_TASK), &task,
                                  test_arena_alloc, &arena, err);
    needed = arena.count;
    test_arena_free(&arena);

    CHECK(rc == 0);
    CHECK(needed == 7);     /* model, prompt, system, images[], 2, options */

    bad = 0;

    for (i = 0; i < needed; i++) {
        test_arena_init(&arena, i);
        rc = ngx_http_mesh_parse_task(SAMPLE_TASK, strlen(SAMPLE_TASK), &task,
                                      test_arena_alloc, &arena, err);
        test_arena_free(&arena);

        if (rc != -1 || strcmp(err, "out of memory") != 0) {
            fprintf(stderr, "allocation %d: rc %d \"%s\"\n", i, rc, err);
            bad++;
        }
    }

    CHECK(bad == 0);
}


/* the offsets the OpenAI door edits the body at */

static void
test_openai(void)
{
    int                         rc;
    char                        err[NGX_HTTP_MESH_ERR_LEN];
    const char                 *json;
    ngx_http_mesh_openai_req_t  req;

    json = "{\"model\":\"mesh:summarize\",\"messages\":[{\"role\":\"user\"}]}";
    rc = ngx_http_mesh_parse_openai(json, strlen(json), &req, err);
    CHECK(rc == 0);
    CHECK(req.model_start == 9 && req.model_end == 25);
    CHECK(req.messages_start == 38 && json[req.messages_start - 1] == '[');

    json = "{ \"messages\" :  [ ] , \"model\" : \"m\" }";
    rc = ngx_http_mesh_parse_openai(json, strlen(json), &req, err);
    CHECK(rc == 0);
    CHECK(req.messages_start == 17 && json[req.messages_start] == ' ');
    CHECK(json[req.model_start] == '"' && json[req.model_end - 1] == '"');

    json = "{\"model\":\"m\",\"prompt\":\"p\",\"messages\":null}";
    rc = ngx_http_mesh_parse_openai(json, strlen(json), &req, err);
    CHECK(rc == 0 && req.messages_start == 0);
}


static void
test_ollama(void)
{
    int                         rc;
    char                        err[NGX_HTTP_MESH_ERR_LEN];
    ngx_http_mesh_ollama_req_t  req;

#define OLLAMA_OK(json)                                                      \
    rc = ngx_http_mesh_parse_ollama(json, sizeof(json) - 1, &req, err);     \
    CHECK(rc == 0);                                                          \
    CHECK_STR(err, "")

    OLLAMA_OK(SAMPLE_CHAT);
    CHECK_STR(req.model, "llava");
    CHECK(req.has_model == 1 && req.stream == 0 && req.has_images == 1);

    OLLAMA_OK("{\"model\":\"llama3.2:1b\",\"prompt\":\"hi\"}");
    CHECK_STR(req.model, "llama3.2:1b");
    CHECK(req.stream == 1 && req.has_images == 0);

    OLLAMA_OK("{\"model\":\"llava\",\"prompt\":\"?\",\"images\":[\"aGk=\"],"
              "\"stream\":true}");
    CHECK(req.stream == 1 && req.has_images == 1);

    OLLAMA_OK("{\"model\":\"llava\",\"images\":[],\"stream\":null}");
    CHECK(req.stream == 1 && req.has_images == 0);

    OLLAMA_OK("{\"model\":\"llava\",\"images\":null,\"messages\":null}");
    CHECK(req.has_images == 0);

    OLLAMA_OK("{\"messages\":[{\"images\":[]},{\"role\":\"user\"},"
              "{\"images\":null}],\"model\":\"m\"}");
    CHECK(req.has_images == 0);

    OLLAMA_OK("{\"messages\":[{\"content\":\"a\",\"images\":[[1],{}]}],"
              "\"model\":\"m\"}");
    CHECK(req.has_images == 1);

    OLLAMA_OK("{\"model\":\"nomic-embed-text\",\"input\":[\"a\",\"b\"],"
              "\"truncate\":true,\"options\":{\"x\":{\"images\":[1]}}}");
    CHECK_STR(req.model, "nomic-embed-text");
    CHECK(req.has_images == 0);

    /* Go's json matches keys without regard to case, and so must we */
    OLLAMA_OK("{\"Model\":\"a\",\"STREAM\":false,\"Images\":[\"x\"]}");
    CHECK_STR(req.model, "a");
    CHECK(req.stream == 0 && req.has_images == 1);

    OLLAMA_OK("{\"model\":\"a\",\"\xc5\xbftream\":false}");
    CHECK(req.stream == 0);

    OLLAMA_OK("{\"mod\":1,\"model\":\"a\",\"mo\\u0064el2\":\"b\","
              "\"streams\":1}");
    CHECK_STR(req.model, "a");
    CHECK(req.stream == 1);

    ERR(OLLAMA, "{\"model\":\"a\",\"Model\":\"b\"}", "\"model\" appears twice");
    ERR(OLLAMA, "{\"model\":\"a\",\"stream\":1,\"stream\":true}",
        "\"stream\" must be true or false");
    ERR(OLLAMA, "{\"model\":\"a\",\"stream\":true,\"STREAM\":false}",
        "\"stream\" appears twice");

    ERR(OLLAMA, "{\"prompt\":\"hi\"}", "model is required");
    ERR(OLLAMA, "{\"model\":\"\"}", "model is required");
    ERR(OLLAMA, "{\"model\":null}", "model is required");
    ERR(OLLAMA, "{\"model\":1}", BAD_NAME("model"));
    ERR(OLLAMA, "{\"model\":\"a b\"}", BAD_NAME("model"));
    ERR(OLLAMA, "{\"model\":\"m\",\"stream\":\"false\"}",
        "\"stream\" must be true or false");
    ERR(OLLAMA, "{\"model\":\"m\",\"images\":\"aGk=\"}",
        "\"images\" must be an array");
    ERR(OLLAMA, "{\"model\":\"m\",\"messages\":{}}",
        "\"messages\" must be an array");
    ERR(OLLAMA, "{\"model\":\"m\",\"messages\":[\"hi\"]}",
        "\"messages[0]\" must be an object");
    ERR(OLLAMA, "{\"model\":\"m\",\"messages\":[{},{\"images\":\"x\"}]}",
        "\"messages[1].images\" must be an array");
    ERR(OLLAMA, "{\"model\":\"m\",\"messages\":[{\"images\":[],"
                "\"Images\":[]}]}",
        "\"messages[0].images\" appears twice");
    ERR(OLLAMA, "{\"model\":\"m\",\"x\":[1,}",
        "invalid JSON at byte 21: parse error: unallowed token at this "
        "point in JSON text");
}


static void
test_leave(void)
{
    int   rc;
    char  err[NGX_HTTP_MESH_ERR_LEN], id[NGX_HTTP_MESH_ID_LEN];

#define LEAVE_BODY  "{\"reason\":\"bye\",\"node_id\":\"pi-4\"}"
    rc = ngx_http_mesh_parse_node_id(LEAVE_BODY, strlen(LEAVE_BODY), id, err);
    CHECK(rc == 0);
    CHECK_STR(id, "pi-4");

    ERR(LEAVE, "{}", "\"node_id\" is missing");
    ERR(LEAVE, "{\"Node_id\":\"a\"}", "\"node_id\" is missing");
    ERR(LEAVE, "{\"node_id\":\"a b\"}", BAD_ID);
    ERR(LEAVE, "{\"node_id\":\"a\",\"node_id\":\"a\"}",
        "\"node_id\" appears twice");
    ERR(LEAVE, "\"node_id\"", "body must be a JSON object");
}


static int
test_feed_parse(const char *json, char *err)
{
    ngx_http_mesh_feed_filter_t  f;

    memset(&f, 0, sizeof(f));
    err[0] = '\0';

    return ngx_http_mesh_parse_feed_filter(json, strlen(json), &f, err);
}


/* the live feed's filter: lists, prefixes, messages and their errors */

static void
test_feed(void)
{
    int                          i;
    char                         err[NGX_HTTP_MESH_ERR_LEN], list[1024];
    ngx_http_mesh_feed_filter_t  f;

#define PASS(name)  ngx_http_mesh_feed_filter_pass(&f, name, strlen(name))

    memset(&f, 0, sizeof(f));
    CHECK(PASS("node.load") && PASS(""));

    CHECK(ngx_http_mesh_feed_filter_list(&f, NGX_HTTP_MESH_FEED_EXCLUDE,
                                         "node.heartbeat,,node.load", 25,
                                         err) == 0);
    CHECK(f.lists[1].n == 2);
    CHECK(!PASS("node.load") && !PASS("node.heartbeat") && PASS("node.up"));
    CHECK(PASS("node.load.x") && PASS("node.loa"));

    CHECK(ngx_http_mesh_feed_filter_list(&f, NGX_HTTP_MESH_FEED_ONLY,
                                         "task.*", 6, err) == 0);
    CHECK(PASS("task.done") && PASS("task.") && !PASS("task")
          && !PASS("node.up") && !PASS("tasks.done"));

    /* an empty only= lets nothing through */
    memset(&f, 0, sizeof(f));
    CHECK(ngx_http_mesh_feed_filter_list(&f, NGX_HTTP_MESH_FEED_ONLY, "", 0,
                                         err) == 0);
    CHECK(!PASS("task.done"));

    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, "a b", 3, err) == -1);
    CHECK_STR(err, "bad event name \"a b\": letters, digits, \"._-\", "
                   "and \".*\" at the end");
    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, "*", 1, err) == -1);
    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, "a*", 2, err) == -1);
    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, "a.*b", 4, err) == -1);

    memset(&f, 0, sizeof(f));
    list[0] = '\0';

    for (i = 0; i <= NGX_HTTP_MESH_FEED_NAMES; i++) {
        strcat(list, i ? ",n" : "n");
    }

    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, list, strlen(list), err)
          == -1);
    CHECK_STR(err, "a filter has at most 16 names per list");

    memset(list, 'a', NGX_HTTP_MESH_FEED_NAME_LEN);
    CHECK(ngx_http_mesh_feed_filter_list(&f, 1, list,
                                         NGX_HTTP_MESH_FEED_NAME_LEN, err)
          == -1);
    CHECK_STR(err, "an event name has 1 to 47 characters");

    /* a message replaces the whole filter */
    memset(&f, 0, sizeof(f));
    CHECK(ngx_http_mesh_feed_filter_list(&f, 0, "task.*", 6, err) == 0);
    CHECK(ngx_http_mesh_parse_feed_filter("{\"exclude\":[\"node.load\"]}",
                                          25, &f, err) == 0);
    CHECK(!f.lists[0].set && f.lists[1].n == 1 && PASS("task.done")
          && !PASS("node.load"));
    CHECK(ngx_http_mesh_parse_feed_filter("{\"only\":[],\"x\":1}", 17, &f,
                                          err) == 0);
    CHECK(f.lists[0].set && !PASS("task.done"));

    /* a bad message changes nothing */
    CHECK(test_feed_parse("{}", err) == -1);
    CHECK_STR(err, "a filter message needs \"only\" or \"exclude\"");
    CHECK(test_feed_parse("{\"only\":\"task.done\"}", err) == -1);
    CHECK_STR(err, "\"only\" must be an array");
    CHECK(test_feed_parse("{\"only\":[1]}", err) == -1);
    CHECK(test_feed_parse("[\"only\"]", err) == -1);
    CHECK(test_feed_parse("{\"only\":[\"a\"", err) == -1);
    CHECK(f.lists[0].set && !PASS("task.done"));

#undef PASS
}
