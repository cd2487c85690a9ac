#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_json.h"
#include "sim_shape.h"


static const char *sim_shape_type(yajl_val schema);


/*
 * A tree of a body the event parser accepted.  NULL when yajl's tree
 * parser refuses it (bytes after the first value, which Go ignores) or
 * memory runs out: the caller then answers as for an empty schema.
 */
yajl_val
sim_shape_tree(const char *body, size_t len)
{
    char      *copy = NULL;
    yajl_val   v = NULL;

    copy = malloc(len + 1);
    if (copy == NULL) {
        return NULL;
    }

    memcpy(copy, body, len);
    copy[len] = '\0';
    v = yajl_tree_parse(copy, NULL, 0);
    free(copy);

    return v;
}


/* Go matches a struct field exactly, else without regard to case. */
yajl_val
sim_shape_key(yajl_val obj, const char *key)
{
    yajl_val  folded = NULL;
    size_t    i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
        if (folded == NULL && strcasecmp(obj->u.object.keys[i], key) == 0) {
            folded = obj->u.object.values[i];
        }
    }

    return folded;
}


/* Compact JSON of a tree value (numbers as they were written). */
void
sim_shape_write(sim_buf_t *b, yajl_val v)
{
    size_t  i;

    if (v == NULL) {
        sim_buf_adds(b, "null");
        return;
    }

    switch (v->type) {
    case yajl_t_string:
        sim_json_cstr(b, v->u.string);
        break;
    case yajl_t_number:
        sim_buf_adds(b, v->u.number.r);
        break;
    case yajl_t_true:
        sim_buf_adds(b, "true");
        break;
    case yajl_t_false:
        sim_buf_adds(b, "false");
        break;
    case yajl_t_object:
        sim_buf_addc(b, '{');
        for (i = 0; i < v->u.object.len; i++) {
            sim_json_key(b, v->u.object.keys[i]);
            sim_shape_write(b, v->u.object.values[i]);
        }
        sim_buf_addc(b, '}');
        break;
    case yajl_t_array:
        sim_buf_addc(b, '[');
        for (i = 0; i < v->u.array.len; i++) {
            sim_json_sep(b);
            sim_shape_write(b, v->u.array.values[i]);
        }
        sim_buf_addc(b, ']');
        break;
    default:
        sim_buf_adds(b, "null");
        break;
    }
}


/* The schema's "type"; of a list of types, the first that is not null. */
static const char *
sim_shape_type(yajl_val schema)
{
    yajl_val  t = sim_shape_key(schema, "type");
    size_t    i;

    if (t != NULL && YAJL_IS_STRING(t)) {
        return t->u.string;
    }

    if (t != NULL && YAJL_IS_ARRAY(t)) {
        for (i = 0; i < t->u.array.len; i++) {
            yajl_val  e = t->u.array.values[i];

            if (YAJL_IS_STRING(e) && strcmp(e->u.string, "null") != 0) {
                return e->u.string;
            }
        }
    }

    if (sim_shape_key(schema, "properties") != NULL) {
        return "object";
    }

    return NULL;
}


/*
 * A value that fits the schema, as a model constrained by it would
 * write one: the first "enum" value or the "const"; every property of
 * an object in the schema's order; one item in an array; text for a
 * string, num for an integer, num + 0.5 for a number, true, null.
 */
void
sim_shape_fill(sim_buf_t *b, yajl_val schema, const char *text,
    size_t tlen, long num, int depth)
{
    const char  *type = NULL;
    yajl_val     v = NULL, props = NULL;
    size_t       i;

    if (schema == NULL || !YAJL_IS_OBJECT(schema)
        || depth > SIM_SHAPE_DEPTH_MAX || b->len > SIM_SHAPE_MAX)
    {
        sim_buf_adds(b, "null");
        return;
    }

    v = sim_shape_key(schema, "enum");
    if (v != NULL && YAJL_IS_ARRAY(v) && v->u.array.len > 0) {
        sim_shape_write(b, v->u.array.values[0]);
        return;
    }

    v = sim_shape_key(schema, "const");
    if (v != NULL) {
        sim_shape_write(b, v);
        return;
    }

    type = sim_shape_type(schema);

    if (type == NULL || strcmp(type, "null") == 0) {
        sim_buf_adds(b, "null");

    } else if (strcmp(type, "object") == 0) {
        props = sim_shape_key(schema, "properties");
        sim_buf_addc(b, '{');
        for (i = 0; props != NULL && YAJL_IS_OBJECT(props)
                    && i < props->u.object.len; i++)
        {
            sim_json_key(b, props->u.object.keys[i]);
            sim_shape_fill(b, props->u.object.values[i], text, tlen, num,
                           depth + 1);
        }
        sim_buf_addc(b, '}');

    } else if (strcmp(type, "array") == 0) {
        sim_buf_addc(b, '[');
        v = sim_shape_key(schema, "items");
        if (v != NULL && YAJL_IS_OBJECT(v)) {
            sim_shape_fill(b, v, text, tlen, num, depth + 1);
        }
        sim_buf_addc(b, ']');

    } else if (strcmp(type, "string") == 0) {
        sim_json_str(b, text, tlen);

    } else if (strcmp(type, "integer") == 0) {
        sim_buf_printf(b, "%ld", num);

    } else if (strcmp(type, "number") == 0) {
        sim_buf_printf(b, "%ld.5", num);

    } else if (strcmp(type, "boolean") == 0) {
        sim_buf_adds(b, "true");

    } else {
        sim_buf_adds(b, "null");
    }
}
