
/*
 * Pipelines, the plain C part: request bodies and step definitions on the
 * parse engine, prompt templates, and the streamed reply reader.
 */


#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_mesh_parse_core.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_pipeline_parse.h"


/* kinds of the request body */
#define NGX_HTTP_MESH_PL_BODY      0
#define NGX_HTTP_MESH_PL_STEPS     1
#define NGX_HTTP_MESH_PL_STEP      2
#define NGX_HTTP_MESH_PL_IMAGES    3

/* keys of the body */
#define NGX_HTTP_MESH_PL_K_STEPS   0
#define NGX_HTTP_MESH_PL_K_PROMPT  1
#define NGX_HTTP_MESH_PL_K_IMAGES  2

/* keys of a step */
#define NGX_HTTP_MESH_ST_TYPE      0
#define NGX_HTTP_MESH_ST_MODEL     1
#define NGX_HTTP_MESH_ST_PROMPT    2
#define NGX_HTTP_MESH_ST_SYSTEM    3
#define NGX_HTTP_MESH_ST_OPTIONS   4

/* keys of a reply line */
#define NGX_HTTP_MESH_GEN_RESPONSE  1
#define NGX_HTTP_MESH_GEN_DONE      2
#define NGX_HTTP_MESH_GEN_ERROR     3
#define NGX_HTTP_MESH_GEN_EVAL      4


/* what the value handlers fill */
typedef struct {
    ngx_http_mesh_pipeline_req_t  *req;
    ngx_http_mesh_step_t          *step;    /* the one being read */
} ngx_http_mesh_pl_data_t;


typedef struct {
    size_t                         index;
    char                          *err;
} ngx_http_mesh_pl_check_t;


static int ngx_http_mesh_pl_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_pl_step_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static int ngx_http_mesh_pl_image(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v);
static void ngx_http_mesh_pl_step_init(ngx_http_mesh_step_t *step);
static int ngx_http_mesh_pl_name_char(int c);
static int ngx_http_mesh_pl_base64_char(int c);
static int ngx_http_mesh_pl_check_var(void *data, int var, const char *s,
    size_t len);
static int ngx_http_mesh_gen_boolean(void *ctx, int b);
static int ngx_http_mesh_gen_number(void *ctx, const char *s, size_t len);
static int ngx_http_mesh_gen_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_gen_start(void *ctx);
static int ngx_http_mesh_gen_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_mesh_gen_end(void *ctx);


static const char *const  ngx_http_mesh_pl_keys[] = {
    "steps", "prompt", "images", "stream", NULL
};

