
/*
 * The live feed's filter: which event names a client receives.  The
 * lists come from the query (?only=a,b.*&exclude=c) or from a client
 * message {"only":[...],"exclude":[...]}.  Plain C, no nginx types: unit
 * tested and fuzzed with the other parsers.
 */


#ifndef _NGX_HTTP_MESH_PARSE_FEED_H_INCLUDED_
#define _NGX_HTTP_MESH_PARSE_FEED_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_MESH_FEED_NAMES     16     /* names per list */
#define NGX_HTTP_MESH_FEED_NAME_LEN  48     /* bytes of a name, with NUL */
#define NGX_HTTP_MESH_FEED_MSG_MAX   4096   /* a filter message */

#define NGX_HTTP_MESH_FEED_ONLY      0
#define NGX_HTTP_MESH_FEED_EXCLUDE   1


/* a name ending in ".*" matches every name that starts with what precedes */
typedef struct {
    char        names[NGX_HTTP_MESH_FEED_NAMES][NGX_HTTP_MESH_FEED_NAME_LEN];
    uint8_t     n;
    uint8_t     set;        /* given, even if empty */
} ngx_http_mesh_feed_list_t;


typedef struct {
    ngx_http_mesh_feed_list_t  lists[2];    /* only, exclude */
} ngx_http_mesh_feed_filter_t;


/*
 * A comma-separated list (already unescaped) into lists[which]; empty
 * items are skipped.  0, or -1 with a message in err (NGX_HTTP_MESH_ERR_LEN).
 */
int ngx_http_mesh_feed_filter_list(ngx_http_mesh_feed_filter_t *filter,
    int which, const char *data, size_t len, char *err);

/* {"only":[names],"exclude":[names]}: the whole filter is replaced */
int ngx_http_mesh_parse_feed_filter(const char *data, size_t len,
    ngx_http_mesh_feed_filter_t *filter, char *err);

/* 1: an event of this name passes the filter */
int ngx_http_mesh_feed_filter_pass(const ngx_http_mesh_feed_filter_t *filter,
    const char *name, size_t len);


#endif /* _NGX_HTTP_MESH_PARSE_FEED_H_INCLUDED_ */
