/*
 * Joining the mesh and heartbeating: POST /mesh/v1/nodes/heartbeat every
 * interval, POST /mesh/v1/nodes/leave when draining.
 */

#ifndef ECHO_AGENT_HEARTBEAT_H
#define ECHO_AGENT_HEARTBEAT_H


int heartbeat_start(void);
void heartbeat_kick(void);
void heartbeat_leave(unsigned wait_ms);
void heartbeat_stop(void);


#endif /* ECHO_AGENT_HEARTBEAT_H */