static const char *const  ngx_http_mesh_step_keys[] = {
    "type", "model", "prompt", "system", "options", "max_output", NULL
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_pl_kinds[] = {
    { ngx_http_mesh_pl_keys, 0 },
    { NULL, 0 },
    { ngx_http_mesh_step_keys, 0 },
    { NULL, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_pl_spec = {
    ngx_http_mesh_pl_kinds, ngx_http_mesh_pl_value,
    NGX_HTTP_MESH_BODY_MAX, 0
};

static const ngx_http_mesh_kind_t  ngx_http_mesh_step_kinds[] = {
    { ngx_http_mesh_step_keys, 0 }
};

static const ngx_http_mesh_spec_t  ngx_http_mesh_step_spec = {
    ngx_http_mesh_step_kinds, ngx_http_mesh_pl_step_value,
    NGX_HTTP_MESH_BODY_MAX, 0
};


static const yajl_callbacks  ngx_http_mesh_gen_callbacks = {
    NULL,
    ngx_http_mesh_gen_boolean,
    NULL,
    NULL,
    ngx_http_mesh_gen_number,
    ngx_http_mesh_gen_string,
    ngx_http_mesh_gen_start,
    ngx_http_mesh_gen_key,
    ngx_http_mesh_gen_end,
    ngx_http_mesh_gen_start,
    ngx_http_mesh_gen_end
};


int
ngx_http_mesh_parse_pipeline_req(const char *data, size_t len,
    ngx_http_mesh_pipeline_req_t *req, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err)
{
    ngx_http_mesh_parser_t   p;
    ngx_http_mesh_pl_data_t  d;

    memset(req, 0, sizeof(ngx_http_mesh_pipeline_req_t));
    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));

    req->stream = 1;
    d.req = req;
    d.step = NULL;

    p.spec = &ngx_http_mesh_pl_spec;
    p.data = &d;
    p.err = err;
    p.alloc = alloc;
    p.alloc_ctx = alloc_ctx;

    return ngx_http_mesh_parse_run(&p, data, len);
}


int
ngx_http_mesh_parse_step(const char *data, size_t len,
    ngx_http_mesh_step_t *step, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err)
{
    ngx_http_mesh_parser_t   p;
    ngx_http_mesh_pl_data_t  d;

    memset(&p, 0, sizeof(ngx_http_mesh_parser_t));
    ngx_http_mesh_pl_step_init(step);

    d.req = NULL;
    d.step = step;

    p.spec = &ngx_http_mesh_step_spec;
    p.data = &d;
    p.err = err;
    p.alloc = alloc;
    p.alloc_ctx = alloc_ctx;

    return ngx_http_mesh_parse_run(&p, data, len);
}


static void
ngx_http_mesh_pl_step_init(ngx_http_mesh_step_t *step)
{
    memset(step, 0, sizeof(ngx_http_mesh_step_t));
    step->type = NGX_HTTP_MESH_TYPE_UNKNOWN;
}


static int
ngx_http_mesh_pl_value(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_pl_data_t       *d;
    ngx_http_mesh_pipeline_req_t  *req;

    d = p->data;
    req = d->req;

    switch (f->kind) {

    case NGX_HTTP_MESH_PL_STEP:
        return ngx_http_mesh_pl_step_value(p, f, v);

    case NGX_HTTP_MESH_PL_IMAGES:
        return ngx_http_mesh_pl_image(p, f, v);

    case NGX_HTTP_MESH_PL_STEPS:
        if (f->index >= NGX_HTTP_MESH_PIPELINE_STEPS_MAX) {
            ngx_http_mesh_parse_error(p, "\"steps\" has more than %d entries",
                                      NGX_HTTP_MESH_PIPELINE_STEPS_MAX);
            return NGX_HTTP_MESH_P_ERROR;
        }

        d->step = &req->steps[f->index];
        ngx_http_mesh_pl_step_init(d->step);
        req->nsteps = f->index + 1;

        return ngx_http_mesh_get_container(p, v, NGX_HTTP_MESH_V_OBJECT,
                                           NGX_HTTP_MESH_PL_STEP);

    default: /* NGX_HTTP_MESH_PL_BODY */
        break;
    }

    switch (f->key) {

    case NGX_HTTP_MESH_PL_K_STEPS:
        if (v->type != NGX_HTTP_MESH_V_ARRAY) {
            return ngx_http_mesh_parse_fail(p, "must be an array");
        }

        req->steps = p->alloc(p->alloc_ctx, NGX_HTTP_MESH_PIPELINE_STEPS_MAX
                                            * sizeof(ngx_http_mesh_step_t));
        if (req->steps == NULL) {
            ngx_http_mesh_parse_error(p, "out of memory");
            return NGX_HTTP_MESH_P_ERROR;
        }

        req->has_steps = 1;

        return NGX_HTTP_MESH_PL_STEPS;

    case NGX_HTTP_MESH_PL_K_PROMPT:
        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_TEXT_MAX,
                                      &req->prompt);

    case NGX_HTTP_MESH_PL_K_IMAGES:
        if (v->type != NGX_HTTP_MESH_V_ARRAY) {
            return ngx_http_mesh_parse_fail(p, "must be an array");
        }

        req->images = p->alloc(p->alloc_ctx, NGX_HTTP_MESH_MAX_IMAGES
                                             * sizeof(ngx_http_mesh_span_t));
        if (req->images == NULL) {
            ngx_http_mesh_parse_error(p, "out of memory");
            return NGX_HTTP_MESH_P_ERROR;
        }

        return NGX_HTTP_MESH_PL_IMAGES;

    default: /* stream */
        return ngx_http_mesh_get_bool(p, v, &req->stream);
    }
}


