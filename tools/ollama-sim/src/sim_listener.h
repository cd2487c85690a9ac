/*
 * The listening socket and the thread that accepts on it.  We accept
 * ourselves and hand each connection to libmicrohttpd with
 * MHD_add_connection(), because MHD cannot stop listening and start
 * again: the "refuse" fault closes the socket (so connections are
 * refused, as with a dead server) and reopens it on the same port.
 */

#ifndef SIM_LISTENER_H
#define SIM_LISTENER_H

#include <stddef.h>

struct MHD_Daemon;


int sim_listener_open(const char *host, int port, char *err, size_t errlen);
int sim_listener_port(void);
int sim_listener_start(struct MHD_Daemon *daemon, char *err, size_t errlen);
void sim_listener_sync(void);
void sim_listener_stop(void);

#endif /* SIM_LISTENER_H */
