/*
 * mDNS through avahi-daemon: one avahi client on avahi's own threaded
 * poll, shared by the announcement (announce.c) and the search for
 * orchestrators (discovery.c).  Without avahi-daemon or D-Bus the agent
 * says so once and keeps trying in the background.
 */

#ifndef ECHO_AGENT_MDNS_H
#define ECHO_AGENT_MDNS_H

#include <avahi-client/client.h>

#include "conf.h"


typedef struct {
    char      node_id[CONF_NODE_ID_MAX + 1];
    char      mesh[CONF_MESH_MAX + 1];
    unsigned  port;
} mdns_self_t;


int mdns_start(const conf_t *c);
void mdns_stop(void);

/* announce.c and discovery.c, called on the poll thread with its lock */
void announce_running(AvahiClient *client, const mdns_self_t *self);
void announce_reset(void);
void announce_free(void);
void discovery_running(AvahiClient *client, const mdns_self_t *self);
void discovery_free(void);


#endif /* ECHO_AGENT_MDNS_H */
