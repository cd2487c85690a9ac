/*
 * The configuration is an immutable, reference-counted snapshot: a
 * request keeps the one it started with, and SIGHUP swaps in a new one
 * without waiting for requests to end.  The abort eventfd is written once
 * and never read, so it stays readable and wakes every relay's poll.
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "worker.h"


static pthread_mutex_t   rt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    rt_idle;
static conf_t           *rt_conf;
static unsigned          rt_active;
static size_t            rt_body_bytes;
static int               rt_draining;
static int               rt_abort_fd = -1;


static void conf_release(conf_t *c);


int
runtime_init(conf_t *c)
{
    pthread_condattr_t  attr;

    rt_abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt_abort_fd < 0) {
        return -1;
    }

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rt_idle, &attr);
    pthread_condattr_destroy(&attr);

    c->refs = 1;
    rt_conf = c;
    return 0;
}


void
runtime_shutdown(void)
{
    if (rt_conf != NULL) {
        runtime_conf_put(rt_conf);
        rt_conf = NULL;
    }

    if (rt_abort_fd >= 0) {
        close(rt_abort_fd);
        rt_abort_fd = -1;
    }

    pthread_cond_destroy(&rt_idle);
}


static void
conf_release(conf_t *c)
{
    explicit_bzero(c->secret, sizeof(c->secret));
    free(c);
}


conf_t *
runtime_conf(void)
{
    conf_t  *c = NULL;

    pthread_mutex_lock(&rt_lock);
    c = rt_conf;
    c->refs++;
    pthread_mutex_unlock(&rt_lock);

    return c;
}


void
runtime_conf_put(conf_t *c)
{
    int  last;

    pthread_mutex_lock(&rt_lock);
    last = (--c->refs == 0);
    pthread_mutex_unlock(&rt_lock);

    if (last) {
        conf_release(c);
    }
}


void
runtime_conf_swap(conf_t *c)
{
    conf_t  *old = NULL;

    c->refs = 1;

    pthread_mutex_lock(&rt_lock);
    old = rt_conf;
    rt_conf = c;
    pthread_mutex_unlock(&rt_lock);

    runtime_conf_put(old);
}


int
runtime_task_acquire(unsigned max_tasks)
{
    int  ok;

    pthread_mutex_lock(&rt_lock);
    ok = !rt_draining && rt_active < max_tasks;
    if (ok) {
        rt_active++;
    }
    pthread_mutex_unlock(&rt_lock);

    return ok;
}


void
runtime_task_release(void)
{
    pthread_mutex_lock(&rt_lock);
    if (rt_active > 0 && --rt_active == 0) {
        pthread_cond_broadcast(&rt_idle);
    }
    pthread_mutex_unlock(&rt_lock);
}


unsigned
runtime_active(void)
{
    unsigned  n;

    pthread_mutex_lock(&rt_lock);
    n = rt_active;
    pthread_mutex_unlock(&rt_lock);

    return n;
}


int
runtime_wait_idle(unsigned ms)
{
    struct timespec  until;
    int              idle, rc = 0;

    deadline_after(&until, CLOCK_MONOTONIC, ms);

    pthread_mutex_lock(&rt_lock);
    while (rt_active > 0 && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&rt_idle, &rt_lock, &until);
    }
    idle = (rt_active == 0);
    pthread_mutex_unlock(&rt_lock);

    return idle;
}


/*
 * Request bodies are held in memory until their task ends; the total is
 * capped so that many connections uploading at once cannot exhaust the
 * node's memory whatever max_connections allows.
 */
int
runtime_body_reserve(size_t n, size_t cap)
{
    int  ok;

    pthread_mutex_lock(&rt_lock);
    ok = n <= cap && rt_body_bytes <= cap - n;
    if (ok) {
        rt_body_bytes += n;
    }
    pthread_mutex_unlock(&rt_lock);

    return ok;
}


void
runtime_body_release(size_t n)
{
    pthread_mutex_lock(&rt_lock);
    rt_body_bytes -= n < rt_body_bytes ? n : rt_body_bytes;
    pthread_mutex_unlock(&rt_lock);
}


size_t
runtime_body_bytes(void)
{
    size_t  n;

    pthread_mutex_lock(&rt_lock);
    n = rt_body_bytes;
    pthread_mutex_unlock(&rt_lock);

    return n;
}


void
runtime_set_draining(void)
{
    pthread_mutex_lock(&rt_lock);
    rt_draining = 1;
    pthread_mutex_unlock(&rt_lock);
}


int
runtime_draining(void)
{
    int  d;

    pthread_mutex_lock(&rt_lock);
    d = rt_draining;
    pthread_mutex_unlock(&rt_lock);

    return d;
}


void
runtime_abort(void)
{
    uint64_t  one = 1;

    if (write(rt_abort_fd, &one, sizeof(one)) < 0) {
        /* already signalled: the counter is readable either way */
        return;
    }
}


int
runtime_abort_fd(void)
{
    return rt_abort_fd;
}
