
/*
 * JSON request parsers on yajl's streaming API (its tree API leaks on
 * malformed input).  Each body is described by a table of known keys per
 * object kind and one value handler; a common core tracks nesting, skips
 * unknown subtrees, re-serialises a captured one (task options), rejects
 * duplicate known keys and names the offending field in every error.
 */


#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_mesh_parse.h"


/* what a value handler answers; 0 and above: enter a container of that kind */
#define NGX_HTTP_MESH_P_ERROR    -1
#define NGX_HTTP_MESH_P_DONE     -2     /* handled, or a container ignored */
#define NGX_HTTP_MESH_P_CAPTURE  -3     /* re-serialise the container */

#define NGX_HTTP_MESH_QUOTE_MAX  24     /* bytes of a bad value quoted back */


typedef enum {
    NGX_HTTP_MESH_V_NULL = 0,
    NGX_HTTP_MESH_V_BOOL,
    NGX_HTTP_MESH_V_NUMBER,
    NGX_HTTP_MESH_V_STRING,
    NGX_HTTP_MESH_V_OBJECT,
    NGX_HTTP_MESH_V_ARRAY,
    NGX_HTTP_MESH_V_KEY,
    NGX_HTTP_MESH_V_END_OBJECT,
    NGX_HTTP_MESH_V_END_ARRAY
} ngx_http_mesh_vtype_e;


typedef struct {
    ngx_http_mesh_vtype_e        type;
    int                          boolean;
    const char                  *data;      /* string, key or number text */
    size_t                       len;
} ngx_http_mesh_value_t;


typedef struct {
    int                          kind;      /* index into the spec's kinds */
    int                          key;       /* current key, -1: unknown */
    uint32_t                     seen;      /* known keys met so far */
    uint32_t                     index;     /* current element of an array */
    unsigned                     array:1;
} ngx_http_mesh_frame_t;


typedef struct ngx_http_mesh_parser_s  ngx_http_mesh_parser_t;

typedef int (*ngx_http_mesh_value_pt)(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);


typedef struct {
    const char *const           *keys;      /* NULL-terminated, <= 32 */
    uint32_t                     required;  /* bit i: keys[i] must appear */
} ngx_http_mesh_kind_t;


typedef struct {
    const ngx_http_mesh_kind_t  *kinds;     /* kinds[0]: the body itself */
    ngx_http_mesh_value_pt       value;
    size_t                       max;       /* body bytes */
    unsigned                     fold:1;    /* match keys as Go's json does */
} ngx_http_mesh_spec_t;


struct ngx_http_mesh_parser_s {
    const ngx_http_mesh_spec_t  *spec;
    void                        *data;      /* what the handler fills */
    char                        *err;
    ngx_http_mesh_alloc_pt       alloc;
    void                        *alloc_ctx;
    yajl_gen                     gen;       /* the capture in progress */
    ngx_http_mesh_span_t        *captured;  /* where a capture lands */
    unsigned                     depth;
    unsigned                     skip;      /* depth of the skipped one */
    unsigned                     capture;   /* depth of the captured one */
    unsigned                     at_byte:1; /* append the input position */
    ngx_http_mesh_frame_t        stack[NGX_HTTP_MESH_PARSE_DEPTH + 1];
};


/* the capability body */

enum {
    NGX_HTTP_MESH_CAPS = 0,
    NGX_HTTP_MESH_CAPS_MODELS,
    NGX_HTTP_MESH_CAPS_MODEL,
    NGX_HTTP_MESH_CAPS_HW
};

enum {
    NGX_HTTP_MESH_CAPS_NODE_ID = 0,
    NGX_HTTP_MESH_CAPS_HOST,
    NGX_HTTP_MESH_CAPS_PORT,
    NGX_HTTP_MESH_CAPS_MODELS_KEY,
    NGX_HTTP_MESH_CAPS_HARDWARE,
    NGX_HTTP_MESH_CAPS_STATUS,
    NGX_HTTP_MESH_CAPS_ACTIVE,
    NGX_HTTP_MESH_CAPS_MAX_TASKS,
    NGX_HTTP_MESH_CAPS_QUEUED,
    NGX_HTTP_MESH_CAPS_RATE,
    NGX_HTTP_MESH_CAPS_VERSION
};

enum {
    NGX_HTTP_MESH_MODEL_NAME = 0,
    NGX_HTTP_MESH_MODEL_TYPE,
    NGX_HTTP_MESH_MODEL_SIZE,
    NGX_HTTP_MESH_MODEL_LOADED
};

enum {
    NGX_HTTP_MESH_HW_RAM_TOTAL = 0,
    NGX_HTTP_MESH_HW_RAM_FREE,
    NGX_HTTP_MESH_HW_HAS_GPU,
    NGX_HTTP_MESH_HW_VRAM
};


/* the native task */

enum {
    NGX_HTTP_MESH_TASK = 0,
    NGX_HTTP_MESH_TASK_IMAGES
};

enum {
    NGX_HTTP_MESH_TASK_TYPE = 0,
    NGX_HTTP_MESH_TASK_MODEL,
    NGX_HTTP_MESH_TASK_PROMPT,
    NGX_HTTP_MESH_TASK_SYSTEM,
    NGX_HTTP_MESH_TASK_IMAGES_KEY,
    NGX_HTTP_MESH_TASK_STREAM,
    NGX_HTTP_MESH_TASK_OPTIONS
};


/* an Ollama API body */

enum {
    NGX_HTTP_MESH_OLLAMA = 0,
    NGX_HTTP_MESH_OLLAMA_IMAGES,
    NGX_HTTP_MESH_OLLAMA_MESSAGES,
    NGX_HTTP_MESH_OLLAMA_MESSAGE
};

enum {
    NGX_HTTP_MESH_OLLAMA_MODEL = 0,
    NGX_HTTP_MESH_OLLAMA_STREAM,
    NGX_HTTP_MESH_OLLAMA_IMAGES_KEY,
    NGX_HTTP_MESH_OLLAMA_MESSAGES_KEY
};


typedef struct {
    char                        *pos;
    char                        *end;
    int                          failed;
} ngx_http_mesh_out_t;


static int ngx_http_mesh_parse_run(ngx_http_mesh_parser_t *p,
    const char *data, size_t len);
