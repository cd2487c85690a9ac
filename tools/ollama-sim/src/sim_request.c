#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_parse.h>

#include "sim_json.h"
#include "sim_request.h"
#include "sim_time.h"

#define SIM_FRAMES_MAX  8


typedef enum {
    K_SKIP = 0,         /* a key we do not know: any value, ignored */
    K_STRING,
    K_BOOL,
    K_DURATION,         /* api.Duration: seconds or a Go duration string */
    K_THINK,            /* api.ThinkValue: bool or "high|medium|low" */
    K_REQUEST,          /* the top-level object */
    K_OPTIONS,          /* map[string]any */
    K_OPTION,           /* the value of a key api.Options knows */
    K_OPT_STOP,         /* options.stop: []string */
    K_OPT_STOP_ELEM,
    K_ANY,              /* decoded into an interface: float64 numbers */
    K_INT_FIELD,        /* an int field of the request */
    K_FORMAT,           /* json.RawMessage: kept, not decoded */
    K_TOOL_FUNCTION,
    K_MESSAGES,
    K_MESSAGE,
    K_IMAGES,
    K_IMAGE,            /* api.ImageData: a base64 string */
    K_INPUT,            /* any: a string or an array of strings */
    K_INPUT_ELEM,
    K_CONTEXT,
    K_INT,
    K_TOOLS,
    K_TOOL
} sim_kind_t;


typedef enum {
    T_NONE = 0,
    T_MODEL,
    T_NAME,
    T_PROMPT,
    T_SUFFIX,
    T_SYSTEM,
    T_TEMPLATE,
    T_STREAM,
    T_RAW,
    T_ROLE,
    T_CONTENT,
    T_TOOL_NAME,
    T_TOP_LOGPROBS
} sim_target_t;


typedef enum {
    O_INT = 0,
    O_FLOAT,
    O_BOOL,
    O_STRINGS
} sim_opt_type_t;


/* api.Options (and its Runner) by JSON name, for Options.FromMap. */
typedef struct {
    const char      *name;
    sim_opt_type_t   type;
} sim_option_t;


typedef enum {
    V_NULL = 0,
    V_BOOL,
    V_NUMBER,
    V_STRING,
    V_OBJECT,
    V_ARRAY
} sim_vtype_t;


typedef struct {
    const char    *name;        /* JSON key */
    const char    *path;        /* field path in Go's error messages */
    sim_kind_t     kind;
    sim_target_t   target;
    const char    *gotype;
} sim_field_t;


typedef struct {
    sim_kind_t          kind;
    const char         *path;
    const sim_field_t  *table;
    const sim_field_t  *cur;    /* field of the last key; NULL: unknown */
    const sim_option_t *opt;    /* options: the last key's option */
    const char         *gostruct;   /* the Go struct being decoded */
    sim_str_t           role;
    sim_str_t           content;
} sim_frame_t;


struct sim_parser_s {
    yajl_handle     yajl;
    sim_api_t       api;
    sim_request_t  *req;
    sim_frame_t     frames[SIM_FRAMES_MAX];
    int             nframes;
    int             skip;       /* depth inside an ignored value */
    const char     *any_path;   /* the skipped value is decoded as any */
    int             depth;
    int             seen_data;
    int             failed;
    size_t          fed;
    char            err[SIM_ERR_MAX];
};


static void sim_str_free(sim_str_t *s);
static int sim_str_set(sim_str_t *s, const char *p, size_t n);
static const sim_field_t *sim_field_find(const sim_field_t *t,
    const char *key, size_t n);
static void sim_expect(sim_parser_t *p, sim_field_t *e);
static const char *sim_go_struct(const sim_parser_t *p);
static void sim_type_error(sim_parser_t *p, const sim_field_t *e,
    sim_vtype_t vt);
static int sim_abort(sim_parser_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sim_enter(sim_parser_t *p, sim_kind_t kind, const char *path);
static int sim_value(sim_parser_t *p, sim_vtype_t vt, const char *s,
    size_t n, int bval);
static int sim_value_null(sim_parser_t *p, const sim_field_t *e);
static int sim_store(sim_parser_t *p, sim_target_t t, const char *s,
    size_t n);
static int sim_duration(sim_parser_t *p, sim_vtype_t vt, const char *s,
    size_t n);
static int sim_think(sim_parser_t *p, sim_vtype_t vt, const char *s,
    size_t n, int bval);
static int sim_input_add(sim_parser_t *p, const char *s, size_t n);
static long sim_base64_bad(const unsigned char *s, size_t n);
static double sim_number(const char *s, size_t n);
static int sim_float_overflows(const char *s, size_t n);
static int sim_go_int(const char *s, size_t n, long long *out);
static void sim_number_error(sim_parser_t *p, const char *path,
    const char *s, size_t n, const char *gotype);
static void sim_option_error(sim_parser_t *p, const char *key,
    const char *what);
static int sim_enter_any(sim_parser_t *p, const char *path);
static int sim_option(sim_parser_t *p, sim_vtype_t vt, const char *s,
    size_t n);
static int sim_cb_null(void *ctx);
static int sim_cb_boolean(void *ctx, int b);
static int sim_cb_number(void *ctx, const char *s, size_t n);
static int sim_cb_string(void *ctx, const unsigned char *s, size_t n);
static int sim_cb_start_map(void *ctx);
static int sim_cb_map_key(void *ctx, const unsigned char *s, size_t n);
static int sim_cb_end(void *ctx);
static int sim_cb_start_array(void *ctx);


static const char  *sim_struct_names[] = {
    "GenerateRequest", "ChatRequest", "EmbedRequest", "ShowRequest",
    "PullRequest", "DeleteRequest", "EmbeddingRequest"
};

#define SIM_FIELD_END      { NULL, NULL, K_SKIP, T_NONE, NULL }
#define SIM_F_STR(k, t)    { k, k, K_STRING, t, "string" }
#define SIM_F_BOOL(k, t)   { k, k, K_BOOL, t, "bool" }
#define SIM_F_KEEP_ALIVE   { "keep_alive", "keep_alive", K_DURATION, T_NONE, \
                             "api.Duration" }
