/*
 * The orchestrator heartbeats go to: the configured one, or else one of
 * this agent's mesh found over mDNS (discovery.c).
 */

#ifndef ECHO_AGENT_DISCOVERY_H
#define ECHO_AGENT_DISCOVERY_H

#include <stddef.h>

#include "conf.h"


int discovery_target(const conf_t *c, char *out, size_t size);
void discovery_failed(const conf_t *c, const char *url);


#endif /* ECHO_AGENT_DISCOVERY_H */
