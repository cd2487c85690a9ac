
/*
 * Pipelines: mesh_pipeline blocks, and running a pipeline's steps one
 * after the other as subrequests of the client's request.
 *
 * Each step is a subrequest to the location mesh_pipelines names, with a
 * native task body of its own, so it is routed, queued, dispatched and
 * retried by the code every task goes through.  The body filter here sits
 * under the task filter: it takes the text out of the step's NDJSON
 * reply (within the step's max_output) and, for the streamed last step,
 * lets the reply through to the client.  The post_subrequest handler
 * records how the step ended; the main request's write handler then runs
 * the next step or ends the pipeline.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_parse_core.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_router.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_pipeline.h"


#define NGX_HTTP_MESH_PIPELINE_ERRBODY  256


/* what one step did */
typedef struct {
    u_char                        node_id[NGX_HTTP_MESH_ID_LEN];
    u_char                        model[NGX_HTTP_MESH_MODEL_LEN];
    u_char                        task_id[40];
    ngx_str_t                     output;
    ngx_uint_t                    tokens;
    ngx_msec_t                    start;
    ngx_msec_t                    duration;
} ngx_http_mesh_step_run_t;


typedef struct {
    ngx_http_request_t           *request;
    ngx_str_t                     name;          /* len 0: ad hoc */
    ngx_http_mesh_step_t         *steps;
    ngx_uint_t                    nsteps;
    ngx_http_mesh_step_run_t     *runs;
    ngx_str_t                     input;
    ngx_http_mesh_span_t         *images;
    ngx_uint_t                    nimages;
    ngx_uint_t                    stream;
    size_t                        default_max;
    ngx_uint_t                    current;       /* 0-based */
    ngx_http_request_t           *sr;            /* the running step */
    ngx_http_mesh_gen_reader_t    reader;
    u_char                       *out;           /* its text so far */
    size_t                        out_len;
    size_t                        out_max;
    u_char                        errbody[NGX_HTTP_MESH_PIPELINE_ERRBODY];
    size_t                        errbody_len;
    const char                   *reason;
    u_char                       *message;
    ngx_msec_t                    start;
    u_char                        id[40];
    unsigned                      recorded:1;    /* the step has ended */
    unsigned                      step_line:1;
    unsigned                      failed:1;
    unsigned                      overflow:1;
    unsigned                      finished:1;
} ngx_http_mesh_pipeline_run_t;


typedef struct {
    ngx_http_mesh_pipeline_run_t *run;
    u_char                       *p;             /* NULL: count only */
    size_t                        len;
} ngx_http_mesh_expand_t;


static char *ngx_http_mesh_pipeline_step(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static ngx_int_t ngx_http_mesh_pipeline_step_start(
    ngx_http_mesh_pipeline_run_t *run);
static ngx_int_t ngx_http_mesh_pipeline_step_body(
    ngx_http_mesh_pipeline_run_t *run, ngx_str_t *prompt, ngx_str_t *body);
static int ngx_http_mesh_pipeline_expand_var(void *data, int var,
    const char *s, size_t len);
static int ngx_http_mesh_pipeline_text(void *data, const char *s,
    size_t len);
static ngx_int_t ngx_http_mesh_pipeline_step_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_mesh_pipeline_classify(ngx_http_mesh_pipeline_run_t *run,
    ngx_http_request_t *sr, ngx_int_t rc);
static void ngx_http_mesh_pipeline_wake(ngx_http_request_t *r);
static void ngx_http_mesh_pipeline_finish(ngx_http_mesh_pipeline_run_t *run);
static void ngx_http_mesh_pipeline_fail(ngx_http_mesh_pipeline_run_t *run);
static void ngx_http_mesh_pipeline_steps_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_pipeline_run_t *run, ngx_uint_t n, ngx_uint_t output);
static ngx_int_t ngx_http_mesh_pipeline_line(ngx_http_request_t *r,
    ngx_http_mesh_json_t *w, ngx_uint_t last, ngx_chain_t **out);
static void ngx_http_mesh_pipeline_event(ngx_http_mesh_pipeline_run_t *run,
    const char *kind);
