/*
 * The choice among discovered orchestrators.  An agent stays with the
 * orchestrator it uses while that one answers and is still announced, so
 * a second orchestrator appearing moves nobody; when it fails, the next
 * pick is one that has not failed (the earliest discovered), or else the
 * one that failed longest ago, so every orchestrator of the mesh is
 * tried in turn.  Announcements of another mesh never become candidates.
 */

#include <stdio.h>
#include <string.h>

#include "choose.h"


static choose_cand_t *choose_find(choose_t *ch, const char *key);


/*
 * The URL heartbeats are sent under (heartbeat.c appends the rest of
 * CHOOSE_PATH's API), or -1 for an announcement that is not ours: another
 * mesh, or a path that is not the node API.  No mesh TXT is the default
 * mesh.
 */
int
choose_base_url(const char *mesh, const char *txt_mesh, const char *txt_path,
    const char *addr, int ipv6, unsigned port, char *out, size_t size)
{
    size_t  len, plen;
    int     n;

    if (strcmp(mesh, txt_mesh != NULL ? txt_mesh : "default") != 0) {
        return -1;
    }

    if (txt_path == NULL) {
        txt_path = CHOOSE_PATH;
    }

    len = strlen(txt_path);
    plen = sizeof(CHOOSE_PATH) - 1;
    if (len < plen || strcmp(txt_path + len - plen, CHOOSE_PATH) != 0
        || txt_path[0] != '/' || port == 0 || port > 65535
        || strpbrk(txt_path, " \t\r\n?#%\"\\") != NULL)
    {
        return -1;
    }

    n = snprintf(out, size, ipv6 ? "http://[%s]:%u%.*s" : "http://%s:%u%.*s",
                 addr, port, (int) (len - plen), txt_path);

    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}


/* a new service, or a known one resolved again (perhaps elsewhere) */
int
choose_add(choose_t *ch, const char *key, const char *url)
{
    choose_cand_t  *c;

    if (strlen(key) >= CHOOSE_KEY_MAX || strlen(url) >= CONF_URL_MAX) {
        return -1;
    }

    c = choose_find(ch, key);
    if (c == NULL) {
        if (ch->n == CHOOSE_MAX) {
            return -1;
        }
        c = &ch->cand[ch->n++];
        memset(c, 0, sizeof(*c));
        snprintf(c->key, sizeof(c->key), "%s", key);
        c->seq = ++ch->seq;

    } else if (strcmp(c->url, url) != 0) {
        c->failed_at = 0;
    }

    snprintf(c->url, sizeof(c->url), "%s", url);
    return 0;
}


void
choose_remove(choose_t *ch, const char *key)
{
    choose_cand_t  *c;

    c = choose_find(ch, key);
    if (c == NULL) {
        return;
    }

    *c = ch->cand[--ch->n];
}


/* 0 with the URL to use in out, -1 when no orchestrator is known */
int
choose_pick(choose_t *ch, char *out, size_t size)
{
    choose_cand_t  *c, *best = NULL;
    size_t          i;

    for (i = 0; i < ch->n; i++) {
        c = &ch->cand[i];

        if (ch->current[0] != '\0' && strcmp(c->url, ch->current) == 0) {
            best = c;
            break;
        }

        if (best == NULL
            || (c->failed_at == 0 && best->failed_at != 0)
            || (c->failed_at == best->failed_at && c->seq < best->seq)
            || (c->failed_at != 0 && best->failed_at != 0
                && c->failed_at < best->failed_at))
        {
            best = c;
        }
    }

    if (best == NULL) {
        ch->current[0] = '\0';
        return -1;
    }

    snprintf(ch->current, sizeof(ch->current), "%s", best->url);
    snprintf(out, size, "%s", best->url);
    return 0;
}


/* the orchestrator at url did not answer: the next pick is another one */
void
choose_failed(choose_t *ch, const char *url, double now)
{
    size_t  i;

    for (i = 0; i < ch->n; i++) {
        if (strcmp(ch->cand[i].url, url) == 0) {
            ch->cand[i].failed_at = now;
        }
    }

    if (strcmp(ch->current, url) == 0) {
        ch->current[0] = '\0';
    }
}


static choose_cand_t *
choose_find(choose_t *ch, const char *key)
{
    size_t  i;

    for (i = 0; i < ch->n; i++) {
        if (strcmp(ch->cand[i].key, key) == 0) {
            return &ch->cand[i];
        }
    }

    return NULL;
}
