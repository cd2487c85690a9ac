/*
 * The shared buffer as the agent uses it: a hard size limit, appends
 * that fit entirely or leave the contents alone, and error bodies
 * escaped as Ollama (Go) escapes them, always valid JSON.
 */

#include "unit.h"

#include "buf.h"


int
main(void)
{
    buf_t  b;

    buf_init(&b, 64);
    CHECK_INT(buf_json_error(&b, "bad \"x\"\n<b>&\x01 \xff caf\xc3\xa9"),
              0);
    CHECK_STR(b.data, "{\"error\":\"bad \\\"x\\\"\\n\\u003cb\\u003e\\u0026"
              "\\u0001 \\ufffd caf\xc3\xa9\"}");
    buf_free(&b);

    /* a limit of 8: what does not fit is refused whole */
    buf_init(&b, 8);
    CHECK_INT(buf_puts(&b, "1234"), 0);
    CHECK_INT(buf_json_string(&b, "abcdef", 6), -1);
    CHECK_STR(b.data, "1234");
    CHECK_INT(b.len, 4);
    CHECK_INT(buf_puts(&b, "5"), -1);
    buf_reset(&b);
    CHECK_INT(buf_puts(&b, "12345678"), 0);
    CHECK_INT(buf_printf(&b, "%d", 9), -1);
    CHECK_STR(b.data, "12345678");
    buf_free(&b);

    /* a limit of 0 holds nothing */
    buf_init(&b, 0);
    CHECK_INT(buf_append(&b, "x", 1), -1);
    CHECK(b.data == NULL);
    buf_free(&b);

    return UNIT_DONE();
}
