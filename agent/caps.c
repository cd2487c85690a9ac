/*
 * Model sizes are in GB of 10^9 bytes, as "ollama list" shows them; RAM
 * and VRAM are in GiB, as machines are sold.  A model's type comes from
 * the config override when there is one, else from classification.
 */

#include <string.h>

#include "caps.h"
#include "classify.h"


#define GIB  (1024.0 * 1024.0 * 1024.0)


const char *
caps_status(int ollama_up, int draining, unsigned active, unsigned max_tasks)
{
    if (draining) {
        return "draining";
    }
    if (!ollama_up) {
        return "degraded";
    }
    if (active >= max_tasks) {
        return "busy";
    }

    return "idle";
}


int
caps_write_json(buf_t *b, const caps_view_t *v)
{
    size_t          i;
    int             rc, type;
    const model_t  *m;

    rc = buf_puts(b, "{\"node_id\":");
    rc |= buf_json_string(b, v->conf->node_id, strlen(v->conf->node_id));
    rc |= buf_puts(b, ",\"host\":");
    rc |= buf_json_string(b, v->host, strlen(v->host));
    rc |= buf_printf(b, ",\"port\":%u,\"models\":[", v->conf->advertise_port);

    for (i = 0; i < v->models->n; i++) {
        m = &v->models->items[i];

        type = conf_model_type(v->conf, m->name);
        if (type < 0) {
            type = (int) m->type;
        }

        rc |= buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= buf_json_string(b, m->name, strlen(m->name));
        rc |= buf_printf(b, ",\"type\":\"%s\",\"size_gb\":%.1f,"
                         "\"loaded\":%s}", model_type_name(type),
                         (double) m->size / 1e9,
                         m->loaded ? "true" : "false");
    }

    rc |= buf_printf(b, "],\"hardware\":{\"ram_total_gb\":%.1f,"
                     "\"ram_free_gb\":%.1f,\"has_gpu\":%s,"
                     "\"gpu_vram_gb\":%.1f},",
                     (double) v->hw->mem_total / GIB,
                     (double) v->hw->mem_available / GIB,
                     v->hw->has_gpu ? "true" : "false",
                     (double) v->hw->vram_total / GIB);

    rc |= buf_printf(b, "\"status\":\"%s\",\"active_tasks\":%u,"
                     "\"max_tasks\":%u,\"queued\":%u,"
                     "\"tokens_per_sec\":%.1f,\"agent_version\":\"%s\"}",
                     v->status, v->active, v->conf->max_tasks, v->queued,
                     v->tokens_per_sec, AGENT_VERSION);

    return rc ? -1 : 0;
}
