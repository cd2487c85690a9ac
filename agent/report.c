/*
 * Joins the inventory, the task counter and the token rate into the
 * capability schema; the heartbeat and GET /agent/v1/capabilities send
 * the same text so the orchestrator sees one truth.
 */

#include "advertise.h"
#include "caps.h"
#include "discovery.h"
#include "inventory.h"
#include "metrics.h"
#include "report.h"
#include "runtime.h"


int
report_build(buf_t *b, const conf_t *c)
{
    model_list_t  models;
    hw_info_t     hw;
    caps_view_t   v;
    char          host[CONF_HOST_MAX + 1], orch[CONF_URL_MAX];
    int           up, rc;

    if (inventory_snapshot(&models, &hw, &up) != 0) {
        return -1;
    }

    (void) discovery_target(c, orch, sizeof(orch));
    advertise_host(c, orch, host, sizeof(host));

    v.conf = c;
    v.host = host;
    v.models = &models;
    v.hw = &hw;
    v.active = runtime_active();
    v.queued = 0;
    v.status = caps_status(up, runtime_draining(), v.active, c->max_tasks);
    v.tokens_per_sec = metrics_tokens_per_sec();

    rc = caps_write_json(b, &v);

    model_list_free(&models);
    return rc;
}
