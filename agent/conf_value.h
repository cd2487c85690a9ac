/*
 * Parsers for configuration values: numbers, durations, sizes, URLs,
 * addresses, node ids and the secret file.  Each returns 0 or -1 with a
 * message in err.
 */

#ifndef ECHO_AGENT_CONF_VALUE_H
#define ECHO_AGENT_CONF_VALUE_H

#include <stddef.h>


int cv_uint(const char *v, unsigned min, unsigned max, unsigned *out,
    char *err, size_t errlen);
int cv_duration_ms(const char *v, unsigned min_ms, unsigned max_ms,
    unsigned *out, char *err, size_t errlen);
int cv_size(const char *v, size_t min, size_t max, size_t *out,
    char *err, size_t errlen);
int cv_url(const char *v, char *out, size_t size, char *err, size_t errlen);
int cv_host_port(const char *v, char *host, size_t hostsize,
    unsigned *port, char *err, size_t errlen);
int cv_host(const char *v, char *out, size_t size, char *err,
    size_t errlen);
int cv_node_id(const char *v, char *out, size_t size, char *err,
    size_t errlen);
int cv_text(const char *v, char *out, size_t size, char *err,
    size_t errlen);
int cv_secret_file(const char *path, char *out, size_t size, size_t *len,
    char *warn, size_t warnlen, char *err, size_t errlen);


#endif /* ECHO_AGENT_CONF_VALUE_H */
