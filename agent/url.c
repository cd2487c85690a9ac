/*
 * A strict parser: the URLs come from the configuration and from the
 * agent's own joins, so anything unusual (user info, a bad port, bytes
 * outside the host characters) is refused rather than guessed at.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"


static int url_host_char(char c);


static int
url_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}


int
url_parse(const char *s, url_t *u)
{
    const char  *p, *h, *end;
    size_t       len;
    unsigned     port;

    memset(u, 0, sizeof(*u));

    if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        p = s + 8;
        u->tls = 1;
    } else {
        return -1;
    }

    if (*p == '[') {
        h = ++p;
        while (*p != ']' && *p != '\0') {
            if (!(*p == ':' || *p == '.' || (*p >= '0' && *p <= '9')
                  || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            {
                return -1;
            }
            p++;
        }
        if (*p != ']') {
            return -1;
        }
        end = p++;
        u->ipv6 = 1;

    } else {
        h = p;
        while (url_host_char(*p)) {
            p++;
        }
        end = p;
    }

    len = (size_t) (end - h);
    if (len == 0 || len > URL_HOST_MAX) {
        return -1;
    }
    memcpy(u->host, h, len);
    u->host[len] = '\0';

    if (*p == ':') {
        port = 0;
        for (p++, len = 0; *p >= '0' && *p <= '9'; p++, len++) {
            port = port * 10 + (unsigned) (*p - '0');
            if (port > 65535) {
                return -1;
            }
        }
        if (len == 0 || port == 0) {
            return -1;
        }
        snprintf(u->port, sizeof(u->port), "%u", port);

    } else {
        snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
    }

    if (*p == '?' || *p == '#') {
        u->query = 1;
        u->path = p;
        return 0;
    }

    if (*p != '/' && *p != '\0') {
        return -1;
    }

    for (u->path = p; *p != '\0'; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            return -1;
        }
        if (*p == '?' || *p == '#') {
            u->query = 1;
        }
    }

    return 0;
}