#define SIM_F_OPTIONS      { "options", "options", K_OPTIONS, T_NONE, \
                             "map[string]interface {}" }
#define SIM_F_THINK        { "think", "think", K_THINK, T_NONE, \
                             "api.ThinkValue" }

#define SIM_F_FORMAT       { "format", "format", K_FORMAT, T_NONE, \
                             "json.RawMessage" }
#define SIM_F_TOP_LOGPROBS { "top_logprobs", "top_logprobs", K_INT_FIELD, \
                             T_TOP_LOGPROBS, "int" }

/* api/types.go GenerateRequest, ChatRequest, EmbedRequest, ... */
static const sim_field_t  sim_generate_fields[] = {
    SIM_F_STR("model", T_MODEL),
    SIM_F_STR("prompt", T_PROMPT),
    SIM_F_STR("suffix", T_SUFFIX),
    SIM_F_STR("system", T_SYSTEM),
    SIM_F_STR("template", T_TEMPLATE),
    { "context", "context", K_CONTEXT, T_NONE, "[]int" },
    SIM_F_BOOL("stream", T_STREAM),
    SIM_F_BOOL("raw", T_RAW),
    SIM_F_FORMAT,
    SIM_F_KEEP_ALIVE,
    { "images", "images", K_IMAGES, T_NONE, "[]api.ImageData" },
    SIM_F_OPTIONS,
    SIM_F_THINK,
    SIM_F_BOOL("truncate", T_NONE),
    SIM_F_BOOL("shift", T_NONE),
    SIM_F_BOOL("_debug_render_only", T_NONE),
    SIM_F_BOOL("logprobs", T_NONE),
    SIM_F_TOP_LOGPROBS,
    SIM_FIELD_END
};

static const sim_field_t  sim_chat_fields[] = {
    SIM_F_STR("model", T_MODEL),
    { "messages", "messages", K_MESSAGES, T_NONE, "[]api.Message" },
    SIM_F_BOOL("stream", T_STREAM),
    SIM_F_FORMAT,
    SIM_F_KEEP_ALIVE,
    { "tools", "tools", K_TOOLS, T_NONE, "api.Tools" },
    SIM_F_OPTIONS,
    SIM_F_THINK,
    SIM_F_BOOL("truncate", T_NONE),
    SIM_F_BOOL("shift", T_NONE),
    SIM_F_BOOL("_debug_render_only", T_NONE),
    SIM_F_BOOL("logprobs", T_NONE),
    SIM_F_TOP_LOGPROBS,
    SIM_FIELD_END
};

static const sim_field_t  sim_embed_fields[] = {
    SIM_F_STR("model", T_MODEL),
    { "input", "input", K_INPUT, T_NONE, "interface {}" },
    SIM_F_KEEP_ALIVE,
    SIM_F_BOOL("truncate", T_NONE),
    { "dimensions", "dimensions", K_INT_FIELD, T_NONE, "int" },
    SIM_F_OPTIONS,
    SIM_FIELD_END
};

/* the legacy /api/embeddings: api.EmbeddingRequest */
static const sim_field_t  sim_embeddings_fields[] = {
    SIM_F_STR("model", T_MODEL),
    SIM_F_STR("prompt", T_PROMPT),
    SIM_F_KEEP_ALIVE,
    SIM_F_OPTIONS,
    SIM_FIELD_END
};

static const sim_field_t  sim_show_fields[] = {
    SIM_F_STR("model", T_MODEL),
    SIM_F_STR("name", T_NAME),
    SIM_F_STR("system", T_NONE),
    SIM_F_STR("template", T_NONE),
    SIM_F_BOOL("verbose", T_NONE),
    SIM_F_OPTIONS,
    SIM_FIELD_END
};

