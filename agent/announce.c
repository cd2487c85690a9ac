/*
 * This agent's own announcement: _echo-agent._tcp, named after the node
 * id, with TXT txtvers, node, version and mesh, so a dashboard or an
 * operator running avahi-browse sees every agent of every mesh.  Another
 * service of the same name on the network gets us the next alternative
 * name ("node #2"); freeing the entry group withdraws it.
 */

#include <stdio.h>

#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>

#include "log.h"
#include "mdns.h"


#define ANNOUNCE_TYPE      "_echo-agent._tcp"
#define ANNOUNCE_TXT_MAX   128


static void announce_add(AvahiEntryGroup *g);
static void announce_group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state,
    void *ud);


/* the poll thread's, or main's once the poll has stopped */
static AvahiEntryGroup    *ann_group;
static const mdns_self_t  *ann_self;
static char               *ann_name;


void
announce_running(AvahiClient *client, const mdns_self_t *self)
{
    ann_self = self;

    if (ann_name == NULL) {
        ann_name = avahi_strdup(self->node_id);
        if (ann_name == NULL) {
            log_error("mdns: out of memory");
            return;
        }
    }

    if (ann_group == NULL) {
        ann_group = avahi_entry_group_new(client, announce_group_cb, NULL);
        if (ann_group == NULL) {
            log_warn("mdns: cannot announce this agent: %s",
                     avahi_strerror(avahi_client_errno(client)));
            return;
        }
    }

    if (avahi_entry_group_is_empty(ann_group)) {
        announce_add(ann_group);
    }
}


void
announce_reset(void)
{
    if (ann_group != NULL) {
        avahi_entry_group_reset(ann_group);
    }
}


void
announce_free(void)
{
    if (ann_group != NULL) {
        avahi_entry_group_free(ann_group);
        ann_group = NULL;
    }
}


static void
announce_add(AvahiEntryGroup *g)
{
    char   node[ANNOUNCE_TXT_MAX], mesh[ANNOUNCE_TXT_MAX];
    char  *alt = NULL;
    int    rc;

    snprintf(node, sizeof(node), "node=%s", ann_self->node_id);
    snprintf(mesh, sizeof(mesh), "mesh=%s", ann_self->mesh);

    for ( ;; ) {
        rc = avahi_entry_group_add_service(g, AVAHI_IF_UNSPEC,
                                           AVAHI_PROTO_UNSPEC, 0, ann_name,
                                           ANNOUNCE_TYPE, NULL, NULL,
                                           (uint16_t) ann_self->port,
                                           "txtvers=1", node,
                                           "version=" AGENT_VERSION, mesh,
                                           NULL);
        if (rc != AVAHI_ERR_COLLISION) {
            break;
        }

        /* taken locally (another agent on this host): the next name */
        alt = avahi_alternative_service_name(ann_name);
        if (alt == NULL) {
            log_error("mdns: out of memory");
            return;
        }
        avahi_free(ann_name);
        ann_name = alt;
    }

    if (rc < 0 || (rc = avahi_entry_group_commit(g)) < 0) {
        log_warn("mdns: cannot announce \"%s\": %s", ann_name,
                 avahi_strerror(rc));
    }
}


static void
announce_group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *ud)
{
    char  *alt = NULL;

    (void) ud;

    switch (state) {

    case AVAHI_ENTRY_GROUP_ESTABLISHED:
        log_info("mdns: announced as \"%s\" (" ANNOUNCE_TYPE ", mesh %s, "
                 "port %u)", ann_name, ann_self->mesh, ann_self->port);
        break;

    case AVAHI_ENTRY_GROUP_COLLISION:
        alt = avahi_alternative_service_name(ann_name);
        if (alt == NULL) {
            log_error("mdns: out of memory");
            break;
        }
        log_warn("mdns: the name \"%s\" is taken on the network, "
                 "announcing as \"%s\"", ann_name, alt);
        avahi_free(ann_name);
        ann_name = alt;
        avahi_entry_group_reset(g);
        announce_add(g);
        break;

    case AVAHI_ENTRY_GROUP_FAILURE:
        log_warn("mdns: the announcement failed: %s",
                 avahi_strerror(avahi_client_errno(
                     avahi_entry_group_get_client(g))));
        break;

    case AVAHI_ENTRY_GROUP_UNCOMMITED:
    case AVAHI_ENTRY_GROUP_REGISTERING:
        break;
    }
}