static int
ngx_http_mesh_pl_step_value(ngx_http_mesh_parser_t *p,
    ngx_http_mesh_frame_t *f, ngx_http_mesh_value_t *v)
{
    int                       type;
    ngx_http_mesh_step_t     *step;
    ngx_http_mesh_pl_data_t  *d;

    d = p->data;
    step = d->step;

    switch (f->key) {

    case NGX_HTTP_MESH_ST_TYPE:
        type = NGX_HTTP_MESH_TYPE_UNKNOWN;

        if (v->type == NGX_HTTP_MESH_V_STRING) {
            type = ngx_http_mesh_type_from_name(v->data, v->len);
        }

        if (type == NGX_HTTP_MESH_TYPE_EMBEDDING
            || type == NGX_HTTP_MESH_TYPE_UNKNOWN)
        {
            return ngx_http_mesh_parse_fail(p, "must be code, vision, "
                                            "summarize or text");
        }

        step->type = (uint8_t) type;
        return NGX_HTTP_MESH_P_DONE;

    case NGX_HTTP_MESH_ST_MODEL:
        if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_pl_name_char, 1,
                NGX_HTTP_MESH_MODEL_LEN - 1,
                "must be 1-127 printable characters without spaces or quotes")
            != NGX_HTTP_MESH_P_DONE)
        {
            return NGX_HTTP_MESH_P_ERROR;
        }

        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_MODEL_LEN - 1,
                                      &step->model);

    case NGX_HTTP_MESH_ST_PROMPT:
        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_TEXT_MAX,
                                      &step->prompt);

    case NGX_HTTP_MESH_ST_SYSTEM:
        return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_TEXT_MAX,
                                      &step->system);

    case NGX_HTTP_MESH_ST_OPTIONS:
        if (v->type != NGX_HTTP_MESH_V_OBJECT) {
            return ngx_http_mesh_parse_fail(p, "must be an object");
        }

        p->captured = &step->options;
        return NGX_HTTP_MESH_P_CAPTURE;

    default: /* max_output */
        if ((v->type != NGX_HTTP_MESH_V_NUMBER
             && v->type != NGX_HTTP_MESH_V_STRING)
            || ngx_http_mesh_pipeline_size(v->data, v->len, &step->max_output)
               != 0)
        {
            return ngx_http_mesh_parse_fail(p, "must be a size from 1 to 16m"
                                            " (bytes, or with k or m)");
        }

        return NGX_HTTP_MESH_P_DONE;
    }
}


static int
ngx_http_mesh_pl_image(ngx_http_mesh_parser_t *p, ngx_http_mesh_frame_t *f,
    ngx_http_mesh_value_t *v)
{
    ngx_http_mesh_pipeline_req_t  *req;

    req = ((ngx_http_mesh_pl_data_t *) p->data)->req;

    if (f->index >= NGX_HTTP_MESH_MAX_IMAGES) {
        ngx_http_mesh_parse_error(p, "\"images\" has more than %d entries",
                                  NGX_HTTP_MESH_MAX_IMAGES);
        return NGX_HTTP_MESH_P_ERROR;
    }

    if (ngx_http_mesh_get_chars(p, v, ngx_http_mesh_pl_base64_char, 1,
                                NGX_HTTP_MESH_IMAGE_MAX,
                                "must be a base64 string")
        != NGX_HTTP_MESH_P_DONE)
    {
        return NGX_HTTP_MESH_P_ERROR;
    }

    req->nimages = f->index + 1;

    return ngx_http_mesh_get_text(p, v, NGX_HTTP_MESH_IMAGE_MAX,
                                  &req->images[f->index]);
}


/* the characters parse.c allows in a model name and a base64 image */

static int
ngx_http_mesh_pl_name_char(int c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\';
}


static int
ngx_http_mesh_pl_base64_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='
           || c == '\r' || c == '\n';
}