static const sim_field_t  sim_pull_fields[] = {
    SIM_F_STR("model", T_MODEL),
    SIM_F_STR("name", T_NAME),
    SIM_F_BOOL("insecure", T_NONE),
    SIM_F_STR("username", T_NONE),
    SIM_F_STR("password", T_NONE),
    SIM_F_BOOL("stream", T_STREAM),
    SIM_FIELD_END
};

static const sim_field_t  sim_delete_fields[] = {
    SIM_F_STR("model", T_MODEL),
    SIM_F_STR("name", T_NAME),
    SIM_FIELD_END
};

static const sim_field_t  sim_tool_fields[] = {
    { "type", "tools.type", K_STRING, T_NONE, "string" },
    { "function", "tools.function", K_TOOL_FUNCTION, T_NONE,
      "api.ToolFunction" },
    SIM_FIELD_END
};

static const sim_field_t  sim_tool_function_fields[] = {
    { "name", "tools.function.name", K_STRING, T_TOOL_NAME, "string" },
    { "description", "tools.function.description", K_STRING, T_NONE,
      "string" },
    SIM_FIELD_END
};

static const sim_option_t  sim_options[] = {
    { "num_keep", O_INT }, { "seed", O_INT }, { "num_predict", O_INT },
    { "top_k", O_INT }, { "top_p", O_FLOAT }, { "min_p", O_FLOAT },
    { "typical_p", O_FLOAT }, { "repeat_last_n", O_INT },
    { "temperature", O_FLOAT }, { "repeat_penalty", O_FLOAT },
    { "presence_penalty", O_FLOAT }, { "frequency_penalty", O_FLOAT },
    { "stop", O_STRINGS }, { "num_ctx", O_INT }, { "num_batch", O_INT },
    { "num_gpu", O_INT }, { "main_gpu", O_INT }, { "use_mmap", O_BOOL },
    { "num_thread", O_INT }, { "draft_num_predict", O_INT },
    { NULL, O_INT }
};

/* inside "messages": Go's error path names the parent field too */
static const sim_field_t  sim_message_fields[] = {
    { "role", "messages.role", K_STRING, T_ROLE, "string" },
    { "content", "messages.content", K_STRING, T_CONTENT, "string" },
    { "thinking", "messages.thinking", K_STRING, T_NONE, "string" },
    { "images", "messages.images", K_IMAGES, T_NONE, "[]api.ImageData" },
    { "tool_name", "messages.tool_name", K_STRING, T_NONE, "string" },
    SIM_FIELD_END
};

static const sim_field_t  *sim_api_fields[] = {
    sim_generate_fields, sim_chat_fields, sim_embed_fields,
    sim_show_fields, sim_pull_fields, sim_delete_fields,
    sim_embeddings_fields
};

static const char  *sim_vtype_names[] = {
    "null", "bool", "number", "string", "object", "array"
};

static const yajl_callbacks  sim_callbacks = {
    sim_cb_null,
    sim_cb_boolean,
    NULL,
    NULL,
    sim_cb_number,
    sim_cb_string,
    sim_cb_start_map,
    sim_cb_map_key,
    sim_cb_end,
    sim_cb_start_array,
    sim_cb_end
};


void
sim_request_init(sim_request_t *r)
{
    memset(r, 0, sizeof(*r));
    r->stream = -1;
}


void
sim_request_free(sim_request_t *r)
{
    size_t  i;

    sim_str_free(&r->model);
    sim_str_free(&r->name);
    sim_str_free(&r->prompt);
    sim_str_free(&r->last_user);
    sim_str_free(&r->tool_name);

    for (i = 0; i < r->ninputs; i++) {
        sim_str_free(&r->inputs[i]);
    }
    free(r->inputs);

    sim_request_init(r);
}


/* Ollama reads "model", falling back to the deprecated "name". */
const sim_str_t *
sim_request_model(const sim_request_t *r)
{
    return r->model.n > 0 ? &r->model : &r->name;
}


static void
sim_str_free(sim_str_t *s)
{
    free(s->p);
    s->p = NULL;
    s->n = 0;
}


static int
sim_str_set(sim_str_t *s, const char *p, size_t n)
{
    char  *copy = NULL;

    copy = malloc(n + 1);
    if (copy == NULL) {
        return -1;
    }

    memcpy(copy, p, n);
    copy[n] = '\0';

    free(s->p);
    s->p = copy;
    s->n = n;
    return 0;
}


sim_parser_t *
sim_parser_new(sim_api_t api, sim_request_t *req)
{
    sim_parser_t  *p = NULL;

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }

    p->api = api;
    p->req = req;

    p->yajl = yajl_alloc(&sim_callbacks, NULL, p);
    if (p->yajl == NULL) {
        free(p);
        return NULL;
    }

    /* Go's json.Decoder stops after the first value and keeps invalid
     * UTF-8 (as U+FFFD); do the same. */
    yajl_config(p->yajl, yajl_allow_trailing_garbage, 1);
    yajl_config(p->yajl, yajl_dont_validate_strings, 1);

    return p;
}


