#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "sim_time.h"
#include "sim_wait.h"


static int           sim_stop_pipe[2] = { -1, -1 };
static volatile int  sim_stop_flag;


int
sim_stop_init(void)
{
    return pipe2(sim_stop_pipe, O_CLOEXEC | O_NONBLOCK);
}


void
sim_stop_fini(void)
{
    int  i;

    for (i = 0; i < 2; i++) {
        if (sim_stop_pipe[i] != -1) {
            close(sim_stop_pipe[i]);
            sim_stop_pipe[i] = -1;
        }
    }
}


/* The pipe stays readable forever after: every waiter wakes. */
void
sim_stop_trigger(void)
{
    ssize_t  n;

    __atomic_store_n(&sim_stop_flag, 1, __ATOMIC_SEQ_CST);
    n = write(sim_stop_pipe[1], "x", 1);
    (void) n;
}


int
sim_stopping(void)
{
    return __atomic_load_n(&sim_stop_flag, __ATOMIC_SEQ_CST);
}


int
sim_stop_fd(void)
{
    return sim_stop_pipe[0];
}


/* ms < 0 waits for ever (until the client leaves or we stop). */
sim_wait_rc_t
sim_wait_ms(int fd, long ms)
{
    struct pollfd  pfd[2];
    int64_t        deadline = 0, left;
    int            n, nfds = 1, timeout;

    if (sim_stopping()) {
        return SIM_WAIT_STOP;
    }

    if (ms == 0) {
        return SIM_WAIT_DONE;
    }

    if (ms > 0) {
        deadline = sim_mono_ns() + ms * SIM_NS_PER_MS;
    }

    pfd[0].fd = sim_stop_pipe[0];
    pfd[0].events = POLLIN;
    if (fd >= 0) {
        pfd[1].fd = fd;
        pfd[1].events = POLLRDHUP;
        nfds = 2;
    }

    for ( ;; ) {
        timeout = -1;
        if (ms > 0) {
            left = deadline - sim_mono_ns();
            if (left <= 0) {
                return SIM_WAIT_DONE;
            }
            timeout = (int) ((left + SIM_NS_PER_MS - 1) / SIM_NS_PER_MS);
        }

        pfd[0].revents = 0;
        if (nfds == 2) {
            pfd[1].revents = 0;
        }

        n = poll(pfd, (nfds_t) nfds, timeout);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return SIM_WAIT_STOP;
        }

        if (pfd[0].revents != 0) {
            return SIM_WAIT_STOP;
        }

        if (nfds == 2
            && (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
        {
            return SIM_WAIT_GONE;
        }
    }
}


int
sim_client_gone(int fd)
{
    struct pollfd  pfd;

    if (fd < 0) {
        return 0;
    }

    pfd.fd = fd;
    pfd.events = POLLRDHUP;
    pfd.revents = 0;

    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }

    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}