int
ngx_http_mesh_pipeline_size(const char *s, size_t len, size_t *out)
{
    size_t  i, n, unit;

    unit = 1;

    if (len > 1 && (s[len - 1] == 'k' || s[len - 1] == 'K')) {
        unit = 1024;
        len--;

    } else if (len > 1 && (s[len - 1] == 'm' || s[len - 1] == 'M')) {
        unit = 1024 * 1024;
        len--;
    }

    if (len == 0 || len > 9) {
        return -1;
    }

    for (i = 0, n = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    n *= unit;

    if (n == 0 || n > NGX_HTTP_MESH_PIPELINE_OUTPUT_MAX) {
        return -1;
    }

    *out = n;

    return 0;
}


int
ngx_http_mesh_step_check(ngx_http_mesh_step_t *step, size_t index,
    char *err)
{
    ngx_http_mesh_pl_check_t  c;

    if (step->type == NGX_HTTP_MESH_TYPE_UNKNOWN && step->model.len == 0) {
        snprintf(err, NGX_HTTP_MESH_ERR_LEN,
                 "step %zu has neither a type nor a model", index);
        return -1;
    }

    if (step->prompt.len == 0) {
        snprintf(err, NGX_HTTP_MESH_ERR_LEN, "step %zu has no prompt", index);
        return -1;
    }

    c.index = index;
    c.err = err;

    return ngx_http_mesh_template_walk(step->prompt.data, step->prompt.len,
                                       ngx_http_mesh_pl_check_var, &c);
}


static int
ngx_http_mesh_pl_check_var(void *data, int var, const char *s, size_t len)
{
    ngx_http_mesh_pl_check_t *c = data;

    int  n;

    if (var < 0) {
        snprintf(c->err, NGX_HTTP_MESH_ERR_LEN,
                 "step %zu: %s \"%.*s\" in the prompt", c->index,
                 var == -1 ? "unknown variable" : "unclosed variable",
                 len > 40 ? 40 : (int) len, s);
        return -1;
    }

    if (var == NGX_HTTP_MESH_VAR_PREVIOUS && c->index == 1) {
        snprintf(c->err, NGX_HTTP_MESH_ERR_LEN,
                 "step 1: \"{{previous}}\" has no step before it");
        return -1;
    }

    if (var >= NGX_HTTP_MESH_VAR_STEP) {
        n = var - NGX_HTTP_MESH_VAR_STEP + 1;

        if ((size_t) n >= c->index) {
            snprintf(c->err, NGX_HTTP_MESH_ERR_LEN,
                     "step %zu: \"{{step%d}}\" does not run before it",
                     c->index, n);
            return -1;
        }
    }

    return 0;
}


/*
 * Unknown variables come as var -1 (s: the whole "{{...}}"), a "{{"
 * without its "}}" as var -2 (s: from the "{{" on).
 */

int
ngx_http_mesh_template_walk(const char *t, size_t len,
    int (*emit)(void *data, int var, const char *s, size_t len), void *data)
{
    int          var, n;
    size_t       i, k, nlen;
    const char  *name, *end;

    end = t + len;

    while (t < end) {

        for (i = 0; t + i + 1 < end; i++) {
            if (t[i] == '{' && t[i + 1] == '{') {
                break;
            }
        }

        if (t + i + 1 >= end) {
            return emit(data, NGX_HTTP_MESH_VAR_TEXT, t, end - t);
        }

        if (i && emit(data, NGX_HTTP_MESH_VAR_TEXT, t, i) != 0) {
            return -1;
        }

        t += i;
        name = t + 2;

        for (k = 0; name + k + 1 < end; k++) {
            if (name[k] == '}' && name[k + 1] == '}') {
                break;
            }
        }

        if (name + k + 1 >= end) {
            return emit(data, -2, t, end - t);
        }

        nlen = k;
        var = -1;

        if (nlen == 5 && memcmp(name, "input", 5) == 0) {
            var = NGX_HTTP_MESH_VAR_INPUT;

        } else if (nlen == 8 && memcmp(name, "previous", 8) == 0) {
            var = NGX_HTTP_MESH_VAR_PREVIOUS;

        } else if (nlen > 4 && nlen <= 6 && memcmp(name, "step", 4) == 0
                   && name[4] >= '1' && name[4] <= '9')
        {
            n = name[4] - '0';

            if (nlen == 6 && name[5] >= '0' && name[5] <= '9') {
                n = n * 10 + (name[5] - '0');

            } else if (nlen == 6) {
                n = 0;
            }

            if (n >= 1 && n <= NGX_HTTP_MESH_PIPELINE_STEPS_MAX) {
                var = NGX_HTTP_MESH_VAR_STEP + n - 1;
            }
        }

        if (emit(data, var, t, nlen + 4) != 0) {
            return -1;
        }

        t = name + nlen + 2;
    }

    return 0;
}


/* --- a step's reply, NDJSON from /api/generate, as it arrives --- */

int
ngx_http_mesh_gen_reader_init(ngx_http_mesh_gen_reader_t *gr)
{
    yajl_handle  h;

    h = yajl_alloc(&ngx_http_mesh_gen_callbacks, NULL, gr);
    if (h == NULL) {
        return -1;
    }

    yajl_config(h, yajl_allow_multiple_values, 1);

    gr->yajl = h;
    gr->depth = 0;
    gr->key = 0;

    return 0;
}


int
ngx_http_mesh_gen_reader_feed(ngx_http_mesh_gen_reader_t *gr,
    const char *data, size_t len)
{
    if (gr->failed || gr->yajl == NULL) {
        return -1;
    }

    if (yajl_parse(gr->yajl, (const unsigned char *) data, len)
        != yajl_status_ok)
    {
        gr->failed = 1;
        return -1;
    }

    return 0;
}


void
ngx_http_mesh_gen_reader_free(ngx_http_mesh_gen_reader_t *gr)
{
    if (gr->yajl) {
        yajl_free(gr->yajl);
        gr->yajl = NULL;
    }
}


static int
ngx_http_mesh_gen_boolean(void *ctx, int b)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    if (gr->depth == 1 && gr->key == NGX_HTTP_MESH_GEN_DONE && b) {
        gr->done = 1;
    }

    gr->key = 0;

    return 1;
}


