/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) of the agent's own, so
 * that signing a heartbeat does not load libcrypto and fault in its
 * provider code (about 2 MB resident that no other process on a Pi
 * shares).  Checked against the NIST and RFC 4231 vectors and against
 * OpenSSL on random inputs in test/test_sha256.c.
 */

#ifndef ECHO_AGENT_SHA256_H
#define ECHO_AGENT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN    32
#define SHA256_BLOCK  64


typedef struct {
    uint32_t  h[8];
    uint64_t  bytes;
    size_t    fill;
    uint8_t   block[SHA256_BLOCK];
} sha256_t;


void sha256_init(sha256_t *c);
void sha256_update(sha256_t *c, const void *p, size_t n);
/* the digest; the state is wiped */
void sha256_final(sha256_t *c, uint8_t out[SHA256_LEN]);
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 of msg with key (any length, a longer key than a block is
   hashed first, as RFC 2104 says) */
void hmac_sha256(const void *key, size_t key_len, const void *msg,
    size_t len, uint8_t out[SHA256_LEN]);

/* 0 when the n bytes are equal; the time does not depend on where they
   differ */
int sha256_memcmp(const void *a, const void *b, size_t n);

#endif /* ECHO_AGENT_SHA256_H */
