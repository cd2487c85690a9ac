
/*
 * RFC 6455 framing (section 5.2):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 *  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *  | |1|2|3|       |K|             |                               |
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *  |     Extended payload length continued, if payload len == 127  |
 *  + - - - - - - - - - - - - - - - +-------------------------------+
 *  |                               |Masking-key, if MASK set to 1  |
 *  +-------------------------------+-------------------------------+
 *  | Masking-key (continued)       |          Payload Data         |
 *  +-------------------------------- - - - - - - - - - - - - - - - +
 *
 * The feed reads a client's bytes into a buffer that holds the largest
 * frame it accepts, so a frame is parsed whole from the buffer: a partial
 * frame is NGX_AGAIN and is parsed again once more bytes arrived.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_sha1.h>

#include "ngx_http_mesh_ws.h"


#define NGX_HTTP_MESH_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


ngx_int_t
ngx_http_mesh_ws_accept(ngx_str_t *key, u_char *out)
{
    u_char     raw[32], digest[20];
    ngx_str_t  src, dst;
    ngx_sha1_t sha1;

    /* 16 random bytes in base64 are 24 characters */

    if (key->len != 24) {
        return NGX_ERROR;
    }

    dst.data = raw;

    if (ngx_decode_base64(&dst, key) != NGX_OK || dst.len != 16) {
        return NGX_ERROR;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_HTTP_MESH_WS_GUID,
                    sizeof(NGX_HTTP_MESH_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = out;

    ngx_encode_base64(&dst, &src);

    return NGX_OK;
}


ngx_int_t
ngx_http_mesh_ws_parse(u_char *p, u_char *last, size_t max,
    ngx_http_mesh_ws_frame_t *f)
{
    u_char      *start, *mask;
    size_t       i, avail;
    uint64_t     len;
    ngx_uint_t   opcode;

    start = p;
    avail = last - p;

    ngx_memzero(f, sizeof(ngx_http_mesh_ws_frame_t));

    if (avail < 2) {
        return NGX_AGAIN;
    }

    opcode = p[0] & 0x0f;
    f->fin = (p[0] & 0x80) ? 1 : 0;
    f->opcode = opcode;

    if (p[0] & 0x70) {
        f->error = NGX_HTTP_MESH_WS_PROTOCOL;
        f->reason = "reserved bits set";
        return NGX_ERROR;
    }

    if ((opcode > NGX_HTTP_MESH_WS_BINARY && opcode < NGX_HTTP_MESH_WS_CLOSE)
        || opcode > NGX_HTTP_MESH_WS_PONG)
    {
        f->error = NGX_HTTP_MESH_WS_PROTOCOL;
        f->reason = "unknown opcode";
        return NGX_ERROR;
    }

    if (!(p[1] & 0x80)) {
        f->error = NGX_HTTP_MESH_WS_PROTOCOL;
        f->reason = "client frame not masked";
        return NGX_ERROR;
    }

    len = p[1] & 0x7f;
    p += 2;

    if (opcode >= NGX_HTTP_MESH_WS_CLOSE
        && (!f->fin || len > NGX_HTTP_MESH_WS_CONTROL_MAX))
    {
        f->error = NGX_HTTP_MESH_WS_PROTOCOL;
        f->reason = "bad control frame";
        return NGX_ERROR;
    }

    if (len == 126) {
        if ((size_t) (last - p) < 2) {
            return NGX_AGAIN;
        }

        len = ((uint64_t) p[0] << 8) | p[1];
        p += 2;

        if (len < 126) {
            f->error = NGX_HTTP_MESH_WS_PROTOCOL;
            f->reason = "length not minimal";
            return NGX_ERROR;
        }

    } else if (len == 127) {
        if ((size_t) (last - p) < 8) {
            return NGX_AGAIN;
        }

        if (p[0] & 0x80) {
            f->error = NGX_HTTP_MESH_WS_PROTOCOL;
            f->reason = "length has its top bit set";
            return NGX_ERROR;
        }

        len = 0;

        for (i = 0; i < 8; i++) {
            len = (len << 8) | p[i];
        }

        p += 8;

        if (len < 65536) {
            f->error = NGX_HTTP_MESH_WS_PROTOCOL;
            f->reason = "length not minimal";
            return NGX_ERROR;
        }
    }

    if (len > max) {
        f->error = NGX_HTTP_MESH_WS_TOO_BIG;
        f->reason = "frame too big";
        return NGX_ERROR;
    }

    if ((size_t) (last - p) < 4 + len) {
        return NGX_AGAIN;
    }

    mask = p;
    p += 4;

    for (i = 0; i < len; i++) {
        p[i] ^= mask[i & 3];
    }

    f->payload = p;
    f->len = (size_t) len;
    f->size = (p - start) + (size_t) len;

    return NGX_OK;
}


u_char *
ngx_http_mesh_ws_header(u_char *p, ngx_uint_t opcode, size_t len)
{
    ngx_uint_t  i;

    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;

    } else if (len < 65536) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 127;

        for (i = 8; i > 0; i--) {
            *p++ = (u_char) ((uint64_t) len >> ((i - 1) * 8));
        }
    }

    return p;
}


u_char *
ngx_http_mesh_ws_close_frame(u_char *p, ngx_uint_t code, const char *reason)
{
    size_t  len;

    len = ngx_min(ngx_strlen(reason), NGX_HTTP_MESH_WS_CONTROL_MAX - 2);

    p = ngx_http_mesh_ws_header(p, NGX_HTTP_MESH_WS_CLOSE, 2 + len);

    *p++ = (u_char) (code >> 8);
    *p++ = (u_char) code;

    return ngx_cpymem(p, reason, len);
}


ngx_int_t
ngx_http_mesh_ws_close_code(u_char *p, size_t len, ngx_uint_t *code)
{
    ngx_uint_t  c;

    if (len == 0) {
        *code = NGX_HTTP_MESH_WS_NO_STATUS;
        return NGX_OK;
    }

    if (len == 1) {
        return NGX_ERROR;
    }

    c = ((ngx_uint_t) p[0] << 8) | p[1];

    /* RFC 6455 7.4: what an endpoint may put on the wire */

    if (c < 1000 || c >= 5000
        || (c >= 1004 && c <= 1006)
        || (c >= 1015 && c < 3000))
    {
        return NGX_ERROR;
    }

    if (!ngx_http_mesh_ws_utf8(p + 2, len - 2)) {
        return NGX_ERROR;
    }

    *code = c;

    return NGX_OK;
}


ngx_uint_t
ngx_http_mesh_ws_utf8(u_char *p, size_t len)
{
    u_char      *last;
    uint32_t     cp, min;
    ngx_uint_t   n, i;

    last = p + len;

    while (p < last) {

        if (*p < 0x80) {
            p++;
            continue;
        }

        if ((*p & 0xe0) == 0xc0) {
            n = 1;
            min = 0x80;
            cp = *p & 0x1f;

        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            min = 0x800;
            cp = *p & 0x0f;

        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            min = 0x10000;
            cp = *p & 0x07;

        } else {
            return 0;
        }

        if ((size_t) (last - p) <= n) {
            return 0;
        }

        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        p += n + 1;
    }

    return 1;
}
