
/*
 * The pipelines API (mesh_pipelines): GET lists the named pipelines,
 * POST .../pipelines runs the steps the body gives, POST .../pipelines/NAME
 * runs a named one.  Everything is checked before a step runs.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_pipeline.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_keys.h"


static void ngx_http_mesh_pipeline_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_pipeline_api_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_pipeline_api_list(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_pipeline_api_unknown(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_mesh_pipeline_api_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message, ngx_uint_t index);
static ngx_int_t ngx_http_mesh_pipeline_api_name(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_http_mesh_pipeline_t *ngx_http_mesh_pipeline_api_find(
    ngx_http_request_t *r, ngx_str_t *name);
static void *ngx_http_mesh_pipeline_api_alloc(void *pool, size_t size);


ngx_int_t
ngx_http_mesh_pipeline_api_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  name;

    rc = ngx_http_mesh_api_key_require(r, NGX_HTTP_MESH_DOOR_PIPELINE, 0);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_mesh_pipeline_api_name(r, &name) != NGX_OK) {
            return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                            "GET lists every pipeline: "
                                            "/mesh/v1/pipelines");
        }

        return ngx_http_mesh_pipeline_api_list(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method not allowed");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_mesh_pipeline_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* NGX_OK for the list itself, NGX_DECLINED with a name */

static ngx_int_t
ngx_http_mesh_pipeline_api_name(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char  *p, *last;

    last = r->uri.data + r->uri.len;

    if (last > r->uri.data && last[-1] == '/') {
        last--;
    }

    for (p = last; p > r->uri.data && p[-1] != '/'; p--) {
        /* void */
    }

    name->data = p;
    name->len = last - p;

    if (name->len == 9 && ngx_strncmp(p, "pipelines", 9) == 0) {
        name->len = 0;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_mesh_pipeline_api_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_mesh_pipeline_api_start(r);

    /* a running pipeline finalizes the request itself, once, at its end */

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* NGX_DONE once the pipeline runs (it finalizes r), else a reply's rc */

static ngx_int_t
ngx_http_mesh_pipeline_api_start(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      body, name, *named;
    ngx_uint_t                     i, nsteps, bad;
    ngx_http_mesh_step_t          *steps;
    ngx_http_mesh_pipeline_t      *pl;
    ngx_http_mesh_main_conf_t     *mmcf;
    ngx_http_mesh_pipeline_req_t   req;
    char                           err[NGX_HTTP_MESH_ERR_LEN];
    char                           want[NGX_HTTP_MESH_MODEL_LEN + 32];
    u_char                         msg[NGX_HTTP_MESH_ERR_LEN + 64];

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    rc = ngx_http_mesh_read_json_body(r, NGX_HTTP_MESH_BODY_MAX, &body);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_mesh_send_error(r, rc, "request body is too large");
    }

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_http_mesh_send_error(r, rc, "a JSON body is required");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mesh_parse_pipeline_req((char *) body.data, body.len, &req,
                                         ngx_http_mesh_pipeline_api_alloc,
                                         r->pool, err)
        != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    named = NULL;

    if (ngx_http_mesh_pipeline_api_name(r, &name) == NGX_DECLINED) {
        pl = ngx_http_mesh_pipeline_api_find(r, &name);

        if (pl == NULL) {
            return ngx_http_mesh_pipeline_api_unknown(r, &name);
        }

        if (req.has_steps) {
            return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                       "a named pipeline takes no \"steps\": POST them to "
                       "/mesh/v1/pipelines");
        }

        named = &pl->name;
        steps = pl->steps;
        nsteps = pl->nsteps;

    } else {
        if (!req.has_steps || req.nsteps == 0) {
            return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                       req.has_steps ? "\"steps\" is empty"
                                     : "\"steps\" is missing");
        }

        if (req.nsteps > mmcf->pipeline_max_steps) {
            ngx_snprintf(msg, sizeof(msg), "the pipeline has %uz steps, more "
                         "than mesh_pipeline_max_steps %ui%Z", req.nsteps,
                         mmcf->pipeline_max_steps);
            return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            (char *) msg);
        }

        for (i = 0; i < req.nsteps; i++) {
            if (ngx_http_mesh_step_check(&req.steps[i], i + 1, err) != 0) {
                return ngx_http_mesh_pipeline_api_error(r,
                           NGX_HTTP_BAD_REQUEST, err, i + 1);
            }
        }

        steps = req.steps;
        nsteps = req.nsteps;
    }

    for (i = 0; i < nsteps; i++) {
        if (steps[i].type == NGX_HTTP_MESH_TYPE_VISION && req.nimages == 0) {
            ngx_snprintf(msg, sizeof(msg), "step %ui is a vision step and "
                         "the request has no \"images\"%Z", i + 1);
            return ngx_http_mesh_pipeline_api_error(r, NGX_HTTP_BAD_REQUEST,
                                                    (char *) msg, i + 1);
        }
    }

    bad = ngx_http_mesh_pipeline_unservable(r, steps, nsteps, want,
                                            sizeof(want));
    if (bad) {
        ngx_snprintf(msg, sizeof(msg), "step %ui: no node of the mesh has "
                     "%s%Z", bad, want);
        return ngx_http_mesh_pipeline_api_error(r, NGX_HTTP_NOT_FOUND,
                                                (char *) msg, bad);
    }

    rc = ngx_http_mesh_pipeline_run(r, named, steps, nsteps, &req);

    return rc == NGX_OK ? NGX_DONE : rc;
}


