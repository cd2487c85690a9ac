/*
 * Replies whose shape a client parses: "format" ("json" or a JSON
 * schema) and tool calls.  The request body was already checked by the
 * event parser (sim_request.c); what these need of it (the schema, a
 * tool's parameters) is read from a yajl tree of that valid body.
 */

#ifndef SIM_SHAPE_H
#define SIM_SHAPE_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "sim_buf.h"

/* Deeper schemas, and values beyond this size, are answered with null. */
#define SIM_SHAPE_DEPTH_MAX  32
#define SIM_SHAPE_MAX        (4 * 1024 * 1024)


yajl_val sim_shape_tree(const char *body, size_t len);
yajl_val sim_shape_key(yajl_val obj, const char *key);
void sim_shape_write(sim_buf_t *b, yajl_val v);
void sim_shape_fill(sim_buf_t *b, yajl_val schema, const char *text,
    size_t tlen, long num, int depth);

#endif /* SIM_SHAPE_H */
