/*
 * One task relayed to Ollama: the request body goes out as received, the
 * reply streams back through libmicrohttpd as it arrives.
 */

#ifndef ECHO_AGENT_RELAY_H
#define ECHO_AGENT_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"


typedef struct relay_s  relay_t;


typedef enum {
    RELAY_OK = 0,
    RELAY_UNREACHABLE,
    RELAY_CLIENT_GONE,
    RELAY_ABORTED
} relay_start_t;


relay_t *relay_create(endpoint_t ep, char *body, size_t len, int client_fd,
    double started);
relay_start_t relay_start(relay_t *r, const char *url, char *err,
    size_t errlen);
long relay_status(const relay_t *r);
const char *relay_content_type(const relay_t *r);
void relay_hold_slot(relay_t *r);
ssize_t relay_read(void *cls, uint64_t pos, char *out, size_t max);
void relay_free(void *cls);
double relay_now(void);


#endif /* ECHO_AGENT_RELAY_H */