static int ngx_http_mesh_parse_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_key(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_end(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static void ngx_http_mesh_parse_next(ngx_http_mesh_parser_t *p);
static int ngx_http_mesh_parse_required(ngx_http_mesh_parser_t *p);
static int ngx_http_mesh_parse_lookup(const char *const *keys,
    const char *s, size_t len, unsigned fold);
static int ngx_http_mesh_parse_fold_eq(const char *key, const char *s,
    size_t len);
static int ngx_http_mesh_parse_forward(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v);
static int ngx_http_mesh_parse_captured(ngx_http_mesh_parser_t *p);
static void ngx_http_mesh_parse_path(ngx_http_mesh_parser_t *p,
    unsigned depth, const char *leaf, char *buf, size_t size);
static void ngx_http_mesh_parse_error(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int ngx_http_mesh_parse_fail(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int ngx_http_mesh_parse_limit(ngx_http_mesh_parser_t *p,
    const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int ngx_http_mesh_parse_bad(ngx_http_mesh_parser_t *p,
    const char *what, ngx_http_mesh_value_t *v);

static int ngx_http_mesh_cb_null(void *ctx);
static int ngx_http_mesh_cb_boolean(void *ctx, int b);
static int ngx_http_mesh_cb_number(void *ctx, const char *s, size_t len);
static int ngx_http_mesh_cb_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_cb_start_map(void *ctx);
static int ngx_http_mesh_cb_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_cb_end_map(void *ctx);
static int ngx_http_mesh_cb_start_array(void *ctx);
static int ngx_http_mesh_cb_end_array(void *ctx);

static int ngx_http_mesh_get_container(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, ngx_http_mesh_vtype_e type, int kind);
static int ngx_http_mesh_get_uint(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, uint32_t min, uint32_t max, uint32_t *out);
static int ngx_http_mesh_get_real(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, double max, double *out);
static int ngx_http_mesh_get_bool(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, uint8_t *out);
static int ngx_http_mesh_get_chars(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, int (*valid)(int c), size_t min, size_t max,
    const char *what);
static int ngx_http_mesh_get_name(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
static int ngx_http_mesh_get_id(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
static int ngx_http_mesh_get_host(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
static int ngx_http_mesh_get_text(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, size_t max, ngx_http_mesh_span_t *out);
static int ngx_http_mesh_is_id_char(int c);
static int ngx_http_mesh_is_name_char(int c);
static int ngx_http_mesh_is_base64_char(int c);

static int ngx_http_mesh_caps_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_caps_model(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_caps_hardware(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_task_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_task_image(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_ollama_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_leave_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);

static void ngx_http_mesh_out(ngx_http_mesh_out_t *o, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static void ngx_http_mesh_out_str(ngx_http_mesh_out_t *o, const char *s,
    size_t size);
static void ngx_http_mesh_out_real(ngx_http_mesh_out_t *o, double d);


static const yajl_callbacks  ngx_http_mesh_callbacks = {
    ngx_http_mesh_cb_null,
    ngx_http_mesh_cb_boolean,
    NULL,
    NULL,
    ngx_http_mesh_cb_number,
    ngx_http_mesh_cb_string,
    ngx_http_mesh_cb_start_map,
    ngx_http_mesh_cb_map_key,
    ngx_http_mesh_cb_end_map,
    ngx_http_mesh_cb_start_array,
    ngx_http_mesh_cb_end_array
};


static const char *const  ngx_http_mesh_type_names[] = {
    "text", "code", "vision", "embedding", "summarize"
};

static const char *const  ngx_http_mesh_status_names[] = {
    "idle", "busy", "degraded", "draining"
};


static const char *const  ngx_http_mesh_caps_keys[] = {
    "node_id", "host", "port", "models", "hardware", "status",
    "active_tasks", "max_tasks", "queued", "tokens_per_sec",
    "agent_version", NULL
};

static const char *const  ngx_http_mesh_model_keys[] = {
    "name", "type", "size_gb", "loaded", NULL
};

static const char *const  ngx_http_mesh_hw_keys[] = {
    "ram_total_gb", "ram_free_gb", "has_gpu", "gpu_vram_gb", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_caps_kinds[] = {
    { ngx_http_mesh_caps_keys, 0x0f },      /* node_id host port models */
    { NULL, 0 },
    { ngx_http_mesh_model_keys, 0x01 },     /* name */
    { ngx_http_mesh_hw_keys, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_caps_spec = {
    ngx_http_mesh_caps_kinds, ngx_http_mesh_caps_value,
    NGX_HTTP_MESH_CAPS_BODY_MAX, 0
};


static const char *const  ngx_http_mesh_task_keys[] = {
    "type", "model", "prompt", "system", "images", "stream", "options", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_task_kinds[] = {
    { ngx_http_mesh_task_keys, 0x05 },      /* type prompt */
    { NULL, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_task_spec = {
    ngx_http_mesh_task_kinds, ngx_http_mesh_task_value,
    NGX_HTTP_MESH_BODY_MAX, 0
};


/*
 * Ollama decodes with Go's encoding/json, which matches keys without regard
 * to case: "Model" must route like "model".  "model" is checked after the
 * parse, to answer in Ollama's words.
 */

static const char *const  ngx_http_mesh_ollama_keys[] = {
    "model", "stream", "images", "messages", NULL
};

static const char *const  ngx_http_mesh_message_keys[] = {
    "images", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_ollama_kinds[] = {
    { ngx_http_mesh_ollama_keys, 0 },
    { NULL, 0 },
    { NULL, 0 },
    { ngx_http_mesh_message_keys, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_ollama_spec = {
    ngx_http_mesh_ollama_kinds, ngx_http_mesh_ollama_value,
    NGX_HTTP_MESH_BODY_MAX, 1
};


static const char *const  ngx_http_mesh_leave_keys[] = {
    "node_id", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_leave_kinds[] = {
    { ngx_http_mesh_leave_keys, 0x01 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_leave_spec = {
    ngx_http_mesh_leave_kinds, ngx_http_mesh_leave_value,
    NGX_HTTP_MESH_CAPS_BODY_MAX, 0
};


int
ngx_http_mesh_parse_caps(const char *data, size_t len,
    ngx_http_mesh_caps_t *caps, char *err)
{
    ngx_http_mesh_parser_t  p;

    memset(caps, 0, sizeof(ngx_http_mesh_caps_t));
    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    p.spec = &ngx_http_mesh_caps_spec;
    p.data = caps;
    p.err = err;

    return ngx_http_mesh_parse_run(&p, data, len);
}


int
ngx_http_mesh_parse_task(const char *data, size_t len,
    ngx_http_mesh_task_t *task, ngx_http_mesh_alloc_pt alloc, void *alloc_ctx,
    char *err)
{
    ngx_http_mesh_parser_t  p;

    memset(task, 0, sizeof(ngx_http_mesh_task_t));
    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    task->type = NGX_HTTP_MESH_TYPE_UNKNOWN;
    task->stream = 1;

    p.spec = &ngx_http_mesh_task_spec;
    p.data = task;
    p.err = err;
    p.alloc = alloc;
    p.alloc_ctx = alloc_ctx;
    p.captured = &task->options;

    return ngx_http_mesh_parse_run(&p, data, len);
}


int
ngx_http_mesh_parse_ollama(const char *data, size_t len,
    ngx_http_mesh_ollama_req_t *req, char *err)
{
    ngx_http_mesh_parser_t  p;

    memset(req, 0, sizeof(ngx_http_mesh_ollama_req_t));
    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    req->stream = 1;

    p.spec = &ngx_http_mesh_ollama_spec;
    p.data = req;
    p.err = err;

    if (ngx_http_mesh_parse_run(&p, data, len) != 0) {
        return -1;
    }

    if (!req->has_model) {
        ngx_http_mesh_parse_error(&p, "model is required");
        return -1;
    }

    return 0;
}


int
ngx_http_mesh_parse_node_id(const char *data, size_t len, char *node_id,
    char *err)
{
    ngx_http_mesh_parser_t  p;

    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));
    node_id[0] = '\0';

    p.spec = &ngx_http_mesh_leave_spec;
    p.data = node_id;
    p.err = err;

    return ngx_http_mesh_parse_run(&p, data, len);
}


ngx_http_mesh_type_e
ngx_http_mesh_type_from_name(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < NGX_HTTP_MESH_TYPE_UNKNOWN; i++) {
        if (strlen(ngx_http_mesh_type_names[i]) == len
            && memcmp(ngx_http_mesh_type_names[i], s, len) == 0)
        {
            return (ngx_http_mesh_type_e) i;
        }
    }

    return NGX_HTTP_MESH_TYPE_UNKNOWN;
}


const char *
ngx_http_mesh_type_name(ngx_http_mesh_type_e t)
{
    if ((unsigned) t >= NGX_HTTP_MESH_TYPE_UNKNOWN) {
        return "unknown";
    }

    return ngx_http_mesh_type_names[t];
}


const char *
ngx_http_mesh_status_name(ngx_http_mesh_status_e s)
{
    if ((unsigned) s > NGX_HTTP_MESH_STATUS_DRAINING) {
        return "unknown";
    }

    return ngx_http_mesh_status_names[s];
}


int
ngx_http_mesh_json_escape(const char *s, size_t len, char *out,
    size_t outsize)
{
    char                 esc;
    size_t               i, n, need;
    unsigned char        c;
    static const char    hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':  esc = '"';  break;
        case '\\': esc = '\\'; break;
        case '\n': esc = 'n';  break;
        case '\r': esc = 'r';  break;
        case '\t': esc = 't';  break;
        case '\b': esc = 'b';  break;
        case '\f': esc = 'f';  break;
        default:   esc = 0;
        }

        need = esc ? 2 : (c < 0x20 ? 6 : 1);

        /* always keep a byte for the NUL */

        if (n >= outsize || need >= outsize - n) {
            return -1;
        }

        if (esc) {
            out[n++] = '\\';
            out[n++] = esc;

        } else if (need == 6) {
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 0x0f];
            n += 6;

        } else {
            out[n++] = (char) c;
        }
    }

    if (n >= outsize || n > INT_MAX) {
        return -1;
    }

    out[n] = '\0';

    return (int) n;
}


size_t
ngx_http_mesh_caps_to_json(const ngx_http_mesh_caps_t *caps, char *out,
    size_t outsize)
{
    size_t                        i;
    ngx_http_mesh_out_t           o;
    const ngx_http_mesh_model_t  *m;

    if (outsize == 0) {
        return 0;
    }

    o.pos = out;
    o.end = out + outsize;
    o.failed = 0;

    ngx_http_mesh_out(&o, "{\"node_id\":");
    ngx_http_mesh_out_str(&o, caps->node_id, sizeof(caps->node_id));
    ngx_http_mesh_out(&o, ",\"host\":");
    ngx_http_mesh_out_str(&o, caps->host, sizeof(caps->host));
    ngx_http_mesh_out(&o, ",\"port\":%u,\"models\":[", caps->port);

    for (i = 0; i < caps->nmodels && i < NGX_HTTP_MESH_MAX_MODELS; i++) {
        m = &caps->models[i];

        ngx_http_mesh_out(&o, "%s{\"name\":", i ? "," : "");
        ngx_http_mesh_out_str(&o, m->name, sizeof(m->name));
        ngx_http_mesh_out(&o, ",\"type\":\"%s\",\"size_gb\":",
                          ngx_http_mesh_type_name(m->type));
        ngx_http_mesh_out_real(&o, m->size_gb);
        ngx_http_mesh_out(&o, ",\"loaded\":%s}",
                          m->loaded ? "true" : "false");
    }

    ngx_http_mesh_out(&o, "],\"hardware\":{\"ram_total_gb\":");
    ngx_http_mesh_out_real(&o, caps->ram_total_gb);
    ngx_http_mesh_out(&o, ",\"ram_free_gb\":");
    ngx_http_mesh_out_real(&o, caps->ram_free_gb);
    ngx_http_mesh_out(&o, ",\"has_gpu\":%s,\"gpu_vram_gb\":",
                      caps->has_gpu ? "true" : "false");
    ngx_http_mesh_out_real(&o, caps->gpu_vram_gb);
    ngx_http_mesh_out(&o, "},\"status\":\"%s\",\"active_tasks\":%u"
                      ",\"max_tasks\":%u,\"queued\":%u,\"tokens_per_sec\":",
                      ngx_http_mesh_status_name(caps->status),
                      caps->active_tasks, caps->max_tasks, caps->queued);
    ngx_http_mesh_out_real(&o, caps->tokens_per_sec);
    ngx_http_mesh_out(&o, ",\"agent_version\":");
    ngx_http_mesh_out_str(&o, caps->agent_version,
                          sizeof(caps->agent_version));
    ngx_http_mesh_out(&o, "}");

    if (o.failed) {
        out[0] = '\0';
        return 0;
    }

    return o.pos - out;
}


static int
ngx_http_mesh_parse_run(ngx_http_mesh_parser_t *p, const char *data,
    size_t len)
{
    int             rc;
    char            text[NGX_HTTP_MESH_ERR_LEN];
    size_t          pos, n;
    yajl_status     st;
    yajl_handle     h;
    unsigned char  *msg;

    rc = -1;
    h = NULL;
    msg = NULL;
    p->err[0] = '\0';

    if (len == 0) {
        ngx_http_mesh_parse_error(p, "body is empty");
        goto done;
    }

    if (len > p->spec->max) {
        ngx_http_mesh_parse_error(p, "body is larger than %zu bytes",
                                  p->spec->max);
        goto done;
    }

    h = yajl_alloc(&ngx_http_mesh_callbacks, NULL, p);
    if (h == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        goto done;
    }

    /* yajl's defaults, spelled out: strict JSON, exactly one value */

    yajl_config(h, yajl_allow_comments, 0);
    yajl_config(h, yajl_dont_validate_strings, 0);
    yajl_config(h, yajl_allow_trailing_garbage, 0);
    yajl_config(h, yajl_allow_multiple_values, 0);
    yajl_config(h, yajl_allow_partial_values, 0);

    st = yajl_parse(h, (const unsigned char *) data, len);

    if (st == yajl_status_ok) {
        pos = len;
        st = yajl_complete_parse(h);

    } else {
        pos = yajl_get_bytes_consumed(h);
    }

    if (st == yajl_status_client_canceled) {
        if (p->at_byte) {
            n = strlen(p->err);
            snprintf(p->err + n, NGX_HTTP_MESH_ERR_LEN - n, " at byte %zu",
                     pos);
        }

        goto done;
    }

    if (st != yajl_status_ok) {
        msg = yajl_get_error(h, 0, (const unsigned char *) data, len);

        n = 0;
        if (msg != NULL) {
            n = snprintf(text, sizeof(text), "%s", (char *) msg);
            n = n < sizeof(text) ? n : sizeof(text) - 1;
        }

        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) {
            n--;
        }

        text[n] = '\0';

        ngx_http_mesh_parse_error(p, "invalid JSON at byte %zu: %s", pos,
                                  text);
        goto done;
    }

    rc = 0;

done:

    if (msg != NULL) {
        yajl_free_error(h, msg);
    }

    if (h != NULL) {
        yajl_free(h);
    }

    if (p->gen != NULL) {
        yajl_gen_free(p->gen);
        p->gen = NULL;
    }

    return rc;
}


/* the yajl callbacks: 1 goes on, 0 stops the parse with p->err set */

static int
ngx_http_mesh_parse_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    int                          rc, container;
    ngx_http_mesh_frame_t       *f;
    const ngx_http_mesh_kind_t  *kind;

    container = (v->type == NGX_HTTP_MESH_V_OBJECT
                 || v->type == NGX_HTTP_MESH_V_ARRAY);

    if (v->type == NGX_HTTP_MESH_V_NUMBER
        && v->len > NGX_HTTP_MESH_NUMBER_MAX)
    {
        return ngx_http_mesh_parse_limit(p,
                                         "number longer than %d characters",
                                         NGX_HTTP_MESH_NUMBER_MAX);
    }

    if (container && p->depth == NGX_HTTP_MESH_PARSE_DEPTH) {
        return ngx_http_mesh_parse_limit(p,
                                         "JSON nested deeper than %d levels",
                                         NGX_HTTP_MESH_PARSE_DEPTH);
    }

    if (p->skip || p->capture) {
        if (p->capture && ngx_http_mesh_parse_forward(p, v) != 0) {
            return 0;
        }

        p->depth += container;
        return 1;
    }

    if (p->depth == 0) {
        if (v->type != NGX_HTTP_MESH_V_OBJECT) {
            ngx_http_mesh_parse_error(p, "body must be a JSON object");
            return 0;
        }

        rc = 0;

    } else {
        f = &p->stack[p->depth];
        kind = &p->spec->kinds[f->kind];

        if (!f->array && f->key < 0) {
            rc = NGX_HTTP_MESH_P_DONE;

        } else if (!f->array && v->type == NGX_HTTP_MESH_V_NULL
                   && !(kind->required & (1u << f->key)))
        {
            /* null for an optional field: as if absent */
            rc = NGX_HTTP_MESH_P_DONE;

        } else {
            rc = p->spec->value(p, f, v);
        }
    }

    if (rc == NGX_HTTP_MESH_P_ERROR) {
        return 0;
    }

    if (!container) {
        ngx_http_mesh_parse_next(p);
        return 1;
    }

    p->depth++;

    if (rc >= 0) {
        f = &p->stack[p->depth];
        f->kind = rc;
        f->key = -1;
        f->seen = 0;
        f->index = 0;
        f->array = (v->type == NGX_HTTP_MESH_V_ARRAY);
        return 1;
    }

    if (rc == NGX_HTTP_MESH_P_CAPTURE) {
        p->capture = p->depth;

        p->gen = yajl_gen_alloc(NULL);
        if (p->gen == NULL) {
            ngx_http_mesh_parse_error(p, "out of memory");
            return 0;
        }

        return ngx_http_mesh_parse_forward(p, v) == 0;
    }

    p->skip = p->depth;

    return 1;
}


static int
ngx_http_mesh_parse_key(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    uint32_t                bit;
    ngx_http_mesh_frame_t  *f;

    if (v->len > NGX_HTTP_MESH_KEY_MAX) {
        return ngx_http_mesh_parse_limit(p, "key longer than %d bytes",
                                         NGX_HTTP_MESH_KEY_MAX);
    }

    if (p->capture) {
        return ngx_http_mesh_parse_forward(p, v) == 0;
    }

    if (p->skip) {
        return 1;
    }

    f = &p->stack[p->depth];
    f->key = ngx_http_mesh_parse_lookup(p->spec->kinds[f->kind].keys,
                                        v->data, v->len, p->spec->fold);
    if (f->key < 0) {
        return 1;
    }

    /* two values for one field: reject rather than guess which one counts */

    bit = 1u << f->key;

    if (f->seen & bit) {
        ngx_http_mesh_parse_fail(p, "appears twice");
        return 0;
    }

    f->seen |= bit;

    return 1;
}


static int
ngx_http_mesh_parse_end(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v)
{
    if (p->capture) {
        if (ngx_http_mesh_parse_forward(p, v) != 0) {
            return 0;
        }

        if (p->capture == p->depth) {
            if (ngx_http_mesh_parse_captured(p) != 0) {
                return 0;
            }

            p->capture = 0;
        }

    } else if (p->skip) {
        if (p->skip == p->depth) {
            p->skip = 0;
        }

    } else if (v->type == NGX_HTTP_MESH_V_END_OBJECT
               && ngx_http_mesh_parse_required(p) != 0)
    {
        return 0;
    }

    p->depth--;

    if (p->skip == 0 && p->capture == 0) {
        ngx_http_mesh_parse_next(p);
    }

    return 1;
}


static void
ngx_http_mesh_parse_next(ngx_http_mesh_parser_t *p)
{
    if (p->depth > 0 && p->stack[p->depth].array) {
        p->stack[p->depth].index++;
    }
}


static int
ngx_http_mesh_parse_required(ngx_http_mesh_parser_t *p)
{
    int                     i;
    char                    path[NGX_HTTP_MESH_ERR_LEN];
    uint32_t                missing;
    ngx_http_mesh_frame_t  *f;

    f = &p->stack[p->depth];
    missing = p->spec->kinds[f->kind].required & ~f->seen;

    if (missing == 0) {
        return 0;
    }

    for (i = 0; !(missing & (1u << i)); i++) {
        /* the first missing key */
    }

    ngx_http_mesh_parse_path(p, p->depth, p->spec->kinds[f->kind].keys[i],
                             path, sizeof(path));
    ngx_http_mesh_parse_error(p, "\"%s\" is missing", path);

    return -1;
}


static int
ngx_http_mesh_parse_lookup(const char *const *keys, const char *s,
    size_t len, unsigned fold)
{
    int  i;

    for (i = 0; keys[i] != NULL; i++) {
        if (fold) {
            if (ngx_http_mesh_parse_fold_eq(keys[i], s, len)) {
                return i;
            }

        } else if (strlen(keys[i]) == len && memcmp(keys[i], s, len) == 0) {
            return i;
        }
    }

    return -1;
}


/*
 * Go's case folding of a lower-case ASCII key: ASCII letters in either
 * case, plus the two non-ASCII letters that fold to ASCII ones, U+017F
 * (long s) and U+212A (Kelvin sign).
 */

static int
ngx_http_mesh_parse_fold_eq(const char *key, const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    i = 0;

    for ( /* void */ ; *key != '\0'; key++) {
        if (i >= len) {
            return 0;
        }

        c = (unsigned char) s[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c == (unsigned char) *key) {
            i++;

        } else if (*key == 's' && len - i >= 2
                   && memcmp(s + i, "\xc5\xbf", 2) == 0)
        {
            i += 2;

        } else if (*key == 'k' && len - i >= 3
                   && memcmp(s + i, "\xe2\x84\xaa", 3) == 0)
        {
            i += 3;

        } else {
            return 0;
        }
    }

    return i == len;
}


static int
ngx_http_mesh_parse_forward(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v)
{
    size_t                len;
    yajl_gen              g;
    yajl_gen_status       st;
    const unsigned char  *buf;

    g = p->gen;

    switch (v->type) {

    case NGX_HTTP_MESH_V_NULL:
        st = yajl_gen_null(g);
        break;

    case NGX_HTTP_MESH_V_BOOL:
        st = yajl_gen_bool(g, v->boolean);
        break;

    case NGX_HTTP_MESH_V_NUMBER:
        st = yajl_gen_number(g, v->data, v->len);
        break;

    case NGX_HTTP_MESH_V_STRING:
    case NGX_HTTP_MESH_V_KEY:
        st = yajl_gen_string(g, (const unsigned char *) v->data, v->len);
        break;

    case NGX_HTTP_MESH_V_OBJECT:
        st = yajl_gen_map_open(g);
        break;

    case NGX_HTTP_MESH_V_ARRAY:
        st = yajl_gen_array_open(g);
        break;

    case NGX_HTTP_MESH_V_END_OBJECT:
        st = yajl_gen_map_close(g);
        break;

    default: /* NGX_HTTP_MESH_V_END_ARRAY */
        st = yajl_gen_array_close(g);
        break;
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_get_buf(g, &buf, &len);
    }

    if (st != yajl_gen_status_ok) {
        ngx_http_mesh_parse_error(p, "cannot re-serialise JSON (%d)", st);
        return -1;
    }

    if (len > NGX_HTTP_MESH_OPTIONS_MAX) {
        ngx_http_mesh_parse_fail(p, "is larger than %d bytes",
                                 NGX_HTTP_MESH_OPTIONS_MAX);
        return -1;
    }

    return 0;
}


static int
ngx_http_mesh_parse_captured(ngx_http_mesh_parser_t *p)
{
    char                 *copy;
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(p->gen, &buf, &len) != yajl_gen_status_ok) {
        ngx_http_mesh_parse_error(p, "cannot re-serialise JSON");
        return -1;
    }

    copy = p->alloc(p->alloc_ctx, len + 1);
    if (copy == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        return -1;
    }

    memcpy(copy, buf, len);
    copy[len] = '\0';

    p->captured->data = copy;
    p->captured->len = len;

    yajl_gen_free(p->gen);
    p->gen = NULL;

    return 0;
}


/*
 * The field at depth: "models[2].name".  During a capture the frames
 * above p->capture - 1 were never pushed, so the path ends at the field
 * captured, which is the one to name.
 */

static void
ngx_http_mesh_parse_path(ngx_http_mesh_parser_t *p, unsigned depth,
    const char *leaf, char *buf, size_t size)
{
    int                     n;
    size_t                  used;
    unsigned                i;
    const char             *name;
    ngx_http_mesh_frame_t  *f;

    used = 0;
    buf[0] = '\0';

    if (p->capture && depth >= p->capture) {
        depth = p->capture - 1;
    }

    for (i = 1; i <= depth; i++) {
        f = &p->stack[i];

        if (f->array) {
            n = snprintf(buf + used, size - used, "[%u]", f->index);

        } else {
            if (i == depth && leaf != NULL) {
                name = leaf;

            } else if (f->key >= 0) {
                name = p->spec->kinds[f->kind].keys[f->key];

            } else {
                name = "?";
            }

            n = snprintf(buf + used, size - used, "%s%s",
                         used ? "." : "", name);
        }

        if (n < 0 || (size_t) n >= size - used) {
            return;
        }

        used += n;
    }
}


static void
ngx_http_mesh_parse_error(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(p->err, NGX_HTTP_MESH_ERR_LEN, fmt, args);
    va_end(args);
}


/* "<field>" <what> */

static int
ngx_http_mesh_parse_fail(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    char     path[NGX_HTTP_MESH_ERR_LEN], what[NGX_HTTP_MESH_ERR_LEN];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);

    ngx_http_mesh_parse_path(p, p->depth, NULL, path, sizeof(path));
    ngx_http_mesh_parse_error(p, "\"%s\" %s", path, what);

    return NGX_HTTP_MESH_P_ERROR;
}


/* a size limit of the JSON itself: where it was crossed helps the sender */

static int
ngx_http_mesh_parse_limit(ngx_http_mesh_parser_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(p->err, NGX_HTTP_MESH_ERR_LEN, fmt, args);
    va_end(args);

    p->at_byte = 1;

    return 0;
}


/* an unknown enumerated value, quoted back: unknown task type "x" */

static int
ngx_http_mesh_parse_bad(ngx_http_mesh_parser_t *p, const char *what,
    ngx_http_mesh_value_t *v)
{
    char    quoted[NGX_HTTP_MESH_ERR_LEN];
    size_t  n;

    if (v->type != NGX_HTTP_MESH_V_STRING) {
        return ngx_http_mesh_parse_fail(p, "must be a string");
    }

    n = v->len < NGX_HTTP_MESH_QUOTE_MAX ? v->len : NGX_HTTP_MESH_QUOTE_MAX;

    /* whole UTF-8 characters only */

    while (n > 0 && n < v->len && ((unsigned char) v->data[n] & 0xc0) == 0x80)
    {
        n--;
    }

    if (ngx_http_mesh_json_escape(v->data, n, quoted, sizeof(quoted)) < 0) {
        quoted[0] = '\0';
    }

    ngx_http_mesh_parse_error(p, "%s \"%s%s\"", what, quoted,
                              n < v->len ? "..." : "");

    return NGX_HTTP_MESH_P_ERROR;
}


static int
ngx_http_mesh_cb_null(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_NULL, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_boolean(void *ctx, int b)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_BOOL, b, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_number(void *ctx, const char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_NUMBER, 0, s, len };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_STRING, 0, (const char *) s,
                                 len };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_start_map(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_OBJECT, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_KEY, 0, (const char *) s,
                                 len };

    return ngx_http_mesh_parse_key(ctx, &v);
}


static int
ngx_http_mesh_cb_end_map(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_END_OBJECT, 0, NULL, 0 };

    return ngx_http_mesh_parse_end(ctx, &v);
}


static int
ngx_http_mesh_cb_start_array(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_ARRAY, 0, NULL, 0 };

    return ngx_http_mesh_parse_value(ctx, &v);
}


static int
ngx_http_mesh_cb_end_array(void *ctx)
{
    ngx_http_mesh_value_t  v = { NGX_HTTP_MESH_V_END_ARRAY, 0, NULL, 0 };

    return ngx_http_mesh_parse_end(ctx, &v);
}


/* value helpers for the handlers: NGX_HTTP_MESH_P_DONE or _ERROR */

static int
ngx_http_mesh_get_container(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, ngx_http_mesh_vtype_e type, int kind)
{
    if (v->type != type) {
        return ngx_http_mesh_parse_fail(p, "must be %s",
                   type == NGX_HTTP_MESH_V_ARRAY ? "an array" : "an object");
    }

    return kind;
}


static int
ngx_http_mesh_get_uint(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    uint32_t min, uint32_t max, uint32_t *out)
{
    char                buf[NGX_HTTP_MESH_NUMBER_MAX + 1];
    size_t              i;
    unsigned long long  n;

    if (v->type != NGX_HTTP_MESH_V_NUMBER) {
        goto invalid;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            goto invalid;
        }
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    errno = 0;
    n = strtoull(buf, NULL, 10);

    if (errno != 0 || n < min || n > max) {
        goto invalid;
    }

    *out = (uint32_t) n;

    return NGX_HTTP_MESH_P_DONE;

invalid:

    return ngx_http_mesh_parse_fail(p, "must be an integer %u-%u", min, max);
}


static int
ngx_http_mesh_get_real(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    double max, double *out)
{
    char    buf[NGX_HTTP_MESH_NUMBER_MAX + 1];
    double  d;

    if (v->type != NGX_HTTP_MESH_V_NUMBER) {
        goto invalid;
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    d = strtod(buf, NULL);

    if (!(d >= 0 && d < max)) {
        goto invalid;
    }

    /* -0 would print as "-0" */
    *out = (d == 0) ? 0 : d;

    return NGX_HTTP_MESH_P_DONE;

invalid:

    return ngx_http_mesh_parse_fail(p, "must be a number >= 0 and < %.0f",
                                    max);
}


static int
ngx_http_mesh_get_bool(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    uint8_t *out)
{
    if (v->type != NGX_HTTP_MESH_V_BOOL) {
        return ngx_http_mesh_parse_fail(p, "must be true or false");
    }

    *out = (uint8_t) (v->boolean != 0);

    return NGX_HTTP_MESH_P_DONE;
}


/* a string of min..max bytes, each accepted by valid */

static int
ngx_http_mesh_get_chars(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    int (*valid)(int c), size_t min, size_t max, const char *what)
{
    size_t  i;

    if (v->type != NGX_HTTP_MESH_V_STRING || v->len < min || v->len > max) {
        return ngx_http_mesh_parse_fail(p, "%s", what);
    }

    for (i = 0; i < v->len; i++) {
        if (!valid((unsigned char) v->data[i])) {
            return ngx_http_mesh_parse_fail(p, "%s", what);
        }
    }

    return NGX_HTTP_MESH_P_DONE;
}


/* a model name into NGX_HTTP_MESH_MODEL_LEN bytes */

static int
ngx_http_mesh_get_name(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    char *out)
{
    if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_is_name_char, 1,
            NGX_HTTP_MESH_MODEL_LEN - 1,
            "must be 1-127 printable characters without spaces or quotes")
        != NGX_HTTP_MESH_P_DONE)
    {
        return NGX_HTTP_MESH_P_ERROR;
    }

    memcpy(out, v->data, v->len);
    out[v->len] = '\0';

    return NGX_HTTP_MESH_P_DONE;
}


/* a node id into NGX_HTTP_MESH_ID_LEN bytes */

static int
ngx_http_mesh_get_id(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    char *out)
{
    if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_is_id_char, 1,
            NGX_HTTP_MESH_ID_LEN - 1,
            "must be 1-63 characters of A-Z a-z 0-9 . _ -")
        != NGX_HTTP_MESH_P_DONE)
    {
        return NGX_HTTP_MESH_P_ERROR;
    }

    memcpy(out, v->data, v->len);
    out[v->len] = '\0';

    return NGX_HTTP_MESH_P_DONE;
}


/* the orchestrator never resolves names: an address literal only */

static int
ngx_http_mesh_get_host(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    char *out)
{
    char           buf[NGX_HTTP_MESH_HOST_LEN];
    unsigned char  addr[sizeof(struct in6_addr)];

    if (v->type != NGX_HTTP_MESH_V_STRING || v->len == 0
        || v->len >= NGX_HTTP_MESH_HOST_LEN
        || memchr(v->data, '\0', v->len) != NULL)
    {
        goto invalid;
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    if (inet_pton(AF_INET, buf, addr) != 1
        && inet_pton(AF_INET6, buf, addr) != 1)
    {
        goto invalid;
    }

    memcpy(out, buf, v->len + 1);

    return NGX_HTTP_MESH_P_DONE;

invalid:

    return ngx_http_mesh_parse_fail(p, "must be an IPv4 or IPv6 address");
}


/* a string copied with the caller's allocator, NUL-terminated */

static int
ngx_http_mesh_get_text(ngx_http_mesh_parser_t *p, ngx_http_mesh_value_t *v,
    size_t max, ngx_http_mesh_span_t *out)
{
    char  *copy;

    if (v->type != NGX_HTTP_MESH_V_STRING || v->len > max) {
        return ngx_http_mesh_parse_fail(p, "must be a string of at most %zu"
                                        " bytes", max);
    }

    copy = p->alloc(p->alloc_ctx, v->len + 1);
    if (copy == NULL) {
        ngx_http_mesh_parse_error(p, "out of memory");
        return NGX_HTTP_MESH_P_ERROR;
    }

    memcpy(copy, v->data, v->len);
    copy[v->len] = '\0';

    out->data = copy;
    out->len = v->len;

    return NGX_HTTP_MESH_P_DONE;
}


static int
ngx_http_mesh_is_id_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}


static int
ngx_http_mesh_is_name_char(int c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\';
}


/* Go's base64 decoder, behind Ollama, skips line breaks */

static int
ngx_http_mesh_is_base64_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='
           || c == '\r' || c == '\n';
}


static int
ngx_http_mesh_caps_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    int                    rc;
    uint32_t               n;
    ngx_http_mesh_caps_t  *caps;

    n = 0;
    caps = p->data;

    switch (f->kind) {

    case NGX_HTTP_MESH_CAPS_MODELS:
        if (f->index >= NGX_HTTP_MESH_MAX_MODELS) {
            ngx_http_mesh_parse_error(p, "\"models\" has more than %d entries",
                                      NGX_HTTP_MESH_MAX_MODELS);
            return NGX_HTTP_MESH_P_ERROR;
        }

        caps->nmodels = (uint16_t) (f->index + 1);

        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_OBJECT,
                                           NGX_HTTP_MESH_CAPS_MODEL);

    case NGX_HTTP_MESH_CAPS_MODEL:
        return ngx_http_mesh_caps_model(p, f, v);

    case NGX_HTTP_MESH_CAPS_HW:
        return ngx_http_mesh_caps_hardware(p, f, v);
    }

    switch (f->key) {

    case NGX_HTTP_MESH_CAPS_NODE_ID:
        return ngx_http_mesh_get_id(p, v, caps->node_id);

    case NGX_HTTP_MESH_CAPS_HOST:
        return ngx_http_mesh_get_host(p, v, caps->host);

    case NGX_HTTP_MESH_CAPS_PORT:
        rc = ngx_http_mesh_get_uint(p, v, 1, 65535, &n);
        if (rc == NGX_HTTP_MESH_P_DONE) {
            caps->port = (uint16_t) n;
        }

        return rc;

    case NGX_HTTP_MESH_CAPS_MODELS_KEY:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                                           NGX_HTTP_MESH_CAPS_MODELS);

    case NGX_HTTP_MESH_CAPS_HARDWARE:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_OBJECT,
                                           NGX_HTTP_MESH_CAPS_HW);

    case NGX_HTTP_MESH_CAPS_STATUS:
        for (n = 0; n <= NGX_HTTP_MESH_STATUS_DRAINING; n++) {
            if (v->type == NGX_HTTP_MESH_V_STRING
                && strlen(ngx_http_mesh_status_names[n]) == v->len
                && memcmp(ngx_http_mesh_status_names[n], v->data, v->len) == 0)
            {
                caps->status = (uint8_t) n;
                return NGX_HTTP_MESH_P_DONE;
            }
        }

        return ngx_http_mesh_parse_bad(p, "unknown status", v);

    case NGX_HTTP_MESH_CAPS_ACTIVE:
        return ngx_http_mesh_get_uint(p, v, 0, NGX_HTTP_MESH_COUNT_MAX,
                                      &caps->active_tasks);

    case NGX_HTTP_MESH_CAPS_MAX_TASKS:
        return ngx_http_mesh_get_uint(p, v, 0, NGX_HTTP_MESH_COUNT_MAX,
                                      &caps->max_tasks);

    case NGX_HTTP_MESH_CAPS_QUEUED:
        return ngx_http_mesh_get_uint(p, v, 0, NGX_HTTP_MESH_COUNT_MAX,
                                      &caps->queued);

    case NGX_HTTP_MESH_CAPS_RATE:
        return ngx_http_mesh_get_real(p, v, NGX_HTTP_MESH_RATE_MAX,
                                      &caps->tokens_per_sec);

    default: /* NGX_HTTP_MESH_CAPS_VERSION */
        if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_is_name_char, 0,
                NGX_HTTP_MESH_VERSION_LEN - 1,
                "must be at most 31 printable characters without spaces"
                " or quotes")
            != NGX_HTTP_MESH_P_DONE)
        {
            return NGX_HTTP_MESH_P_ERROR;
        }

        memcpy(caps->agent_version, v->data, v->len);
        caps->agent_version[v->len] = '\0';

        return NGX_HTTP_MESH_P_DONE;
    }
}


