/*
 * A background thread that sleeps between rounds and can be woken early
 * (kick), asked to stop, and waited for.
 */

#ifndef ECHO_AGENT_WORKER_H
#define ECHO_AGENT_WORKER_H

#include <pthread.h>
#include <time.h>


typedef struct {
    pthread_mutex_t   lock;
    pthread_cond_t    cond;
    pthread_t         thread;
    int               running;
    int               stop;
    int               kicked;
    int               finished;
} worker_t;

#define WORKER_INITIALIZER                                                   \
    { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0 }


int worker_start(worker_t *w, void *(*run)(void *));
void worker_kick(worker_t *w);
int worker_wait(worker_t *w, unsigned ms, int allow_kick);
void worker_finish(worker_t *w);
void worker_end(worker_t *w, unsigned wait_ms);
void worker_stop(worker_t *w);
void deadline_after(struct timespec *ts, clockid_t clock, unsigned ms);


#endif /* ECHO_AGENT_WORKER_H */
