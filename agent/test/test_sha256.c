/*
 * sha256.c against the published vectors (FIPS 180-4's examples as NIST
 * gives them, RFC 4231's HMAC-SHA256 test cases) and against OpenSSL's
 * libcrypto on random inputs, whole and fed in random pieces.  Only this
 * test links libcrypto; the agent does not.
 */

#include "unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sha256.h"


#define RANDOM_ROUNDS  4000


static uint32_t  test_state = 0x2545f491;


static void hex(const uint8_t *p, size_t n, char *out);
static uint32_t test_rand(void);
static void fill(uint8_t *p, size_t n);
static void check_digest(const char *msg, size_t len, size_t repeat,
    const char *want);
static void check_hmac(const uint8_t *key, size_t key_len, const char *msg,
    size_t len, const char *want);


static void
hex(const uint8_t *p, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}


/* xorshift32 from a fixed seed: the same inputs on every run */
static uint32_t
test_rand(void)
{
    test_state ^= test_state << 13;
    test_state ^= test_state >> 17;
    test_state ^= test_state << 5;
    return test_state;
}


static void
fill(uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t) test_rand();
    }
}


/* msg repeated repeat times, fed in one update per copy */
static void
check_digest(const char *msg, size_t len, size_t repeat, const char *want)
{
    sha256_t  c;
    uint8_t   md[SHA256_LEN];
    char      got[2 * SHA256_LEN + 1];
    size_t    i;

    sha256_init(&c);
    for (i = 0; i < repeat; i++) {
        sha256_update(&c, msg, len);
    }
    sha256_final(&c, md);
    hex(md, sizeof(md), got);
    CHECK(strcmp(got, want) == 0);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  sha256 of %zu x \"%.20s\": %s\n", repeat, msg,
                got);
    }
}


/* want may be a prefix (RFC 4231 case 5 is truncated to 128 bits) */
static void
check_hmac(const uint8_t *key, size_t key_len, const char *msg, size_t len,
    const char *want)
{
    uint8_t  md[SHA256_LEN];
    char     got[2 * SHA256_LEN + 1];

    hmac_sha256(key, key_len, msg, len, md);
    hex(md, sizeof(md), got);
    CHECK(strncmp(got, want, strlen(want)) == 0);
    if (strncmp(got, want, strlen(want)) != 0) {
        fprintf(stderr, "  hmac with a %zu-byte key: %s\n", key_len, got);
    }
}


int
main(void)
{
    static uint8_t  buf[4 * SHA256_BLOCK + 300], key[200];
    uint8_t         md[SHA256_LEN], ref[SHA256_LEN], k[131], d[50];
    unsigned int    mdlen;
    sha256_t        c;
    size_t          i, n, klen, off, piece;
    int             r, bad_digest = 0, bad_hmac = 0;

    /* FIPS 180-4 / NIST examples: empty, one block, two blocks, the
       896-bit message, a million 'a' */
    check_digest("", 0, 1, "e3b0c44298fc1c149afbf4c8996fb924"
                 "27ae41e4649b934ca495991b7852b855");
    check_digest("abc", 3, 1, "ba7816bf8f01cfea414140de5dae2223"
                 "b00361a396177a9cb410ff61f20015ad");
    check_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 56, 1, "248d6a61d20638b8e5c026930c3e6039"
                 "a33ce45964ff2167f6ecedd419db06c1");
    check_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                 "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                 112, 1, "cf5b16a778af8380036ce59e7b049237"
                 "0b249b11e8f07a51afac45037afee9d1");
    check_digest("a", 1, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
                 "f1809a48a497200e046d39ccc7112cd0");

    /* RFC 4231, test cases 1-7 */
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b"
               "881dc200c9833da726e9376c2e32cff7");
    check_hmac((const uint8_t *) "Jefe", 4, "what do ya want for nothing?",
               28, "5bdcc146bf60754e6a042426089575c7"
               "5a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, 20);
    memset(d, 0xdd, 50);
    check_hmac(k, 20, (const char *) d, 50, "773ea91e36800e46854db8ebd09181a7"
               "2959098b3ef8c122d9635514ced565fe");
    for (i = 0; i < 25; i++) {
        k[i] = (uint8_t) (i + 1);
    }
    memset(d, 0xcd, 50);
    check_hmac(k, 25, (const char *) d, 50, "82558a389a443c0ea4cc819899f2083a"
               "85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0x0c, 20);
    check_hmac(k, 20, "Test With Truncation", 20,
               "a3b6167473100ee06e0c796c2955552b");
    memset(k, 0xaa, 131);
    check_hmac(k, 131, "Test Using Larger Than Block-Size Key - Hash Key "
               "First", 54, "60e431591ee0b67f0d8a26aacbf5b77f"
               "8e0bc6213728c5140546040f0ee37f54");
    check_hmac(k, 131, "This is a test using a larger than block-size key "
               "and a larger than block-size data. The key needs to be "
               "hashed before being used by the HMAC algorithm.", 152,
               "9b09ffa71b942fcb27635fbcd5b0e944"
               "bfdc63644f0713938a7f51535c3a35e2");

    /* against OpenSSL: every length across four blocks and the padding
       boundaries, keys around the block size, pieces of random sizes */
    for (r = 0; r < RANDOM_ROUNDS; r++) {
        n = r < (int) sizeof(buf) ? (size_t) r : test_rand() % sizeof(buf);
        klen = test_rand() % sizeof(key);
        fill(buf, n);
        fill(key, klen);

        sha256_init(&c);
        for (off = 0; off < n; off += piece) {
            piece = 1 + test_rand() % (2 * SHA256_BLOCK);
            piece = piece > n - off ? n - off : piece;
            sha256_update(&c, buf + off, piece);
        }
        sha256_final(&c, md);
        mdlen = 0;
        if (EVP_Digest(buf, n, ref, &mdlen, EVP_sha256(), NULL) != 1
            || mdlen != SHA256_LEN || memcmp(md, ref, SHA256_LEN) != 0)
        {
            bad_digest++;
        }

        hmac_sha256(key, klen, buf, n, md);
        if (HMAC(EVP_sha256(), key, (int) klen, buf, n, ref, &mdlen) == NULL
            || mdlen != SHA256_LEN || memcmp(md, ref, SHA256_LEN) != 0)
        {
            bad_hmac++;
        }
    }

    CHECK_INT(bad_digest, 0);
    CHECK_INT(bad_hmac, 0);

    /* an empty key and an empty message, as OpenSSL takes them */
    hmac_sha256(NULL, 0, NULL, 0, md);
    CHECK(HMAC(EVP_sha256(), "", 0, (const unsigned char *) "", 0, ref,
               &mdlen) != NULL && memcmp(md, ref, SHA256_LEN) == 0);

    CHECK(sha256_memcmp("abcd", "abcd", 4) == 0);
    CHECK(sha256_memcmp("abcd", "abce", 4) != 0);
    CHECK(sha256_memcmp("xbcd", "abcd", 4) != 0);
    CHECK(sha256_memcmp("", "", 0) == 0);

    return UNIT_DONE();
}
