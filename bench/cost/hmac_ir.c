/*
 * Instructions per task-token MAC, by way of computing it: run under
 * callgrind with 1 and with N+1 MACs and divide the difference by N
 * (bench/cost/hmac_ir.sh).  Not a test: it prints nothing but a check
 * byte, so the compiler keeps the work.
 *
 *   hmac_ir <evp_mac|md_copy|sha256> <count>
 *
 * evp_mac: what the module did (an EVP_MAC_CTX keyed once, EVP_MAC_init
 * with no key per MAC); md_copy: two keyed EVP_MD_CTX (inner and outer)
 * copied with EVP_MD_CTX_copy_ex per MAC; sha256: ngx_http_mesh_hmac.c,
 * the keyed SHA256_CTX states copied per MAC.
 */

#include "../../ngx_echo_module/ngx_http_mesh_hmac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>


static const char  secret[] = "test-mesh-secret-0123456789abcdef";
static const char  msg[] =
    "MESH-TASK\nstandin\n19ad8c3e1f2-4242-17\n1764633600";


int
main(int argc, char **argv)
{
    long                      i, n;
    size_t                    mdlen;
    unsigned int              len;
    unsigned char             md[64], block[64], pad[64], check;
    EVP_MAC                  *mac;
    EVP_MAC_CTX              *mctx;
    EVP_MD_CTX               *in, *out, *c;
    OSSL_PARAM                params[2];
    ngx_http_mesh_hmac_key_t  k;

    if (argc != 3) {
        fprintf(stderr, "usage: hmac_ir evp_mac|md_copy|sha256 count\n");
        return 2;
    }

    n = atol(argv[2]);
    check = 0;

    if (strcmp(argv[1], "evp_mac") == 0) {
        mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
        mctx = EVP_MAC_CTX_new(mac);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        EVP_MAC_init(mctx, (const unsigned char *) secret,
                     sizeof(secret) - 1, params);

        for (i = 0; i < n; i++) {
            EVP_MAC_init(mctx, NULL, 0, NULL);
            EVP_MAC_update(mctx, (const unsigned char *) msg,
                           sizeof(msg) - 1);
            EVP_MAC_final(mctx, md, &mdlen, sizeof(md));
            check ^= md[0];
        }

    } else if (strcmp(argv[1], "md_copy") == 0) {
        memset(block, 0, sizeof(block));
        memcpy(block, secret, sizeof(secret) - 1);
        in = EVP_MD_CTX_new();
        out = EVP_MD_CTX_new();
        c = EVP_MD_CTX_new();

        for (i = 0; i < 64; i++) {
            pad[i] = block[i] ^ 0x36;
        }

        EVP_DigestInit_ex(in, EVP_sha256(), NULL);
        EVP_DigestUpdate(in, pad, 64);

        for (i = 0; i < 64; i++) {
            pad[i] = block[i] ^ 0x5c;
        }

        EVP_DigestInit_ex(out, EVP_sha256(), NULL);
        EVP_DigestUpdate(out, pad, 64);

        for (i = 0; i < n; i++) {
            EVP_MD_CTX_copy_ex(c, in);
            EVP_DigestUpdate(c, msg, sizeof(msg) - 1);
            EVP_DigestFinal_ex(c, md, &len);
            EVP_MD_CTX_copy_ex(c, out);
            EVP_DigestUpdate(c, md, 32);
            EVP_DigestFinal_ex(c, md, &len);
            check ^= md[0];
        }

    } else {
        ngx_http_mesh_hmac_key(&k, (const unsigned char *) secret,
                               sizeof(secret) - 1);

        for (i = 0; i < n; i++) {
            ngx_http_mesh_hmac(&k, (const unsigned char *) msg,
                               sizeof(msg) - 1, md);
            check ^= md[0];
        }
    }

    printf("%02x\n", check);

    return 0;
}
