/*
 * SHA-256 as FIPS 180-4 section 6.2 describes it (the message schedule
 * and the 64 rounds, big-endian words, the length padding of 5.1.1), and
 * HMAC over it as RFC 2104 section 2 does.  Bodies the agent digests are
 * small (a heartbeat, a reply), so this is written plainly.
 */

#include <string.h>

#include "sha256.h"


#define ROTR(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))


static void sha256_block(sha256_t *c, const uint8_t *p);
static void sha256_wipe(void *p, size_t n);


/* the first 32 bits of the fractional parts of the cube roots of the
   first 64 primes (FIPS 180-4, 4.2.2) */
static const uint32_t  sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
    0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


/* the square roots of the first 8 primes (FIPS 180-4, 5.3.3) */
static const uint32_t  sha256_h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};


static void
sha256_block(sha256_t *c, const uint8_t *p)
{
    uint32_t  w[64], a, b, cc, d, e, f, g, h, t1;
    int       i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        w[i] = (ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10))
               + w[i - 7]
               + (ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18)
                  ^ (w[i - 15] >> 3))
               + w[i - 16];
    }

    a = c->h[0];
    b = c->h[1];
    cc = c->h[2];
    d = c->h[3];
    e = c->h[4];
    f = c->h[5];
    g = c->h[6];
    h = c->h[7];

    /* one round of 6.2.2 step 3; instead of moving the eight working
     * variables down by one after each round, the next round names
     * them shifted, so eight rounds bring them back in place */
#define SHA256_ROUND(a, b, c, d, e, f, g, h, i)                              \
    t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25))                        \
         + (g ^ (e & (f ^ g))) + sha256_k[i] + w[i];                         \
    d += t1;                                                                 \
    h = t1 + (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22))                        \
        + ((a & b) | (c & (a | b)))

    for (i = 0; i < 64; i += 8) {
        SHA256_ROUND(a, b, cc, d, e, f, g, h, i);
        SHA256_ROUND(h, a, b, cc, d, e, f, g, i + 1);
        SHA256_ROUND(g, h, a, b, cc, d, e, f, i + 2);
        SHA256_ROUND(f, g, h, a, b, cc, d, e, i + 3);
        SHA256_ROUND(e, f, g, h, a, b, cc, d, i + 4);
        SHA256_ROUND(d, e, f, g, h, a, b, cc, i + 5);
        SHA256_ROUND(cc, d, e, f, g, h, a, b, i + 6);
        SHA256_ROUND(b, cc, d, e, f, g, h, a, i + 7);
    }

#undef SHA256_ROUND

    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;

    sha256_wipe(w, sizeof(w));
}


/* a memset the compiler may not drop (secrets pass through here) */
static void
sha256_wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}


void
sha256_init(sha256_t *c)
{
    memcpy(c->h, sha256_h0, sizeof(c->h));
    c->bytes = 0;
    c->fill = 0;
}


void
sha256_update(sha256_t *c, const void *p, size_t n)
{
    const uint8_t  *in = p;
    size_t          take;

    if (n == 0) {
        return;
    }

    c->bytes += n;

    if (c->fill > 0) {
        take = SHA256_BLOCK - c->fill < n ? SHA256_BLOCK - c->fill : n;
        memcpy(c->block + c->fill, in, take);
        c->fill += take;
        in += take;
        n -= take;

        if (c->fill < SHA256_BLOCK) {
            return;
        }

        sha256_block(c, c->block);
        c->fill = 0;
    }

    while (n >= SHA256_BLOCK) {
        sha256_block(c, in);
        in += SHA256_BLOCK;
        n -= SHA256_BLOCK;
    }

    memcpy(c->block, in, n);
    c->fill = n;
}


void
sha256_final(sha256_t *c, uint8_t out[SHA256_LEN])
{
    uint64_t  bits;
    int       i;

    bits = c->bytes * 8;

    /* a 1 bit, zeros up to 56 bytes into a block, the length in bits */
    c->block[c->fill++] = 0x80;
    if (c->fill > SHA256_BLOCK - 8) {
        memset(c->block + c->fill, 0, SHA256_BLOCK - c->fill);
        sha256_block(c, c->block);
        c->fill = 0;
    }

    memset(c->block + c->fill, 0, SHA256_BLOCK - 8 - c->fill);
    for (i = 0; i < 8; i++) {
        c->block[SHA256_BLOCK - 1 - i] = (uint8_t) (bits >> (8 * i));
    }
    sha256_block(c, c->block);

    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t) (c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t) (c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t) (c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t) c->h[i];
    }

    sha256_wipe(c, sizeof(*c));
}


void
sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
    sha256_t  c;

    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_final(&c, out);
}


void
hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
    uint8_t out[SHA256_LEN])
{
    sha256_t  c;
    uint8_t   k[SHA256_BLOCK], pad[SHA256_BLOCK], inner[SHA256_LEN];
    size_t    i;

    memset(k, 0, sizeof(k));
    if (key_len > SHA256_BLOCK) {
        sha256(key, key_len, k);

    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    sha256_init(&c);
    sha256_update(&c, pad, sizeof(pad));
    sha256_update(&c, msg, len);
    sha256_final(&c, inner);

    for (i = 0; i < SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    sha256_init(&c);
    sha256_update(&c, pad, sizeof(pad));
    sha256_update(&c, inner, sizeof(inner));
    sha256_final(&c, out);

    sha256_wipe(k, sizeof(k));
    sha256_wipe(pad, sizeof(pad));
    sha256_wipe(inner, sizeof(inner));
}


int
sha256_memcmp(const void *a, const void *b, size_t n)
{
    const volatile uint8_t  *x = a, *y = b;
    uint8_t                  diff = 0;
    size_t                   i;

    for (i = 0; i < n; i++) {
        diff |= x[i] ^ y[i];
    }

    return diff != 0;
}
