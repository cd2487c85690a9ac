/*
 * The context is made once (pthread_once) and only when an https:// URL
 * is first used, so an agent on plain http never pays for it.  libssl
 * itself is loaded then too (dlopen): an agent linked against it maps
 * libssl and libcrypto at start, 1.7 MB resident of which ~460 KiB are
 * relocated data of its own, for a scheme it rarely uses (Ollama is
 * normally http://127.0.0.1:11434).  The OpenSSL headers still give the
 * types and constants; every function comes through tls_api.
 */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http_tls.h"


/* the soname of Debian 12's OpenSSL 3, package libssl3 */
#define TLS_LIBSSL   "libssl.so.3"
#define TLS_PACKAGE  "libssl3"

/* every function used: libssl's, then libcrypto's (found through
   libssl's handle: libcrypto is its dependency) */
#define TLS_API(X)                                                           \
    X(TLS_client_method)                                                     \
    X(SSL_CTX_new)                                                           \
    X(SSL_CTX_free)                                                          \
    X(SSL_CTX_ctrl)                                                          \
    X(SSL_CTX_set_default_verify_paths)                                      \
    X(SSL_CTX_set_verify)                                                    \
    X(SSL_new)                                                               \
    X(SSL_free)                                                              \
    X(SSL_set_fd)                                                            \
    X(SSL_ctrl)                                                              \
    X(SSL_set1_host)                                                         \
    X(SSL_get0_param)                                                        \
    X(SSL_connect)                                                           \
    X(SSL_read_ex)                                                           \
    X(SSL_write_ex)                                                          \
    X(SSL_get_error)                                                         \
    X(SSL_get_verify_result)                                                 \
    X(X509_VERIFY_PARAM_set1_ip_asc)                                         \
    X(X509_verify_cert_error_string)                                         \
    X(ERR_get_error)                                                         \
    X(ERR_clear_error)                                                       \
    X(ERR_error_string_n)

#define TLS_FN(name)  __typeof__(name)  *name;

typedef struct {
    TLS_API(TLS_FN)
} tls_api_t;


static SSL_CTX         *tls_ctx;
static pthread_once_t   tls_once = PTHREAD_ONCE_INIT;
static tls_api_t        tls_api;
/* why there is no context, for every tls_new that asks */
static char             tls_why[192];


static int tls_load(void);
static void tls_ctx_init(void);
static int tls_error(tls_t *t, int rc, short *events, char *err,
    size_t errlen);


static int
tls_load(void)
{
    void  *h;

    h = dlopen(TLS_LIBSSL, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(tls_why, sizeof(tls_why),
                 "https needs " TLS_LIBSSL " (install the " TLS_PACKAGE
                 " package): %.100s", dlerror());
        return -1;
    }

#define TLS_SYM(name)                                                        \
    if ((*(void **) &tls_api.name = dlsym(h, #name)) == NULL) {              \
        snprintf(tls_why, sizeof(tls_why), TLS_LIBSSL " has no %s "          \
                 "(OpenSSL 3 is needed, package " TLS_PACKAGE ")", #name);   \
        dlclose(h);                                                          \
        return -1;                                                           \
    }

    TLS_API(TLS_SYM)

#undef TLS_SYM

    /* the handle stays open: libcrypto cannot be unloaded anyway */
    return 0;
}


static void
tls_ctx_init(void)
{
    SSL_CTX  *ctx;

    if (tls_load() != 0) {
        return;
    }

    snprintf(tls_why, sizeof(tls_why), "cannot set up TLS (CA store)");

    ctx = tls_api.SSL_CTX_new(tls_api.TLS_client_method());
    if (ctx == NULL) {
        return;
    }

    /* the system's CA store (SSL_CERT_FILE / SSL_CERT_DIR override it) */
    if (tls_api.SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_api.SSL_CTX_free(ctx);
        return;
    }

    tls_api.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* SSL_CTX_set_min_proto_version and SSL_CTX_set_mode are macros */
    tls_api.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION,
                         NULL);
    tls_api.SSL_CTX_ctrl(ctx, SSL_CTRL_MODE,
                         SSL_MODE_ENABLE_PARTIAL_WRITE
                         | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
    tls_ctx = ctx;
}


int
tls_init(char *err, size_t errlen)
{
    pthread_once(&tls_once, tls_ctx_init);
    if (tls_ctx == NULL) {
        snprintf(err, errlen, "%s", tls_why);
        return -1;
    }

    return 0;
}


tls_t *
tls_new(int fd, const char *host, char *err, size_t errlen)
{
    SSL             *ssl;
    unsigned char    addr[16];
    int              ip;

    if (tls_init(err, errlen) != 0) {
        return NULL;
    }

    ssl = tls_api.SSL_new(tls_ctx);
    if (ssl == NULL || tls_api.SSL_set_fd(ssl, fd) != 1) {
        tls_api.SSL_free(ssl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ip = inet_pton(AF_INET, host, addr) == 1
         || inet_pton(AF_INET6, host, addr) == 1;

    /* an address is checked against the certificate's IP entries, a
     * name against its DNS ones, and only a name goes out as SNI */
    if (ip) {
        if (tls_api.X509_VERIFY_PARAM_set1_ip_asc(
                tls_api.SSL_get0_param(ssl), host) != 1)
        {
            tls_api.SSL_free(ssl);
            snprintf(err, errlen, "cannot verify the address %s", host);
            return NULL;
        }

    } else if (tls_api.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
                                TLSEXT_NAMETYPE_host_name, (void *) host)
               != 1
               || tls_api.SSL_set1_host(ssl, host) != 1)
    {
        tls_api.SSL_free(ssl);
        snprintf(err, errlen, "cannot verify the host name %s", host);
        return NULL;
    }

    return ssl;
}


void
tls_free(tls_t *t)
{
    if (t != NULL) {
        tls_api.SSL_free(t);
    }
}


void
tls_shutdown(void)
{
    /* never loaded when no https URL was used */
    if (tls_ctx != NULL) {
        tls_api.SSL_CTX_free(tls_ctx);
        tls_ctx = NULL;
    }
}


static int
tls_error(tls_t *t, int rc, short *events, char *err, size_t errlen)
{
    unsigned long  e;
    long           vr;
    char           why[160];

    switch (tls_api.SSL_get_error(t, rc)) {
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

    vr = tls_api.SSL_get_verify_result(t);
    e = tls_api.ERR_get_error();
    tls_api.ERR_clear_error();

    if (vr != X509_V_OK) {
        snprintf(err, errlen, "TLS peer not verified: %s",
                 tls_api.X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        tls_api.ERR_error_string_n(e, why, sizeof(why));
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

    tls_api.ERR_clear_error();
    rc = tls_api.SSL_connect(t);
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

    tls_api.ERR_clear_error();
    errno = 0;
    if (tls_api.SSL_read_ex(t, p, n, &got) == 1) {
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

    tls_api.ERR_clear_error();
    errno = 0;
    if (tls_api.SSL_write_ex(t, p, n, &put) == 1) {
        return (ssize_t) put;
    }

    rc = tls_error(t, 0, events, err, errlen);
    return rc == 0 ? -1 : -2;
}
