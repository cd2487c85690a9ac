#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sim_fault.h"
#include "sim_listener.h"
#include "sim_time.h"
#include "sim_wait.h"

#define SIM_BACKLOG         511
#define SIM_RETRY_BIND_MS   100


static int sim_listener_bind(char *err, size_t errlen);
static void *sim_listener_main(void *arg);
static void sim_listener_accept(void);
static void sim_listener_apply(void);


static struct sockaddr_in  sim_addr;
static int                 sim_listen_fd = -1;
static int                 sim_wake[2] = { -1, -1 };
static struct MHD_Daemon  *sim_daemon;
static pthread_t           sim_thread;
static int                 sim_thread_started;
static pthread_mutex_t     sim_sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t      sim_sync_cond = PTHREAD_COND_INITIALIZER;
static unsigned long       sim_sync_asked;
static unsigned long       sim_sync_done;
static int64_t             sim_refuse_until;   /* monotonic ns; 0: none */


static int
sim_listener_bind(char *err, size_t errlen)
{
    int  fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    if (bind(fd, (struct sockaddr *) &sim_addr, sizeof(sim_addr)) != 0
        || listen(fd, SIM_BACKLOG) != 0)
    {
        snprintf(err, errlen, "cannot listen on %s:%d: %s",
                 inet_ntoa(sim_addr.sin_addr), ntohs(sim_addr.sin_port),
                 strerror(errno));
        close(fd);
        return -1;
    }

    return fd;
}


int
sim_listener_open(const char *host, int port, char *err, size_t errlen)
{
    socklen_t  len = sizeof(sim_addr);

    memset(&sim_addr, 0, sizeof(sim_addr));
    sim_addr.sin_family = AF_INET;
    sim_addr.sin_port = htons((uint16_t) port);

    if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }

    if (inet_pton(AF_INET, host, &sim_addr.sin_addr) != 1) {
        snprintf(err, errlen, "bad listen address \"%s\" (want an IPv4 "
                 "address)", host);
        return -1;
    }

    sim_listen_fd = sim_listener_bind(err, errlen);
    if (sim_listen_fd < 0) {
        return -1;
    }

    /* keep the port the kernel chose, to listen there again later */
    if (getsockname(sim_listen_fd, (struct sockaddr *) &sim_addr, &len)
        != 0)
    {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        close(sim_listen_fd);
        sim_listen_fd = -1;
        return -1;
    }

    return 0;
}


int
sim_listener_port(void)
{
    return ntohs(sim_addr.sin_port);
}


