/*
 * Browses _echo-mesh._tcp and resolves every orchestrator announced; the
 * ones of this agent's mesh become candidates (choose.c) and the
 * heartbeat takes the chosen one from here.  The candidates have their
 * own lock, held only to copy a URL, so a heartbeat never waits for a
 * D-Bus call made on the avahi poll thread.  Found orchestrators are kept
 * while avahi-daemon is away: a node that has joined stays joined.
 */

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <avahi-client/lookup.h>
#include <avahi-common/address.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>

#include "choose.h"
#include "discovery.h"
#include "heartbeat.h"
#include "log.h"
#include "mdns.h"


#define DISC_TYPE      "_echo-mesh._tcp"
#define DISC_TXT_MAX   256


static void discovery_browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface,
    AvahiProtocol proto, AvahiBrowserEvent event, const char *name,
    const char *type, const char *domain, AvahiLookupResultFlags flags,
    void *ud);
static void discovery_resolve_cb(AvahiServiceResolver *r,
    AvahiIfIndex iface, AvahiProtocol proto, AvahiResolverEvent event,
    const char *name, const char *type, const char *domain,
    const char *host, const AvahiAddress *a, uint16_t port,
    AvahiStringList *txt, AvahiLookupResultFlags flags, void *ud);
static const char *discovery_txt(AvahiStringList *txt, const char *key,
    char *buf, size_t size);
static void discovery_key(char *out, size_t size, AvahiIfIndex iface,
    AvahiProtocol proto, const char *name);
static double discovery_now(void);


/* the poll thread's */
static AvahiServiceBrowser  *disc_browser;
static const mdns_self_t    *disc_self;

/* any thread's, under disc_lock */
static pthread_mutex_t       disc_lock = PTHREAD_MUTEX_INITIALIZER;
static choose_t              disc_choice;


int
discovery_target(const conf_t *c, char *out, size_t size)
{
    int  rc;

    if (c->orchestrator[0] != '\0') {
        snprintf(out, size, "%s", c->orchestrator);
        return 0;
    }

    out[0] = '\0';
    if (!c->mdns) {
        return -1;
    }

    pthread_mutex_lock(&disc_lock);
    rc = choose_pick(&disc_choice, out, size);
    pthread_mutex_unlock(&disc_lock);

    return rc;
}


/* a configured orchestrator is kept whatever happens */
void
discovery_failed(const conf_t *c, const char *url)
{
    if (c->orchestrator[0] != '\0') {
        return;
    }

    pthread_mutex_lock(&disc_lock);
    choose_failed(&disc_choice, url, discovery_now());
    pthread_mutex_unlock(&disc_lock);
}


void
discovery_running(AvahiClient *client, const mdns_self_t *self)
{
    disc_self = self;

    if (disc_browser != NULL) {
        return;
    }

    disc_browser = avahi_service_browser_new(client, AVAHI_IF_UNSPEC,
                                             AVAHI_PROTO_UNSPEC, DISC_TYPE,
                                             NULL, 0, discovery_browse_cb,
                                             client);
    if (disc_browser == NULL) {
        log_warn("mdns: cannot browse " DISC_TYPE ": %s",
                 avahi_strerror(avahi_client_errno(client)));
    }
}


void
discovery_free(void)
{
    if (disc_browser != NULL) {
        avahi_service_browser_free(disc_browser);
        disc_browser = NULL;
    }
}


static void
discovery_browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface,
    AvahiProtocol proto, AvahiBrowserEvent event, const char *name,
    const char *type, const char *domain, AvahiLookupResultFlags flags,
    void *ud)
{
    AvahiClient  *client = ud;
    char          key[CHOOSE_KEY_MAX];

    (void) flags;

    switch (event) {

    case AVAHI_BROWSER_NEW:
        /* the resolver frees itself in its callback */
        if (avahi_service_resolver_new(client, iface, proto, name, type,
                                       domain, AVAHI_PROTO_UNSPEC, 0,
                                       discovery_resolve_cb, NULL)
            == NULL)
        {
            log_warn("mdns: cannot resolve \"%s\": %s", name,
                     avahi_strerror(avahi_client_errno(client)));
        }
        break;

    case AVAHI_BROWSER_REMOVE:
        discovery_key(key, sizeof(key), iface, proto, name);
        pthread_mutex_lock(&disc_lock);
        choose_remove(&disc_choice, key);
        pthread_mutex_unlock(&disc_lock);
        log_info("mdns: orchestrator \"%s\" withdrawn", name);
        break;

    case AVAHI_BROWSER_FAILURE:
        log_warn("mdns: browsing " DISC_TYPE " failed: %s",
                 avahi_strerror(avahi_client_errno(
                     avahi_service_browser_get_client(b))));
        break;

    case AVAHI_BROWSER_CACHE_EXHAUSTED:
    case AVAHI_BROWSER_ALL_FOR_NOW:
        break;
    }
}


