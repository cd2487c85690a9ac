/*
 * Unit tests: format documents and tool arguments (sim_shape.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_buf.h"
#include "sim_shape.h"
#include "sim_test.h"


static void
fill(const char *schema, const char *text, long num, sim_buf_t *b)
{
    yajl_val  tree = NULL;

    sim_buf_init(b);
    tree = sim_shape_tree(schema, strlen(schema));
    CHECK(tree != NULL);
    sim_shape_fill(b, tree, text, strlen(text), num, 0);
    sim_buf_addc(b, '\0');
    yajl_tree_free(tree);
}


static void
test_fill(void)
{
    sim_buf_t  b;

    fill("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\"},"
         "\"i\":{\"type\":\"integer\"},\"n\":{\"type\":\"number\"},"
         "\"b\":{\"type\":\"boolean\"},\"a\":{\"type\":\"array\","
         "\"items\":{\"type\":\"integer\"}},\"e\":{\"enum\":[{\"k\":1},2]},"
         "\"c\":{\"const\":\"x\"},\"t\":{\"type\":[\"null\",\"string\"]},"
         "\"z\":{\"type\":\"null\"},\"o\":{\"properties\":{}}}}",
         "hi \"you\"", 3, &b);
    CHECK_STR(b.data, "{\"s\":\"hi \\\"you\\\"\",\"i\":3,\"n\":3.5,"
              "\"b\":true,\"a\":[3],\"e\":{\"k\":1},\"c\":\"x\","
              "\"t\":\"hi \\\"you\\\"\",\"z\":null,\"o\":{}}");
    sim_buf_free(&b);

    /* not a schema, or no type: null */
    fill("[1]", "x", 1, &b);
    CHECK_STR(b.data, "null");
    sim_buf_free(&b);
    fill("{\"description\":\"x\"}", "x", 1, &b);
    CHECK_STR(b.data, "null");
    sim_buf_free(&b);

    /* Go's field matching: exact first, else without case */
    fill("{\"TYPE\":\"integer\"}", "x", 7, &b);
    CHECK_STR(b.data, "7");
    sim_buf_free(&b);
}


/* Deep or huge schemas stay bounded and the document stays JSON. */
static void
test_limits(void)
{
    sim_buf_t   s, b;
    yajl_val    tree = NULL;
    char       *text = NULL;
    int         i;

    sim_buf_init(&s);
    for (i = 0; i < 100; i++) {
        sim_buf_adds(&s, "{\"type\":\"array\",\"items\":");
    }
    sim_buf_adds(&s, "{\"type\":\"integer\"}");
    for (i = 0; i < 100; i++) {
        sim_buf_addc(&s, '}');
    }
    fill(s.data, "x", 1, &b);
    CHECK(strstr(b.data, "null") != NULL);
    tree = sim_shape_tree(b.data, strlen(b.data));
    CHECK(tree != NULL);
    yajl_tree_free(tree);
    sim_buf_free(&b);
    sim_buf_free(&s);

    text = malloc(40000);
    CHECK(text != NULL);
    memset(text, 'w', 39999);
    text[39999] = '\0';

    sim_buf_init(&s);
    sim_buf_adds(&s, "{\"properties\":{");
    for (i = 0; i < 1000; i++) {
        sim_buf_printf(&s, "%s\"p%d\":{\"type\":\"string\"}", i ? "," : "",
                       i);
    }
    sim_buf_adds(&s, "}}");
    fill(s.data, text, 1, &b);
    CHECK(b.len < SIM_SHAPE_MAX + 50000);
    CHECK(strstr(b.data, "\"p999\":null") != NULL);
    tree = sim_shape_tree(b.data, strlen(b.data));
    CHECK(tree != NULL && YAJL_IS_OBJECT(tree)
          && tree->u.object.len == 1000);
    yajl_tree_free(tree);
    sim_buf_free(&b);
    sim_buf_free(&s);
    free(text);
}


int
main(void)
{
    test_fill();
    test_limits();
    return sim_test_done("test_shape");
}
