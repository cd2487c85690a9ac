/*
 * A walk over a JSON text with yajl's streaming parser: every value is
 * reported with its path (".models[].name"), fed in chunks of any size.
 * Nothing is kept of the document but the current path.
 */

#ifndef ECHO_AGENT_JSON_WALK_H
#define ECHO_AGENT_JSON_WALK_H

#include <stddef.h>

#include <yajl/yajl_parse.h>


#define JW_DEPTH_MAX  64
#define JW_PATH_MAX   512
#define JW_KEY_MAX    64
#define JW_ERR_MAX    160


typedef enum {
    JW_NULL = 0,
    JW_BOOL,
    JW_NUMBER,
    JW_STRING,
    JW_MAP_START,
    JW_MAP_END,
    JW_ARRAY_START,
    JW_ARRAY_END
} jw_type_t;


/*
 * Called for every value; path is "" for the root, ".key" inside a map and
 * "[]" for array elements.  Keys that are too long or contain '.' or '['
 * appear as "?" so they never match a real path.  Return 0 to stop the
 * parse with the error message set by jw_fail().
 */
typedef int (*jw_handler_pt)(void *ud, const char *path, jw_type_t type,
    const char *val, size_t len);


typedef struct {
    yajl_handle     yajl;
    jw_handler_pt   handler;
    void           *ud;
    unsigned        depth;
    size_t          base[JW_DEPTH_MAX + 1];
    size_t          plen;
    char            path[JW_PATH_MAX];
    unsigned        overflow;
    size_t          fed;
    size_t          err_pos;
    int             failed;
    char            err[JW_ERR_MAX];
} jw_t;


int jw_init(jw_t *jw, jw_handler_pt handler, void *ud);
int jw_feed(jw_t *jw, const char *p, size_t n);
int jw_finish(jw_t *jw);
void jw_fail(jw_t *jw, const char *msg);
void jw_free(jw_t *jw);


#endif /* ECHO_AGENT_JSON_WALK_H */
