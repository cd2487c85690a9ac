
/*
 * gRPC framing, grpc-timeout, grpc-message, and the reader of the NDJSON
 * lines the gRPC door translates.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_mesh_parse_core.h"
#include "ngx_http_mesh_grpc_codec.h"


#define NGX_HTTP_MESH_GRPC_LINE_MAX  (64 << 20)
#define NGX_HTTP_MESH_GRPC_STR_MAX   (32 << 20)


enum {
    NGX_HTTP_MESH_GL_EVENT = 0,
    NGX_HTTP_MESH_GL_INDEX,
    NGX_HTTP_MESH_GL_NODE,
    NGX_HTTP_MESH_GL_MODEL,
    NGX_HTTP_MESH_GL_TASK_ID,
    NGX_HTTP_MESH_GL_RESPONSE,
    NGX_HTTP_MESH_GL_DONE,
    NGX_HTTP_MESH_GL_EVAL_COUNT,
    NGX_HTTP_MESH_GL_TOTAL_DURATION,
    NGX_HTTP_MESH_GL_ERROR,
    NGX_HTTP_MESH_GL_REASON,
    NGX_HTTP_MESH_GL_OUTPUT,
    NGX_HTTP_MESH_GL_TOKENS
};


typedef struct {
    ngx_http_mesh_grpc_line_t   *line;
    ngx_http_mesh_span_t         event;
} ngx_http_mesh_grpc_parse_t;


static int ngx_http_mesh_grpc_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);


static const char *const  ngx_http_mesh_grpc_line_keys[] = {
    "event", "index", "node", "model", "task_id", "response", "done",
    "eval_count", "total_duration", "error", "reason", "output", "tokens",
    NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_grpc_line_kinds[] = {
    { ngx_http_mesh_grpc_line_keys, 0 },
    { NULL, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_grpc_line_spec = {
    ngx_http_mesh_grpc_line_kinds, ngx_http_mesh_grpc_value,
    NGX_HTTP_MESH_GRPC_LINE_MAX, 0
};


static const struct {
    const char  *reason;
    int          code;
} ngx_http_mesh_grpc_reasons[] = {
    { "no_capable_node", NGX_HTTP_MESH_GRPC_NOT_FOUND },
    { "queue_timeout", NGX_HTTP_MESH_GRPC_UNAVAILABLE },
    { "queue_full", NGX_HTTP_MESH_GRPC_UNAVAILABLE },
    { "node_failed", NGX_HTTP_MESH_GRPC_UNAVAILABLE },
    { "node_failed_mid_stream", NGX_HTTP_MESH_GRPC_UNAVAILABLE },
    { "prompt_too_large", NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED },
    { "output_too_large", NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED },
    { "client_gone", NGX_HTTP_MESH_GRPC_CANCELLED },
    { NULL, 0 }
};


static const char *const  ngx_http_mesh_grpc_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
};


int
ngx_http_mesh_grpc_unframe(const unsigned char *data, size_t size, size_t max,
    const unsigned char **msg, size_t *len)
{
    uint32_t  n;

    if (size < NGX_HTTP_MESH_GRPC_PREFIX) {
        return NGX_HTTP_MESH_GRPC_FRAME_SHORT;
    }

    n = ((uint32_t) data[1] << 24) | ((uint32_t) data[2] << 16)
        | ((uint32_t) data[3] << 8) | data[4];

    if (n > max) {
        return NGX_HTTP_MESH_GRPC_FRAME_LARGE;
    }

    if (data[0] != 0) {
        return NGX_HTTP_MESH_GRPC_FRAME_COMPRESSED;
    }

    if (size - NGX_HTTP_MESH_GRPC_PREFIX != n) {
        return NGX_HTTP_MESH_GRPC_FRAME_SHORT;
    }

    *msg = data + NGX_HTTP_MESH_GRPC_PREFIX;
    *len = n;

    return NGX_HTTP_MESH_GRPC_FRAME_OK;
}


void
ngx_http_mesh_grpc_prefix(unsigned char *p, size_t len)
{
    p[0] = 0;
    p[1] = (unsigned char) (len >> 24);
    p[2] = (unsigned char) (len >> 16);
    p[3] = (unsigned char) (len >> 8);
    p[4] = (unsigned char) len;
}


/* TimeoutValue: 1 to 8 digits; TimeoutUnit: H M S m u n */

int
ngx_http_mesh_grpc_timeout(const char *s, size_t len, uint64_t *ms)
{
    size_t    i;
    uint64_t  v;

    if (len < 2 || len > 9) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len - 1; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    switch (s[len - 1]) {
    case 'H':
        v *= 3600000;
        break;
    case 'M':
        v *= 60000;
        break;
    case 'S':
        v *= 1000;
        break;
    case 'm':
        break;
    case 'u':
        v = (v + 999) / 1000;
        break;
    case 'n':
        v = (v + 999999) / 1000000;
        break;
    default:
        return -1;
    }

    *ms = v;

    return 0;
}


/* printable ASCII but '%' stays; everything else is %XX */