static int
ngx_http_mesh_caps_model(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    uint16_t                i;
    ngx_http_mesh_caps_t   *caps;
    ngx_http_mesh_type_e    type;
    ngx_http_mesh_model_t  *m;

    caps = p->data;
    m = &caps->models[caps->nmodels - 1];

    switch (f->key) {

    case NGX_HTTP_MESH_MODEL_NAME:
        if (ngx_http_mesh_get_name(p, v, m->name) != NGX_HTTP_MESH_P_DONE) {
            return NGX_HTTP_MESH_P_ERROR;
        }

        /* routing by model name needs each name once */

        for (i = 0; i + 1 < caps->nmodels; i++) {
            if (strcmp(caps->models[i].name, m->name) == 0) {
                return ngx_http_mesh_parse_fail(p, "repeats model \"%s\"",
                                                m->name);
            }
        }

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_MODEL_TYPE:
        type = NGX_HTTP_MESH_TYPE_UNKNOWN;

        if (v->type == NGX_HTTP_MESH_V_STRING) {
            type = ngx_http_mesh_type_from_name(v->data, v->len);
        }

        if (type >= NGX_HTTP_MESH_TYPE_SUMMARIZE) {
            return ngx_http_mesh_parse_bad(p, "unknown model type", v);
        }

        m->type = (uint8_t) type;

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_MODEL_SIZE:
        return ngx_http_mesh_get_real(p, v, NGX_HTTP_MESH_GB_MAX,
                                      &m->size_gb);

    default: /* NGX_HTTP_MESH_MODEL_LOADED */
        return ngx_http_mesh_get_bool(p, v, &m->loaded);
    }
}