int
sim_listener_start(struct MHD_Daemon *daemon, char *err, size_t errlen)
{
    sim_daemon = daemon;

    if (pipe2(sim_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }

    sim_listener_apply();

    if (pthread_create(&sim_thread, NULL, sim_listener_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the accept thread");
        return -1;
    }

    sim_thread_started = 1;
    return 0;
}


/*
 * Makes the accept thread act on the current fault and waits until it
 * has, so that once POST /_sim/fault answers, the socket is already
 * closed (or open again).
 */
void
sim_listener_sync(void)
{
    unsigned long    ticket;
    struct timespec  ts;
    ssize_t          n;

    if (!sim_thread_started) {
        return;
    }

    pthread_mutex_lock(&sim_sync_lock);
    ticket = ++sim_sync_asked;
    pthread_mutex_unlock(&sim_sync_lock);

    n = write(sim_wake[1], "s", 1);
    (void) n;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;

    pthread_mutex_lock(&sim_sync_lock);
    while (sim_sync_done < ticket && !sim_stopping()) {
        if (pthread_cond_timedwait(&sim_sync_cond, &sim_sync_lock, &ts)
            != 0)
        {
            break;
        }
    }
    pthread_mutex_unlock(&sim_sync_lock);
}


void
sim_listener_stop(void)
{
    ssize_t  n;
    int      i;

    if (sim_thread_started) {
        n = write(sim_wake[1], "q", 1);
        (void) n;
        pthread_join(sim_thread, NULL);
        sim_thread_started = 0;
    }

    if (sim_listen_fd >= 0) {
        close(sim_listen_fd);
        sim_listen_fd = -1;
    }

    for (i = 0; i < 2; i++) {
        if (sim_wake[i] >= 0) {
            close(sim_wake[i]);
            sim_wake[i] = -1;
        }
    }
}


/* Open or close the socket as the fault says. */
static void
sim_listener_apply(void)
{
    sim_fault_t  f;
    char         err[160];

    sim_fault_get(&f);

    if (f.kind == SIM_FAULT_REFUSE) {
        if (sim_listen_fd >= 0) {
            close(sim_listen_fd);
            sim_listen_fd = -1;
        }
        if (sim_refuse_until == 0 && f.arg > 0) {
            sim_refuse_until = sim_mono_ns() + f.arg * SIM_NS_PER_MS;
        } else if (f.arg == 0) {
            sim_refuse_until = 0;
        }
        return;
    }

    sim_refuse_until = 0;

    if (sim_listen_fd < 0) {
        sim_listen_fd = sim_listener_bind(err, sizeof(err));
        if (sim_listen_fd < 0) {
            fprintf(stderr, "ollama-sim: %s (retrying)\n", err);
        }
    }
}


static void
sim_listener_accept(void)
{
    struct sockaddr_in  peer;
    socklen_t           len;
    int                 fd, one = 1;

    for ( ;; ) {
        len = sizeof(peer);
        fd = accept4(sim_listen_fd, (struct sockaddr *) &peer, &len,
                     SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                fprintf(stderr, "ollama-sim: accept: %s\n", strerror(errno));
            }
            return;
        }

        /* one token is one small write: send it now */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        /* MHD closes fd itself when it cannot take it */
        MHD_add_connection(sim_daemon, fd, (struct sockaddr *) &peer, len);
    }
}


static void *
sim_listener_main(void *arg)
{
    struct pollfd  pfd[2];
    char           buf[64];
    ssize_t        n;
    int            nfds, timeout, quit = 0, i;
    int64_t        left;
    sim_fault_t    none = { SIM_FAULT_NONE, 0 };

    (void) arg;

    while (!quit) {
        pfd[0].fd = sim_wake[0];
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        nfds = 1;

        if (sim_listen_fd >= 0) {
            pfd[1].fd = sim_listen_fd;
            pfd[1].events = POLLIN;
            pfd[1].revents = 0;
            nfds = 2;
        }

        timeout = -1;
        if (sim_refuse_until != 0) {
            left = sim_refuse_until - sim_mono_ns();
            timeout = left > 0 ? (int) (left / SIM_NS_PER_MS) + 1 : 0;
        } else if (sim_listen_fd < 0 && sim_fault_kind() != SIM_FAULT_REFUSE)
        {
            timeout = SIM_RETRY_BIND_MS;
        }

        if (poll(pfd, (nfds_t) nfds, timeout) < 0 && errno != EINTR) {
            break;
        }

        if (pfd[0].revents & POLLIN) {
            n = read(sim_wake[0], buf, sizeof(buf));
            for (i = 0; i < n; i++) {
                if (buf[i] == 'q') {
                    quit = 1;
                }
            }
            if (quit) {
                break;
            }
            sim_listener_apply();

            pthread_mutex_lock(&sim_sync_lock);
            sim_sync_done = sim_sync_asked;
            pthread_cond_broadcast(&sim_sync_cond);
            pthread_mutex_unlock(&sim_sync_lock);
            continue;
        }

        if (sim_refuse_until != 0 && sim_mono_ns() >= sim_refuse_until) {
            if (sim_fault_kind() == SIM_FAULT_REFUSE) {
                sim_fault_set(&none);
            }
            sim_listener_apply();
            continue;
        }

        if (sim_listen_fd < 0) {
            sim_listener_apply();
            continue;
        }

        if (nfds == 2 && (pfd[1].revents & POLLIN)) {
            sim_listener_accept();
        }
    }

    return NULL;
}