size_t
ngx_http_mesh_grpc_percent(const char *s, size_t len, char *out)
{
    size_t         i, n;
    unsigned char  c;

    static const char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c <= 0x7e && c != '%') {
            if (out) {
                out[n] = (char) c;
            }

            n++;
            continue;
        }

        if (out) {
            out[n] = '%';
            out[n + 1] = hex[c >> 4];
            out[n + 2] = hex[c & 0xf];
        }

        n += 3;
    }

    return n;
}


const char *
ngx_http_mesh_grpc_status_name(int code)
{
    if (code < 0 || code > NGX_HTTP_MESH_GRPC_UNAUTHENTICATED) {
        return "UNKNOWN";
    }

    return ngx_http_mesh_grpc_names[code];
}


int
ngx_http_mesh_grpc_line(const char *data, size_t len,
    ngx_http_mesh_grpc_line_t *line, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err)
{
    size_t                       i;
    ngx_http_mesh_parser_t       p;
    ngx_http_mesh_grpc_parse_t   gp;

    static const struct {
        const char                 *name;
        ngx_http_mesh_grpc_line_e   kind;
    } events[] = {
        { "step", NGX_HTTP_MESH_GRPC_L_STEP },
        { "step_done", NGX_HTTP_MESH_GRPC_L_STEP_DONE },
        { "pipeline_done", NGX_HTTP_MESH_GRPC_L_DONE },
        { "pipeline_failed", NGX_HTTP_MESH_GRPC_L_FAILED },
        { NULL, NGX_HTTP_MESH_GRPC_L_OTHER }
    };

    memset(line, 0, sizeof(ngx_http_mesh_grpc_line_t));
    memset(&gp, 0, sizeof(ngx_http_mesh_grpc_parse_t));
    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    gp.line = line;

    p.spec = &ngx_http_mesh_grpc_line_spec;
    p.data = &gp;
    p.err = err;
    p.alloc = alloc;
    p.alloc_ctx = alloc_ctx;

    if (ngx_http_mesh_parse_run(&p, data, len) != 0) {
        return -1;
    }

    if (gp.event.data == NULL) {
        line->kind = line->error.data ? NGX_HTTP_MESH_GRPC_L_ERROR
                                      : NGX_HTTP_MESH_GRPC_L_TOKENS;
        return 0;
    }

    line->kind = NGX_HTTP_MESH_GRPC_L_OTHER;

    for (i = 0; events[i].name; i++) {
        if (strlen(events[i].name) == gp.event.len
            && memcmp(events[i].name, gp.event.data, gp.event.len) == 0)
        {
            line->kind = events[i].kind;
            break;
        }
    }

    return 0;
}


int
ngx_http_mesh_grpc_reason_status(const char *reason, size_t len)
{
    size_t  i;

    for (i = 0; ngx_http_mesh_grpc_reasons[i].reason; i++) {
        if (strlen(ngx_http_mesh_grpc_reasons[i].reason) == len
            && memcmp(ngx_http_mesh_grpc_reasons[i].reason, reason, len) == 0)
        {
            return ngx_http_mesh_grpc_reasons[i].code;
        }
    }

    return NGX_HTTP_MESH_GRPC_INTERNAL;
}


static int
ngx_http_mesh_grpc_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_span_t        *s;
    ngx_http_mesh_grpc_line_t   *line;
    ngx_http_mesh_grpc_parse_t  *gp;

    gp = p->data;
    line = gp->line;

    switch (f->key) {

    case NGX_HTTP_MESH_GL_INDEX:
        return ngx_http_mesh_get_uint(p, v, 0, UINT32_MAX, &line->index);

    case NGX_HTTP_MESH_GL_TOKENS:
        return ngx_http_mesh_get_uint(p, v, 0, UINT32_MAX, &line->tokens);

    case NGX_HTTP_MESH_GL_EVAL_COUNT:
        return ngx_http_mesh_get_uint(p, v, 0, UINT32_MAX, &line->eval_count);

    case NGX_HTTP_MESH_GL_TOTAL_DURATION:
        return ngx_http_mesh_get_real(p, v, 1e30, &line->total_duration);

    case NGX_HTTP_MESH_GL_DONE:
        return ngx_http_mesh_get_bool(p, v, &line->done);

    case NGX_HTTP_MESH_GL_EVENT:
        s = &gp->event;
        break;
    case NGX_HTTP_MESH_GL_NODE:
        s = &line->node;
        break;
    case NGX_HTTP_MESH_GL_MODEL:
        s = &line->model;
        break;
    case NGX_HTTP_MESH_GL_TASK_ID:
        s = &line->task_id;
        break;
    case NGX_HTTP_MESH_GL_RESPONSE:
        line->has_response = 1;
        s = &line->response;
        break;
    case NGX_HTTP_MESH_GL_ERROR:
        s = &line->error;
        break;
    case NGX_HTTP_MESH_GL_REASON:
        s = &line->reason;
        break;
    default:        /* NGX_HTTP_MESH_GL_OUTPUT */
        s = &line->output;
        break;
    }

    /* the node of a pipeline that failed before routing is null */

    if (v->type == NGX_HTTP_MESH_V_NULL) {
        return NGX_HTTP_MESH_P_DONE;
    }

    return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_GRPC_STR_MAX, s);
}