static ngx_http_mesh_pipeline_run_t *ngx_http_mesh_pipeline_of(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_pipeline_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_pipeline_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mesh_pipeline_started(
    ngx_http_mesh_pipeline_run_t *run, ngx_http_request_t *sr);
static void ngx_http_mesh_pipeline_cleanup(void *data);
static void *ngx_http_mesh_pipeline_alloc(void *pool, size_t size);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_mesh_post_method = ngx_string("POST");

static const char *ngx_http_mesh_step_params[] = {
    "type", "model", "prompt", "system", "options", "max_output", NULL
};


/* --- configuration ------------------------------------------------------ */

char *
ngx_http_mesh_pipeline_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    char                      *rv;
    u_char                     c;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_conf_t                 save;
    ngx_http_mesh_pipeline_t  *pl;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len >= NGX_HTTP_MESH_ID_LEN) {
        goto invalid;
    }

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            goto invalid;
        }
    }

    if (mmcf->pipelines == NULL) {
        mmcf->pipelines = ngx_array_create(cf->pool, 4,
                                           sizeof(ngx_http_mesh_pipeline_t));
        if (mmcf->pipelines == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    pl = mmcf->pipelines->elts;

    for (i = 0; i < mmcf->pipelines->nelts; i++) {
        if (pl[i].name.len == value[1].len
            && ngx_strncmp(pl[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate mesh_pipeline \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    pl = ngx_array_push(mmcf->pipelines);
    if (pl == NULL) {
        return NGX_CONF_ERROR;
    }

    pl->name = value[1];
    pl->nsteps = 0;
    pl->file = cf->conf_file->file.name.data;
    pl->line = cf->conf_file->line;
    pl->steps = ngx_pcalloc(cf->pool, NGX_HTTP_MESH_PIPELINE_STEPS_MAX
                                      * sizeof(ngx_http_mesh_step_t));
    if (pl->steps == NULL) {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_http_mesh_pipeline_step;
    cf->handler_conf = (char *) pl;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (pl->nsteps == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh_pipeline \"%V\" has no steps", &pl->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid pipeline name \"%V\": 1-63 characters from "
                       "[A-Za-z0-9._-]", &value[1]);
    return NGX_CONF_ERROR;
}


/*
 * step type=vision "prompt=Describe {{input}}" ...: nginx's tokenizer
 * ends a bare word at a space or "{", so a parameter with either is
 * quoted whole.  The parameters become the JSON object of an ad hoc step
 * and go through the same parser and checks.
 */

static char *
ngx_http_mesh_pipeline_step(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    u_char                    *eq;
    ngx_str_t                 *value, key, val, json;
    ngx_uint_t                 i, k;
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_pipeline_t  *pl;
    char                       err[NGX_HTTP_MESH_ERR_LEN];

    pl = (ngx_http_mesh_pipeline_t *) cf->handler_conf;
    value = cf->args->elts;

    if (value[0].len != 4 || ngx_strncmp(value[0].data, "step", 4) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in mesh_pipeline \"%V\":"
                           " only \"step\" belongs there", &value[0],
                           &pl->name);
        return NGX_CONF_ERROR;
    }

    if (pl->nsteps >= NGX_HTTP_MESH_PIPELINE_STEPS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh_pipeline \"%V\" has more than %d steps",
                           &pl->name, NGX_HTTP_MESH_PIPELINE_STEPS_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mesh_json_init(&w, cf->pool, 256) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);

    for (i = 1; i < cf->args->nelts; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (eq == NULL || eq == value[i].data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh_pipeline \"%V\": step %ui: invalid "
                               "parameter \"%V\", expected key=value",
                               &pl->name, pl->nsteps + 1, &value[i]);
            return NGX_CONF_ERROR;
        }

        key.data = value[i].data;
        key.len = eq - value[i].data;
        val.data = eq + 1;
        val.len = value[i].data + value[i].len - val.data;

        for (k = 0; ngx_http_mesh_step_params[k]; k++) {
            if (ngx_strlen(ngx_http_mesh_step_params[k]) == key.len
                && ngx_strncmp(ngx_http_mesh_step_params[k], key.data,
                               key.len) == 0)
            {
                break;
            }
        }

        if (ngx_http_mesh_step_params[k] == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh_pipeline \"%V\": step %ui: invalid "
                               "parameter \"%V\"", &pl->name, pl->nsteps + 1,
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (val.len && val.data[0] == '"') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh_pipeline \"%V\": step %ui: quote the "
                               "whole parameter, as in \"%V=...\", not its "
                               "value", &pl->name, pl->nsteps + 1, &key);
            return NGX_CONF_ERROR;
        }

        /* the key is NUL-terminated by the tokenizer only as a whole */
        *eq = '\0';
        ngx_http_mesh_json_key(&w, (char *) key.data);
        *eq = '=';

        if (key.len == 7 && ngx_strncmp(key.data, "options", 7) == 0) {
            ngx_http_mesh_json_raw_value(&w, &val);

        } else {
            ngx_http_mesh_json_str(&w, &val);
        }
    }

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mesh_parse_step((char *) json.data, json.len,
                                 &pl->steps[pl->nsteps],
                                 ngx_http_mesh_pipeline_alloc, cf->pool, err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh_pipeline \"%V\": step %ui: %s", &pl->name,
                           pl->nsteps + 1, err);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mesh_step_check(&pl->steps[pl->nsteps], pl->nsteps + 1, err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mesh_pipeline \"%V\": %s",
                           &pl->name, err);
        return NGX_CONF_ERROR;
    }

    pl->nsteps++;

    return NGX_CONF_OK;
}


char *
ngx_http_mesh_pipeline_conf_check(ngx_conf_t *cf,
    ngx_http_mesh_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_http_mesh_pipeline_t  *pl;

    if (mmcf->pipelines == NULL) {
        return NGX_CONF_OK;
    }

    pl = mmcf->pipelines->elts;

    for (i = 0; i < mmcf->pipelines->nelts; i++) {
        if (pl[i].nsteps > mmcf->pipeline_max_steps) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "mesh_pipeline \"%V\" has %ui steps, more than "
                          "mesh_pipeline_max_steps %ui in %s:%ui",
                          &pl[i].name, pl[i].nsteps,
                          mmcf->pipeline_max_steps, pl[i].file, pl[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mesh_pipeline_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


ngx_int_t
ngx_http_mesh_pipeline_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mesh_pipeline_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mesh_pipeline_body_filter;

    return NGX_OK;
}


/* --- before anything runs ----------------------------------------------- */

ngx_uint_t
ngx_http_mesh_pipeline_unservable(ngx_http_request_t *r,
    ngx_http_mesh_step_t *steps, ngx_uint_t nsteps, char *want, size_t size)
{
    ngx_uint_t                    i, bad;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_route_req_t     req;
    ngx_http_mesh_route_index_t  *idx;

    zone = ngx_http_mesh_zone_get(r);
    if (zone == NULL) {
        return 0;
    }

    bad = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    idx = ngx_http_mesh_route_index(ngx_http_mesh_reg(zone), &zone->local,
                                    ngx_cycle->pool, ngx_cycle->log,
                                    ngx_http_mesh_now_ms());

    for (i = 0; i < nsteps && bad == 0; i++) {
        ngx_memzero(&req, sizeof(ngx_http_mesh_route_req_t));

        if (steps[i].model.len) {
            req.model = (u_char *) steps[i].model.data;
            req.model_len = steps[i].model.len;
        }

        req.type = steps[i].type;

        if (!ngx_http_mesh_route_known(ngx_http_mesh_reg(zone), idx, &req)) {
            bad = i + 1;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (bad) {
        i = bad - 1;

        if (steps[i].model.len) {
            ngx_snprintf((u_char *) want, size, "model \"%s\"%Z",
                         steps[i].model.data);

        } else {
            ngx_snprintf((u_char *) want, size, "a model of type \"%s\"%Z",
                         ngx_http_mesh_type_name(steps[i].type));
        }
    }

    return bad;
}


/* --- running ------------------------------------------------------------- */

ngx_int_t
ngx_http_mesh_pipeline_run(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_mesh_step_t *steps, ngx_uint_t nsteps,
    ngx_http_mesh_pipeline_req_t *req)
{
    ngx_int_t                      rc;
    ngx_pool_cleanup_t            *cln;
    ngx_http_mesh_ctx_t           *ctx;
    ngx_http_mesh_main_conf_t     *mmcf;
    ngx_http_mesh_pipeline_run_t  *run;
    static ngx_uint_t              seq;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    /* a door may have set the ctx up already (the gRPC door's state) */

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_ctx_t));
    }

    run = ngx_pcalloc(r->pool, sizeof(ngx_http_mesh_pipeline_run_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (run == NULL || ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    run->runs = ngx_pcalloc(r->pool,
                            nsteps * sizeof(ngx_http_mesh_step_run_t));
    if (run->runs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mesh_pipeline_cleanup;
    cln->data = run;

    run->request = r;

    if (name) {
        run->name = *name;
    }

    run->steps = steps;
    run->nsteps = nsteps;
    run->input.data = (u_char *) req->prompt.data;
    run->input.len = req->prompt.len;
    run->images = req->images;
    run->nimages = req->nimages;
    run->stream = req->stream;
    run->default_max = mmcf->pipeline_buffer;
    run->start = ngx_current_msec;

    ngx_sprintf(run->id, "p%xL-%P-%ui%Z", ngx_http_mesh_now_ms(), ngx_pid,
                ++seq);

    ctx->request = r;
    ctx->node = -1;
    ctx->last_node = -1;
    ctx->pipeline = run;
    ctx->door = ctx->grpc ? NGX_HTTP_MESH_DOOR_GRPC
                          : NGX_HTTP_MESH_DOOR_PIPELINE;
    ngx_http_set_ctx(r, ctx, ngx_http_mesh_module);

    ngx_http_mesh_pipeline_event(run, "pipeline.started");

    if (run->stream) {
        r->headers_out.status = NGX_HTTP_OK;
        r->headers_out.content_length_n = -1;
        ngx_str_set(&r->headers_out.content_type, "application/x-ndjson");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;

        rc = ngx_http_send_header(r);

        if (rc == NGX_ERROR || rc > NGX_OK) {
            return rc;
        }
    }

    r->write_event_handler = ngx_http_mesh_pipeline_wake;

    if (ngx_http_mesh_pipeline_step_start(run) != NGX_OK) {
        ngx_http_mesh_pipeline_fail(run);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_pipeline_step_start(ngx_http_mesh_pipeline_run_t *run)
{
    ngx_str_t                    prompt, body;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_request_t          *r, *sr;
    ngx_http_mesh_step_t        *step;
    ngx_http_mesh_expand_t       ex;
    ngx_http_mesh_loc_conf_t    *mlcf;
    ngx_http_post_subrequest_t  *ps;

    r = run->request;
    step = &run->steps[run->current];
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    run->reason = "internal_error";

    /* the prompt: measured, then written */

    ex.run = run;
    ex.p = NULL;
    ex.len = 0;

    (void) ngx_http_mesh_template_walk(step->prompt.data, step->prompt.len,
                                       ngx_http_mesh_pipeline_expand_var,
                                       &ex);

    if (ex.len > NGX_HTTP_MESH_TEXT_MAX) {
        run->reason = "prompt_too_large";
        run->message = ngx_pnalloc(r->pool, 128);
        if (run->message) {
            ngx_sprintf(run->message, "the prompt of step %ui is %uz bytes, "
                        "more than %d%Z", run->current + 1, ex.len,
                        NGX_HTTP_MESH_TEXT_MAX);
        }

        return NGX_ERROR;
    }

    prompt.data = ngx_pnalloc(r->pool, ex.len + 1);
    if (prompt.data == NULL) {
        return NGX_ERROR;
    }

    ex.p = prompt.data;
    ex.len = 0;

    (void) ngx_http_mesh_template_walk(step->prompt.data, step->prompt.len,
                                       ngx_http_mesh_pipeline_expand_var,
                                       &ex);
    prompt.len = ex.len;

    if (ngx_http_mesh_pipeline_step_body(run, &prompt, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a streamed last step's text goes to the client, not to a buffer */

    run->out_max = step->max_output ? step->max_output : run->default_max;

    if (run->stream && run->current + 1 == run->nsteps) {
        run->out_max = 0;
    }

    run->out = ngx_pnalloc(r->pool, run->out_max + 1);
    run->out_len = 0;
    run->errbody_len = 0;
    run->step_line = 0;
    run->overflow = 0;
    run->recorded = 0;

    ngx_memzero(&run->reader, sizeof(ngx_http_mesh_gen_reader_t));
    run->reader.text = ngx_http_mesh_pipeline_text;
    run->reader.data = run;

    if (run->out == NULL || ngx_http_mesh_gen_reader_init(&run->reader) != 0)
    {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (ps == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_mesh_pipeline_step_done;
    ps->data = run;

    if (ngx_http_subrequest(r, &mlcf->pipeline_uri, NULL, &sr, ps, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the step's own body: the subrequest would share the client's */

    b->pos = body.data;
    b->last = body.data + body.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    sr->request_body->bufs = cl;
    sr->request_body->buf = b;
    sr->headers_in.content_length_n = body.len;
    sr->headers_in.chunked = 0;
    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_http_mesh_post_method;

    run->sr = sr;
    run->runs[run->current].start = ngx_current_msec;

    return NGX_OK;
}


/* a native task body for the step's location (mesh_route task) */

static ngx_int_t
ngx_http_mesh_pipeline_step_body(ngx_http_mesh_pipeline_run_t *run,
    ngx_str_t *prompt, ngx_str_t *body)
{
    ngx_str_t              s;
    ngx_uint_t             i, type;
    ngx_http_mesh_step_t  *step;
    ngx_http_mesh_json_t   w;

    step = &run->steps[run->current];

    type = (step->type == NGX_HTTP_MESH_TYPE_UNKNOWN) ? NGX_HTTP_MESH_TYPE_TEXT
                                                      : step->type;

    if (ngx_http_mesh_json_init(&w, run->request->pool,
                                256 + prompt->len * 2 + step->system.len * 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "type", ngx_http_mesh_type_name(type));

    if (step->model.len) {
        ngx_http_mesh_json_kcstr(&w, "model", step->model.data);
    }

    ngx_http_mesh_json_kstr(&w, "prompt", prompt);

    if (step->system.len) {
        s.data = (u_char *) step->system.data;
        s.len = step->system.len;
        ngx_http_mesh_json_kstr(&w, "system", &s);
    }

    /* images go to vision steps only */

    if (type == NGX_HTTP_MESH_TYPE_VISION && run->nimages) {
        ngx_http_mesh_json_key(&w, "images");
        ngx_http_mesh_json_arr_start(&w);

        for (i = 0; i < run->nimages; i++) {
            s.data = (u_char *) run->images[i].data;
            s.len = run->images[i].len;
            ngx_http_mesh_json_str(&w, &s);
        }

        ngx_http_mesh_json_arr_end(&w);
    }

    ngx_http_mesh_json_kbool(&w, "stream", 1);

    if (step->options.len) {
        s.data = (u_char *) step->options.data;
        s.len = step->options.len;
        ngx_http_mesh_json_key(&w, "options");
        ngx_http_mesh_json_raw_value(&w, &s);
    }

    ngx_http_mesh_json_obj_end(&w);

    return ngx_http_mesh_json_result(&w, body);
}


static int
ngx_http_mesh_pipeline_expand_var(void *data, int var, const char *s,
    size_t len)
{
    ngx_http_mesh_expand_t *ex = data;

    ngx_uint_t                     n;
    ngx_str_t                      v;
    ngx_http_mesh_pipeline_run_t  *run;

    run = ex->run;

    switch (var) {

    case NGX_HTTP_MESH_VAR_TEXT:
        v.data = (u_char *) s;
        v.len = len;
        break;

    case NGX_HTTP_MESH_VAR_INPUT:
        v = run->input;
        break;

    case NGX_HTTP_MESH_VAR_PREVIOUS:
        v = run->runs[run->current - 1].output;
        break;

    default:
        n = var - NGX_HTTP_MESH_VAR_STEP;

        if (var < 0 || n >= run->current) {
            /* checked before the run: cannot happen */
            return -1;
        }

        v = run->runs[n].output;
    }

    if (ex->p) {
        ngx_memcpy(ex->p + ex->len, v.data, v.len);
    }

    ex->len += v.len;

    return 0;
}


/* a "response" token of the running step */

static int
ngx_http_mesh_pipeline_text(void *data, const char *s, size_t len)
{
    ngx_http_mesh_pipeline_run_t *run = data;

    if (run->stream && run->current + 1 == run->nsteps) {
        return 0;       /* streamed to the client, not kept */
    }

    if (len > run->out_max - run->out_len) {
        run->overflow = 1;
        return -1;
    }

    ngx_memcpy(run->out + run->out_len, s, len);
    run->out_len += len;

    return 0;
}


static ngx_http_mesh_pipeline_run_t *
ngx_http_mesh_pipeline_of(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t           *pctx;
    ngx_http_mesh_pipeline_run_t  *run;

    if (r == r->main || r->parent == NULL) {
        return NULL;
    }

    pctx = ngx_http_get_module_ctx(r->parent, ngx_http_mesh_module);

    if (pctx == NULL || pctx->pipeline == NULL) {
        return NULL;
    }

    run = pctx->pipeline;

    return (run->sr == r && !run->recorded) ? run : NULL;
}


static ngx_int_t
ngx_http_mesh_pipeline_header_filter(ngx_http_request_t *r)
{
    ngx_http_mesh_ctx_t  *ctx;

    if (ngx_http_mesh_pipeline_of(r) != NULL) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

        /* the step line stands for the task's routed line */

        if (ctx) {
            ctx->sent_routed_line = 1;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mesh_pipeline_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                         n;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_uint_t                     ok, pass;
    ngx_chain_t                   *cl;
    ngx_http_mesh_pipeline_run_t  *run;

    run = ngx_http_mesh_pipeline_of(r);

    if (run == NULL || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ok = (r->headers_out.status == NGX_HTTP_OK);
    pass = ok && run->stream && run->current + 1 == run->nsteps;

    if (ok && !run->step_line) {
        run->step_line = 1;

        rc = ngx_http_mesh_pipeline_started(run, r);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        n = b->last - b->pos;

        if (!ok) {
            n = ngx_min(n, sizeof(run->errbody) - run->errbody_len);
            ngx_memcpy(run->errbody + run->errbody_len, b->pos, n);
            run->errbody_len += n;

        } else if (n && !run->reader.failed) {
            (void) ngx_http_mesh_gen_reader_feed(&run->reader,
                                                 (char *) b->pos, n);
        }

        if (!pass) {
            b->pos = b->last;
        }
    }

    if (pass) {
        return ngx_http_next_body_filter(r, in);
    }

    /* past max_output, or not NDJSON: stop the step's node now */

    if (ok && run->reader.failed) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the step has its node and its first bytes: the step line and event */

static ngx_int_t
ngx_http_mesh_pipeline_started(ngx_http_mesh_pipeline_run_t *run,
    ngx_http_request_t *sr)
{
    ngx_chain_t               *out;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_step_run_t  *st;

    st = &run->runs[run->current];
    ctx = ngx_http_get_module_ctx(sr, ngx_http_mesh_module);

    if (ctx) {
        ngx_cpystrn(st->node_id, ctx->node_id, sizeof(st->node_id));
        ngx_cpystrn(st->model, ctx->serve_model, sizeof(st->model));
        ngx_cpystrn(st->task_id, ctx->task_id, sizeof(st->task_id));
    }

    ngx_http_mesh_pipeline_event(run, "pipeline.step");

    if (!run->stream) {
        return NGX_OK;
    }

    if (ngx_http_mesh_json_init(&w, sr->pool, 256) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "event", "step");
    ngx_http_mesh_json_kint(&w, "index", run->current + 1);
    ngx_http_mesh_json_kcstr(&w, "node", (char *) st->node_id);
    ngx_http_mesh_json_kcstr(&w, "model", (char *) st->model);
    ngx_http_mesh_json_kcstr(&w, "task_id", (char *) st->task_id);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_pipeline_line(sr, &w, 0, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(sr, out);
}


/* may run more than once for a step: only the first call counts */

static ngx_int_t
ngx_http_mesh_pipeline_step_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_mesh_pipeline_run_t *run = data;

    if (run->sr != r || run->recorded) {
        return r->connection->error ? rc : NGX_OK;
    }

    ngx_http_mesh_pipeline_classify(run, r, rc);

    run->recorded = 1;
    ngx_http_mesh_gen_reader_free(&run->reader);

    if (run->failed && ngx_strcmp(run->reason, "client_gone") == 0) {
        /* nothing more runs: the request is terminated */
        run->finished = 1;
        ngx_http_mesh_pipeline_event(run, "pipeline.failed");
        return rc;
    }

    return NGX_OK;
}


static void
ngx_http_mesh_pipeline_classify(ngx_http_mesh_pipeline_run_t *run,
    ngx_http_request_t *sr, ngx_int_t rc)
{
    u_char                    *msg;
    size_t                     len;
    ngx_uint_t                 status, index;
    ngx_http_mesh_ctx_t       *ctx;
    ngx_http_mesh_step_run_t  *st;

    st = &run->runs[run->current];
    index = run->current + 1;
    ctx = ngx_http_get_module_ctx(sr, ngx_http_mesh_module);

    if (ctx) {
        if (st->node_id[0] == '\0') {
            ngx_cpystrn(st->node_id, ctx->node_id, sizeof(st->node_id));
            ngx_cpystrn(st->model, ctx->serve_model, sizeof(st->model));
        }

        ngx_cpystrn(st->task_id, ctx->task_id, sizeof(st->task_id));
        st->tokens = ctx->tokens;
    }

    st->duration = ngx_current_msec - st->start;

    status = sr->headers_out.status;

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        status = rc;
    }

    len = 160 + NGX_HTTP_MESH_PIPELINE_ERRBODY + sizeof(st->node_id);
    msg = ngx_pnalloc(run->request->pool, len);
    if (msg == NULL) {
        run->failed = 1;
        run->reason = "internal_error";
        return;
    }

    run->message = msg;

    if (run->overflow || run->reader.failed) {
        /*
         * The body filter refused the reply, and ngx_http_output_filter()
         * took that for a broken client connection: the error was ours.
         */
        sr->connection->error = 0;

        if (run->overflow) {
            run->reason = "output_too_large";
            ngx_snprintf(msg, len, "the output of step %ui is larger than "
                         "its max_output, %uz bytes%Z", index, run->out_max);

        } else {
            run->reason = "node_error";
            ngx_snprintf(msg, len, "step %ui: the reply of node \"%s\" is "
                         "not NDJSON%Z", index, st->node_id);
        }

    } else if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
               || sr->connection->error)
    {
        run->reason = "client_gone";
        ngx_snprintf(msg, len, "the client went away during step %ui%Z",
                     index);

    } else if (status != NGX_HTTP_OK && status != 0) {

        if (ngx_strlcasestrn(run->errbody, run->errbody + run->errbody_len,
                             (u_char *) "queue_timeout", 13 - 1))
        {
            run->reason = "queue_timeout";

        } else if (ngx_strlcasestrn(run->errbody,
                                    run->errbody + run->errbody_len,
                                    (u_char *) "queue_full", 10 - 1))
        {
            run->reason = "queue_full";

        } else if (status == NGX_HTTP_NOT_FOUND) {
            run->reason = "no_capable_node";

        } else if (status == NGX_HTTP_BAD_GATEWAY
                   || status == NGX_HTTP_GATEWAY_TIME_OUT
                   || status == NGX_HTTP_SERVICE_UNAVAILABLE)
        {
            run->reason = "node_failed";

        } else {
            run->reason = "node_error";
        }

        while (run->errbody_len
               && (run->errbody[run->errbody_len - 1] == '\n'
                   || run->errbody[run->errbody_len - 1] == '\r'))
        {
            run->errbody_len--;
        }

        if (run->errbody_len) {
            ngx_snprintf(msg, len, "step %ui failed with status %ui: %*s%Z",
                         index, status, run->errbody_len, run->errbody);

        } else {
            ngx_snprintf(msg, len, "step %ui failed on node \"%s\" before "
                         "its reply (status %ui)%Z", index, st->node_id,
                         status);
        }

    } else if (rc == NGX_ERROR || (ctx && ctx->failed)
               || (!run->reader.done && run->reader.error[0] == '\0'))
    {
        /* the balancer's own error line is in the reply by now */
        run->reason = run->step_line ? "node_failed_mid_stream"
                                     : "node_failed";
        ngx_snprintf(msg, len, "step %ui failed on node \"%s\" %s%Z",
                     index, st->node_id,
                     run->step_line ? "mid-stream" : "before its reply");

    } else if (run->reader.error[0] || !run->reader.done) {
        run->reason = "node_error";
        ngx_snprintf(msg, len, "step %ui failed on node \"%s\": %s%Z",
                     index, st->node_id, run->reader.error);

    } else {
        st->output.data = run->out;
        st->output.len = run->out_len;

        if (ctx == NULL || !ctx->ndjson.last_has_eval) {
            st->tokens = run->reader.eval_count;
        }

        return;
    }

    run->failed = 1;
}


/* the main request's write handler: the step that ran has ended */

static void
ngx_http_mesh_pipeline_wake(ngx_http_request_t *r)
{
    ngx_chain_t                   *out;
    ngx_http_mesh_ctx_t           *ctx;
    ngx_http_mesh_json_t           w;
    ngx_http_mesh_step_run_t      *st;
    ngx_http_mesh_pipeline_run_t  *run;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);
    run = ctx->pipeline;

    if (r->connection->data != r || run->finished) {
        return;
    }

    if (r->buffered || r->connection->buffered) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            run->finished = 1;
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }
    }

    if (!run->recorded || run->sr == NULL) {
        return;
    }

    run->sr = NULL;

    if (run->failed) {
        ngx_http_mesh_pipeline_fail(run);
        return;
    }

    st = &run->runs[run->current];

    if (run->stream && run->current + 1 < run->nsteps) {
        if (ngx_http_mesh_json_init(&w, r->pool, 256 + st->output.len * 2)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_http_mesh_json_obj_start(&w);
        ngx_http_mesh_json_kcstr(&w, "event", "step_done");
        ngx_http_mesh_json_kint(&w, "index", run->current + 1);
        ngx_http_mesh_json_kstr(&w, "output", &st->output);
        ngx_http_mesh_json_kint(&w, "tokens", st->tokens);
        ngx_http_mesh_json_kint(&w, "duration_ms", st->duration);
        ngx_http_mesh_json_obj_end(&w);

        if (ngx_http_mesh_pipeline_line(r, &w, 0, &out) != NGX_OK
            || ngx_http_output_filter(r, out) == NGX_ERROR)
        {
            goto failed;
        }
    }

    run->current++;

    if (run->current == run->nsteps) {
        ngx_http_mesh_pipeline_finish(run);
        return;
    }

    if (ngx_http_mesh_pipeline_step_start(run) != NGX_OK) {
        ngx_http_mesh_pipeline_fail(run);
    }

    return;

failed:

    run->finished = 1;
    ngx_http_finalize_request(r, NGX_ERROR);
}


static void
ngx_http_mesh_pipeline_finish(ngx_http_mesh_pipeline_run_t *run)
{
    ngx_int_t              rc;
    ngx_str_t              json;
    ngx_chain_t           *out;
    ngx_http_request_t    *r;
    ngx_http_mesh_json_t   w;

    r = run->request;
    run->finished = 1;

    ngx_http_mesh_pipeline_event(run, "pipeline.done");

    if (ngx_http_mesh_json_init(&w, r->pool, 512) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_http_mesh_json_obj_start(&w);

    if (run->stream) {
        ngx_http_mesh_json_kcstr(&w, "event", "pipeline_done");
    }

    ngx_http_mesh_json_kcstr(&w, "pipeline_id", (char *) run->id);

    if (run->name.len) {
        ngx_http_mesh_json_kstr(&w, "name", &run->name);
    }

    ngx_http_mesh_pipeline_steps_json(&w, run, run->nsteps, !run->stream);

    if (!run->stream) {
        ngx_http_mesh_json_kstr(&w, "response",
                                &run->runs[run->nsteps - 1].output);
    }

    ngx_http_mesh_json_kint(&w, "duration_ms", ngx_current_msec - run->start);
    ngx_http_mesh_json_kbool(&w, "done", 1);
    ngx_http_mesh_json_obj_end(&w);

    if (run->stream) {
        if (ngx_http_mesh_pipeline_line(r, &w, 1, &out) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        rc = ngx_http_output_filter(r, out);

    } else if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
    }

    ngx_http_finalize_request(r, rc);
}


/* an explicit end: which step, which node, why; nothing after it runs */

static void
ngx_http_mesh_pipeline_fail(ngx_http_mesh_pipeline_run_t *run)
{
    ngx_int_t                  rc;
    ngx_str_t                  json;
    ngx_uint_t                 status;
    ngx_chain_t               *out;
    ngx_http_request_t        *r;
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_step_run_t  *st;

    r = run->request;
    st = &run->runs[run->current];
    run->finished = 1;
    run->failed = 1;

    if (run->message == NULL) {
        run->message = (u_char *) "the step could not be started";
    }

    ngx_http_mesh_pipeline_event(run, "pipeline.failed");

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mesh: pipeline %s failed at step %ui, node \"%s\": %s",
                  run->id, run->current + 1, st->node_id, run->message);

    if (ngx_http_mesh_json_init(&w, r->pool, 512) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_http_mesh_json_obj_start(&w);

    if (run->stream) {
        ngx_http_mesh_json_kcstr(&w, "event", "pipeline_failed");
    }

    ngx_http_mesh_json_kcstr(&w, "error", (char *) run->message);
    ngx_http_mesh_json_kcstr(&w, "pipeline_id", (char *) run->id);
    ngx_http_mesh_json_kint(&w, "index", run->current + 1);

    ngx_http_mesh_json_key(&w, "node");
    if (st->node_id[0]) {
        ngx_http_mesh_json_cstr(&w, (char *) st->node_id);

    } else {
        ngx_http_mesh_json_null(&w);
    }

    ngx_http_mesh_json_kcstr(&w, "reason", run->reason);

    if (st->task_id[0]) {
        ngx_http_mesh_json_kcstr(&w, "task_id", (char *) st->task_id);
    }

    ngx_http_mesh_pipeline_steps_json(&w, run, run->current, !run->stream);
    ngx_http_mesh_json_obj_end(&w);

    if (run->stream) {
        if (ngx_http_mesh_pipeline_line(r, &w, 1, &out) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        ngx_http_finalize_request(r, ngx_http_output_filter(r, out));
        return;
    }

    if (ngx_strncmp(run->reason, "queue_", 6) == 0) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (ngx_strcmp(run->reason, "no_capable_node") == 0) {
        status = NGX_HTTP_NOT_FOUND;

    } else if (ngx_strcmp(run->reason, "prompt_too_large") == 0
               || ngx_strcmp(run->reason, "internal_error") == 0)
    {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        status = NGX_HTTP_BAD_GATEWAY;
    }

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_http_mesh_send_json(r, status, &json);
    }

    ngx_http_finalize_request(r, rc);
}


/* "steps":[...] of the first n steps */

static void
ngx_http_mesh_pipeline_steps_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_pipeline_run_t *run, ngx_uint_t n, ngx_uint_t output)
{
    ngx_uint_t                 i;
    ngx_http_mesh_step_run_t  *st;

    ngx_http_mesh_json_key(w, "steps");
    ngx_http_mesh_json_arr_start(w);

    for (i = 0; i < n; i++) {
        st = &run->runs[i];

        ngx_http_mesh_json_obj_start(w);
        ngx_http_mesh_json_kint(w, "index", i + 1);
        ngx_http_mesh_json_kcstr(w, "node", (char *) st->node_id);
        ngx_http_mesh_json_kcstr(w, "model", (char *) st->model);
        ngx_http_mesh_json_kcstr(w, "task_id", (char *) st->task_id);

        if (output) {
            ngx_http_mesh_json_kstr(w, "output", &st->output);
        }

        ngx_http_mesh_json_kint(w, "tokens", st->tokens);
        ngx_http_mesh_json_kint(w, "duration_ms", st->duration);
        ngx_http_mesh_json_obj_end(w);
    }

    ngx_http_mesh_json_arr_end(w);
}


/* one NDJSON line, flushed; the last one ends the main request's body */

static ngx_int_t
ngx_http_mesh_pipeline_line(ngx_http_request_t *r, ngx_http_mesh_json_t *w,
    ngx_uint_t last, ngx_chain_t **out)
{
    ngx_str_t     json;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (ngx_http_mesh_json_result(w, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, json.len + 1);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, json.data, json.len);
    *b->last++ = '\n';
    b->flush = 1;

    if (last) {
        b->last_buf = 1;
        b->last_in_chain = 1;
    }

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}


static void
ngx_http_mesh_pipeline_event(ngx_http_mesh_pipeline_run_t *run,
    const char *kind)
{
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_step_run_t  *st;

    if (ngx_http_mesh_event_start(&w, run->request->pool, kind) != NGX_OK) {
        return;
    }

    ngx_http_mesh_json_kcstr(&w, "pipeline_id", (char *) run->id);

    if (run->name.len) {
        ngx_http_mesh_json_kstr(&w, "name", &run->name);
    }

    if (ngx_strcmp(kind, "pipeline.started") == 0) {
        ngx_http_mesh_json_kint(&w, "steps", run->nsteps);

    } else if (ngx_strcmp(kind, "pipeline.done") == 0) {
        ngx_http_mesh_json_kint(&w, "steps", run->nsteps);
        ngx_http_mesh_json_kint(&w, "duration_ms",
                                ngx_current_msec - run->start);

    } else {
        st = &run->runs[run->current];

        ngx_http_mesh_json_kint(&w, "index", run->current + 1);

        if (st->task_id[0]) {
            ngx_http_mesh_json_kcstr(&w, "task_id", (char *) st->task_id);
        }

        if (st->node_id[0]) {
            ngx_http_mesh_json_kcstr(&w, "node_id", (char *) st->node_id);
            ngx_http_mesh_json_kcstr(&w, "model", (char *) st->model);
        }

        if (run->failed) {
            ngx_http_mesh_json_kcstr(&w, "reason", run->reason);
        }
    }

    ngx_http_mesh_event_publish(&w, run->request->connection->log);
}


static void
ngx_http_mesh_pipeline_cleanup(void *data)
{
    ngx_http_mesh_pipeline_run_t *run = data;

    ngx_http_mesh_gen_reader_free(&run->reader);
}
