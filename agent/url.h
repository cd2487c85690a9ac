/*
 * The agent's URLs: http:// or https://, a host (a name, an IPv4
 * address or a bracketed IPv6 one), an optional port and a path.
 */

#ifndef ECHO_AGENT_URL_H
#define ECHO_AGENT_URL_H

#include <stddef.h>


#define URL_HOST_MAX  255


typedef struct {
    int          tls;                   /* https:// */
    int          ipv6;                  /* the host was [bracketed] */
    char         host[URL_HOST_MAX + 1];    /* without the brackets */
    char         port[6];               /* the default one when none */
    const char  *path;                  /* into the parsed string: "/..."
                                           or "" */
    int          query;                 /* a '?' or '#' follows the host */
} url_t;


int url_parse(const char *s, url_t *u);


#endif /* ECHO_AGENT_URL_H */
