
/*
 * HMAC-SHA256 from prepared key states (see the header).
 */


/* first: it lets OpenSSL's headers declare SHA256_Init() without warning */
#include "ngx_http_mesh_hmac.h"

#include <string.h>

#include <openssl/crypto.h>


int
ngx_http_mesh_hmac_key(ngx_http_mesh_hmac_key_t *k, const unsigned char *key,
    size_t len)
{
    int            rc;
    size_t         i;
    unsigned char  block[SHA256_CBLOCK], pad[SHA256_CBLOCK];

    memset(block, 0, sizeof(block));

    /* a key longer than a block is its digest (RFC 2104, section 2) */

    if (len > SHA256_CBLOCK) {
        if (SHA256(key, len, block) == NULL) {
            return -1;
        }

    } else {
        memcpy(block, key, len);
    }

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }

    rc = SHA256_Init(&k->inner) && SHA256_Update(&k->inner, pad, sizeof(pad));

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    rc = rc && SHA256_Init(&k->outer)
         && SHA256_Update(&k->outer, pad, sizeof(pad));

    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));

    return rc ? 0 : -1;
}


int
ngx_http_mesh_hmac(const ngx_http_mesh_hmac_key_t *k,
    const unsigned char *msg, size_t len, unsigned char *md)
{
    int         rc;
    SHA256_CTX  c;

    c = k->inner;

    rc = SHA256_Update(&c, msg, len) && SHA256_Final(md, &c);

    c = k->outer;

    rc = rc && SHA256_Update(&c, md, SHA256_DIGEST_LENGTH)
         && SHA256_Final(md, &c);

    OPENSSL_cleanse(&c, sizeof(c));

    return rc ? 0 : -1;
}


void
ngx_http_mesh_hmac_key_clear(ngx_http_mesh_hmac_key_t *k)
{
    OPENSSL_cleanse(k, sizeof(ngx_http_mesh_hmac_key_t));
}
