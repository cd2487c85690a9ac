/*
 * The background threads' timed wait: measured on CLOCK_MONOTONIC, so a
 * step of the wall clock neither freezes nor hurries it.  The wall clock
 * is faked by interposing clock_gettime: the agent's code asks it for the
 * time, the kernel still sleeps on its own clocks.  A wait that would
 * follow the wall clock sleeps an hour here; the watchdog then fails the
 * test (a deadline that only catches the hang, never a speed).
 */

#define _GNU_SOURCE

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "worker.h"


#define STEP_SECS      3600
#define WAIT_MS        200
#define WATCHDOG_SECS  60


int clock_gettime(clockid_t clock, struct timespec *ts);

static long  wall_step;


int
clock_gettime(clockid_t clock, struct timespec *ts)
{
    long  rc;

    rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && clock == CLOCK_REALTIME) {
        ts->tv_sec += wall_step;
    }
    return (int) rc;
}


static double
mono_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static worker_t  w_kick = WORKER_INITIALIZER;


static void *
kicker(void *arg)
{
    struct timespec  pause = { 0, 50 * 1000000L };

    (void) arg;
    nanosleep(&pause, NULL);
    worker_kick(&w_kick);
    return NULL;
}


static void
test_wall_clock_steps(void)
{
    worker_t  w = WORKER_INITIALIZER;
    double    t0;
    long      steps[] = { STEP_SECS, -STEP_SECS };
    size_t    i;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        wall_step = steps[i];

        /* forward: must not sleep the hour; back: must not return early */
        t0 = mono_ms();
        CHECK_INT(worker_wait(&w, WAIT_MS, 1), 0);
        CHECK(mono_ms() - t0 >= WAIT_MS - 1);
    }

    /* waiting, bounded, for a thread that never finishes its round */
    wall_step = STEP_SECS;
    w.running = 1;
    t0 = mono_ms();
    worker_end(&w, WAIT_MS);
    CHECK(mono_ms() - t0 >= WAIT_MS - 1);
    wall_step = 0;
}


static void
test_kick_and_stop(void)
{
    worker_t   w = WORKER_INITIALIZER;
    pthread_t  t;

    /* a kick before the wait is not lost; without allow_kick it waits */
    worker_kick(&w);
    CHECK_INT(worker_wait(&w, 60 * 60 * 1000, 1), 0);

    wall_step = STEP_SECS;
    CHECK(pthread_create(&t, NULL, kicker, NULL) == 0);
    CHECK_INT(worker_wait(&w_kick, 60 * 60 * 1000, 1), 0);
    pthread_join(t, NULL);
    wall_step = 0;

    worker_kick(&w);
    CHECK_INT(worker_wait(&w, WAIT_MS, 0), 0);

    w.stop = 1;
    CHECK_INT(worker_wait(&w, 60 * 60 * 1000, 1), 1);
}


int
main(void)
{
    unit_watchdog(WATCHDOG_SECS);

    test_wall_clock_steps();
    test_kick_and_stop();

    return UNIT_DONE();
}
