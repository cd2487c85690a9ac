#include "sim_api.h"

#define SIM_ERR_NUM_PREDICT \
    "option \"num_predict\" must be of type integer"


const char *
sim_str_c(const sim_str_t *s)
{
    return s->p != NULL ? s->p : "";
}


/*
 * What every model request does once the model is known: check the
 * options (Ollama's scheduleRunner), take a slot, mark the model
 * loaded for keep_alive.  Returns 0, or -1 with *res to return.
 */
int
sim_api_prepare(sim_ctx_t *ctx, const sim_model_t *m, enum MHD_Result *res)
{
    sim_request_t  *r = &ctx->req;

    if (r->bad_num_predict) {
        *res = sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               SIM_ERR_NUM_PREDICT);
        return -1;
    }

    if (sim_ctx_acquire(ctx, res) != 0) {
        return -1;
    }

    sim_models_touch(m->name, r->has_keep_alive ? r->keep_alive_ns : -1);
    return 0;
}
