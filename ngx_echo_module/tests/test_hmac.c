
/*
 * Unit tests of ngx_http_mesh_hmac.c, the task token's HMAC-SHA256 from
 * prepared key states: RFC 4231's test cases, then every key length
 * around one and two SHA-256 blocks against every message length around
 * them, each compared with OpenSSL's own one-shot HMAC(), and one key
 * state used for many messages in a row (each MAC must start afresh).
 */


#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../ngx_http_mesh_hmac.h"


typedef struct {
    const char  *name;
    const char  *key;        /* hex */
    const char  *data;       /* hex */
    const char  *mac;        /* hex, HMAC-SHA-256 */
} test_case_t;


static int  failures;


/* RFC 4231, section 4 (case 5, a truncated MAC, compares its prefix) */
static const test_case_t  rfc4231[] = {

    { "RFC 4231 case 1",
      "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      "4869205468657265",
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },

    { "RFC 4231 case 2",
      "4a656665",
      "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },

    { "RFC 4231 case 3",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "dddddddddddddddddddddddddddddddddddddddddddddddddd"
      "dddddddddddddddddddddddddddddddddddddddddddddddddd",
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },

    { "RFC 4231 case 4",
      "0102030405060708090a0b0c0d0e0f10111213141516171819",
      "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
      "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },

    { "RFC 4231 case 5 (truncated to 128 bits)",
      "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
      "546573742057697468205472756e636174696f6e",
      "a3b6167473100ee06e0c796c2955552b" },

    { "RFC 4231 case 6 (a 131-byte key)",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
      "65204b6579202d2048617368204b6579204669727374",
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },

    { "RFC 4231 case 7 (a 131-byte key, a long message)",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "5468697320697320612074657374207573696e672061206c6172676572207468"
      "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
      "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
      "647320746f20626520686173686564206265666f7265206265696e6720757365"
      "642062792074686520484d414320616c676f726974686d2e",
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};


static size_t
unhex(const char *hex, unsigned char *out)
{
    size_t        n;
    unsigned int  v;

    for (n = 0; hex[2 * n] != '\0'; n++) {
        if (sscanf(hex + 2 * n, "%2x", &v) != 1) {
            break;
        }

        out[n] = (unsigned char) v;
    }

    return n;
}


static void
check(const char *name, int ok)
{
    if (!ok) {
        printf("not ok: %s\n", name);
        failures++;
    }
}


/* ours against OpenSSL's HMAC() for one key and one message */
static void
against_openssl(const char *name, const unsigned char *key, size_t klen,
    const ngx_http_mesh_hmac_key_t *k, const unsigned char *msg,
    size_t len)
{
    unsigned int   rlen;
    unsigned char  md[NGX_HTTP_MESH_HMAC_LEN], ref[EVP_MAX_MD_SIZE];

    if (ngx_http_mesh_hmac(k, msg, len, md) != 0
        || HMAC(EVP_sha256(), key, (int) klen, msg, len, ref, &rlen) == NULL
        || rlen != NGX_HTTP_MESH_HMAC_LEN
        || memcmp(md, ref, NGX_HTTP_MESH_HMAC_LEN) != 0)
    {
        printf("not ok: %s: key of %zu bytes, message of %zu bytes\n",
               name, klen, len);
        failures++;
    }
}


int
main(void)
{
    size_t                    i, n, klen, len, dlen, mlen, ncases;
    unsigned char             key[200], data[300], mac[64];
    unsigned char             md[NGX_HTTP_MESH_HMAC_LEN];
    ngx_http_mesh_hmac_key_t  k;

    static const size_t  lens[] = { 0, 1, 31, 32, 54, 55, 56, 57, 63, 64,
                                    65, 118, 119, 120, 121, 127, 128, 129,
                                    183, 184, 255, 256, 300 };

    n = 0;
    ncases = sizeof(rfc4231) / sizeof(rfc4231[0]);

    for (i = 0; i < ncases; i++) {
        klen = unhex(rfc4231[i].key, key);
        dlen = unhex(rfc4231[i].data, data);
        mlen = unhex(rfc4231[i].mac, mac);

        check(rfc4231[i].name,
              ngx_http_mesh_hmac_key(&k, key, klen) == 0
              && ngx_http_mesh_hmac(&k, data, dlen, md) == 0
              && memcmp(md, mac, mlen) == 0);

        /* the same key state again: nothing of the first MAC stays */
        check(rfc4231[i].name,
              ngx_http_mesh_hmac(&k, data, dlen, md) == 0
              && memcmp(md, mac, mlen) == 0);
    }

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) (i * 7 + 1);
    }

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char) (i * 13 + 5);
    }

    /*
     * Keys of 0-200 bytes (a block is 64) and messages around where
     * SHA-256's padding takes one more block (55/56 bytes in a block);
     * then every message of 0-300 bytes under a short and a long key.
     */

    for (klen = 0; klen <= sizeof(key); klen++) {
        if (ngx_http_mesh_hmac_key(&k, key, klen) != 0) {
            check("key set-up", 0);
            continue;
        }

        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            against_openssl("against HMAC()", key, klen, &k, data, lens[i]);
            n++;
        }

        if (klen != 34 && klen != 131) {
            continue;
        }

        for (len = 0; len <= sizeof(data); len++) {
            against_openssl("against HMAC()", key, klen, &k, data, len);
            n++;
        }
    }

    /* a task token's message, as ngx_http_mesh_sign_task_sig() makes it */
    len = (size_t) snprintf((char *) data, sizeof(data),
                            "MESH-TASK\n%s\n%s\n%ld", "node-a",
                            "19c1f2a3b4d-1234-1", 1764633600L);

    klen = 34;
    memcpy(key, "test-mesh-secret-0123456789abcdef", klen);

    if (ngx_http_mesh_hmac_key(&k, key, klen) != 0) {
        check("task token key", 0);

    } else {
        against_openssl("a task token", key, klen, &k, data, len);
        n++;
    }

    ngx_http_mesh_hmac_key_clear(&k);

    if (failures) {
        printf("test_hmac: %d failed\n", failures);
        return 1;
    }

    printf("test_hmac: %zu RFC 4231 cases and %zu MACs against HMAC() "
           "passed\n", ncases, n);

    return 0;
}
