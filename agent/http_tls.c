/*
 * The context is made once (pthread_once) and only when an https:// URL
 * is first used, so an agent on plain http never pays for it.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http_tls.h"


static SSL_CTX         *tls_ctx;
static pthread_once_t   tls_once = PTHREAD_ONCE_INIT;


static void tls_ctx_init(void);
static int tls_error(tls_t *t, int rc, short *events, char *err,
    size_t errlen);


static void
tls_ctx_init(void)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return;
    }

    /* the system's CA store (SSL_CERT_FILE / SSL_CERT_DIR override it) */
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        SSL_CTX_free(ctx);
        return;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    tls_ctx = ctx;
}


tls_t *
tls_new(int fd, const char *host, char *err, size_t errlen)
{
    SSL             *ssl;
    unsigned char    addr[16];
    int              ip;

    pthread_once(&tls_once, tls_ctx_init);
    if (tls_ctx == NULL) {
        snprintf(err, errlen, "cannot set up TLS (CA store)");
        return NULL;
    }

    ssl = SSL_new(tls_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ip = inet_pton(AF_INET, host, addr) == 1
         || inet_pton(AF_INET6, host, addr) == 1;

    /* an address is checked against the certificate's IP entries, a
     * name against its DNS ones, and only a name goes out as SNI */
    if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
            SSL_free(ssl);
            snprintf(err, errlen, "cannot verify the address %s", host);
            return NULL;
        }

    } else if (SSL_set_tlsext_host_name(ssl, host) != 1
               || SSL_set1_host(ssl, host) != 1)
    {
        SSL_free(ssl);
        snprintf(err, errlen, "cannot verify the host name %s", host);
        return NULL;
    }

    return ssl;
}


void
tls_free(tls_t *t)
{
    if (t != NULL) {
        SSL_free(t);
    }
}


void
tls_shutdown(void)
{
    SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
}


static int
tls_error(tls_t *t, int rc, short *events, char *err, size_t errlen)
{
    unsigned long  e;
    long           vr;
    char           why[160];

    switch (SSL_get_error(t, rc)) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return 1;
    default:
        break;
    }

    vr = SSL_get_verify_result(t);
    e = ERR_get_error();
    ERR_clear_error();

    if (vr != X509_V_OK) {
        snprintf(err, errlen, "TLS peer not verified: %s",
                 X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        ERR_error_string_n(e, why, sizeof(why));
        snprintf(err, errlen, "TLS: %s", why);
    } else {
        snprintf(err, errlen, "TLS: %s",
                 errno ? strerror(errno) : "connection closed");
    }

    return -1;
}


int
tls_handshake(tls_t *t, short *events, char *err, size_t errlen)
{
    int  rc;

    ERR_clear_error();
    rc = SSL_connect(t);
    if (rc == 1) {
        return 1;
    }

    rc = tls_error(t, rc, events, err, errlen);
    return rc == 1 ? -1 : rc;
}


ssize_t
tls_read(tls_t *t, char *p, size_t n, short *events, char *err,
    size_t errlen)
{
    size_t  got = 0;
    int     rc;

    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(t, p, n, &got) == 1) {
        return (ssize_t) got;
    }

    rc = tls_error(t, 0, events, err, errlen);
    return rc == 1 ? 0 : rc == 0 ? -1 : -2;
}


ssize_t
tls_write(tls_t *t, const char *p, size_t n, short *events, char *err,
    size_t errlen)
{
    size_t  put = 0;
    int     rc;

    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(t, p, n, &put) == 1) {
        return (ssize_t) put;
    }

    rc = tls_error(t, 0, events, err, errlen);
    return rc == 0 ? -1 : -2;
}
