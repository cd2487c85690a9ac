/*
 * Unit tests: JSON escaping (Go's rules), the JSON writer helpers,
 * timestamps, Go durations and Go-style quoting.
 */

#include <stdint.h>
#include <stdlib.h>

#include "sim_buf.h"
#include "sim_json.h"
#include "sim_time.h"
#include "sim_test.h"


static char  out[4096];


static const char *
esc(const char *s, size_t n)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_json_str(&b, s, n);
    snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "(oom)");
    sim_buf_free(&b);
    return out;
}


#define ESC(lit)  esc(lit, sizeof(lit) - 1)


static void
test_escape(void)
{
    CHECK_STR(ESC(""), "\"\"");
    CHECK_STR(ESC("plain text 123"), "\"plain text 123\"");
    CHECK_STR(ESC("say \"hi\" \\ o/"), "\"say \\\"hi\\\" \\\\ o/\"");
    CHECK_STR(ESC("a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
    CHECK_STR(ESC("\b\f"), "\"\\b\\f\"");
    CHECK_STR(ESC("\x01\x1f"), "\"\\u0001\\u001f\"");
    CHECK_STR(ESC("nul\0byte"), "\"nul\\u0000byte\"");
    /* Go escapes HTML-sensitive characters */
    CHECK_STR(ESC("<b>&</b>"), "\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\"");
    /* valid UTF-8 passes through */
    CHECK_STR(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* U+2028 and U+2029 are escaped */
    CHECK_STR(ESC("a\xe2\x80\xa8" "b\xe2\x80\xa9"),
              "\"a\\u2028b\\u2029\"");
    /* invalid UTF-8 becomes U+FFFD, one per bad byte */
    CHECK_STR(ESC("x\xff" "y"), "\"x\\ufffdy\"");
    CHECK_STR(ESC("\xc3"), "\"\\ufffd\"");
    CHECK_STR(ESC("\xc0\xaf"), "\"\\ufffd\\ufffd\"");         /* overlong */
    CHECK_STR(ESC("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    CHECK_STR(ESC("\xf4\x90\x80\x80"),
              "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");              /* > U+10FFFF */
    CHECK_STR(ESC("\x7f"), "\"\x7f\"");
}


static void
test_writer(void)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "model", "m");
    sim_json_kint(&b, "n", -42);
    sim_json_kbool(&b, "done", 1);
    sim_json_key(&b, "arr");
    sim_buf_addc(&b, '[');
    sim_json_sep(&b);
    sim_json_float(&b, 0.5);
    sim_json_sep(&b);
    sim_json_float(&b, -1.25);
    sim_buf_adds(&b, "]}");
    CHECK_STR(b.data, "{\"model\":\"m\",\"n\":-42,\"done\":true,"
              "\"arr\":[0.5,-1.25]}");
    CHECK(sim_buf_ok(&b));
    sim_buf_free(&b);

    sim_buf_init(&b);
    sim_json_float(&b, 0.0 / 0.0);
    CHECK_STR(b.data, "0");
    sim_buf_free(&b);
}


static void
test_time(void)
{
    char     ts[SIM_TIME_STR_MAX];
    int64_t  base = 1691139765LL * SIM_NS_PER_SEC;     /* 2023-08-04 */

    sim_time_rfc3339(base + 499127000, ts, sizeof(ts));
    CHECK_STR(ts, "2023-08-04T09:02:45.499127Z");
    sim_time_rfc3339(base + 385406455, ts, sizeof(ts));
    CHECK_STR(ts, "2023-08-04T09:02:45.385406455Z");
    sim_time_rfc3339(base, ts, sizeof(ts));
    CHECK_STR(ts, "2023-08-04T09:02:45Z");
    sim_time_rfc3339(base + 100000000, ts, sizeof(ts));
    CHECK_STR(ts, "2023-08-04T09:02:45.1Z");
}


static void
test_duration(void)
{
    int64_t  ns = -7;

    CHECK(sim_duration_parse("5m", 2, &ns) == 0 && ns == 300 * SIM_NS_PER_SEC);
    CHECK(sim_duration_parse("0", 1, &ns) == 0 && ns == 0);
    CHECK(sim_duration_parse("1h30m", 5, &ns) == 0
          && ns == 5400 * SIM_NS_PER_SEC);
    CHECK(sim_duration_parse("1.5s", 4, &ns) == 0
          && ns == 1500 * SIM_NS_PER_MS);
    CHECK(sim_duration_parse("250ms", 5, &ns) == 0
          && ns == 250 * SIM_NS_PER_MS);
    CHECK(sim_duration_parse("-1m", 3, &ns) == 0
          && ns == -60 * SIM_NS_PER_SEC);
    CHECK(sim_duration_parse("5", 1, &ns) != 0);        /* missing unit */
    CHECK(sim_duration_parse("", 0, &ns) != 0);
    CHECK(sim_duration_parse("m", 1, &ns) != 0);
    CHECK(sim_duration_parse("5x", 2, &ns) != 0);
    CHECK(sim_duration_parse("-", 1, &ns) != 0);
    CHECK(sim_duration_parse("99999999999h", 12, &ns) != 0);
}


static void
test_quote(void)
{
    char  q[32];

    sim_go_quote(q, sizeof(q), "llama3", 6);
    CHECK_STR(q, "\"llama3\"");
    sim_go_quote(q, sizeof(q), "a\"b\\c", 5);
    CHECK_STR(q, "\"a\\\"b\\\\c\"");
    sim_go_quote(q, sizeof(q), "\x01z", 2);
    CHECK_STR(q, "\"\\x01z\"");
    sim_go_quote(q, sizeof(q), "0123456789012345678901234567890123456789",
                 40);
    CHECK(strlen(q) < sizeof(q) && q[0] == '"' && q[strlen(q) - 1] == '"');
}


int
main(void)
{
    test_escape();
    test_writer();
    test_time();
    test_duration();
    test_quote();
    return sim_test_done("test_json");
}
