/*
 * Values are checked strictly at start and on reload, so a typo stops the
 * agent with one line instead of surfacing later as odd behaviour.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


#include "conf_value.h"
#include "url.h"


#define CV_SECRET_MIN   16
#define CV_SECRET_FILE  4096


typedef struct {
    const char          *suffix;
    unsigned long long   scale;
} cv_unit_t;


static int cv_number(const char *v, unsigned long long *n,
    const char **rest);
static int cv_scaled(const char *v, const cv_unit_t *units,
    unsigned long long min, unsigned long long max,
    unsigned long long *out);


/* a bare number of seconds, as in "heartbeat_interval = 3" */
static const cv_unit_t  cv_time_units[] = {
    { "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 }, { NULL, 0 }
};

static const cv_unit_t  cv_size_units[] = {
    { "", 1 }, { "k", 1024 }, { "m", 1024 * 1024 },
    { "g", 1024 * 1024 * 1024 }, { NULL, 0 }
};


static int
cv_number(const char *v, unsigned long long *n, const char **rest)
{
    char  *end = NULL;

    if (!isdigit((unsigned char) v[0])) {
        return -1;
    }

    errno = 0;
    *n = strtoull(v, &end, 10);
    if (errno != 0) {
        return -1;
    }

    *rest = end;
    return 0;
}


int
cv_uint(const char *v, unsigned min, unsigned max, unsigned *out, char *err,
    size_t errlen)
{
    unsigned long long   n;
    const char          *rest;

    if (cv_number(v, &n, &rest) != 0 || *rest != '\0') {
        snprintf(err, errlen, "invalid number \"%s\"", v);
        return -1;
    }

    if (n < min || n > max) {
        snprintf(err, errlen, "%s is out of range %u..%u", v, min, max);
        return -1;
    }

    *out = (unsigned) n;
    return 0;
}


/* a number with a unit suffix: 0, -1 unreadable, -2 out of range */
static int
cv_scaled(const char *v, const cv_unit_t *units, unsigned long long min,
    unsigned long long max, unsigned long long *out)
{
    unsigned long long   n;
    const char          *rest;

    if (cv_number(v, &n, &rest) != 0) {
        return -1;
    }

    for ( /* void */ ; units->suffix != NULL; units++) {
        if (strcasecmp(rest, units->suffix) == 0) {
            break;
        }
    }

    if (units->suffix == NULL) {
        return -1;
    }

    if (n > max || n * units->scale < min || n * units->scale > max) {
        return -2;
    }

    *out = n * units->scale;
    return 0;
}


int
cv_duration_ms(const char *v, unsigned min_ms, unsigned max_ms,
    unsigned *out, char *err, size_t errlen)
{
    unsigned long long  ms;

    switch (cv_scaled(v, cv_time_units, min_ms, max_ms, &ms)) {
    case 0:
        *out = (unsigned) ms;
        return 0;
    case -2:
        snprintf(err, errlen, "%s is out of range %ums..%ums", v, min_ms,
                 max_ms);
        return -1;
    default:
        snprintf(err, errlen, "invalid duration \"%s\" (e.g. 300ms, 3s, "
                 "1m)", v);
        return -1;
    }
}


int
cv_size(const char *v, size_t min, size_t max, size_t *out, char *err,
    size_t errlen)
{
    unsigned long long  bytes;

    switch (cv_scaled(v, cv_size_units, min, max, &bytes)) {
    case 0:
        *out = (size_t) bytes;
        return 0;
    case -2:
        snprintf(err, errlen, "%s is out of range %zu..%zu bytes", v, min,
                 max);
        return -1;
    default:
        snprintf(err, errlen, "invalid size \"%s\" (e.g. 65536, 512k, "
                 "16m)", v);
        return -1;
    }
}


int
cv_url(const char *v, char *out, size_t size, char *err, size_t errlen)
{
    url_t   u;
    size_t  len;

    len = strlen(v);
    if (len == 0 || len >= size) {
        snprintf(err, errlen, "invalid URL \"%.64s\"", v);
        return -1;
    }

    if (strstr(v, "://") != NULL && strncasecmp(v, "http://", 7) != 0
        && strncasecmp(v, "https://", 8) != 0)
    {
        snprintf(err, errlen, "invalid URL \"%.*s\" (http:// or https://)",
                 (int) len, v);
        return -1;
    }

    if (url_parse(v, &u) != 0) {
        snprintf(err, errlen, "invalid URL \"%.*s\"", (int) len, v);
        return -1;
    }

    if (u.query) {
        snprintf(err, errlen, "invalid URL \"%.*s\" (no query or fragment)",
                 (int) len, v);
        return -1;
    }

    /* the base URL is joined with "/api/..." paths later */
    memcpy(out, v, len + 1);
    while (len > 0 && out[len - 1] == '/') {
        out[--len] = '\0';
    }

    return 0;
}


int
cv_host(const char *v, char *out, size_t size, char *err, size_t errlen)
{
    size_t  i, len;

    len = strlen(v);
    if (len == 0 || len >= size) {
        snprintf(err, errlen, "invalid host \"%.64s\"", v);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char) v[i]) && strchr(".-:_", v[i]) == NULL) {
            snprintf(err, errlen, "invalid host \"%.64s\"", v);
            return -1;
        }
    }

    memcpy(out, v, len + 1);
    return 0;
}


