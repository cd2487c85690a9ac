/*
 * The advertised address: the route towards the orchestrator, found with
 * a lookup that never holds a heartbeat longer than its bound, and whose
 * failures are cached like its successes.  The resolver's entry points
 * are interposed to count lookups and to stand in for a resolver that
 * does not answer; the rest is the real resolver on this machine.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <netdb.h>
#include <time.h>

#include "unit.h"

#include "advertise.h"


#define WATCHDOG_SECS  60


int getaddrinfo_a(int mode, struct gaicb *list[], int n,
    struct sigevent *sev);
int gai_suspend(const struct gaicb *const list[], int n,
    const struct timespec *timeout);
int getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

static unsigned       lookups;
static int            stall;
static struct gaicb  *stalled;


int
getaddrinfo_a(int mode, struct gaicb *list[], int n, struct sigevent *sev)
{
    int  (*real)(int, struct gaicb **, int, struct sigevent *);

    lookups++;

    if (stall) {
        list[0]->__return = EAI_INPROGRESS;
        stalled = list[0];
        return 0;
    }

    *(void **) &real = dlsym(RTLD_NEXT, "getaddrinfo_a");
    return real(mode, list, n, sev);
}


/* a lookup in line, counted too: stalled, it stalls the caller */
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
    int  (*real)(const char *, const char *, const struct addrinfo *,
                 struct addrinfo **);

    lookups++;

    while (stall) {
        sleep(1);
    }

    *(void **) &real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}


int
gai_suspend(const struct gaicb *const list[], int n,
    const struct timespec *timeout)
{
    int  (*real)(const struct gaicb *const *, int, const struct timespec *);

    if (stalled != NULL && list[0] == stalled
        && stalled->__return == EAI_INPROGRESS)
    {
        nanosleep(timeout, NULL);
        return EAI_AGAIN;
    }

    *(void **) &real = dlsym(RTLD_NEXT, "gai_suspend");
    return real(list, n, timeout);
}


static const char *
advertised(conf_t *c, const char *orchestrator)
{
    static char  out[64];

    snprintf(c->orchestrator, sizeof(c->orchestrator), "%s", orchestrator);
    advertise_host(c, c->orchestrator, out, sizeof(out));
    return out;
}


int
main(void)
{
    static conf_t  c;
    unsigned       i, before;

    unit_watchdog(WATCHDOG_SECS);

    snprintf(c.listen_host, sizeof(c.listen_host), "0.0.0.0");
    snprintf(c.node_id, sizeof(c.node_id), "node-x");

    /* configured, or bound to one address: no lookup at all */
    snprintf(c.advertise_host, sizeof(c.advertise_host), "10.1.2.3");
    CHECK_STR(advertised(&c, "http://127.0.0.1:9"), "10.1.2.3");
    c.advertise_host[0] = '\0';
    CHECK_STR(advertised(&c, ""), "node-x");
    CHECK_INT(lookups, 0);

    /* the route, found once and cached */
    CHECK_STR(advertised(&c, "http://127.0.0.1:9"), "127.0.0.1");
    CHECK_STR(advertised(&c, "http://[::1]:9/mesh"), "::1");
    for (i = 0; i < 20; i++) {
        CHECK_STR(advertised(&c, "http://[::1]:9/mesh"), "::1");
    }
    CHECK_INT(lookups, 2);

    /* a name that does not resolve: the node id, and one lookup only */
    before = lookups;
    for (i = 0; i < 20; i++) {
        CHECK_STR(advertised(&c, "http://no-such-host.invalid:9"), "node-x");
    }
    CHECK_INT(lookups, before + 1);

    /* a resolver that does not answer: each call waits its bound only,
     * and no second lookup is started while the first runs */
    stall = 1;
    before = lookups;
    for (i = 0; i < 3; i++) {
        CHECK_STR(advertised(&c, "http://orch.stalled.test:9"), "node-x");
    }
    CHECK_INT(lookups, before + 1);

    /* it fails at last: cached too */
    stalled->__return = EAI_AGAIN;
    for (i = 0; i < 20; i++) {
        CHECK_STR(advertised(&c, "http://orch.stalled.test:9"), "node-x");
    }
    CHECK_INT(lookups, before + 1);
    stall = 0;
    stalled = NULL;

    /* another orchestrator (a reload) is looked up at once */
    CHECK_STR(advertised(&c, "http://127.0.0.1:9"), "127.0.0.1");
    CHECK_INT(lookups, before + 2);

    advertise_shutdown();
    return UNIT_DONE();
}