static int
ngx_http_mesh_caps_hardware(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_caps_t  *caps;

    caps = p->data;

    switch (f->key) {

    case NGX_HTTP_MESH_HW_RAM_TOTAL:
        return ngx_http_mesh_get_real(p, v, NGX_HTTP_MESH_GB_MAX,
                                      &caps->ram_total_gb);

    case NGX_HTTP_MESH_HW_RAM_FREE:
        return ngx_http_mesh_get_real(p, v, NGX_HTTP_MESH_GB_MAX,
                                      &caps->ram_free_gb);

    case NGX_HTTP_MESH_HW_HAS_GPU:
        return ngx_http_mesh_get_bool(p, v, &caps->has_gpu);

    default: /* NGX_HTTP_MESH_HW_VRAM */
        return ngx_http_mesh_get_real(p, v, NGX_HTTP_MESH_GB_MAX,
                                      &caps->gpu_vram_gb);
    }
}


static int
ngx_http_mesh_task_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_task_t  *task;
    ngx_http_mesh_type_e   type;

    task = p->data;

    if (f->kind == NGX_HTTP_MESH_TASK_IMAGES) {
        return ngx_http_mesh_task_image(p, f, v);
    }

    switch (f->key) {

    case NGX_HTTP_MESH_TASK_TYPE:
        type = NGX_HTTP_MESH_TYPE_UNKNOWN;

        if (v->type == NGX_HTTP_MESH_V_STRING) {
            type = ngx_http_mesh_type_from_name(v->data, v->len);
        }

        if (type == NGX_HTTP_MESH_TYPE_EMBEDDING
            || type == NGX_HTTP_MESH_TYPE_UNKNOWN)
        {
            return ngx_http_mesh_parse_bad(p, "unknown task type", v);
        }

        task->type = (uint8_t) type;

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_TASK_MODEL:
        if (v->type == NGX_HTTP_MESH_V_STRING && v->len == 0) {
            return NGX_HTTP_MESH_P_DONE;
        }

        if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_is_name_char, 1,
                NGX_HTTP_MESH_MODEL_LEN - 1,
                "must be 1-127 printable characters without spaces or quotes")
            != NGX_HTTP_MESH_P_DONE)
        {
            return NGX_HTTP_MESH_P_ERROR;
        }

        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_MODEL_LEN - 1,
                                      &task->model);

    case NGX_HTTP_MESH_TASK_PROMPT:
        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_TEXT_MAX,
                                      &task->prompt);

    case NGX_HTTP_MESH_TASK_SYSTEM:
        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_TEXT_MAX,
                                      &task->system);

    case NGX_HTTP_MESH_TASK_IMAGES_KEY:
        if (v->type != NGX_HTTP_MESH_V_ARRAY) {
            return ngx_http_mesh_parse_fail(p, "must be an array");
        }

        task->images = p->alloc(p->alloc_ctx, NGX_HTTP_MESH_MAX_IMAGES
                                              * sizeof(ngx_http_mesh_span_t));
        if (task->images == NULL) {
            ngx_http_mesh_parse_error(p, "out of memory");
            return NGX_HTTP_MESH_P_ERROR;
        }

        return NGX_HTTP_MESH_TASK_IMAGES;

    case NGX_HTTP_MESH_TASK_STREAM:
        return ngx_http_mesh_get_bool(p, v, &task->stream);

    default: /* NGX_HTTP_MESH_TASK_OPTIONS */
        if (v->type != NGX_HTTP_MESH_V_OBJECT) {
            return ngx_http_mesh_parse_fail(p, "must be an object");
        }

        return NGX_HTTP_MESH_P_CAPTURE;
    }
}


