
/*
 * Sending JSON replies and JSON errors.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_json.h"


ngx_int_t
ngx_http_mesh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = json->len + 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, json->len + 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, json->data, json->len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* {"error":"..."}: the shape Ollama uses, so its clients understand us */

ngx_int_t
ngx_http_mesh_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    ngx_int_t                  rc;
    ngx_str_t                  json;
    const char                *type, *code;
    ngx_http_mesh_json_t       w;
    ngx_http_mesh_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    /* every door answers in its own dialect */

    if (mlcf->route == NGX_HTTP_MESH_ROUTE_OPENAI) {
        ngx_http_mesh_openai_kind(status, &type, &code);
        return ngx_http_mesh_send_openai_error(r, status, type, code,
                                               message);
    }

    /*
     * A body not read yet is read and dropped first: on a kept-alive
     * connection it would otherwise be parsed as the next request.
     */

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mesh_json_init(&w, r->pool, 128) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "error", message);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, status, &json);
}


void
ngx_http_mesh_openai_kind(ngx_uint_t status, const char **type,
    const char **code)
{
    *code = NULL;

    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
        *type = "invalid_request_error";
        *code = "invalid_api_key";
        break;

    case NGX_HTTP_NOT_FOUND:
        *type = "invalid_request_error";
        *code = "model_not_found";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        *type = "server_error";
        break;

    default:
        *type = "invalid_request_error";
    }
}


ngx_int_t
ngx_http_mesh_send_openai_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *code, const char *message)
{
    ngx_int_t             rc;
    ngx_str_t             json;
    ngx_http_mesh_json_t  w;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mesh_json_init(&w, r->pool, 256) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_key(&w, "error");
    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kcstr(&w, "message", message);
    ngx_http_mesh_json_kcstr(&w, "type", type);
    ngx_http_mesh_json_key(&w, "param");
    ngx_http_mesh_json_null(&w);
    ngx_http_mesh_json_key(&w, "code");

    if (code) {
        ngx_http_mesh_json_cstr(&w, code);

    } else {
        ngx_http_mesh_json_null(&w);
    }

    ngx_http_mesh_json_obj_end(&w);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, status, &json);
}
