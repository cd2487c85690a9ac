
/*
 * The OpenAI door's own answers: GET /v1/models (the union of the live
 * nodes' models in OpenAI's list shape) and GET /v1/models/{model}, behind
 * the API key check like every door.  The task endpoints are routed like any
 * other door (mesh_route openai, ngx_http_mesh_task.c).
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_keys.h"
#include "ngx_http_mesh_zone.h"


#define NGX_HTTP_MESH_OPENAI_MODELS  "/v1/models"


static ngx_uint_t ngx_http_mesh_openai_mesh_name(u_char *name, size_t len);
static void ngx_http_mesh_openai_model_json(ngx_http_mesh_json_t *w,
    const char *name, size_t len);


ngx_int_t
ngx_http_mesh_openai_models_handler(ngx_http_request_t *r)
{
    size_t                 len;
    u_char                *name, *msg;
    ngx_int_t              rc;
    ngx_str_t              json;
    ngx_uint_t             i;
    ngx_array_t           *tags;
    ngx_http_mesh_tag_t   *tag;
    ngx_http_mesh_json_t   w;

    rc = ngx_http_mesh_api_key_require(r, NGX_HTTP_MESH_DOOR_OPENAI, 0);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_mesh_send_openai_error(r, NGX_HTTP_NOT_ALLOWED,
                   "invalid_request_error", NULL, "method not allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof(NGX_HTTP_MESH_OPENAI_MODELS) - 1;

    if (r->uri.len < len
        || ngx_strncmp(r->uri.data, NGX_HTTP_MESH_OPENAI_MODELS, len) != 0
        || (r->uri.len > len && r->uri.data[len] != '/'))
    {
        return ngx_http_mesh_send_openai_error(r, NGX_HTTP_NOT_FOUND,
                   "invalid_request_error", NULL,
                   "\"mesh_openai_models\" serves /v1/models only");
    }

    if (ngx_http_mesh_zone_get(r) == NULL) {
        return ngx_http_mesh_send_openai_error(r,
                   NGX_HTTP_INTERNAL_SERVER_ERROR, "server_error", NULL,
                   "no mesh_zone is configured");
    }

    tags = ngx_http_mesh_tags_collect(r);

    if (tags == NULL
        || ngx_http_mesh_json_init(&w, r->pool, 4096) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tag = tags->elts;

    if (r->uri.len > len + 1) {

        /* one model: a model of the mesh, or a task type of the door */

        name = r->uri.data + len + 1;
        len = r->uri.len - len - 1;

        for (i = 0; i < tags->nelts; i++) {
            if (ngx_strlen(tag[i].name) == len
                && ngx_strncmp(tag[i].name, name, len) == 0)
            {
                break;
            }
        }

        if (i == tags->nelts && !ngx_http_mesh_openai_mesh_name(name, len)) {
            msg = ngx_pnalloc(r->pool, len + 64);
            if (msg == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            (void) ngx_sprintf(msg, "model \"%*s\" is not on any node of "
                               "the mesh%Z", len, name);

            return ngx_http_mesh_send_openai_error(r, NGX_HTTP_NOT_FOUND,
                       "invalid_request_error", "model_not_found",
                       (char *) msg);
        }

        ngx_http_mesh_openai_model_json(&w, (char *) name, len);

    } else {
        ngx_http_mesh_json_obj_start(&w);
        ngx_http_mesh_json_kcstr(&w, "object", "list");
        ngx_http_mesh_json_key(&w, "data");
        ngx_http_mesh_json_arr_start(&w);

        for (i = 0; i < tags->nelts; i++) {
            ngx_http_mesh_openai_model_json(&w, tag[i].name,
                                            ngx_strlen(tag[i].name));
        }

        ngx_http_mesh_json_arr_end(&w);
        ngx_http_mesh_json_obj_end(&w);
    }

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
}


/* mesh:auto, mesh:code, mesh:vision, mesh:summarize, mesh:text */

static ngx_uint_t
ngx_http_mesh_openai_mesh_name(u_char *name, size_t len)
{
    ngx_uint_t  i;

    static ngx_str_t  names[] = {
        ngx_string("mesh:auto"),
        ngx_string("mesh:code"),
        ngx_string("mesh:vision"),
        ngx_string("mesh:summarize"),
        ngx_string("mesh:text")
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == names[i].len
            && ngx_strncmp(name, names[i].data, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * As Ollama's openai.ToModel: owned_by is the name's namespace, "library"
 * for a bare name; the mesh's own names are owned by "mesh".  A model has
 * no creation time in the registry: created is now.
 */

static void
ngx_http_mesh_openai_model_json(ngx_http_mesh_json_t *w, const char *name,
    size_t len)
{
    u_char     *slash;
    ngx_str_t   s;

    ngx_http_mesh_json_obj_start(w);

    s.data = (u_char *) name;
    s.len = len;
    ngx_http_mesh_json_key(w, "id");
    ngx_http_mesh_json_str(w, &s);

    ngx_http_mesh_json_kcstr(w, "object", "model");
    ngx_http_mesh_json_kint(w, "created", ngx_time());

    slash = ngx_strlchr((u_char *) name, (u_char *) name + len, '/');

    ngx_http_mesh_json_key(w, "owned_by");

    if (len > 5 && ngx_strncmp(name, "mesh:", 5) == 0) {
        ngx_http_mesh_json_cstr(w, "mesh");

    } else if (slash) {
        s.len = slash - (u_char *) name;
        ngx_http_mesh_json_str(w, &s);

    } else {
        ngx_http_mesh_json_cstr(w, "library");
    }

    ngx_http_mesh_json_obj_end(w);
}