static int
ngx_http_mesh_task_image(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_task_t  *task;

    task = p->data;

    if (f->index >= NGX_HTTP_MESH_MAX_IMAGES) {
        ngx_http_mesh_parse_error(p, "\"images\" has more than %d entries",
                                  NGX_HTTP_MESH_MAX_IMAGES);
        return NGX_HTTP_MESH_P_ERROR;
    }

    if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_is_base64_char, 1,
                                NGX_HTTP_MESH_IMAGE_MAX,
                                "must be a base64 string")
        != NGX_HTTP_MESH_P_DONE)
    {
        return NGX_HTTP_MESH_P_ERROR;
    }

    task->nimages = f->index + 1;

    return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_IMAGE_MAX,
                                  &task->images[f->index]);
}


static int
ngx_http_mesh_ollama_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_ollama_req_t  *req;

    req = p->data;

    switch (f->kind) {

    case NGX_HTTP_MESH_OLLAMA_IMAGES:
        req->has_images = 1;
        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_OLLAMA_MESSAGES:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_OBJECT,
                                           NGX_HTTP_MESH_OLLAMA_MESSAGE);

    case NGX_HTTP_MESH_OLLAMA_MESSAGE:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                                           NGX_HTTP_MESH_OLLAMA_IMAGES);
    }

    switch (f->key) {

    case NGX_HTTP_MESH_OLLAMA_MODEL:
        if (v->type == NGX_HTTP_MESH_V_STRING && v->len == 0) {
            /* Ollama's own answer for "" too */
            return NGX_HTTP_MESH_P_DONE;
        }

        if (ngx_http_mesh_get_name(p, v, req->model) != NGX_HTTP_MESH_P_DONE) {
            return NGX_HTTP_MESH_P_ERROR;
        }

        req->has_model = 1;

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_OLLAMA_STREAM:
        return ngx_http_mesh_get_bool(p, v, &req->stream);

    case NGX_HTTP_MESH_OLLAMA_IMAGES_KEY:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                                           NGX_HTTP_MESH_OLLAMA_IMAGES);

    default: /* NGX_HTTP_MESH_OLLAMA_MESSAGES_KEY */
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                                           NGX_HTTP_MESH_OLLAMA_MESSAGES);
    }
}


