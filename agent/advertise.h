/*
 * The host name or address the orchestrator (configured or found over
 * mDNS) should dial to reach this agent.
 */

#ifndef ECHO_AGENT_ADVERTISE_H
#define ECHO_AGENT_ADVERTISE_H

#include <stddef.h>

#include "conf.h"


void advertise_host(const conf_t *c, const char *orchestrator, char *out,
    size_t size);
void advertise_shutdown(void);


#endif /* ECHO_AGENT_ADVERTISE_H */
