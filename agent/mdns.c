/*
 * The avahi client's life.  AVAHI_CLIENT_NO_FAIL lets avahi wait for a
 * daemon that is not running yet (state CONNECTING) and follow one that
 * restarts; a missing D-Bus fails even so, and is retried from a timer
 * on the same poll.  Every avahi call runs on the poll thread or under
 * its lock, so heartbeats never wait on D-Bus: they only read what
 * discovery.c has already found.
 */

#include <stdio.h>
#include <string.h>

#include <avahi-client/client.h>
#include <avahi-common/error.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/timeval.h>

#include "log.h"
#include "mdns.h"


#define MDNS_RETRY_MS  5000


static void mdns_connect(void);
static void mdns_client_cb(AvahiClient *client, AvahiClientState state,
    void *ud);
static void mdns_retry_cb(AvahiTimeout *t, void *ud);
static void mdns_unavailable(const char *why);
static void mdns_forget(void);


/* owned by main's thread between mdns_start and mdns_stop */
static AvahiThreadedPoll  *mdns_poll;
static AvahiClient        *mdns_client;
static AvahiTimeout       *mdns_retry;
static mdns_self_t         mdns_self;
static int                 mdns_said;


int
mdns_start(const conf_t *c)
{
    const AvahiPoll  *api;
    struct timeval    tv;

    if (!c->mdns) {
        log_info("mdns: off; orchestrators are not searched for and this "
                 "agent is not announced");
        return 0;
    }

    snprintf(mdns_self.node_id, sizeof(mdns_self.node_id), "%s",
             c->node_id);
    snprintf(mdns_self.mesh, sizeof(mdns_self.mesh), "%s", c->mesh);
    mdns_self.port = c->advertise_port ? c->advertise_port : c->listen_port;

    mdns_poll = avahi_threaded_poll_new();
    if (mdns_poll == NULL) {
        log_error("mdns: out of memory");
        return -1;
    }

    api = avahi_threaded_poll_get(mdns_poll);

    /* disabled until a connection attempt fails */
    mdns_retry = api->timeout_new(api, NULL, mdns_retry_cb, NULL);
    if (mdns_retry == NULL) {
        goto failed;
    }

    /* the first attempt runs on the poll thread, like every later one */
    api->timeout_update(mdns_retry, avahi_elapse_time(&tv, 0, 0));

    if (avahi_threaded_poll_start(mdns_poll) < 0) {
        goto failed;
    }

    return 0;

failed:

    log_error("mdns: cannot start the avahi poll thread");
    avahi_threaded_poll_free(mdns_poll);
    mdns_poll = NULL;
    mdns_retry = NULL;
    return -1;
}


/* withdraws the announcement (freeing the group does) before leaving */
void
mdns_stop(void)
{
    const AvahiPoll  *api;

    if (mdns_poll == NULL) {
        return;
    }

    avahi_threaded_poll_stop(mdns_poll);

    mdns_forget();
    api = avahi_threaded_poll_get(mdns_poll);
    if (mdns_retry != NULL) {
        api->timeout_free(mdns_retry);
        mdns_retry = NULL;
    }

    avahi_threaded_poll_free(mdns_poll);
    mdns_poll = NULL;
}


static void
mdns_connect(void)
{
    int  error = 0;

    mdns_client = avahi_client_new(avahi_threaded_poll_get(mdns_poll),
                                   AVAHI_CLIENT_NO_FAIL, mdns_client_cb,
                                   NULL, &error);
    if (mdns_client == NULL) {
        mdns_unavailable(avahi_strerror(error));
    }
}


static void
mdns_client_cb(AvahiClient *client, AvahiClientState state, void *ud)
{
    struct timeval  tv;

    (void) ud;

    switch (state) {

    case AVAHI_CLIENT_S_RUNNING:
        if (mdns_said) {
            log_info("mdns: avahi-daemon reachable again");
            mdns_said = 0;
        }
        announce_running(client, &mdns_self);
        discovery_running(client, &mdns_self);
        break;

    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
        /* the host name changed: announce again once it settles */
        announce_reset();
        break;

    case AVAHI_CLIENT_CONNECTING:
        /* the daemon is away; what we made with it is gone with it */
        announce_free();
        discovery_free();
        mdns_unavailable("it is not running");
        break;

    case AVAHI_CLIENT_FAILURE:
        announce_free();
        discovery_free();
        mdns_unavailable(avahi_strerror(avahi_client_errno(client)));

        /* freed from the timer, never inside its own callback */
        avahi_threaded_poll_get(mdns_poll)->timeout_update(mdns_retry,
            avahi_elapse_time(&tv, MDNS_RETRY_MS, 0));
        break;
    }
}


static void
mdns_retry_cb(AvahiTimeout *t, void *ud)
{
    const AvahiPoll  *api;
    struct timeval    tv;

    (void) ud;

    api = avahi_threaded_poll_get(mdns_poll);
    api->timeout_update(t, NULL);

    mdns_forget();
    mdns_connect();

    if (mdns_client == NULL) {
        api->timeout_update(t, avahi_elapse_time(&tv, MDNS_RETRY_MS, 0));
    }
}


static void
mdns_unavailable(const char *why)
{
    if (mdns_said) {
        log_debug("mdns: still unavailable: %s", why);
        return;
    }

    mdns_said = 1;
    log_warn("mdns: cannot reach avahi-daemon (%s): not announced and not "
             "searching for orchestrators until it answers (retrying in the "
             "background)", why);
}


static void
mdns_forget(void)
{
    announce_free();
    discovery_free();

    if (mdns_client != NULL) {
        avahi_client_free(mdns_client);
        mdns_client = NULL;
    }
}