static int
ngx_http_mesh_leave_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v)
{
    (void) f;

    return ngx_http_mesh_get_id(p, v, p->data);
}


static void
ngx_http_mesh_out(ngx_http_mesh_out_t *o, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (o->failed) {
        return;
    }

    va_start(args, fmt);
    n = vsnprintf(o->pos, o->end - o->pos, fmt, args);
    va_end(args);

    if (n < 0 || n >= o->end - o->pos) {
        o->failed = 1;
        return;
    }

    o->pos += n;
}


/* a NUL-terminated field of at most size bytes, as a JSON string */

static void
ngx_http_mesh_out_str(ngx_http_mesh_out_t *o, const char *s, size_t size)
{
    int  n;

    ngx_http_mesh_out(o, "\"");

    if (o->failed) {
        return;
    }

    n = ngx_http_mesh_json_escape(s, strnlen(s, size), o->pos,
                                  o->end - o->pos);
    if (n < 0) {
        o->failed = 1;
        return;
    }

    o->pos += n;

    ngx_http_mesh_out(o, "\"");
}


/* the shortest text that reads back as the same double */

static void
ngx_http_mesh_out_real(ngx_http_mesh_out_t *o, double d)
{
    int   prec;
    char  buf[40];

    if (!isfinite(d)) {
        d = 0;
    }

    for (prec = 15; /* void */ ; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);

        if (prec == 17 || strtod(buf, NULL) == d) {
            break;
        }
    }

    ngx_http_mesh_out(o, "%s", buf);
}
