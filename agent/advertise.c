/*
 * Unless configured, the advertised address is the local address of the
 * route towards the orchestrator: connect() on a UDP socket picks the
 * route and sends nothing.  Finding that route may need a DNS lookup of
 * the orchestrator's name, which can take seconds when a resolver is
 * down, so it never runs in line with a heartbeat: the lookup runs in
 * glibc's resolver thread (getaddrinfo_a), a caller waits for it at most
 * ADV_WAIT_MS, and in the meantime the last answer (or the node id)
 * stands.  A failed lookup is cached like a successful one, so a name
 * that does not resolve costs one lookup per ADV_RETRY_SECONDS, not one
 * per heartbeat.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#include "advertise.h"
#include "url.h"


#define ADV_CACHE_SECONDS  30
#define ADV_RETRY_SECONDS  30
#define ADV_WAIT_MS        1000


typedef struct {
    struct gaicb      cb;
    struct gaicb     *list[1];
    struct addrinfo   hints;
    char              url[CONF_URL_MAX];
    char              host[CONF_HOST_MAX + 1];
    char              port[8];
} adv_lookup_t;


static double adv_now(void);
static adv_lookup_t *adv_start(const char *url);
static void adv_collect(double now);
static int route_from(const struct addrinfo *res, char *out, size_t size);


/* callers: the heartbeat thread and any capabilities request */
static pthread_mutex_t   adv_lock = PTHREAD_MUTEX_INITIALIZER;
static char              adv_for[CONF_URL_MAX];
static char              adv_host[INET6_ADDRSTRLEN];
static double            adv_until;
static adv_lookup_t     *adv_pending;


void
advertise_host(const conf_t *c, const char *orchestrator, char *out,
    size_t size)
{
    struct timespec  wait = { ADV_WAIT_MS / 1000,
                              (ADV_WAIT_MS % 1000) * 1000000L };
    double           now;

    if (c->advertise_host[0] != '\0') {
        snprintf(out, size, "%s", c->advertise_host);
        return;
    }

    if (strcmp(c->listen_host, "0.0.0.0") != 0
        && strcmp(c->listen_host, "::") != 0)
    {
        snprintf(out, size, "%s", c->listen_host);
        return;
    }

    /* nothing better known: the node id is usually the host name */
    snprintf(out, size, "%s", c->node_id);

    if (orchestrator[0] == '\0') {
        return;
    }

    now = adv_now();

    pthread_mutex_lock(&adv_lock);

    if (adv_pending == NULL
        && (strcmp(adv_for, orchestrator) != 0 || now >= adv_until))
    {
        adv_pending = adv_start(orchestrator);
        if (adv_pending == NULL) {
            snprintf(adv_for, sizeof(adv_for), "%s", orchestrator);
            adv_host[0] = '\0';
            adv_until = now + ADV_RETRY_SECONDS;
        }
    }

    /* bounded: the lock is held, so other callers wait at most as long */
    if (adv_pending != NULL) {
        (void) gai_suspend((const struct gaicb *const *) adv_pending->list,
                           1, &wait);
        adv_collect(adv_now());
    }

    if (strcmp(adv_for, orchestrator) == 0 && adv_host[0] != '\0') {
        snprintf(out, size, "%s", adv_host);
    }

    pthread_mutex_unlock(&adv_lock);
}


/* at exit: a finished lookup is freed, one still running is left */
void
advertise_shutdown(void)
{
    pthread_mutex_lock(&adv_lock);
    if (adv_pending != NULL && gai_error(&adv_pending->cb) != EAI_INPROGRESS)
    {
        if (adv_pending->cb.ar_result != NULL) {
            freeaddrinfo(adv_pending->cb.ar_result);
        }
        free(adv_pending);
        adv_pending = NULL;
    }
    pthread_mutex_unlock(&adv_lock);
}


static double
adv_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static adv_lookup_t *
adv_start(const char *url)
{
    url_t          u;
    adv_lookup_t  *l = NULL;

    if (url_parse(url, &u) != 0) {
        return NULL;
    }

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return NULL;
    }

    snprintf(l->host, sizeof(l->host), "%s", u.host);
    snprintf(l->port, sizeof(l->port), "%s", u.port);
    snprintf(l->url, sizeof(l->url), "%s", url);

    l->hints.ai_socktype = SOCK_DGRAM;
    l->hints.ai_flags = AI_NUMERICSERV;
    l->cb.ar_name = l->host;
    l->cb.ar_service = l->port;
    l->cb.ar_request = &l->hints;
    l->list[0] = &l->cb;

    if (getaddrinfo_a(GAI_NOWAIT, l->list, 1, NULL) != 0) {
        free(l);
        l = NULL;
    }

    return l;
}


/* takes the answer of a finished lookup, success or failure alike */
static void
adv_collect(double now)
{
    adv_lookup_t  *l = adv_pending;
    char           host[INET6_ADDRSTRLEN];
    int            ok;

    if (gai_error(&l->cb) == EAI_INPROGRESS) {
        return;
    }

    ok = gai_error(&l->cb) == 0
         && route_from(l->cb.ar_result, host, sizeof(host)) == 0;

    snprintf(adv_for, sizeof(adv_for), "%s", l->url);
    if (ok) {
        snprintf(adv_host, sizeof(adv_host), "%s", host);
    } else {
        adv_host[0] = '\0';
    }
    adv_until = now + (ok ? ADV_CACHE_SECONDS : ADV_RETRY_SECONDS);

    if (l->cb.ar_result != NULL) {
        freeaddrinfo(l->cb.ar_result);
    }
    free(l);
    adv_pending = NULL;
}


static int
route_from(const struct addrinfo *res, char *out, size_t size)
{
    struct sockaddr_storage   ss;
    socklen_t                 len = sizeof(ss);
    const void               *addr;
    int                       fd, rc = -1;

    if (res == NULL) {
        return -1;
    }

    fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0
        || getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
    {
        goto done;
    }

    addr = ss.ss_family == AF_INET6
           ? (const void *) &((struct sockaddr_in6 *) &ss)->sin6_addr
           : (const void *) &((struct sockaddr_in *) &ss)->sin_addr;

    if (inet_ntop(ss.ss_family, addr, out, (socklen_t) size) != NULL) {
        rc = 0;
    }

done:

    if (fd >= 0) {
        close(fd);
    }
    return rc;
}
