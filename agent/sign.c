/*
 * HMAC-SHA256 signatures (sha256.c, not libcrypto: an agent on plain
 * http maps no OpenSSL at all); see sign.h.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sha256.h"
#include "sign.h"


/* 4096 buckets: the first three hex digits of a (valid) signature */
#define SIGN_SEEN_BUCKETS  4096

#if SIGN_SEEN_MAX > 65535
#error "sign_seen_t.next holds a ring index + 1 in 16 bits"
#endif


/* next: the ring index + 1 of the next token in the same bucket, 0: none */
typedef struct {
    char      sig[SIGN_HEX];
    time_t    ts;
    uint16_t  next;
} sign_seen_t;


static void sign_hex(const unsigned char *p, size_t n, char *out);
static unsigned sign_bucket(const char *sig);
static int sign_seen(const char *sig, time_t ts, time_t now);


static pthread_mutex_t  sign_lock = PTHREAD_MUTEX_INITIALIZER;
static sign_seen_t      sign_ring[SIGN_SEEN_MAX];
static uint16_t         sign_head[SIGN_SEEN_BUCKETS];
static size_t           sign_next;


static void
sign_hex(const unsigned char *p, size_t n, char *out)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}


int
sign_hmac_hex(const char *secret, size_t secret_len, const char *msg,
    size_t len, char *hex)
{
    unsigned char  md[SHA256_LEN];

    hmac_sha256(secret, secret_len, msg, len, md);
    sign_hex(md, sizeof(md), hex);
    explicit_bzero(md, sizeof(md));
    return 0;
}


const char *
sign_url_path(const char *url)
{
    const char  *p = NULL;

    p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    p = strchr(p, '/');
    return p != NULL ? p : "/";
}


int
sign_node_header(const char *secret, size_t secret_len, const char *method,
    const char *path, const char *body, size_t body_len, time_t now,
    char *out, size_t outlen)
{
    unsigned char  md[SHA256_LEN], raw[16];
    char           digest[2 * SHA256_LEN + 1], nonce[33];
    char           msg[SIGN_HEADER_MAX + 2048], sig[SIGN_HEX + 1];
    int            n;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw)) {
        return -1;
    }

    sha256(body, body != NULL ? body_len : 0, md);
    sign_hex(raw, sizeof(raw), nonce);
    sign_hex(md, sizeof(md), digest);

    n = snprintf(msg, sizeof(msg), SIGN_NODE_SCHEME "\n%s\n%s\n%lld\n%s\n%s",
                 method, path, (long long) now, nonce, digest);
    if (n < 0 || (size_t) n >= sizeof(msg)
        || sign_hmac_hex(secret, secret_len, msg, (size_t) n, sig) != 0)
    {
        return -1;
    }

    n = snprintf(out, outlen, "Authorization: " SIGN_NODE_SCHEME
                 " %lld:%s:%s", (long long) now, nonce, sig);
    return n < 0 || (size_t) n >= outlen ? -1 : 0;
}


int
sign_reply_hex(const char *secret, size_t secret_len, const char *auth,
    long status, const char *body, size_t body_len, char *hex)
{
    unsigned char  md[SHA256_LEN];
    char           digest[2 * SHA256_LEN + 1];
    char           msg[sizeof(SIGN_REPLY_SCHEME) + SIGN_HEX + 64
                       + 2 * SHA256_LEN];
    size_t         len;
    int            n;

    /* the request's signature ends its Authorization line */
    len = auth != NULL ? strlen(auth) : 0;
    if (secret_len == 0 || len < SIGN_HEX) {
        return -1;
    }

    sha256(body, body != NULL ? body_len : 0, md);
    sign_hex(md, sizeof(md), digest);

    n = snprintf(msg, sizeof(msg), SIGN_REPLY_SCHEME "\n%s\n%ld\n%s",
                 auth + len - SIGN_HEX, status, digest);
    if (n < 0 || (size_t) n >= sizeof(msg)) {
        return -1;
    }

    return sign_hmac_hex(secret, secret_len, msg, (size_t) n, hex);
}


int
sign_reply_ok(const char *secret, size_t secret_len, const char *auth,
    long status, const char *body, size_t body_len, const char *sig)
{
    char  expect[SIGN_HEX + 1];

    if (sig == NULL || strlen(sig) != SIGN_HEX
        || sign_reply_hex(secret, secret_len, auth, status, body, body_len,
                          expect) != 0)
    {
        return -1;
    }

    return sha256_memcmp(expect, sig, SIGN_HEX) == 0 ? 0 : -1;
}


