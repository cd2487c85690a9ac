
/*
 * The feed filter: lists of event names, from a query or a client message.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_mesh_parse_core.h"
#include "ngx_http_mesh_parse_feed.h"


enum {
    NGX_HTTP_MESH_FEED_BODY = 0,
    NGX_HTTP_MESH_FEED_NAMES_ONLY,
    NGX_HTTP_MESH_FEED_NAMES_EXCLUDE
};


static int ngx_http_mesh_feed_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_feed_add(ngx_http_mesh_feed_list_t *list,
    const char *name, size_t len, char *err);
static int ngx_http_mesh_feed_name_char(int c);


static const char *const  ngx_http_mesh_feed_keys[] = {
    "only", "exclude", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_feed_kinds[] = {
    { ngx_http_mesh_feed_keys, 0 },
    { NULL, 0 },
    { NULL, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_feed_spec = {
    ngx_http_mesh_feed_kinds, ngx_http_mesh_feed_value,
    NGX_HTTP_MESH_FEED_MSG_MAX, 0
};


int
ngx_http_mesh_feed_filter_list(ngx_http_mesh_feed_filter_t *filter,
    int which, const char *data, size_t len, char *err)
{
    const char                 *p, *last, *comma;
    ngx_http_mesh_feed_list_t  *list;

    list = &filter->lists[which];
    list->set = 1;

    p = data;
    last = data + len;

    while (p < last) {
        comma = memchr(p, ',', last - p);

        if (comma == NULL) {
            comma = last;
        }

        if (comma > p
            && ngx_http_mesh_feed_add(list, p, comma - p, err) != 0)
        {
            return -1;
        }

        p = comma + 1;
    }

    return 0;
}


int
ngx_http_mesh_parse_feed_filter(const char *data, size_t len,
    ngx_http_mesh_feed_filter_t *filter, char *err)
{
    ngx_http_mesh_parser_t       p;
    ngx_http_mesh_feed_filter_t  parsed;

    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));
    memset(&parsed, 0, sizeof(ngx_http_mesh_feed_filter_t));

    p.spec = &ngx_http_mesh_feed_spec;
    p.data = &parsed;
    p.err = err;

    if (ngx_http_mesh_parse_run(&p, data, len) != 0) {
        return -1;
    }

    if (!parsed.lists[0].set && !parsed.lists[1].set) {
        snprintf(err, NGX_HTTP_MESH_ERR_LEN,
                 "a filter message needs \"only\" or \"exclude\"");
        return -1;
    }

    *filter = parsed;

    return 0;
}


int
ngx_http_mesh_feed_filter_pass(const ngx_http_mesh_feed_filter_t *filter,
    const char *name, size_t len)
{
    int                               which, hit;
    size_t                            n;
    uint8_t                           i;
    const char                       *pat;
    const ngx_http_mesh_feed_list_t  *list;

    for (which = 0; which < 2; which++) {
        list = &filter->lists[which];

        if (!list->set) {
            continue;
        }

        hit = 0;

        for (i = 0; i < list->n && !hit; i++) {
            pat = list->names[i];
            n = strlen(pat);

            if (n >= 2 && pat[n - 2] == '.' && pat[n - 1] == '*') {
                hit = len >= n - 1 && memcmp(name, pat, n - 1) == 0;

            } else {
                hit = len == n && memcmp(name, pat, n) == 0;
            }
        }

        if (hit != (which == NGX_HTTP_MESH_FEED_ONLY)) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_mesh_feed_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    int                           which;
    ngx_http_mesh_feed_filter_t  *filter;

    filter = p->data;

    if (f->kind == NGX_HTTP_MESH_FEED_BODY) {
        which = f->key;     /* keys: only, exclude */

        filter->lists[which].set = 1;

        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                   which == NGX_HTTP_MESH_FEED_ONLY
                   ? NGX_HTTP_MESH_FEED_NAMES_ONLY
                   : NGX_HTTP_MESH_FEED_NAMES_EXCLUDE);
    }

    which = f->kind == NGX_HTTP_MESH_FEED_NAMES_ONLY
            ? NGX_HTTP_MESH_FEED_ONLY : NGX_HTTP_MESH_FEED_EXCLUDE;

    if (v->type != NGX_HTTP_MESH_V_STRING) {
        return ngx_http_mesh_parse_fail(p, "must be an event name");
    }

    if (ngx_http_mesh_feed_add(&filter->lists[which], v->data, v->len, p->err)
        != 0)
    {
        return NGX_HTTP_MESH_P_ERROR;
    }

    return NGX_HTTP_MESH_P_DONE;
}


static int
ngx_http_mesh_feed_add(ngx_http_mesh_feed_list_t *list, const char *name,
    size_t len, char *err)
{
    size_t  i;

    if (list->n >= NGX_HTTP_MESH_FEED_NAMES) {
        snprintf(err, NGX_HTTP_MESH_ERR_LEN,
                 "a filter has at most %d names per list",
                 NGX_HTTP_MESH_FEED_NAMES);
        return -1;
    }

    if (len == 0 || len >= NGX_HTTP_MESH_FEED_NAME_LEN) {
        snprintf(err, NGX_HTTP_MESH_ERR_LEN,
                 "an event name has 1 to %d characters",
                 NGX_HTTP_MESH_FEED_NAME_LEN - 1);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_http_mesh_feed_name_char((unsigned char) name[i])
            || (name[i] == '*' && (i != len - 1 || i == 0
                                   || name[i - 1] != '.')))
        {
            snprintf(err, NGX_HTTP_MESH_ERR_LEN,
                     "bad event name \"%.*s\": letters, digits, \"._-\", "
                     "and \".*\" at the end", (int) len, name);
            return -1;
        }
    }

    memcpy(list->names[list->n], name, len);
    list->names[list->n][len] = '\0';
    list->n++;

    return 0;
}


static int
ngx_http_mesh_feed_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
           || c == '*';
}
