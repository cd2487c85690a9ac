/*
 * The heartbeat and inventory threads share this shape: a round of work,
 * then a timed sleep that a kick or a stop request cuts short.  Sleeps
 * are measured on CLOCK_MONOTONIC: a wall clock stepped forward (NTP
 * after boot, a Pi without a real-time clock) would otherwise freeze the
 * heartbeats for as long as the step, and one stepped back would spin.
 * The condition variable keeps its static initialiser (kicks may come
 * before the thread starts), so the clock is named at each wait.
 */

#define _GNU_SOURCE

#include "worker.h"


void
deadline_after(struct timespec *ts, clockid_t clock, unsigned ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}


int
worker_start(worker_t *w, void *(*run)(void *))
{
    if (pthread_create(&w->thread, NULL, run, NULL) != 0) {
        return -1;
    }

    w->running = 1;
    return 0;
}


void
worker_kick(worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->kicked = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}


/* sleeps up to ms; returns 1 when the thread is asked to stop */
int
worker_wait(worker_t *w, unsigned ms, int allow_kick)
{
    struct timespec  until;
    int              stop;

    deadline_after(&until, CLOCK_MONOTONIC, ms);

    pthread_mutex_lock(&w->lock);
    while (!w->stop && !(allow_kick && w->kicked)) {
        if (pthread_cond_clockwait(&w->cond, &w->lock, CLOCK_MONOTONIC,
                                   &until) != 0)
        {
            break;
        }
    }
    if (allow_kick) {
        w->kicked = 0;
    }
    stop = w->stop;
    pthread_mutex_unlock(&w->lock);

    return stop;
}


/* the thread's last act: tells worker_end() it is done */
void
worker_finish(worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->finished = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}


/* asks the thread to stop and waits, bounded, for its last round */
void
worker_end(worker_t *w, unsigned wait_ms)
{
    struct timespec  until;

    deadline_after(&until, CLOCK_MONOTONIC, wait_ms);

    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    while (w->running && !w->finished) {
        if (pthread_cond_clockwait(&w->cond, &w->lock, CLOCK_MONOTONIC,
                                   &until) != 0)
        {
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
}


void
worker_stop(worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);

    if (w->running) {
        pthread_join(w->thread, NULL);
        w->running = 0;
    }
}
