/*
 * Which discovered orchestrator to join: the orchestrators of our mesh
 * that mDNS currently shows, and the one in use.  Pure logic, no locks:
 * discovery.c holds its lock around every call.
 */

#ifndef ECHO_AGENT_CHOOSE_H
#define ECHO_AGENT_CHOOSE_H

#include <stddef.h>

#include "conf.h"


#define CHOOSE_MAX        16
#define CHOOSE_KEY_MAX    160
#define CHOOSE_PATH       "/mesh/v1/nodes"


typedef struct {
    char       key[CHOOSE_KEY_MAX];    /* interface, protocol, name */
    char       url[CONF_URL_MAX];
    double     failed_at;              /* 0: has not failed */
    unsigned   seq;                    /* order of discovery */
} choose_cand_t;


typedef struct {
    choose_cand_t  cand[CHOOSE_MAX];
    size_t         n;
    unsigned       seq;
    char           current[CONF_URL_MAX];
} choose_t;


int choose_base_url(const char *mesh, const char *txt_mesh,
    const char *txt_path, const char *addr, int ipv6, unsigned port,
    char *out, size_t size);
int choose_add(choose_t *ch, const char *key, const char *url);
void choose_remove(choose_t *ch, const char *key);
int choose_pick(choose_t *ch, char *out, size_t size);
void choose_failed(choose_t *ch, const char *url, double now);


#endif /* ECHO_AGENT_CHOOSE_H */
