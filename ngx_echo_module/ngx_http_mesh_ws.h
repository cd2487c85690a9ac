
/*
 * RFC 6455 framing for the live feed: the handshake's accept key, the
 * parse of one client frame from a buffer, server frame headers, close
 * payloads, and the UTF-8 check of text.  No connection or request here.
 */


#ifndef _NGX_HTTP_MESH_WS_H_INCLUDED_
#define _NGX_HTTP_MESH_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_MESH_WS_CONT         0x0
#define NGX_HTTP_MESH_WS_TEXT         0x1
#define NGX_HTTP_MESH_WS_BINARY       0x2
#define NGX_HTTP_MESH_WS_CLOSE        0x8
#define NGX_HTTP_MESH_WS_PING         0x9
#define NGX_HTTP_MESH_WS_PONG         0xa

#define NGX_HTTP_MESH_WS_NORMAL       1000
#define NGX_HTTP_MESH_WS_GOING_AWAY   1001
#define NGX_HTTP_MESH_WS_PROTOCOL     1002
#define NGX_HTTP_MESH_WS_BAD_DATA     1003
#define NGX_HTTP_MESH_WS_NO_STATUS    1005
#define NGX_HTTP_MESH_WS_BAD_UTF8     1007
#define NGX_HTTP_MESH_WS_POLICY       1008
#define NGX_HTTP_MESH_WS_TOO_BIG      1009

#define NGX_HTTP_MESH_WS_HEADER_MAX   14      /* 2 + 8 length + 4 mask */
#define NGX_HTTP_MESH_WS_ACCEPT_LEN   28      /* base64 of a SHA-1 */
#define NGX_HTTP_MESH_WS_CONTROL_MAX  125


typedef struct {
    ngx_uint_t       opcode;
    ngx_uint_t       fin;
    u_char          *payload;       /* unmasked in place */
    size_t           len;
    size_t           size;          /* header and payload */
    ngx_uint_t       error;         /* a close code, on NGX_ERROR */
    const char      *reason;
} ngx_http_mesh_ws_frame_t;


/* NGX_OK: a 16-byte key in base64; out gets the Sec-WebSocket-Accept */
ngx_int_t ngx_http_mesh_ws_accept(ngx_str_t *key, u_char *out);

/*
 * One client frame at the start of [p, last): NGX_OK with f filled,
 * NGX_AGAIN: not all there yet, NGX_ERROR: f->error and f->reason say why
 * (1002 for a protocol error, 1009 for a payload over max).
 */
ngx_int_t ngx_http_mesh_ws_parse(u_char *p, u_char *last, size_t max,
    ngx_http_mesh_ws_frame_t *f);

/* a server frame header (FIN set, unmasked) at p; returns its end */
u_char *ngx_http_mesh_ws_header(u_char *p, ngx_uint_t opcode, size_t len);
/* a close frame with code and reason at p; returns its end */
u_char *ngx_http_mesh_ws_close_frame(u_char *p, ngx_uint_t code,
    const char *reason);

/*
 * A client's close payload: NGX_OK with *code (1005 when empty), or
 * NGX_ERROR for a bad length, a code no peer may send, or a bad reason.
 */
ngx_int_t ngx_http_mesh_ws_close_code(u_char *p, size_t len,
    ngx_uint_t *code);

/* 1: well-formed UTF-8 (no overlongs, surrogates or code points > 10FFFF) */
ngx_uint_t ngx_http_mesh_ws_utf8(u_char *p, size_t len);


#endif /* _NGX_HTTP_MESH_WS_H_INCLUDED_ */