static ngx_http_mesh_pipeline_t *
ngx_http_mesh_pipeline_api_find(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_http_mesh_pipeline_t   *pl;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (mmcf->pipelines == NULL) {
        return NULL;
    }

    pl = mmcf->pipelines->elts;

    for (i = 0; i < mmcf->pipelines->nelts; i++) {
        if (pl[i].name.len == name->len
            && ngx_strncmp(pl[i].name.data, name->data, name->len) == 0)
        {
            return &pl[i];
        }
    }

    return NULL;
}


/* {"error":...,"index":N}: the step a 400 or 404 is about */

static ngx_int_t
ngx_http_mesh_pipeline_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message, ngx_uint_t index)
{
    ngx_str_t             json;
    ngx_http_mesh_json_t  w;

    if (ngx_http_mesh_json_init(&w, r->pool, 256) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "error", message);
    ngx_http_mesh_json_kint(&w, "index", index);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, status, &json);
}


static ngx_int_t
ngx_http_mesh_pipeline_api_unknown(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char                     *msg;
    ngx_str_t                   json;
    ngx_uint_t                  i;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_pipeline_t   *pl;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    msg = ngx_pnalloc(r->pool, 64 + name->len);

    if (msg == NULL || ngx_http_mesh_json_init(&w, r->pool, 256) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_snprintf(msg, 64 + name->len, "no pipeline is named \"%V\"%Z", name);

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "error", (char *) msg);
    ngx_http_mesh_json_key(&w, "pipelines");
    ngx_http_mesh_json_arr_start(&w);

    if (mmcf->pipelines) {
        pl = mmcf->pipelines->elts;

        for (i = 0; i < mmcf->pipelines->nelts; i++) {
            ngx_http_mesh_json_str(&w, &pl[i].name);
        }
    }

    ngx_http_mesh_json_arr_end(&w);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_NOT_FOUND, &json);
}


static ngx_int_t
ngx_http_mesh_pipeline_api_list(ngx_http_request_t *r)
{
    ngx_str_t                   json;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (ngx_http_mesh_json_init(&w, r->pool, 1024) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_key(&w, "pipelines");
    ngx_http_mesh_pipeline_list_json(&w, mmcf);
    ngx_http_mesh_json_kint(&w, "max_steps", mmcf->pipeline_max_steps);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
}


/* [...] of the named pipelines and their steps (the feed's snapshot too) */

void
ngx_http_mesh_pipeline_list_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_main_conf_t *mmcf)
{
    ngx_str_t                  s;
    ngx_uint_t                 i, k;
    ngx_http_mesh_step_t      *st;
    ngx_http_mesh_pipeline_t  *pl;

    ngx_http_mesh_json_arr_start(w);

    pl = mmcf->pipelines ? mmcf->pipelines->elts : NULL;

    for (i = 0; pl && i < mmcf->pipelines->nelts; i++) {
        ngx_http_mesh_json_obj_start(w);
        ngx_http_mesh_json_kstr(w, "name", &pl[i].name);
        ngx_http_mesh_json_key(w, "steps");
        ngx_http_mesh_json_arr_start(w);

        for (k = 0; k < pl[i].nsteps; k++) {
            st = &pl[i].steps[k];

            ngx_http_mesh_json_obj_start(w);

            if (st->type != NGX_HTTP_MESH_TYPE_UNKNOWN) {
                ngx_http_mesh_json_kcstr(w, "type",
                                         ngx_http_mesh_type_name(st->type));
            }

            if (st->model.len) {
                ngx_http_mesh_json_kcstr(w, "model", st->model.data);
            }

            s.data = (u_char *) st->prompt.data;
            s.len = st->prompt.len;
            ngx_http_mesh_json_kstr(w, "prompt", &s);

            if (st->system.len) {
                s.data = (u_char *) st->system.data;
                s.len = st->system.len;
                ngx_http_mesh_json_kstr(w, "system", &s);
            }

            if (st->options.len) {
                s.data = (u_char *) st->options.data;
                s.len = st->options.len;
                ngx_http_mesh_json_key(w, "options");
                ngx_http_mesh_json_raw_value(w, &s);
            }

            ngx_http_mesh_json_kint(w, "max_output",
                                    st->max_output ? st->max_output
                                                   : mmcf->pipeline_buffer);
            ngx_http_mesh_json_obj_end(w);
        }

        ngx_http_mesh_json_arr_end(w);
        ngx_http_mesh_json_obj_end(w);
    }

    ngx_http_mesh_json_arr_end(w);
}


static void *
ngx_http_mesh_pipeline_api_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}