/* sig: lowercase hex, already checked against the HMAC it must equal */
static unsigned
sign_bucket(const char *sig)
{
    unsigned  h = 0;
    int       i;

    for (i = 0; i < 3; i++) {
        h = (h << 4) | (unsigned) (sig[i] <= '9' ? sig[i] - '0'
                                                 : sig[i] - 'a' + 10);
    }

    return h % SIGN_SEEN_BUCKETS;
}


/*
 * 1 if this signature was accepted before; remembers it otherwise.  The
 * ring keeps the last SIGN_SEEN_MAX tokens, oldest out first; a bucket
 * chain per signature prefix finds one without a scan of the ring (a
 * scan was ~27,000 instructions per task, before the first token).
 */
static int
sign_seen(const char *sig, time_t ts, time_t now)
{
    sign_seen_t  *e = NULL;
    uint16_t     *link = NULL;
    unsigned      b, k;
    int           seen = 0;

    b = sign_bucket(sig);

    pthread_mutex_lock(&sign_lock);

    for (k = sign_head[b]; k != 0; k = e->next) {
        e = &sign_ring[k - 1];
        if (now - e->ts <= 2 * SIGN_WINDOW_S
            && memcmp(e->sig, sig, SIGN_HEX) == 0)
        {
            seen = 1;
            break;
        }
    }

    if (!seen) {
        e = &sign_ring[sign_next];

        if (e->ts != 0) {
            link = &sign_head[sign_bucket(e->sig)];
            while (*link != 0 && *link != sign_next + 1) {
                link = &sign_ring[*link - 1].next;
            }
            if (*link != 0) {
                *link = e->next;
            }
        }

        memcpy(e->sig, sig, SIGN_HEX);
        e->ts = ts;
        e->next = sign_head[b];
        sign_head[b] = (uint16_t) (sign_next + 1);
        sign_next = (sign_next + 1) % SIGN_SEEN_MAX;
    }

    pthread_mutex_unlock(&sign_lock);
    return seen;
}


int
sign_task_ok(const char *header, const char *secret, size_t secret_len,
    const char *node_id, time_t now, const char **why)
{
    const char  *p = NULL, *task = NULL, *sig = NULL;
    char         msg[512], expect[SIGN_HEX + 1], *end = NULL;
    long long    ts;
    size_t       task_len, i;
    int          n;

    *why = "missing or wrong mesh credential";

    if (header == NULL || secret_len == 0
        || strncmp(header, SIGN_TASK_SCHEME " ",
                   sizeof(SIGN_TASK_SCHEME)) != 0)
    {
        return -1;
    }

    p = header + sizeof(SIGN_TASK_SCHEME);
    if (*p < '0' || *p > '9') {
        return -1;
    }

    ts = strtoll(p, &end, 10);
    if (end == NULL || *end != ':' || end - p > 20) {
        return -1;
    }

    task = end + 1;
    sig = strchr(task, ':');
    if (sig == NULL) {
        return -1;
    }

    task_len = (size_t) (sig - task);
    sig++;

    if (task_len == 0 || task_len > 64 || strlen(sig) != SIGN_HEX) {
        return -1;
    }

    for (i = 0; i < task_len; i++) {
        char  ch = task[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
              || (ch >= 'A' && ch <= 'Z') || ch == '-'))
        {
            return -1;
        }
    }

    if (ts < (long long) now - SIGN_WINDOW_S
        || ts > (long long) now + SIGN_WINDOW_S)
    {
        *why = "the task credential is outside the time window";
        return -1;
    }

    n = snprintf(msg, sizeof(msg), SIGN_TASK_SCHEME "\n%s\n%.*s\n%lld",
                 node_id, (int) task_len, task, ts);
    if (n < 0 || (size_t) n >= sizeof(msg)
        || sign_hmac_hex(secret, secret_len, msg, (size_t) n, expect) != 0)
    {
        return -1;
    }

    if (sha256_memcmp(expect, sig, SIGN_HEX) != 0) {
        return -1;
    }

    if (sign_seen(sig, (time_t) ts, now)) {
        *why = "a replayed task credential";
        return -1;
    }

    return 0;
}
