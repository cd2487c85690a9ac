
/*
 * Request bodies as one contiguous buffer, and the mesh credential check.
 */


#include "ngx_http_mesh_module.h"


/*
 * NGX_OK with the body in one buffer, or an HTTP status: 413 over max, 400
 * without a body.  A body nginx spooled to a temporary file is read back
 * from it (it is bounded by max and just written, so in the page cache).
 */

ngx_int_t
ngx_http_mesh_read_json_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_HTTP_BAD_REQUEST;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if ((size_t) size > max) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}
