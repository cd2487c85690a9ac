/*
 * Unless configured, the advertised address is the local address of the
 * route towards the orchestrator: connect() on a UDP socket picks the
 * route and sends nothing.  The answer is cached for a while because the
 * orchestrator may be a name that needs a DNS lookup.
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "advertise.h"


#define ADV_CACHE_SECONDS  30


static int route_source(const char *url, char *out, size_t size);


static pthread_mutex_t  adv_lock = PTHREAD_MUTEX_INITIALIZER;
static char             adv_for[CONF_URL_MAX];
static char             adv_host[INET6_ADDRSTRLEN];
static time_t           adv_at;


void
advertise_host(const conf_t *c, char *out, size_t size)
{
    char    host[INET6_ADDRSTRLEN];
    time_t  now;

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

    now = time(NULL);

    pthread_mutex_lock(&adv_lock);
    if (adv_host[0] != '\0' && now - adv_at < ADV_CACHE_SECONDS
        && strcmp(adv_for, c->orchestrator) == 0)
    {
        snprintf(out, size, "%s", adv_host);
        pthread_mutex_unlock(&adv_lock);
        return;
    }
    pthread_mutex_unlock(&adv_lock);

    if (c->orchestrator[0] == '\0'
        || route_source(c->orchestrator, host, sizeof(host)) != 0)
    {
        /* nothing better known: the node id is usually the host name */
        snprintf(out, size, "%s", c->node_id);
        return;
    }

    pthread_mutex_lock(&adv_lock);
    snprintf(adv_for, sizeof(adv_for), "%s", c->orchestrator);
    snprintf(adv_host, sizeof(adv_host), "%s", host);
    adv_at = now;
    pthread_mutex_unlock(&adv_lock);

    snprintf(out, size, "%s", host);
}


static int
route_source(const char *url, char *out, size_t size)
{
    CURLU                    *u = NULL;
    char                     *host = NULL, *port = NULL;
    struct addrinfo           hints, *res = NULL;
    struct sockaddr_storage   ss;
    socklen_t                 len = sizeof(ss);
    int                       fd = -1, rc = -1;
    const void               *addr;

    u = curl_url();
    if (u == NULL
        || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
           != CURLUE_OK)
    {
        goto done;
    }

    /* curl keeps the brackets of an IPv6 literal */
    if (host[0] == '[') {
        host[strlen(host) - 1] = '\0';
        memmove(host, host + 1, strlen(host));
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;

    if (getaddrinfo(host, port, &hints, &res) != 0) {
        goto done;
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
    if (res != NULL) {
        freeaddrinfo(res);
    }
    curl_free(port);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
