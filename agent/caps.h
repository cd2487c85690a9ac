/*
 * The node capability report (ARCHITECTURE.md's schema plus load fields),
 * sent in every heartbeat and served on GET /agent/v1/capabilities.
 */

#ifndef ECHO_AGENT_CAPS_H
#define ECHO_AGENT_CAPS_H

#include "buf.h"
#include "conf.h"
#include "hardware.h"
#include "model.h"


typedef struct {
    const conf_t        *conf;
    const char          *host;
    const model_list_t  *models;
    const hw_info_t     *hw;
    const char          *status;
    unsigned             active;
    unsigned             queued;
    double               tokens_per_sec;
} caps_view_t;


int caps_write_json(buf_t *b, const caps_view_t *v);
const char *caps_status(int ollama_up, int draining, unsigned active,
    unsigned max_tasks);


#endif /* ECHO_AGENT_CAPS_H */