void
sim_parser_free(sim_parser_t *p)
{
    int  i;

    if (p == NULL) {
        return;
    }

    for (i = 0; i < p->nframes; i++) {
        sim_str_free(&p->frames[i].role);
        sim_str_free(&p->frames[i].content);
    }

    yajl_free(p->yajl);
    free(p);
}


const char *
sim_parser_error(const sim_parser_t *p)
{
    return p->err;
}


int
sim_parser_feed(sim_parser_t *p, const char *data, size_t len)
{
    yajl_status     st;
    size_t          i, consumed;
    unsigned char   c;

    if (p->failed) {
        return -1;
    }

    for (i = 0; !p->seen_data && i < len; i++) {
        c = (unsigned char) data[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            p->seen_data = 1;
        }
    }

    st = yajl_parse(p->yajl, (const unsigned char *) data, len);

    if (st == yajl_status_ok) {
        p->fed += len;
        return 0;
    }

    p->failed = 1;

    if (st == yajl_status_client_canceled) {
        return -1;
    }

    consumed = yajl_get_bytes_consumed(p->yajl);
    if (consumed > 0) {
        consumed--;
    }
    if (consumed >= len) {
        snprintf(p->err, sizeof(p->err), "unexpected EOF");
        return -1;
    }

    c = (unsigned char) data[consumed];
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
        snprintf(p->err, sizeof(p->err),
                 "invalid character '%c' at offset %zu", c,
                 p->fed + consumed);
    } else {
        snprintf(p->err, sizeof(p->err),
                 "invalid character '\\x%02x' at offset %zu", c,
                 p->fed + consumed);
    }

    return -1;
}


int
sim_parser_finish(sim_parser_t *p)
{
    yajl_status  st;

    if (p->failed) {
        return -1;
    }

    if (!p->seen_data) {
        snprintf(p->err, sizeof(p->err), "missing request body");
        p->failed = 1;
        return -1;
    }

    st = yajl_complete_parse(p->yajl);
    if (st == yajl_status_client_canceled) {
        p->failed = 1;
        return -1;
    }

    if (st != yajl_status_ok) {
        snprintf(p->err, sizeof(p->err), "unexpected EOF");
        p->failed = 1;
        return -1;
    }

    return p->err[0] != '\0' ? -1 : 0;
}


/* One-shot parse of a whole body, for tests and small callers. */
int
sim_request_parse(sim_api_t api, const char *data, size_t len,
    sim_request_t *req, char *err, size_t errlen)
{
    sim_parser_t  *p = NULL;
    int            rc = -1;

    p = sim_parser_new(api, req);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (sim_parser_feed(p, data, len) == 0 && sim_parser_finish(p) == 0) {
        rc = 0;
        err[0] = '\0';
    } else {
        snprintf(err, errlen, "%s", p->err);
    }

    sim_parser_free(p);
    return rc;
}


static const sim_field_t *
sim_field_find(const sim_field_t *t, const char *key, size_t n)
{
    const sim_field_t  *exact = NULL, *folded = NULL;

    for ( /* void */ ; t->name != NULL; t++) {
        if (strlen(t->name) != n) {
            continue;
        }
        if (memcmp(t->name, key, n) == 0) {
            exact = t;
            break;
        }
        if (folded == NULL && strncasecmp(t->name, key, n) == 0) {
            folded = t;
        }
    }

    return exact != NULL ? exact : folded;
}


/* What the value at the current position should be. */
static void
sim_expect(sim_parser_t *p, sim_field_t *e)
{
    sim_frame_t  *f = NULL;

    e->name = NULL;
    e->path = "";
    e->kind = K_SKIP;
    e->target = T_NONE;
    e->gotype = "";

    if (p->nframes == 0) {
        e->kind = K_REQUEST;
        return;
    }

    f = &p->frames[p->nframes - 1];
    e->path = f->path;

    switch (f->kind) {
    case K_REQUEST:
    case K_MESSAGE:
    case K_TOOL:
    case K_TOOL_FUNCTION:
        if (f->cur != NULL) {
            *e = *f->cur;
        }
        break;
    case K_OPTIONS:
        e->kind = (f->opt != NULL) ? K_OPTION : K_ANY;
        e->gotype = "float64";
        break;
    case K_OPT_STOP:
        e->kind = K_OPT_STOP_ELEM;
        break;
    case K_MESSAGES:
        e->kind = K_MESSAGE;
        e->gotype = "api.Message";
        break;
    case K_IMAGES:
        e->kind = K_IMAGE;
        e->gotype = "api.ImageData";
        break;
    case K_INPUT:
        e->kind = K_INPUT_ELEM;
        break;
    case K_CONTEXT:
        e->kind = K_INT;
        e->gotype = "int";
        break;
    case K_TOOLS:
        e->kind = K_TOOL;
        e->gotype = "api.Tool";
        break;
    default:
        break;
    }
}


/*
 * The struct Go names in an error: the innermost one being decoded
 * (errorContext.Struct), while the field path runs from the top:
 * "Message.messages.content".
 */
