
/*
 * HMAC-SHA256 (RFC 2104) with the key's inner and outer SHA-256 states
 * computed once: each MAC copies them and hashes the message and the inner
 * digest, nothing more (no algorithm fetch, no provider context, no
 * allocation).  Plain C on OpenSSL's SHA-256, no nginx types.
 */


#ifndef _NGX_HTTP_MESH_HMAC_H_INCLUDED_
#define _NGX_HTTP_MESH_HMAC_H_INCLUDED_


#include <stddef.h>

/* SHA256_Init() and friends: deprecated in OpenSSL 3.0, present and fast */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/sha.h>


#define NGX_HTTP_MESH_HMAC_LEN  SHA256_DIGEST_LENGTH


typedef struct {
    SHA256_CTX     inner;     /* after the block key ^ ipad */
    SHA256_CTX     outer;     /* after the block key ^ opad */
} ngx_http_mesh_hmac_key_t;


/* 0, or -1 when OpenSSL failed */
int ngx_http_mesh_hmac_key(ngx_http_mesh_hmac_key_t *k,
    const unsigned char *key, size_t len);
/* NGX_HTTP_MESH_HMAC_LEN bytes into md; 0 or -1 */
int ngx_http_mesh_hmac(const ngx_http_mesh_hmac_key_t *k,
    const unsigned char *msg, size_t len, unsigned char *md);
/* the states are as secret as the key */
void ngx_http_mesh_hmac_key_clear(ngx_http_mesh_hmac_key_t *k);


#endif /* _NGX_HTTP_MESH_HMAC_H_INCLUDED_ */
