/*
 * The JSON path walker and the task body check: paths, chunk boundaries,
 * the model Ollama would pick, and errors with their byte position (the
 * 1-based position of the offending byte, as yajl counts it).
 */

#include "unit.h"

#include "buf.h"
#include "json_walk.h"
#include "task_body.h"


typedef struct {
    buf_t  out;
} trace_t;


static const char  *type_names[] = {
    "null", "bool", "num", "str", "{", "}", "[", "]"
};


static int
trace_value(void *ud, const char *path, jw_type_t type, const char *val,
    size_t len)
{
    trace_t  *t = ud;

    buf_printf(&t->out, "%s %s", path[0] ? path : "$", type_names[type]);
    if (val != NULL) {
        buf_printf(&t->out, " %.*s", (int) len, val);
    }
    buf_puts(&t->out, ";");
    return 1;
}


/* walks text fed in pieces of chunk bytes, returns the trace */
static char *
walk(const char *text, size_t chunk, int *rc)
{
    jw_t      jw;
    trace_t   t;
    size_t    off, n, len;

    buf_init(&t.out, 1 << 16);
    buf_puts(&t.out, "");
    jw_init(&jw, trace_value, &t);

    *rc = 0;
    len = strlen(text);
    for (off = 0; off < len && *rc == 0; off += n) {
        n = len - off < chunk ? len - off : chunk;
        *rc = jw_feed(&jw, text + off, n);
    }
    if (*rc == 0) {
        *rc = jw_finish(&jw);
    }

    jw_free(&jw);
    return t.out.data;
}


static void
test_paths(void)
{
    const char  *doc = "{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"n\":null},"
                       "\"d\":true,\"e\":[[2]],\"a.b\":0,\"f\":{}}";
    const char  *want = "$ {;.a {;.a.b [;.a.b[] num 1;.a.b[] {;"
                        ".a.b[].c str x;.a.b[] };.a.b ];.a.n null null;.a };"
                        ".d bool true;.e [;.e[] [;.e[][] num 2;.e[] ];.e ];"
                        ".? num 0;.f {;.f };$ };";
    char        *got = NULL;
    size_t       chunk;
    int          rc;

    for (chunk = 1; chunk <= 64; chunk = chunk * 3 + 1) {
        got = walk(doc, chunk, &rc);
        CHECK_INT(rc, 0);
        CHECK_STR(got, want);
        free(got);
    }
}


static void
test_depth_limit(void)
{
    char    doc[300];
    char   *got = NULL;
    int     rc;

    memset(doc, '[', 100);
    memset(doc + 100, ']', 100);
    doc[200] = '\0';

    got = walk(doc, 7, &rc);
    CHECK_INT(rc, -1);
    free(got);
}


static int
body_check(const char *text, size_t chunk, char *model, char *err,
    size_t errlen)
{
    task_body_t  t;
    size_t       off, n, len;
    int          rc = 0;

    task_body_init(&t);
    len = strlen(text);
    for (off = 0; off < len && rc == 0; off += n) {
        n = len - off < chunk ? len - off : chunk;
        rc = task_body_feed(&t, text + off, n);
    }
    if (rc == 0) {
        rc = task_body_finish(&t);
    }

    strcpy(model, t.model_set ? t.model : "-");
    err[0] = '\0';
    if (rc != 0) {
        task_body_error(&t, err, errlen);
    }

    task_body_free(&t);
    return rc;
}


static void
test_task_body(void)
{
    char    model[TASK_MODEL_MAX + 2], err[256], big[400];
    size_t  chunk;

    for (chunk = 1; chunk < 100; chunk += 33) {
        CHECK_INT(body_check("{\"model\":\"llama3\",\"prompt\":\"hi\"}",
                             chunk, model, err, sizeof(err)), 0);
        CHECK_STR(model, "llama3");

        /* Go's decoder: keys match in any case, the last one wins */
        CHECK_INT(body_check("{\"model\":\"a\",\"MODEL\":\"b\"}", chunk,
                             model, err, sizeof(err)), 0);
        CHECK_STR(model, "b");

        CHECK_INT(body_check("{\"options\":{\"model\":\"x\"},\"model\":\"y\","
                             "\"messages\":[{\"model\":\"z\"}]}", chunk,
                             model, err, sizeof(err)), 0);
        CHECK_STR(model, "y");

        CHECK_INT(body_check("{\"prompt\":\"no model\"}", chunk, model, err,
                             sizeof(err)), 0);
        CHECK_STR(model, "-");
    }

    CHECK_INT(body_check("{\"model\":\"a\",}", 4, model, err, sizeof(err)),
              -1);
    CHECK_STR(err, "invalid JSON at byte 14: invalid object key (must be a "
              "string)");

    CHECK_INT(body_check("{\"model\":\"a\"", 5, model, err, sizeof(err)),
              -1);
    CHECK_STR(err, "invalid JSON at byte 12: premature EOF");

    CHECK_INT(body_check("", 5, model, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid JSON at byte 0: premature EOF");

    CHECK_INT(body_check("[1,2]", 5, model, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid JSON at byte 1: the body must be a JSON object");

    CHECK_INT(body_check("{\"model\":7}", 3, model, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid JSON at byte 10: \"model\" must be a string");

    CHECK_INT(body_check("{\"model\":\"a\"} {}", 3, model, err,
                         sizeof(err)), -1);
    CHECK_STR(err, "invalid JSON at byte 15: trailing garbage");

    CHECK_INT(body_check("{\"model\":\"\xff\"}", 3, model, err,
                         sizeof(err)), -1);
    CHECK(strstr(err, "invalid JSON at byte ") == err);

    /* a model name longer than any real one is refused, not cut */
    strcpy(big, "{\"model\":\"");
    memset(big + 10, 'm', 300);
    strcpy(big + 310, "\"}");
    CHECK_INT(body_check(big, 64, model, err, sizeof(err)), -1);
    CHECK(strstr(err, "too long") != NULL);
}


int
main(void)
{
    test_paths();
    test_depth_limit();
    test_task_body();
    return UNIT_DONE();
}