static const char *
sim_go_struct(const sim_parser_t *p)
{
    return p->nframes > 0 ? p->frames[p->nframes - 1].gostruct
                          : sim_struct_names[p->api];
}


/* Go reports the first type mismatch after decoding the rest. */
static void
sim_type_error(sim_parser_t *p, const sim_field_t *e, sim_vtype_t vt)
{
    if (p->err[0] != '\0') {
        return;
    }

    if (e->kind == K_REQUEST) {
        snprintf(p->err, sizeof(p->err),
                 "json: cannot unmarshal %s into Go value of type api.%s",
                 sim_vtype_names[vt], sim_struct_names[p->api]);
        return;
    }

    snprintf(p->err, sizeof(p->err),
             "json: cannot unmarshal %s into Go struct field %s.%s "
             "of type %s", sim_vtype_names[vt], sim_go_struct(p),
             e->path, e->gotype);
}


/* Errors from Go UnmarshalJSON methods end decoding at once. */
static int
sim_abort(sim_parser_t *p, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);

    p->failed = 1;
    return 0;
}


static int
sim_enter(sim_parser_t *p, sim_kind_t kind, const char *path)
{
    sim_frame_t  *f = NULL;

    if (++p->depth > SIM_JSON_MAX_DEPTH) {
        return sim_abort(p, "json: exceeded max depth of %d",
                         SIM_JSON_MAX_DEPTH);
    }

    if (kind == K_SKIP) {
        p->skip++;
        return 1;
    }

    if (p->nframes == SIM_FRAMES_MAX) {
        return sim_abort(p, "json: exceeded max depth of %d",
                         SIM_JSON_MAX_DEPTH);
    }

    f = &p->frames[p->nframes++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->path = path;
    f->gostruct = (p->nframes > 1) ? p->frames[p->nframes - 2].gostruct
                                   : sim_struct_names[p->api];

    if (kind == K_REQUEST) {
        f->table = sim_api_fields[p->api];
    } else if (kind == K_MESSAGE) {
        f->table = sim_message_fields;
        f->gostruct = "Message";
    } else if (kind == K_TOOL) {
        f->table = sim_tool_fields;
        f->gostruct = "Tool";
    } else if (kind == K_TOOL_FUNCTION) {
        f->table = sim_tool_function_fields;
        f->gostruct = "ToolFunction";
    }

    return 1;
}


static int
sim_value(sim_parser_t *p, sim_vtype_t vt, const char *s, size_t n,
    int bval)
{
    sim_field_t     e;
    sim_request_t  *r = p->req;
    int             container = (vt == V_OBJECT || vt == V_ARRAY);
    long            bad;
    long long       ll;

    if (p->skip > 0) {
        if (vt == V_NUMBER && p->any_path != NULL
            && sim_float_overflows(s, n))
        {
            sim_number_error(p, p->any_path, s, n, "float64");
        }
        return container ? sim_enter(p, K_SKIP, NULL) : 1;
    }

    sim_expect(p, &e);

    if (vt == V_NULL) {
        return sim_value_null(p, &e);
    }

    switch (e.kind) {

    case K_STRING:
        if (vt != V_STRING) {
            goto mismatch;
        }
        return sim_store(p, e.target, s, n);

    case K_BOOL:
        if (vt != V_BOOL) {
            goto mismatch;
        }
        if (e.target == T_STREAM) {
            r->stream = bval;
        } else if (e.target == T_RAW) {
            r->raw = bval;
        }
        return 1;

    case K_DURATION:
        return sim_duration(p, vt, s, n);

    case K_THINK:
        return sim_think(p, vt, s, n, bval);

    case K_REQUEST:
    case K_OPTIONS:
        if (vt != V_OBJECT) {
            goto mismatch;
        }
        return sim_enter(p, e.kind, e.path);

    case K_MESSAGE:
        if (vt != V_OBJECT) {
            goto mismatch;
        }
        r->nmessages++;
        return sim_enter(p, K_MESSAGE, e.path);

    case K_MESSAGES:
    case K_IMAGES:
    case K_CONTEXT:
    case K_TOOLS:
        if (vt != V_ARRAY) {
            goto mismatch;
        }
        return sim_enter(p, e.kind, e.path);

    case K_IMAGE:
        if (vt != V_STRING) {
            goto mismatch;
        }
        bad = sim_base64_bad((const unsigned char *) s, n);
        if (bad >= 0) {
            return sim_abort(p, "illegal base64 data at input byte %ld",
                             bad);
        }
        r->nimages++;
        return 1;

    case K_INPUT:
        if (vt == V_STRING) {
            r->input_kind = SIM_INPUT_STRING;
            return n > 0 ? sim_input_add(p, s, n) : 1;
        }
        if (vt == V_ARRAY) {
            r->input_kind = SIM_INPUT_ARRAY;
            return sim_enter(p, K_INPUT, e.path);
        }
        r->input_kind = SIM_INPUT_INVALID;
        goto any;

    case K_INPUT_ELEM:
        if (vt == V_STRING) {
            return sim_input_add(p, s, n);
        }
        r->input_kind = SIM_INPUT_INVALID;
        goto any;

    case K_ANY:
        goto any;

    case K_INT:
        if (vt != V_NUMBER) {
            goto mismatch;
        }
        if (sim_go_int(s, n, &ll) != 0) {
            sim_number_error(p, e.path, s, n, e.gotype);
        }
        r->ncontext++;
        return 1;

    case K_INT_FIELD:
        if (vt != V_NUMBER) {
            goto mismatch;
        }
        if (sim_go_int(s, n, &ll) != 0) {
            sim_number_error(p, e.path, s, n, e.gotype);
        } else if (e.target == T_TOP_LOGPROBS) {
            r->has_top_logprobs = 1;
            r->top_logprobs = ll;
        }
        return 1;

    case K_FORMAT:
        /* what llm/llama_server.go Completion makes of the raw bytes */
        if (vt == V_STRING && n == 0) {
            r->format = SIM_FORMAT_NONE;
        } else if (vt == V_STRING && n == 4 && memcmp(s, "json", 4) == 0) {
            r->format = SIM_FORMAT_JSON;
        } else if (vt == V_OBJECT) {
            r->format = SIM_FORMAT_SCHEMA;
        } else {
            r->format = SIM_FORMAT_INVALID;
        }
        break;

    case K_TOOL:
        if (vt != V_OBJECT) {
            goto mismatch;
        }
        r->ntools++;
        return sim_enter(p, K_TOOL, e.path);

    case K_TOOL_FUNCTION:
        if (vt != V_OBJECT) {
            goto mismatch;
        }
        return sim_enter(p, K_TOOL_FUNCTION, e.path);

    case K_OPTION:
        return sim_option(p, vt, s, n);

    case K_OPT_STOP_ELEM:
        if (vt != V_STRING) {
            sim_option_error(p, "stop", "an array of strings");
        }
        goto any;

    default:
        break;
    }

    return container ? sim_enter(p, K_SKIP, NULL) : 1;

any:

    /* Go decodes it into an interface: numbers become float64 */
    if (vt == V_NUMBER && sim_float_overflows(s, n)) {
        sim_number_error(p, e.path, s, n, "float64");
    }
    return container ? sim_enter_any(p, e.path) : 1;

mismatch:

    sim_type_error(p, &e, vt);
    return container ? sim_enter(p, K_SKIP, NULL) : 1;
}


/* null leaves a Go field unset; in an array it is a zero element. */
static int
sim_value_null(sim_parser_t *p, const sim_field_t *e)
{
    sim_request_t  *r = p->req;

    switch (e->kind) {
    case K_MESSAGE:
        r->nmessages++;
        break;
    case K_IMAGE:
        r->nimages++;
        break;
    case K_INT:
        r->ncontext++;
        break;
    case K_TOOL:
        r->ntools++;
        break;
    case K_INPUT_ELEM:
        r->input_kind = SIM_INPUT_INVALID;
        break;
    case K_OPT_STOP_ELEM:
        sim_option_error(p, "stop", "an array of strings");
        break;
    default:
        break;
    }

    return 1;
}


/*
 * A value in "options" under a key api.Options has, checked as
 * Options.FromMap does once the model is known (so a 500 from
 * scheduleRunner, not a 400).  Overflowing numbers fail decoding.
 */
static int
sim_option(sim_parser_t *p, sim_vtype_t vt, const char *s, size_t n)
{
    sim_request_t       *r = p->req;
    const sim_option_t  *o = p->frames[p->nframes - 1].opt;
    int                  container = (vt == V_OBJECT || vt == V_ARRAY);
    double               d;

    if (vt == V_NUMBER && sim_float_overflows(s, n)) {
        sim_number_error(p, "options", s, n, "float64");
        return 1;
    }

    switch (o->type) {
    case O_INT:
        if (vt != V_NUMBER) {
            sim_option_error(p, o->name, "type integer");
            break;
        }
        if (strcmp(o->name, "num_predict") == 0) {
            d = sim_number(s, n);
            if (d > 1e15) {
                d = 1e15;
            } else if (d < -1e15) {
                d = -1e15;
            }
            r->has_num_predict = 1;
            r->num_predict = (long long) d;
        }
        break;
    case O_FLOAT:
        if (vt != V_NUMBER) {
            sim_option_error(p, o->name, "type float32");
        }
        break;
    case O_BOOL:
        if (vt != V_BOOL) {
            sim_option_error(p, o->name, "type boolean");
        }
        break;
    case O_STRINGS:
        if (vt == V_ARRAY) {
            return sim_enter(p, K_OPT_STOP, "options");
        }
        sim_option_error(p, o->name, "type array");
        break;
    }

    return container ? sim_enter_any(p, "options") : 1;
}


/* The first of Options.FromMap's errors ("must be of type integer"). */
static void
sim_option_error(sim_parser_t *p, const char *key, const char *what)
{
    if (p->req->bad_option[0] == '\0') {
        snprintf(p->req->bad_option, sizeof(p->req->bad_option),
                 "option \"%s\" must be of %s", key, what);
    }
}


/* Go's UnmarshalTypeError for a number its target cannot hold. */
static void
sim_number_error(sim_parser_t *p, const char *path, const char *s, size_t n,
    const char *gotype)
{
    if (p->err[0] != '\0') {
        return;
    }

    snprintf(p->err, sizeof(p->err),
             "json: cannot unmarshal number %.*s into Go struct field "
             "%s.%s of type %s", (int) (n > 64 ? 64 : n), s,
             sim_go_struct(p), path, gotype);
}


/* A container whose numbers Go decodes as float64 (an any). */
static int
sim_enter_any(sim_parser_t *p, const char *path)
{
    if (p->skip == 0) {
        p->any_path = path;
    }
    return sim_enter(p, K_SKIP, NULL);
}


static int
sim_store(sim_parser_t *p, sim_target_t t, const char *s, size_t n)
{
    sim_request_t  *r = p->req;
    sim_frame_t    *f = NULL;
    sim_str_t      *dst = NULL;

    if (p->nframes > 0) {
        f = &p->frames[p->nframes - 1];
    }

    switch (t) {
    case T_MODEL:
        dst = &r->model;
        break;
    case T_NAME:
        dst = &r->name;
        break;
    case T_PROMPT:
        dst = &r->prompt;
        break;
    case T_ROLE:
        dst = (f != NULL) ? &f->role : NULL;
        break;
    case T_CONTENT:
        dst = (f != NULL) ? &f->content : NULL;
        break;
    case T_TOOL_NAME:
        dst = (r->ntools == 1) ? &r->tool_name : NULL;
        break;
    case T_SUFFIX:
        r->has_suffix = (n > 0);
        return 1;
    case T_SYSTEM:
        r->has_system = (n > 0);
        return 1;
    case T_TEMPLATE:
        r->has_template = (n > 0);
        return 1;
    default:
        return 1;
    }

    if (dst != NULL && sim_str_set(dst, s, n) != 0) {
        return sim_abort(p, "out of memory");
    }
    return 1;
}


/* api.Duration.UnmarshalJSON: a number is seconds, a string a Go
 * duration; anything negative means "keep loaded forever". */
static int
sim_duration(sim_parser_t *p, sim_vtype_t vt, const char *s, size_t n)
{
    sim_request_t  *r = p->req;
    char            q[80];
    double          secs;
    int64_t         ns;

    switch (vt) {
    case V_NUMBER:
        /* its own json.Unmarshal into an any fails, without context */
        if (sim_float_overflows(s, n)) {
            return sim_abort(p, "json: cannot unmarshal number %.*s into Go "
                             "value of type float64",
                             (int) (n > 64 ? 64 : n), s);
        }
        secs = sim_number(s, n);
        if (secs < 0 || secs >= 9.2e9) {
            ns = INT64_MAX;
        } else {
            ns = (int64_t) (secs * (double) SIM_NS_PER_SEC);
        }
        break;
    case V_STRING:
        if (sim_duration_parse(s, n, &ns) != 0) {
            sim_go_quote(q, sizeof(q), s, n);
            return sim_abort(p, "time: invalid duration %s", q);
        }
        if (ns < 0) {
            ns = INT64_MAX;
        }
        break;
    case V_BOOL:
        return sim_abort(p, "Unsupported type: 'bool'");
    case V_OBJECT:
        return sim_abort(p, "Unsupported type: 'map[string]interface {}'");
    default:
        return sim_abort(p, "Unsupported type: '[]interface {}'");
    }

    r->has_keep_alive = 1;
    r->keep_alive_ns = ns;
    return 1;
}


static int
sim_think(sim_parser_t *p, sim_vtype_t vt, const char *s, size_t n,
    int bval)
{
    char  q[80];

    if (vt == V_BOOL) {
        p->req->think = bval;
        return 1;
    }

    if (vt == V_STRING) {
        if ((n == 4 && memcmp(s, "high", 4) == 0)
            || (n == 6 && memcmp(s, "medium", 6) == 0)
            || (n == 3 && memcmp(s, "low", 3) == 0))
        {
            p->req->think = 1;
            return 1;
        }
        sim_go_quote(q, sizeof(q), s, n);
        return sim_abort(p, "invalid think value: %s (must be \"high\", "
                         "\"medium\", \"low\", true, or false)", q);
    }

    return sim_abort(p, "think must be a boolean or string "
                     "(\"high\", \"medium\", \"low\")");
}


static int
sim_input_add(sim_parser_t *p, const char *s, size_t n)
{
    sim_request_t  *r = p->req;
    sim_str_t      *arr = NULL;

    arr = realloc(r->inputs, (r->ninputs + 1) * sizeof(sim_str_t));
    if (arr == NULL) {
        return sim_abort(p, "out of memory");
    }
    r->inputs = arr;

    arr[r->ninputs].p = NULL;
    arr[r->ninputs].n = 0;
    if (sim_str_set(&arr[r->ninputs], s, n) != 0) {
        return sim_abort(p, "out of memory");
    }
    r->ninputs++;
    return 1;
}


/*
 * Go decodes a []byte from standard padded base64, skipping CR and LF.
 * Returns the offset of the first bad byte, or -1 when s is valid.
 */
static long
sim_base64_bad(const unsigned char *s, size_t n)
{
    size_t  i, q = 0, pad = 0, last = 0;
    int     done = 0;

    for (i = 0; i < n; i++) {
        unsigned char  c = s[i];

        if (c == '\r' || c == '\n') {
            continue;
        }

        if (done) {
            return (long) i;
        }

        if (c == '=') {
            if (q < 2) {
                return (long) i;
            }
            pad++;
        } else if (pad > 0) {
            return (long) i;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                     || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            return (long) i;
        }

        last = i;
        if (++q == 4) {
            q = 0;
            done = (pad > 0);
        }
    }

    if (q != 0) {
        return (long) (last + 1 < n ? last + 1 : n);
    }

    return -1;
}


static double
sim_number(const char *s, size_t n)
{
    char  tmp[64];

    if (n >= sizeof(tmp)) {
        return (s[0] == '-') ? -1e300 : 1e300;
    }

    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return strtod(tmp, NULL);
}


/* strconv.ParseFloat fails (ErrRange) where the value overflows. */
static int
sim_float_overflows(const char *s, size_t n)
{
    char    tmp[64], *buf = tmp;
    double  d;

    if (n >= sizeof(tmp)) {
        buf = malloc(n + 1);
        if (buf == NULL) {
            return 0;
        }
    }

    memcpy(buf, s, n);
    buf[n] = '\0';
    d = strtod(buf, NULL);

    if (buf != tmp) {
        free(buf);
    }
    return isinf(d);
}


/* strconv.ParseInt(s, 10, 64), which Go uses for an int field: no
 * fraction, no exponent, within int64. */
static int
sim_go_int(const char *s, size_t n, long long *out)
{
    char    tmp[32];
    char   *end = NULL;
    size_t  i = 0;

    if (n == 0 || n >= sizeof(tmp)) {
        return -1;
    }
    if (s[0] == '-') {
        i = 1;
    }
    if (i == n) {
        return -1;
    }
    for ( /* void */ ; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }

    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoll(tmp, &end, 10);
    return (errno == ERANGE) ? -1 : 0;
}


static int
sim_cb_null(void *ctx)
{
    return sim_value(ctx, V_NULL, NULL, 0, 0);
}


static int
sim_cb_boolean(void *ctx, int b)
{
    return sim_value(ctx, V_BOOL, NULL, 0, b);
}


static int
sim_cb_number(void *ctx, const char *s, size_t n)
{
    return sim_value(ctx, V_NUMBER, s, n, 0);
}


static int
sim_cb_string(void *ctx, const unsigned char *s, size_t n)
{
    return sim_value(ctx, V_STRING, (const char *) s, n, 0);
}


static int
sim_cb_start_map(void *ctx)
{
    return sim_value(ctx, V_OBJECT, NULL, 0, 0);
}


static int
sim_cb_start_array(void *ctx)
{
    return sim_value(ctx, V_ARRAY, NULL, 0, 0);
}


static int
sim_cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
    sim_parser_t        *p = ctx;
    sim_frame_t         *f = NULL;
    const sim_option_t  *o = NULL;

    if (p->skip > 0 || p->nframes == 0) {
        return 1;
    }

    f = &p->frames[p->nframes - 1];

    if (f->kind == K_OPTIONS) {
        /* options is a Go map: its keys match exactly */
        f->opt = NULL;
        for (o = sim_options; o->name != NULL; o++) {
            if (strlen(o->name) == n && memcmp(o->name, s, n) == 0) {
                f->opt = o;
                break;
            }
        }
        return 1;
    }

    if (f->table != NULL) {
        f->cur = sim_field_find(f->table, (const char *) s, n);
    }
    return 1;
}


static int
sim_cb_end(void *ctx)
{
    sim_parser_t   *p = ctx;
    sim_frame_t    *f = NULL;
    sim_request_t  *r = p->req;

    p->depth--;

    if (p->skip > 0) {
        if (--p->skip == 0) {
            p->any_path = NULL;
        }
        return 1;
    }

    if (p->nframes == 0) {
        return 1;
    }

    f = &p->frames[--p->nframes];

    if (f->kind == K_MESSAGE) {
        r->last_is_tool = (f->role.n == 4
                           && memcmp(f->role.p, "tool", 4) == 0);
        if (f->role.n == 4 && memcmp(f->role.p, "user", 4) == 0) {
            sim_str_free(&r->last_user);
            r->last_user = f->content;
            f->content.p = NULL;
            f->content.n = 0;
        }
        sim_str_free(&f->role);
        sim_str_free(&f->content);
    }

    return 1;
}
