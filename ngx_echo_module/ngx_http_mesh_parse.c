
/*
 * The schemas of the mesh's JSON bodies: node capabilities (heartbeat),
 * native tasks, the routing fields of Ollama API bodies and the leave body,
 * each a table of known keys per object kind and one value handler run by
 * the engine in ngx_http_mesh_parse_core.c; and the canonical capability
 * JSON they read back.
 */


#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_mesh_parse_core.h"
#include "ngx_http_mesh_parse.h"


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


/* an OpenAI API body */

enum {
    NGX_HTTP_MESH_OPENAI = 0,
    NGX_HTTP_MESH_OPENAI_MESSAGES,
    NGX_HTTP_MESH_OPENAI_MESSAGE,
    NGX_HTTP_MESH_OPENAI_PARTS,
    NGX_HTTP_MESH_OPENAI_PART
};

enum {
    NGX_HTTP_MESH_OPENAI_MODEL = 0,
    NGX_HTTP_MESH_OPENAI_STREAM,
    NGX_HTTP_MESH_OPENAI_MESSAGES_KEY
};


typedef struct {
    char                        *pos;
    char                        *end;
    int                          failed;
} ngx_http_mesh_out_t;


static int ngx_http_mesh_get_name(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
static int ngx_http_mesh_get_id(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
static int ngx_http_mesh_get_host(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_value_t *v, char *out);
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
static int ngx_http_mesh_parse_door(const ngx_http_mesh_spec_t *spec,
    const char *data, size_t len, void *req, const uint8_t *has_model,
    char *err);
static int ngx_http_mesh_openai_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_leave_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static void ngx_http_mesh_out_str(ngx_http_mesh_out_t *o, const char *s,
    size_t size);
static void ngx_http_mesh_out_bytes(ngx_http_mesh_out_t *o, const char *s,
    size_t n);
static void ngx_http_mesh_out_cstr(ngx_http_mesh_out_t *o, const char *s);
static void ngx_http_mesh_out_uint(ngx_http_mesh_out_t *o, uint64_t u);
static void ngx_http_mesh_out_real(ngx_http_mesh_out_t *o, double d);
static int ngx_http_mesh_out_decimal(char *buf, double d);
static void ngx_http_mesh_reverse(char *p, char *last);

#define ngx_http_mesh_out_lit(o, s)                                          \
    ngx_http_mesh_out_bytes(o, s, sizeof(s) - 1)


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


/*
 * Ollama's OpenAI middleware decodes with encoding/json too.  A content
 * part of type "image_url" is an image (openai.FromChatRequest).
 */

static const char *const  ngx_http_mesh_openai_keys[] = {
    "model", "stream", "messages", NULL
};

static const char *const  ngx_http_mesh_openai_message_keys[] = {
    "content", NULL
};

static const char *const  ngx_http_mesh_openai_part_keys[] = {
    "type", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_openai_kinds[] = {
    { ngx_http_mesh_openai_keys, 0 },
    { NULL, 0 },
    { ngx_http_mesh_openai_message_keys, 0 },
    { NULL, 0 },
    { ngx_http_mesh_openai_part_keys, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_openai_spec = {
    ngx_http_mesh_openai_kinds, ngx_http_mesh_openai_value,
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
    memset(req, 0, sizeof(ngx_http_mesh_ollama_req_t));

    req->stream = 1;

    return ngx_http_mesh_parse_door(&ngx_http_mesh_ollama_spec, data, len,
                                    req, &req->has_model, err);
}


int
ngx_http_mesh_parse_openai(const char *data, size_t len,
    ngx_http_mesh_openai_req_t *req, char *err)
{
    memset(req, 0, sizeof(ngx_http_mesh_openai_req_t));

    return ngx_http_mesh_parse_door(&ngx_http_mesh_openai_spec, data, len,
                                    req, &req->has_model, err);
}


/* a front door's body: the routing fields, and "model" is required */

static int
ngx_http_mesh_parse_door(const ngx_http_mesh_spec_t *spec, const char *data,
    size_t len, void *req, const uint8_t *has_model, char *err)
{
    ngx_http_mesh_parser_t  p;

    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    p.spec = spec;
    p.data = req;
    p.err = err;

    if (ngx_http_mesh_parse_run(&p, data, len) != 0) {
        return -1;
    }

    if (!*has_model) {
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


/*
 * Written per heartbeat (the Redis copy and the event): literal pieces
 * copied and integers written by hand, not a vsnprintf() each, which was
 * most of what this cost.  The text is the same as before, byte for byte
 * (tests/test_parse.c checks it against the printf form).
 */

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

    ngx_http_mesh_out_lit(&o, "{\"node_id\":");
    ngx_http_mesh_out_str(&o, caps->node_id, sizeof(caps->node_id));
    ngx_http_mesh_out_lit(&o, ",\"host\":");
    ngx_http_mesh_out_str(&o, caps->host, sizeof(caps->host));
    ngx_http_mesh_out_lit(&o, ",\"port\":");
    ngx_http_mesh_out_uint(&o, caps->port);
    ngx_http_mesh_out_lit(&o, ",\"models\":[");

    for (i = 0; i < caps->nmodels && i < NGX_HTTP_MESH_MAX_MODELS; i++) {
        m = &caps->models[i];

        if (i) {
            ngx_http_mesh_out_lit(&o, ",");
        }

        ngx_http_mesh_out_lit(&o, "{\"name\":");
        ngx_http_mesh_out_str(&o, m->name, sizeof(m->name));
        ngx_http_mesh_out_lit(&o, ",\"type\":\"");
        ngx_http_mesh_out_cstr(&o, ngx_http_mesh_type_name(m->type));
        ngx_http_mesh_out_lit(&o, "\",\"size_gb\":");
        ngx_http_mesh_out_real(&o, m->size_gb);

        if (m->loaded) {
            ngx_http_mesh_out_lit(&o, ",\"loaded\":true}");

        } else {
            ngx_http_mesh_out_lit(&o, ",\"loaded\":false}");
        }
    }

    ngx_http_mesh_out_lit(&o, "],\"hardware\":{\"ram_total_gb\":");
    ngx_http_mesh_out_real(&o, caps->ram_total_gb);
    ngx_http_mesh_out_lit(&o, ",\"ram_free_gb\":");
    ngx_http_mesh_out_real(&o, caps->ram_free_gb);

    if (caps->has_gpu) {
        ngx_http_mesh_out_lit(&o, ",\"has_gpu\":true,\"gpu_vram_gb\":");

    } else {
        ngx_http_mesh_out_lit(&o, ",\"has_gpu\":false,\"gpu_vram_gb\":");
    }

    ngx_http_mesh_out_real(&o, caps->gpu_vram_gb);
    ngx_http_mesh_out_lit(&o, "},\"status\":\"");
    ngx_http_mesh_out_cstr(&o, ngx_http_mesh_status_name(caps->status));
    ngx_http_mesh_out_lit(&o, "\",\"active_tasks\":");
    ngx_http_mesh_out_uint(&o, caps->active_tasks);
    ngx_http_mesh_out_lit(&o, ",\"max_tasks\":");
    ngx_http_mesh_out_uint(&o, caps->max_tasks);
    ngx_http_mesh_out_lit(&o, ",\"queued\":");
    ngx_http_mesh_out_uint(&o, caps->queued);
    ngx_http_mesh_out_lit(&o, ",\"tokens_per_sec\":");
    ngx_http_mesh_out_real(&o, caps->tokens_per_sec);
    ngx_http_mesh_out_lit(&o, ",\"agent_version\":");
    ngx_http_mesh_out_str(&o, caps->agent_version,
                          sizeof(caps->agent_version));
    ngx_http_mesh_out_lit(&o, "}");

    /* room for the NUL too, as vsnprintf() wanted */

    if (o.failed || o.pos >= o.end) {
        out[0] = '\0';
        return 0;
    }

    *o.pos = '\0';

    return o.pos - out;
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
ngx_http_mesh_openai_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v)
{
    size_t                       end, start, n;
    const char                  *body;
    ngx_http_mesh_openai_req_t  *req;

    req = p->data;

    switch (f->kind) {

    case NGX_HTTP_MESH_OPENAI_MESSAGES:
        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_OBJECT,
                                           NGX_HTTP_MESH_OPENAI_MESSAGE);

    case NGX_HTTP_MESH_OPENAI_MESSAGE:
        /* content is a string or an array of parts */
        if (v->type == NGX_HTTP_MESH_V_ARRAY) {
            return NGX_HTTP_MESH_OPENAI_PARTS;
        }

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_OPENAI_PARTS:
        if (v->type == NGX_HTTP_MESH_V_OBJECT) {
            return NGX_HTTP_MESH_OPENAI_PART;
        }

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_OPENAI_PART:
        if (v->type == NGX_HTTP_MESH_V_STRING && v->len == 9
            && memcmp(v->data, "image_url", 9) == 0)
        {
            req->has_images = 1;
        }

        return NGX_HTTP_MESH_P_DONE;
    }

    switch (f->key) {

    case NGX_HTTP_MESH_OPENAI_MODEL:
        if (ngx_http_mesh_get_name(p, v, req->model) != NGX_HTTP_MESH_P_DONE) {
            return NGX_HTTP_MESH_P_ERROR;
        }

        /*
         * The string token ends just before the offset; its opening quote
         * is the first '"' back from there that no backslash escapes.
         */

        body = p->yajl_data;
        end = ngx_http_mesh_parse_offset(p);

        if (body == NULL || end < 2 || body[end - 1] != '"') {
            return ngx_http_mesh_parse_fail(p, "must be a string");
        }

        for (start = end - 1; start > 0; start--) {
            if (body[start - 1] != '"') {
                continue;
            }

            for (n = 0; start - 1 > n && body[start - 2 - n] == '\\'; n++) {
                /* void */
            }

            if (n % 2 == 0) {
                break;
            }
        }

        if (start == 0) {
            return ngx_http_mesh_parse_fail(p, "must be a string");
        }

        req->model_start = start - 1;
        req->model_end = end;
        req->has_model = 1;

        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_OPENAI_STREAM:
        return ngx_http_mesh_get_bool(p, v, &req->stream);

    default: /* NGX_HTTP_MESH_OPENAI_MESSAGES_KEY */
        if (v->type == NGX_HTTP_MESH_V_NULL) {
            return NGX_HTTP_MESH_P_DONE;
        }

        /* the lexer has just taken the "[" */
        body = p->yajl_data;
        end = ngx_http_mesh_parse_offset(p);

        if (v->type == NGX_HTTP_MESH_V_ARRAY && body != NULL && end > 0
            && body[end - 1] == '[')
        {
            req->messages_start = end;
        }

        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_ARRAY,
                                           NGX_HTTP_MESH_OPENAI_MESSAGES);
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
ngx_http_mesh_out_bytes(ngx_http_mesh_out_t *o, const char *s, size_t n)
{
    if (o->failed) {
        return;
    }

    if (n > (size_t) (o->end - o->pos)) {
        o->failed = 1;
        return;
    }

    memcpy(o->pos, s, n);
    o->pos += n;
}


static void
ngx_http_mesh_out_cstr(ngx_http_mesh_out_t *o, const char *s)
{
    ngx_http_mesh_out_bytes(o, s, strlen(s));
}


static void
ngx_http_mesh_out_uint(ngx_http_mesh_out_t *o, uint64_t u)
{
    char  *p, buf[24];

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    ngx_http_mesh_out_bytes(o, p, buf + sizeof(buf) - p);
}


/* a NUL-terminated field of at most size bytes, as a JSON string */

static void
ngx_http_mesh_out_str(ngx_http_mesh_out_t *o, const char *s, size_t size)
{
    int  n;

    ngx_http_mesh_out_lit(o, "\"");

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

    ngx_http_mesh_out_lit(o, "\"");
}


/* the shortest text that reads back as the same double */

static void
ngx_http_mesh_out_real(ngx_http_mesh_out_t *o, double d)
{
    int   prec, n;
    char  buf[40];

    if (!isfinite(d)) {
        d = 0;
    }

    n = ngx_http_mesh_out_decimal(buf, d);

    if (n) {
        ngx_http_mesh_out_bytes(o, buf, n);
        return;
    }

    for (prec = 15; /* void */ ; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);

        if (prec == 17 || strtod(buf, NULL) == d) {
            break;
        }
    }

    ngx_http_mesh_out_cstr(o, buf);
}


/*
 * What "%.15g" prints for d, without printf, when d is a whole number
 * below 1e15, or below 1e12 and read back exactly from at most three
 * decimals (4.1, 0.25): 15 significant digits are then enough for d to
 * round to that very text, with no trailing zero.  The loop above
 * prints it too, as it reads back.  0: not such a number, into buf
 * (at least 24 bytes) otherwise, and its length.
 */

static int
ngx_http_mesh_out_decimal(char *buf, double d)
{
    int       k;
    char     *p, *q;
    double    a;
    uint64_t  u, scale, ip, fp;

    a = fabs(d);
    p = buf;

    if (signbit(d)) {
        *p++ = '-';
    }

    if (a < 1e15 && a == floor(a)) {
        q = p;
        u = (uint64_t) a;

        do {
            *q++ = (char) ('0' + u % 10);
            u /= 10;
        } while (u);

        ngx_http_mesh_reverse(p, q);

        return (int) (q - buf);
    }

    if (!(a < 1e12)) {
        return 0;
    }

    for (k = 1, scale = 10; k <= 3; k++, scale *= 10) {
        u = (uint64_t) (a * (double) scale + 0.5);
        ip = u / scale;
        fp = u % scale;

        /* a trailing zero: the same number as with fewer decimals */
        if (fp % 10 == 0) {
            continue;
        }

        q = p;

        do {
            *q++ = (char) ('0' + ip % 10);
            ip /= 10;
        } while (ip);

        ngx_http_mesh_reverse(p, q);

        *q++ = '.';
        q += k;

        for (u = 0; u < (uint64_t) k; u++) {
            q[-1 - (int) u] = (char) ('0' + fp % 10);
            fp /= 10;
        }

        *q = '\0';

        if (strtod(buf, NULL) == d) {
            return (int) (q - buf);
        }
    }

    return 0;
}


static void
ngx_http_mesh_reverse(char *p, char *last)
{
    char  c;

    while (p < --last) {
        c = *p;
        *p++ = *last;
        *last = c;
    }
}
