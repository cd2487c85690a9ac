#include <pthread.h>
#include <string.h>
#include <time.h>

#include "sim_slots.h"
#include "sim_wait.h"

/* How often a queued request looks for its client having left. */
#define SIM_QUEUE_POLL_NS  20000000L


static pthread_mutex_t  sim_slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   sim_slots_cond;
static int              sim_parallel = 1;
static int              sim_queue_max;
static sim_stats_t      sim_stats;


void
sim_slots_init(int parallel, int queue)
{
    pthread_condattr_t  attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sim_slots_cond, &attr);
    pthread_condattr_destroy(&attr);

    sim_parallel = parallel;
    sim_queue_max = queue;
    memset(&sim_stats, 0, sizeof(sim_stats));
}


sim_slot_rc_t
sim_slot_acquire(int fd)
{
    struct timespec  ts;
    sim_slot_rc_t    rc = SIM_SLOT_OK;

    pthread_mutex_lock(&sim_slots_lock);

    if (sim_stats.active < sim_parallel) {
        sim_stats.active++;
        goto done;
    }

    if (sim_stats.queued >= sim_queue_max) {
        sim_stats.counts[SIM_STAT_BUSY]++;
        rc = SIM_SLOT_BUSY;
        goto done;
    }

    sim_stats.queued++;

    while (sim_stats.active >= sim_parallel) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SIM_QUEUE_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sim_slots_cond, &sim_slots_lock, &ts);

        if (sim_stopping() || sim_client_gone(fd)) {
            sim_stats.queued--;
            sim_stats.counts[SIM_STAT_CANCELLED]++;
            rc = SIM_SLOT_GONE;
            goto done;
        }
    }

    sim_stats.queued--;
    sim_stats.active++;

done:

    pthread_mutex_unlock(&sim_slots_lock);
    return rc;
}


void
sim_slot_release(void)
{
    pthread_mutex_lock(&sim_slots_lock);
    if (sim_stats.active > 0) {
        sim_stats.active--;
    }
    pthread_cond_signal(&sim_slots_cond);
    pthread_mutex_unlock(&sim_slots_lock);
}


void
sim_slots_wake_all(void)
{
    pthread_mutex_lock(&sim_slots_lock);
    pthread_cond_broadcast(&sim_slots_cond);
    pthread_mutex_unlock(&sim_slots_lock);
}


void
sim_stats_add(sim_stat_t which)
{
    pthread_mutex_lock(&sim_slots_lock);
    sim_stats.counts[which]++;
    pthread_mutex_unlock(&sim_slots_lock);
}


void
sim_stats_get(sim_stats_t *s)
{
    pthread_mutex_lock(&sim_slots_lock);
    *s = sim_stats;
    pthread_mutex_unlock(&sim_slots_lock);
}