static void
discovery_resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface,
    AvahiProtocol proto, AvahiResolverEvent event, const char *name,
    const char *type, const char *domain, const char *host,
    const AvahiAddress *a, uint16_t port, AvahiStringList *txt,
    AvahiLookupResultFlags flags, void *ud)
{
    char         addr[AVAHI_ADDRESS_STR_MAX], key[CHOOSE_KEY_MAX];
    char         url[CONF_URL_MAX], mbuf[DISC_TXT_MAX], pbuf[DISC_TXT_MAX];
    const char  *mesh, *path;
    int          v6, rc, first;

    (void) type;
    (void) domain;
    (void) flags;
    (void) ud;

    if (event != AVAHI_RESOLVER_FOUND) {
        log_debug("mdns: cannot resolve orchestrator \"%s\": %s", name,
                  avahi_strerror(avahi_client_errno(
                      avahi_service_resolver_get_client(r))));
        goto done;
    }

    avahi_address_snprint(addr, sizeof(addr), a);
    v6 = (a->proto == AVAHI_PROTO_INET6);

    /* a link-local IPv6 address needs its zone, which a URL cannot carry
     * to the orchestrator's node registry */
    if (v6 && strncmp(addr, "fe80:", 5) == 0) {
        log_debug("mdns: orchestrator \"%s\" skipped: link-local %s", name,
                  addr);
        goto done;
    }

    mesh = discovery_txt(txt, "mesh", mbuf, sizeof(mbuf));
    path = discovery_txt(txt, "path", pbuf, sizeof(pbuf));

    if (choose_base_url(disc_self->mesh, mesh, path, addr, v6, port, url,
                        sizeof(url)) != 0)
    {
        log_debug("mdns: orchestrator \"%s\" on %s (%s) is not one of mesh "
                  "\"%s\" (mesh=%s path=%s)", name, host, addr,
                  disc_self->mesh, mesh ? mesh : "-", path ? path : "-");
        goto done;
    }

    discovery_key(key, sizeof(key), iface, proto, name);

    pthread_mutex_lock(&disc_lock);
    first = (disc_choice.n == 0);
    rc = choose_add(&disc_choice, key, url);
    pthread_mutex_unlock(&disc_lock);

    if (rc != 0) {
        log_warn("mdns: orchestrator \"%s\" at %s not kept: already %d "
                 "known", name, url, CHOOSE_MAX);
    } else {
        log_info("mdns: found orchestrator \"%s\" of mesh \"%s\" at %s",
                 name, disc_self->mesh, url);

        /* the first one known: join now, not at the next beat */
        if (first) {
            heartbeat_kick();
        }
    }

done:

    avahi_service_resolver_free(r);
}


/* the value of key=value, bounded; NULL when absent or too long */
static const char *
discovery_txt(AvahiStringList *txt, const char *key, char *buf, size_t size)
{
    AvahiStringList  *item;
    char             *k = NULL, *v = NULL;
    size_t            len = 0;
    const char       *found = NULL;

    item = avahi_string_list_find(txt, key);
    if (item == NULL
        || avahi_string_list_get_pair(item, &k, &v, &len) != 0)
    {
        return NULL;
    }

    if (v != NULL && len < size && memchr(v, '\0', len) == NULL) {
        memcpy(buf, v, len);
        buf[len] = '\0';
        found = buf;
    }

    avahi_free(k);
    avahi_free(v);
    return found;
}


static void
discovery_key(char *out, size_t size, AvahiIfIndex iface,
    AvahiProtocol proto, const char *name)
{
    snprintf(out, size, "%d/%d/%.*s", (int) iface, (int) proto,
             CHOOSE_KEY_MAX - 16, name);
}


static double
discovery_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