int
cv_host_port(const char *v, char *host, size_t hostsize, unsigned *port,
    char *err, size_t errlen)
{
    char        tmp[300];
    const char  *colon, *h;
    size_t       hlen;

    if (v[0] == '[') {
        colon = strstr(v, "]:");
        if (colon == NULL) {
            goto invalid;
        }
        h = v + 1;
        hlen = (size_t) (colon - h);
        colon++;

    } else {
        colon = strrchr(v, ':');
        if (colon == NULL) {
            goto invalid;
        }
        h = v;
        hlen = (size_t) (colon - v);
    }

    if (hlen >= sizeof(tmp)) {
        goto invalid;
    }

    /* ":50052" means every interface */
    if (hlen == 0) {
        snprintf(tmp, sizeof(tmp), "0.0.0.0");
    } else {
        memcpy(tmp, h, hlen);
        tmp[hlen] = '\0';
    }

    if (cv_host(tmp, host, hostsize, err, errlen) != 0) {
        return -1;
    }

    if (cv_uint(colon + 1, 1, 65535, port, err, errlen) != 0) {
        goto invalid;
    }

    return 0;

invalid:

    snprintf(err, errlen, "invalid address \"%s\" (HOST:PORT)", v);
    return -1;
}


int
cv_node_id(const char *v, char *out, size_t size, char *err, size_t errlen)
{
    size_t  i, len;

    len = strlen(v);
    if (len == 0 || len >= size) {
        goto invalid;
    }

    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char) v[i]) && strchr("._-", v[i]) == NULL) {
            goto invalid;
        }
    }

    memcpy(out, v, len + 1);
    return 0;

invalid:

    snprintf(err, errlen, "invalid node id \"%.64s\" (1..%zu of A-Z a-z 0-9 "
             ". _ -)", v, size - 1);
    return -1;
}


int
cv_text(const char *v, char *out, size_t size, char *err, size_t errlen)
{
    size_t  len;

    len = strlen(v);
    if (len == 0 || len >= size) {
        snprintf(err, errlen, "value \"%.64s\" is empty or too long", v);
        return -1;
    }

    memcpy(out, v, len + 1);
    return 0;
}


int
cv_secret_file(const char *path, char *out, size_t size, size_t *len,
    char *warn, size_t warnlen, char *err, size_t errlen)
{
    int          fd = -1, rc = -1;
    char         data[CV_SECRET_FILE + 1];
    ssize_t      n;
    size_t       i, got;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "secret file %s: not a regular file", path);
        goto done;
    }

    got = 0;
    while (got < sizeof(data)) {
        n = read(fd, data + got, sizeof(data) - got);
        if (n < 0) {
            snprintf(err, errlen, "secret file %s: %s", path,
                     strerror(errno));
            goto done;
        }
        if (n == 0) {
            break;
        }
        got += (size_t) n;
    }

    if (got > CV_SECRET_FILE) {
        snprintf(err, errlen, "secret file %s: larger than %d bytes", path,
                 CV_SECRET_FILE);
        goto done;
    }

    while (got > 0 && isspace((unsigned char) data[got - 1])) {
        got--;
    }

    if (got < CV_SECRET_MIN || got >= size) {
        snprintf(err, errlen, "secret file %s: the secret must be %d..%zu "
                 "characters, found %zu", path, CV_SECRET_MIN, size - 1, got);
        goto done;
    }

    /* the secret travels in an Authorization header */
    for (i = 0; i < got; i++) {
        if (data[i] < 0x21 || data[i] > 0x7e) {
            snprintf(err, errlen, "secret file %s: the secret must be "
                     "printable ASCII without spaces", path);
            goto done;
        }
    }

    memcpy(out, data, got);
    out[got] = '\0';
    *len = got;

    if (st.st_mode & S_IRWXO) {
        snprintf(warn, warnlen, "secret file %s is readable by other users "
                 "(chmod 600 it)", path);
    }

    rc = 0;

done:

    /* no copy of the secret stays on the stack */
    explicit_bzero(data, sizeof(data));
    close(fd);
    return rc;
}
