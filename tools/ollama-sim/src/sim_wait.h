/*
 * Waiting that notices the client going away and the server stopping.
 * Every pause (token delays, the queue, the hang fault) goes through
 * here, so a disconnect is seen at once, not at the next write, and
 * SIGTERM never waits for a sleeping request.
 */

#ifndef SIM_WAIT_H
#define SIM_WAIT_H


typedef enum {
    SIM_WAIT_DONE = 0,      /* the time passed */
    SIM_WAIT_GONE,          /* the client closed its connection */
    SIM_WAIT_STOP           /* the server is shutting down */
} sim_wait_rc_t;


int sim_stop_init(void);
void sim_stop_fini(void);
void sim_stop_trigger(void);
int sim_stopping(void);
int sim_stop_fd(void);
sim_wait_rc_t sim_wait_ms(int fd, long ms);
int sim_client_gone(int fd);

#endif /* SIM_WAIT_H */
