/*
 * https:// for the agent's HTTP client: one OpenSSL context for the
 * process, made on first use, that verifies the peer against the system's
 * CA store and the certificate against the host name (or IP address) of
 * the URL, as libcurl did by default.
 */

#ifndef ECHO_AGENT_HTTP_TLS_H
#define ECHO_AGENT_HTTP_TLS_H

#include <stddef.h>
#include <sys/types.h>


typedef struct ssl_st  tls_t;


/* loads libssl and makes the context, once for the process (the first
   https:// URL does it); 0, or -1 with the reason in err */
int tls_init(char *err, size_t errlen);
/* a client session on a connected socket; NULL with a message in err */
tls_t *tls_new(int fd, const char *host, char *err, size_t errlen);
void tls_free(tls_t *t);
/* at exit, once no thread uses TLS any more */
void tls_shutdown(void);

/* 1 done, 0 wait for *events (POLLIN/POLLOUT), -1 error (err set) */
int tls_handshake(tls_t *t, short *events, char *err, size_t errlen);

/* > 0 bytes, 0 end of stream, -1 wait for *events, -2 error */
ssize_t tls_read(tls_t *t, char *p, size_t n, short *events, char *err,
    size_t errlen);
ssize_t tls_write(tls_t *t, const char *p, size_t n, short *events,
    char *err, size_t errlen);


#endif /* ECHO_AGENT_HTTP_TLS_H */
