/*
 * The agent's HTTP endpoint (libmicrohttpd): task relay, health,
 * capabilities and metrics.
 */

#ifndef ECHO_AGENT_SERVER_H
#define ECHO_AGENT_SERVER_H

#include <stddef.h>

#include "conf.h"


/* outside /v1, which is Ollama's (its OpenAI-compatible API) */
#define AGENT_CAPS_PATH  "/agent/v1/capabilities"


int server_listen(const conf_t *c, char *err, size_t errlen);
int server_start(int fd, const conf_t *c);
void server_stop(void);


#endif /* ECHO_AGENT_SERVER_H */
