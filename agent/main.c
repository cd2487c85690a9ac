/*
 * Start-up, the signal loop, and the drain on SIGTERM/SIGINT.  Signals are
 * blocked in every thread and taken synchronously here with sigwaitinfo,
 * so no handler ever runs in the middle of a request.
 */

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "advertise.h"
#include "conf.h"
#include "heartbeat.h"
#include "http_tls.h"
#include "inventory.h"
#include "log.h"
#include "mdns.h"
#include "runtime.h"
#include "server.h"


#define MAIN_ERR_MAX       512
#define MAIN_LEAVE_MS      5000
#define MAIN_CUT_MS        5000
/*
 * One malloc arena for every thread.  glibc's default gives each new
 * thread its own (up to 8 per core), and every connection here is a
 * thread: after a burst each arena keeps its top (~130-200 KiB) and
 * malloc_trim() cannot give a thread arena's top back, so an agent kept
 * ~1.9 MB after its connections were gone.  In the main arena
 * server.c's malloc_trim() returns it.  The relay threads allocate per
 * task, not per token, so they seldom meet on the lock.
 */
#define MAIN_ARENAS        1


extern char **environ;


static int main_config(conf_t **out, int argc, char **argv);
static void main_reload(int argc, char **argv);
static void main_drain(const sigset_t *set);


int
main(int argc, char **argv)
{
    conf_t     *c = NULL;
    sigset_t    set;
    siginfo_t   info;
    char        err[MAIN_ERR_MAX];
    int         fd, sig, rc;

#ifdef M_ARENA_MAX
    /* before any thread starts; valgrind's own malloc ignores it */
    (void) mallopt(M_ARENA_MAX, MAIN_ARENAS);
#endif

    rc = main_config(&c, argc, argv);
    if (rc >= 0) {
        return rc;
    }

    log_set_level(c->log_level);

    if (c->check_only) {
        printf("echo-agent: configuration OK (node %s)\n", c->node_id);
        free(c);
        return 0;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    fd = server_listen(c, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "echo-agent: %s\n", err);
        free(c);
        return 2;
    }

    if (runtime_init(c) != 0) {
        fprintf(stderr, "echo-agent: cannot create an eventfd\n");
        close(fd);
        free(c);
        return 1;
    }

    if (c->warning[0] != '\0') {
        log_warn("%s", c->warning);
    }

    /* a change in the models sends a heartbeat at once */
    inventory_on_change(heartbeat_kick);

    /* the first heartbeat and the first task see Ollama's real state */
    inventory_refresh_now();

    if (server_start(fd, c) != 0) {
        fprintf(stderr, "echo-agent: cannot start the HTTP server\n");
        close(fd);
        rc = 1;
        goto done;
    }

    if (inventory_start() != 0 || heartbeat_start() != 0) {
        log_error("cannot start the background threads");
        rc = 1;
        goto stop;
    }

    log_info("echo-agent %s: node %s listening on %s:%u, ollama %s, "
             "orchestrator %s%s%s", AGENT_VERSION, c->node_id,
             c->listen_host, c->listen_port, c->ollama,
             c->orchestrator[0] ? c->orchestrator
             : c->mdns ? "found over mDNS (mesh " : "(none)",
             c->orchestrator[0] || !c->mdns ? "" : c->mesh,
             c->orchestrator[0] || !c->mdns ? "" : ")");

    /* announced only once it serves; mDNS trouble never stops the agent */
    (void) mdns_start(c);

    for ( ;; ) {
        sig = sigwaitinfo(&set, &info);
        if (sig == SIGHUP) {
            main_reload(argc, argv);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }

    main_drain(&set);
    rc = 0;

stop:

    server_stop();
    heartbeat_stop();
    inventory_stop();
    mdns_stop();

done:

    advertise_shutdown();
    runtime_shutdown();
    tls_shutdown();
    log_info("stopped");
    return rc;
}


/* returns an exit code, or -1 to go on with *out set */
static int
main_config(conf_t **out, int argc, char **argv)
{
    conf_t  *c = NULL;
    char     err[MAIN_ERR_MAX];

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fprintf(stderr, "echo-agent: out of memory\n");
        return 1;
    }

    switch (conf_load(c, argc, argv, environ, err, sizeof(err))) {
    case CONF_HELP:
        conf_usage(stdout);
        free(c);
        return 0;
    case CONF_VERSION:
        printf("echo-agent %s\n", AGENT_VERSION);
        free(c);
        return 0;
    case CONF_ERROR:
        fprintf(stderr, "echo-agent: %s\n", err);
        free(c);
        return 2;
    default:
        *out = c;
        return -1;
    }
}


static void
main_reload(int argc, char **argv)
{
    conf_t  *c = NULL, *old = NULL;
    char     err[MAIN_ERR_MAX];

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error("reload: out of memory");
        return;
    }

    if (conf_load(c, argc, argv, environ, err, sizeof(err)) != CONF_OK) {
        log_error("reload failed, keeping the running configuration: %s",
                  err);
        free(c);
        return;
    }

    old = runtime_conf();
    if (strcmp(old->listen_host, c->listen_host) != 0
        || old->listen_port != c->listen_port
        || old->max_connections != c->max_connections)
    {
        log_warn("reload: listen and max_connections take effect only "
                 "after a restart");
    }
    if (strcmp(old->mesh, c->mesh) != 0 || old->mdns != c->mdns) {
        log_warn("reload: mesh and mdns take effect only after a restart");
        snprintf(c->mesh, sizeof(c->mesh), "%s", old->mesh);
        c->mdns = old->mdns;
    }
    runtime_conf_put(old);

    if (c->warning[0] != '\0') {
        log_warn("%s", c->warning);
    }

    log_set_level(c->log_level);
    runtime_conf_swap(c);
    inventory_kick();
    heartbeat_kick();
    log_info("configuration reloaded");
}


/* new tasks get 503, the orchestrator is told, running tasks finish */
static void
main_drain(const sigset_t *set)
{
    conf_t           *c = NULL;
    unsigned          drain_ms, waited = 0;
    struct timespec   step = { 0, 100 * 1000000L };
    int               sig;

    runtime_set_draining();
    heartbeat_leave(MAIN_LEAVE_MS);

    c = runtime_conf();
    drain_ms = c->drain_ms;
    runtime_conf_put(c);

    while (!runtime_wait_idle(0) && waited < drain_ms) {
        /* a second SIGTERM or SIGINT cuts the drain short */
        sig = sigtimedwait(set, NULL, &step);
        if (sig == SIGTERM || sig == SIGINT) {
            log_warn("second signal: cutting %u running task(s)",
                     runtime_active());
            break;
        }
        waited += 100;
    }

    if (!runtime_wait_idle(0)) {
        log_warn("drain: cutting %u task(s) still running",
                 runtime_active());
        runtime_abort();
        runtime_wait_idle(MAIN_CUT_MS);
    }
}
