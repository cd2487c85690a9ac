
/*
 * Unit tests of the gRPC door's plain C part: message prefixes, whole and
 * cut; grpc-timeout in every unit and malformed; grpc-message's
 * percent-encoding; the NDJSON lines a pipeline writes, as the door reads
 * them; and the status of each failure reason.
 */


#include <stdio.h>
#include <string.h>

#include "../ngx_http_mesh_grpc_codec.h"
#include "test_arena.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            failures++;                                                      \
        }                                                                    \
    } while (0)


static int  failures;


static void test_frames(void);
static void test_timeouts(void);
static void test_percent(void);
static void test_lines(void);


int
main(void)
{
    test_frames();
    test_timeouts();
    test_percent();
    test_lines();

    if (failures) {
        printf("test_grpc: %d failures\n", failures);
        return 1;
    }

    printf("test_grpc: all passed\n");
    return 0;
}


static void
test_frames(void)
{
    size_t                len, cut;
    unsigned char         buf[64];
    const unsigned char  *msg;

    ngx_http_mesh_grpc_prefix(buf, 3);
    memcpy(buf + 5, "abc", 3);

    CHECK(buf[0] == 0 && buf[4] == 3 && buf[1] == 0);
    CHECK(ngx_http_mesh_grpc_unframe(buf, 8, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_OK);
    CHECK(len == 3 && memcmp(msg, "abc", 3) == 0);

    /* every cut is short, and a byte more is not one message */

    for (cut = 0; cut < 8; cut++) {
        CHECK(ngx_http_mesh_grpc_unframe(buf, cut, 16, &msg, &len)
              == NGX_HTTP_MESH_GRPC_FRAME_SHORT);
    }

    CHECK(ngx_http_mesh_grpc_unframe(buf, 9, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_SHORT);

    /* an empty message is a message */

    ngx_http_mesh_grpc_prefix(buf, 0);
    CHECK(ngx_http_mesh_grpc_unframe(buf, 5, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_OK && len == 0);

    /* the length is checked before anything is read: 4 GiB - 1 */

    memcpy(buf, "\0\xff\xff\xff\xff", 5);
    CHECK(ngx_http_mesh_grpc_unframe(buf, 5, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_LARGE);

    ngx_http_mesh_grpc_prefix(buf, 17);
    CHECK(ngx_http_mesh_grpc_unframe(buf, 22, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_LARGE);

    ngx_http_mesh_grpc_prefix(buf, 0x01020304);
    CHECK(buf[1] == 1 && buf[2] == 2 && buf[3] == 3 && buf[4] == 4);

    buf[0] = 1;
    buf[1] = buf[2] = buf[3] = 0;
    buf[4] = 3;
    CHECK(ngx_http_mesh_grpc_unframe(buf, 8, 16, &msg, &len)
          == NGX_HTTP_MESH_GRPC_FRAME_COMPRESSED);
}


static void
test_timeouts(void)
{
    uint64_t  ms;

    CHECK(ngx_http_mesh_grpc_timeout("1S", 2, &ms) == 0 && ms == 1000);
    CHECK(ngx_http_mesh_grpc_timeout("2H", 2, &ms) == 0 && ms == 7200000);
    CHECK(ngx_http_mesh_grpc_timeout("3M", 2, &ms) == 0 && ms == 180000);
    CHECK(ngx_http_mesh_grpc_timeout("250m", 4, &ms) == 0 && ms == 250);
    CHECK(ngx_http_mesh_grpc_timeout("1500u", 5, &ms) == 0 && ms == 2);
    CHECK(ngx_http_mesh_grpc_timeout("1n", 2, &ms) == 0 && ms == 1);
    CHECK(ngx_http_mesh_grpc_timeout("0m", 2, &ms) == 0 && ms == 0);
    CHECK(ngx_http_mesh_grpc_timeout("99999999S", 9, &ms) == 0
          && ms == 99999999000ULL);

    CHECK(ngx_http_mesh_grpc_timeout("S", 1, &ms) == -1);
    CHECK(ngx_http_mesh_grpc_timeout("", 0, &ms) == -1);
    CHECK(ngx_http_mesh_grpc_timeout("10", 2, &ms) == -1);
    CHECK(ngx_http_mesh_grpc_timeout("1s", 2, &ms) == -1);
    CHECK(ngx_http_mesh_grpc_timeout("-1S", 3, &ms) == -1);
    CHECK(ngx_http_mesh_grpc_timeout("123456789S", 10, &ms) == -1);
}


static void
test_percent(void)
{
    char         out[64];
    size_t       n;
    const char  *s = "no node: 50% \"x\"\n\xc3\xa9";

    n = ngx_http_mesh_grpc_percent(s, strlen(s), NULL);
    CHECK(n == ngx_http_mesh_grpc_percent(s, strlen(s), out));
    out[n] = '\0';
    CHECK(strcmp(out, "no node: 50%25 \"x\"%0A%C3%A9") == 0);

    CHECK(strcmp(ngx_http_mesh_grpc_status_name(14), "UNAVAILABLE") == 0);
    CHECK(strcmp(ngx_http_mesh_grpc_status_name(99), "UNKNOWN") == 0);
}


static void
test_lines(void)
{
    char                        err[NGX_HTTP_MESH_ERR_LEN];
    const char                 *s;
    test_arena_t                a;
    ngx_http_mesh_grpc_line_t   l;

    test_arena_init(&a, -1);

    s = "{\"model\":\"m\",\"created_at\":\"x\",\"response\":\"a\\nb\","
        "\"done\":false}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_TOKENS && l.has_response
          && l.response.len == 3 && memcmp(l.response.data, "a\nb", 3) == 0
          && !l.done);

    s = "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"context\":[1,2],"
        "\"total_duration\":1234567890123,\"eval_count\":11}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_TOKENS && l.done
          && l.eval_count == 11 && l.total_duration == 1234567890123.0);

    s = "{\"event\":\"step\",\"index\":2,\"node\":\"b\",\"model\":\"mistral\","
        "\"task_id\":\"t1\"}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_STEP && l.index == 2
          && strcmp(l.node.data, "b") == 0
          && strcmp(l.task_id.data, "t1") == 0);

    s = "{\"event\":\"step_done\",\"index\":1,\"output\":\"out\","
        "\"tokens\":6,\"duration_ms\":3}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_STEP_DONE && l.tokens == 6
          && strcmp(l.output.data, "out") == 0);

    s = "{\"event\":\"pipeline_failed\",\"error\":\"step 1 failed\","
        "\"index\":1,\"node\":null,\"reason\":\"queue_timeout\","
        "\"steps\":[{\"index\":1,\"node\":\"a\"}]}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_FAILED && l.node.data == NULL
          && strcmp(l.reason.data, "queue_timeout") == 0);
    CHECK(ngx_http_mesh_grpc_reason_status(l.reason.data, l.reason.len)
          == NGX_HTTP_MESH_GRPC_UNAVAILABLE);

    s = "{\"event\":\"pipeline_done\",\"steps\":[],\"done\":true}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_DONE);

    s = "{\"error\":\"mesh: node \\\"a\\\" failed mid-stream\",\"node\":\"a\"}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_ERROR
          && strstr(l.error.data, "mid-stream") != NULL);

    s = "{\"event\":\"what\"}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == 0);
    CHECK(l.kind == NGX_HTTP_MESH_GRPC_L_OTHER);

    s = "{\"response\":1}";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == -1);
    s = "{\"response\":\"a\"";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == -1);
    s = "not json";
    CHECK(ngx_http_mesh_grpc_line(s, strlen(s), &l, test_arena_alloc, &a,
                                  err) == -1);

    CHECK(ngx_http_mesh_grpc_reason_status("node_failed_mid_stream", 22)
          == NGX_HTTP_MESH_GRPC_UNAVAILABLE);
    CHECK(ngx_http_mesh_grpc_reason_status("no_capable_node", 15)
          == NGX_HTTP_MESH_GRPC_NOT_FOUND);
    CHECK(ngx_http_mesh_grpc_reason_status("whatever", 8)
          == NGX_HTTP_MESH_GRPC_INTERNAL);

    test_arena_free(&a);
}