static int
ngx_http_mesh_gen_number(void *ctx, const char *s, size_t len)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    size_t    i;
    uint64_t  n;

    if (gr->depth == 1 && gr->key == NGX_HTTP_MESH_GEN_EVAL) {
        for (i = 0, n = 0; i < len && i < 12 && s[i] >= '0' && s[i] <= '9';
             i++)
        {
            n = n * 10 + (s[i] - '0');
        }

        gr->eval_count = n;
    }

    gr->key = 0;

    return 1;
}


static int
ngx_http_mesh_gen_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    int  key;

    key = gr->key;
    gr->key = 0;

    if (gr->depth != 1) {
        return 1;
    }

    if (key == NGX_HTTP_MESH_GEN_RESPONSE && len) {
        if (gr->text(gr->data, (const char *) s, len) != 0) {
            gr->failed = 1;
            return 0;
        }

    } else if (key == NGX_HTTP_MESH_GEN_ERROR) {
        snprintf(gr->error, sizeof(gr->error), "%.*s",
                 len > sizeof(gr->error) - 1 ? (int) sizeof(gr->error) - 1
                                              : (int) len,
                 (const char *) s);
    }

    return 1;
}


static int
ngx_http_mesh_gen_start(void *ctx)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    gr->depth++;
    gr->key = 0;

    return gr->depth <= NGX_HTTP_MESH_PARSE_DEPTH;
}


static int
ngx_http_mesh_gen_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    gr->key = 0;

    if (gr->depth != 1) {
        return 1;
    }

    if (len == 8 && memcmp(s, "response", 8) == 0) {
        gr->key = NGX_HTTP_MESH_GEN_RESPONSE;

    } else if (len == 4 && memcmp(s, "done", 4) == 0) {
        gr->key = NGX_HTTP_MESH_GEN_DONE;

    } else if (len == 5 && memcmp(s, "error", 5) == 0) {
        gr->key = NGX_HTTP_MESH_GEN_ERROR;

    } else if (len == 10 && memcmp(s, "eval_count", 10) == 0) {
        gr->key = NGX_HTTP_MESH_GEN_EVAL;
    }

    return 1;
}


static int
ngx_http_mesh_gen_end(void *ctx)
{
    ngx_http_mesh_gen_reader_t *gr = ctx;

    gr->depth--;
    gr->key = 0;

    return 1;
}
