#include <stdio.h>

#include "sim_api.h"
#include "sim_config.h"
#include "sim_fault.h"
#include "sim_time.h"
#include "sim_wait.h"


const char *
sim_str_c(const sim_str_t *s)
{
    return s->p != NULL ? s->p : "";
}


/* A name model.ParseName cannot make whole (parseAndValidateModelRef). */
int
sim_name_invalid(const sim_str_t *name)
{
    char  norm[SIM_NAME_MAX + 8];

    return name->n > 0
           && sim_model_name_norm(name->p, name->n, norm, sizeof(norm)) != 0;
}


/*
 * What every model request does once the model is known, as Ollama's
 * scheduleRunner and scheduler do: check the options, take a slot,
 * then the model: loaded already, or loaded now (the load phase,
 * --load-delay-ms, which the fail-load fault makes fail).  Nothing has
 * been sent yet, so a failure here is a plain error reply.  Returns 0,
 * or -1 with *res to return.
 */
int
sim_api_prepare(sim_ctx_t *ctx, const sim_model_t *m, enum MHD_Result *res)
{
    sim_request_t  *r = &ctx->req;
    int64_t         wait_ns;
    int             loading;
    sim_use_rc_t    rc;

    if (r->bad_option[0] != '\0') {
        *res = sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               r->bad_option);
        return -1;
    }

    if (sim_ctx_acquire(ctx, res) != 0) {
        return -1;
    }

    for ( ;; ) {
        rc = sim_models_use(m->name,
                            r->has_keep_alive ? r->keep_alive_ns : -1,
                            &wait_ns, &loading);
        if (rc != SIM_USE_WAIT) {
            break;
        }
        if (sim_wait_ms(ctx->fd, 10) != SIM_WAIT_DONE) {
            *res = MHD_NO;
            return -1;
        }
    }

    if (rc == SIM_USE_MISSING) {
        *res = sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", m->name);
        return -1;
    }

    snprintf(ctx->used_model, sizeof(ctx->used_model), "%s", m->name);
    ctx->uses_model = 1;

    if (wait_ns > 0
        && sim_wait_ms(ctx->fd, (long) ((wait_ns + SIM_NS_PER_MS - 1)
                                        / SIM_NS_PER_MS))
           != SIM_WAIT_DONE)
    {
        *res = MHD_NO;
        return -1;
    }

    if (loading && sim_fault_kind() == SIM_FAULT_FAIL_LOAD) {
        ctx->uses_model = 0;
        sim_models_release(m->name, 1);
        ctx->outcome = SIM_OUT_FAILED;
        *res = sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               SIM_ERR_LOAD);
        return -1;
    }

    return 0;
}


/* The prompt phase: before the first chunk of every reply.  0, or -1
 * when the client left (or the server stops) meanwhile. */
int
sim_api_prompt_phase(sim_ctx_t *ctx)
{
    return sim_wait_ms(ctx->fd, sim_cfg.first_token_delay_ms)
           == SIM_WAIT_DONE ? 0 : -1;
}
