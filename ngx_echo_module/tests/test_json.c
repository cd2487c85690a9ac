
/*
 * Unit tests of ngx_http_mesh_json.c's ngx_http_mesh_json_put_str(),
 * put_int() and put_double(), which the task events use without the
 * writer: each must write what the writer writes for the same value, and
 * never more than its bound (NGX_HTTP_MESH_JSON_STR_LEN, _NUM_LEN).
 * Strings: every byte alone, every pair of bytes, then random strings
 * drawn mostly from the bytes that are escaped.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_mesh_json.h"
#include "test_check.h"


#define TEST_JSON_CANARY  0xa5
#define TEST_JSON_MAX     64


static void test_json_str(ngx_pool_t *pool, u_char *s, size_t len);
static void test_json_num(ngx_pool_t *pool, int64_t n, const double *d);
static void test_json_written(ngx_pool_t *pool, ngx_str_t *want);
static void test_json_bound(u_char *buf, size_t bound, size_t size);


static u_char  test_json_buf[6 * TEST_JSON_MAX + 64];
static size_t  test_json_len;


int
main(void)
{
    int          i, k, c, d;
    size_t       len;
    u_char       s[TEST_JSON_MAX];
    ngx_pool_t  *pool;

    static const u_char  alphabet[] = "a\"\\\n\r\t\b\f\x01\x1f\x7f\xc3\xa9/ ";

    static const int64_t  ints[] = {
        0, 1, -1, 9, 10, -10, 99, 100, 1796188020616LL, -1796188020616LL,
        2147483647LL, -2147483648LL, 9223372036854775807LL,
        -9223372036854775807LL - 1
    };

    static const double  doubles[] = {
        0, 0.0004, 0.0005, 1, -1, 8000, 1.5, -1.5, 2.0005, 123456.789,
        -0.0004, 1e15, -1e15
    };

    pool = ngx_create_pool(1024, NULL);
    if (pool == NULL) {
        return 2;
    }

    test_json_str(pool, (u_char *) "", 0);

    for (c = 0; c < 256; c++) {
        s[0] = (u_char) c;
        test_json_str(pool, s, 1);

        for (d = 0; d < 256; d++) {
            s[1] = (u_char) d;
            test_json_str(pool, s, 2);
        }
    }

    srandom(13);

    for (i = 0; i < 20000; i++) {
        len = random() % (TEST_JSON_MAX + 1);

        for (k = 0; k < (int) len; k++) {
            s[k] = (random() % 4)
                   ? alphabet[random() % (sizeof(alphabet) - 1)]
                   : (u_char) (random() % 256);
        }

        test_json_str(pool, s, len);
    }

    for (i = 0; i < (int) (sizeof(ints) / sizeof(ints[0])); i++) {
        test_json_num(pool, ints[i], NULL);
    }

    for (i = 0; i < (int) (sizeof(doubles) / sizeof(doubles[0])); i++) {
        test_json_num(pool, 0, &doubles[i]);
    }

    ngx_destroy_pool(pool);

    return test_check_report();
}


static void
test_json_str(ngx_pool_t *pool, u_char *s, size_t len)
{
    u_char                *p;
    ngx_str_t              want, str;
    ngx_http_mesh_json_t   w;

    str.data = s;
    str.len = len;

    if (ngx_http_mesh_json_init(&w, pool, 16) != NGX_OK) {
        CHECK(0);
        return;
    }

    ngx_http_mesh_json_str(&w, &str);
    CHECK(ngx_http_mesh_json_result(&w, &want) == NGX_OK);

    memset(test_json_buf, TEST_JSON_CANARY, sizeof(test_json_buf));
    p = ngx_http_mesh_json_put_str(test_json_buf, s, len);
    test_json_len = p - test_json_buf;

    test_json_bound(test_json_buf, NGX_HTTP_MESH_JSON_STR_LEN(len),
                    sizeof(test_json_buf));
    test_json_written(pool, &want);
}


/* n as an integer, or *d as a double */

static void
test_json_num(ngx_pool_t *pool, int64_t n, const double *d)
{
    u_char                *p;
    ngx_str_t              want;
    ngx_http_mesh_json_t   w;

    if (ngx_http_mesh_json_init(&w, pool, 4) != NGX_OK) {
        CHECK(0);
        return;
    }

    memset(test_json_buf, TEST_JSON_CANARY, sizeof(test_json_buf));

    if (d == NULL) {
        ngx_http_mesh_json_int(&w, n);
        p = ngx_http_mesh_json_put_int(test_json_buf, n);

    } else {
        ngx_http_mesh_json_double(&w, *d);
        p = ngx_http_mesh_json_put_double(test_json_buf, *d);
    }

    CHECK(ngx_http_mesh_json_result(&w, &want) == NGX_OK);
    test_json_len = p - test_json_buf;

    test_json_bound(test_json_buf, NGX_HTTP_MESH_JSON_NUM_LEN,
                    sizeof(test_json_buf));
    test_json_written(pool, &want);
}


/* what the put_ function wrote (test_json_buf) against the writer's */

static void
test_json_written(ngx_pool_t *pool, ngx_str_t *want)
{
    char  *got, *exp;

    got = ngx_palloc(pool, test_json_len + 1);
    exp = ngx_palloc(pool, want->len + 1);

    if (got == NULL || exp == NULL) {
        CHECK(0);
        return;
    }

    memcpy(got, test_json_buf, test_json_len);
    got[test_json_len] = '\0';
    memcpy(exp, want->data, want->len);
    exp[want->len] = '\0';

    CHECK(test_json_len == want->len
          && memcmp(test_json_buf, want->data, want->len) == 0);

    if (test_json_len != want->len
        || memcmp(test_json_buf, want->data, want->len) != 0)
    {
        CHECK_STR(got, exp);
    }
}


/* nothing written at or past bound */

static void
test_json_bound(u_char *buf, size_t bound, size_t size)
{
    size_t  i;

    CHECK(test_json_len <= bound);

    for (i = bound; i < size; i++) {
        if (buf[i] != TEST_JSON_CANARY) {
            CHECK(buf[i] == TEST_JSON_CANARY);
            return;
        }
    }
}
