/*
 * What of OpenSSL costs an agent memory (issue 13, section 5): a program
 * linked like the agent was (libmicrohttpd, yajl, libssl, libcrypto,
 * avahi) that makes one of the agent's OpenSSL calls, prints a line and
 * sleeps; openssl_probe.sh reads its smaps.  -DDO_DIGEST: EVP_Digest
 * (a body's SHA-256), -DDO_HMAC: HMAC(EVP_sha256()) (a signature),
 * -DDO_CTX: an SSL_CTX made and freed (what the first https:// URL does);
 * none: the libraries only loaded; -DNO_OPENSSL: linked without them.
 * Not a test.
 */

#include <stdio.h>
#include <unistd.h>

#ifndef NO_OPENSSL
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#endif


int
main(void)
{
#ifdef DO_DIGEST
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   n;

    if (EVP_Digest("m", 1, md, &n, EVP_sha256(), NULL) != 1) {
        return 1;
    }
#endif
#ifdef DO_HMAC
    unsigned char  mac[EVP_MAX_MD_SIZE];
    unsigned int   len;

    if (HMAC(EVP_sha256(), "k", 1, (const unsigned char *) "m", 1, mac,
             &len) == NULL)
    {
        return 1;
    }
#endif
#ifdef DO_CTX
    SSL_CTX_free(SSL_CTX_new(TLS_client_method()));
#endif

    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
