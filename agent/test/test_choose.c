/*
 * The choice among orchestrators found over mDNS (choose.c): only our
 * mesh's announcements count, the one in use is kept while it answers,
 * a failed one is left for another, and all are tried in turn.
 */

#include "unit.h"

#include "choose.h"


static const char *
pick(choose_t *ch)
{
    static char  out[CONF_URL_MAX];

    if (choose_pick(ch, out, sizeof(out)) != 0) {
        return "(none)";
    }
    return out;
}


int
main(void)
{
    static choose_t  ch;
    char             url[CONF_URL_MAX], key[CHOOSE_KEY_MAX + 8];
    char             tiny[24];
    int              i;

    /* announcements: the mesh TXT decides, absent means "default" */
    CHECK_INT(choose_base_url("default", "default", "/mesh/v1/nodes",
                              "10.9.0.1", 0, 8080, url, sizeof(url)), 0);
    CHECK_STR(url, "http://10.9.0.1:8080");
    CHECK_INT(choose_base_url("default", NULL, NULL, "10.9.0.1", 0, 80,
                              url, sizeof(url)), 0);
    CHECK_STR(url, "http://10.9.0.1:80");
    CHECK_INT(choose_base_url("lab", "default", NULL, "10.9.0.1", 0, 80,
                              url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", "lab", NULL, "10.9.0.1", 0, 80,
                              url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("lab", NULL, NULL, "10.9.0.1", 0, 80,
                              url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", NULL, "/mesh/v1/nodes", "fe80::1",
                              1, 8080, url, sizeof(url)), 0);
    CHECK_STR(url, "http://[fe80::1]:8080");

    /* a path under a prefix keeps the prefix; other paths are refused */
    CHECK_INT(choose_base_url("default", NULL, "/ai/mesh/v1/nodes",
                              "10.9.0.1", 0, 8080, url, sizeof(url)), 0);
    CHECK_STR(url, "http://10.9.0.1:8080/ai");
    CHECK_INT(choose_base_url("default", NULL, "/other", "10.9.0.1", 0, 1,
                              url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", NULL, "mesh/v1/nodes", "10.9.0.1",
                              0, 1, url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", NULL, "/a b/mesh/v1/nodes",
                              "10.9.0.1", 0, 1, url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", NULL, NULL, "10.9.0.1", 0, 0,
                              url, sizeof(url)), -1);
    CHECK_INT(choose_base_url("default", NULL, NULL, "10.9.0.1", 0, 8080,
                              tiny, 12), -1);

    /* nothing known */
    CHECK_STR(pick(&ch), "(none)");

    /* the first found is used, and kept when a second one appears */
    CHECK_INT(choose_add(&ch, "2/0/orch on o", "http://10.9.0.1:8080"), 0);
    CHECK_STR(pick(&ch), "http://10.9.0.1:8080");
    CHECK_INT(choose_add(&ch, "2/0/orch on p", "http://10.9.0.2:8080"), 0);
    CHECK_STR(pick(&ch), "http://10.9.0.1:8080");
    CHECK_STR(pick(&ch), "http://10.9.0.1:8080");

    /* it stops answering: the other one; that fails too: back to the
     * one that failed longest ago */
    choose_failed(&ch, "http://10.9.0.1:8080", 100.0);
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");
    choose_failed(&ch, "http://10.9.0.2:8080", 103.0);
    CHECK_STR(pick(&ch), "http://10.9.0.1:8080");
    choose_failed(&ch, "http://10.9.0.1:8080", 106.0);
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");

    /* a failure of a URL not in use does not move the agent */
    choose_failed(&ch, "http://10.9.0.1:8080", 109.0);
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");

    /* the other one resolved again, fresh: the one in use is kept */
    CHECK_INT(choose_add(&ch, "2/0/orch on o", "http://10.9.0.9:8080"), 0);
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");

    /* resolved again at a new address: a fresh candidate */
    CHECK_INT(choose_add(&ch, "2/0/orch on o", "http://10.9.0.7:8080"), 0);
    choose_failed(&ch, "http://10.9.0.2:8080", 110.0);
    CHECK_STR(pick(&ch), "http://10.9.0.7:8080");

    /* withdrawn: gone at once, even the one in use */
    choose_remove(&ch, "2/0/orch on o");
    CHECK_STR(pick(&ch), "http://10.9.0.2:8080");
    choose_remove(&ch, "2/0/orch on p");
    choose_remove(&ch, "2/0/never seen");
    CHECK_STR(pick(&ch), "(none)");
    CHECK_INT((int) ch.n, 0);

    /* bounded: a flood of announcements fills the table, no more */
    for (i = 0; i < CHOOSE_MAX + 4; i++) {
        snprintf(key, sizeof(key), "2/0/flood %d", i);
        snprintf(url, sizeof(url), "http://10.9.1.%d:8080", i);
        CHECK_INT(choose_add(&ch, key, url), i < CHOOSE_MAX ? 0 : -1);
    }
    CHECK_INT((int) ch.n, CHOOSE_MAX);
    CHECK_STR(pick(&ch), "http://10.9.1.0:8080");

    /* an over-long key or URL is refused, not cut */
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    CHECK_INT(choose_add(&ch, key, "http://10.9.0.1:1"), -1);

    return UNIT_DONE();
}
