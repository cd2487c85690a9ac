/*
 * POST /api/generate and POST /api/chat.  The checks, their order and
 * their messages follow Ollama's server/routes.go (GenerateHandler,
 * ChatHandler, scheduleRunner, handleScheduleError) at the release in
 * SIM_OLLAMA_VERSION, so a client sees the same status and text as from
 * a real server.
 */

#include <stdio.h>

#include "sim_api.h"
#include "sim_config.h"
#include "sim_gen.h"
#include "sim_json.h"
#include "sim_models.h"

#define SIM_ERR_NO_VISION \
    "this model is missing data required for image input"


static int
sim_unload_asked(const sim_request_t *r)
{
    return r->has_keep_alive && r->keep_alive_ns == 0;
}


/* Checks both handlers make before the model is looked up. */
static int
sim_gen_early(sim_ctx_t *ctx, enum MHD_Result *res)
{
    sim_request_t  *r = &ctx->req;

    if (r->has_top_logprobs
        && (r->top_logprobs < 0 || r->top_logprobs > 20))
    {
        *res = sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "top_logprobs must be between 0 and 20");
        return -1;
    }

    return 0;
}


static enum MHD_Result
sim_gen_no_think(sim_ctx_t *ctx, const sim_str_t *name)
{
    char  q[SIM_NAME_MAX + 16];

    sim_go_quote(q, sizeof(q), name->p, name->n);
    return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                           "%s does not support thinking", q);
}


static enum MHD_Result
sim_gen_no_vision(sim_ctx_t *ctx)
{
    ctx->outcome = SIM_OUT_FAILED;
    return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                           SIM_ERR_NO_VISION);
}


enum MHD_Result
sim_api_generate(sim_ctx_t *ctx)
{
    sim_request_t    *r = &ctx->req;
    const sim_str_t  *name = &r->model;
    sim_model_t       m;
    enum MHD_Result   res;
    char              q[SIM_NAME_MAX + 16], full[SIM_NAME_MAX + 64];

    if (sim_gen_early(ctx, &res) != 0) {
        return res;
    }

    if (sim_name_invalid(name)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "invalid model name");
    }

    if (sim_models_find(sim_str_c(name), name->n, &m) != 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", sim_str_c(name));
    }

    if (r->prompt.n == 0 && sim_unload_asked(r)) {
        sim_models_expire(m.name);
        return sim_gen_done_reply(ctx, 0, name, "unload");
    }

    if (r->raw && (r->has_template || r->has_system || r->ncontext > 0)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "raw mode does "
                               "not support template, system, or context");
    }

    if (r->think && !(m.caps & SIM_CAP_THINKING)) {
        return sim_gen_no_think(ctx, name);
    }

    if (!(m.caps & SIM_CAP_COMPLETION)) {
        sim_go_quote(q, sizeof(q), name->p, name->n);
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "%s does not support generate", q);
    }

    if (r->has_suffix && !(m.caps & SIM_CAP_INSERT)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "%s does not support insert",
                               sim_model_full_name(&m, full, sizeof(full)));
    }

    if (sim_api_prepare(ctx, &m, &res) != 0) {
        return res;
    }

    if (r->prompt.n == 0) {
        return sim_gen_done_reply(ctx, 0, name, "load");
    }

    if (r->nimages > 0 && !(m.caps & SIM_CAP_VISION)) {
        return sim_gen_no_vision(ctx);
    }

    return sim_gen_start(ctx, 0, name, &r->prompt);
}


enum MHD_Result
sim_api_chat(sim_ctx_t *ctx)
{
    sim_request_t    *r = &ctx->req;
    const sim_str_t  *name = &r->model;
    sim_model_t       m;
    enum MHD_Result   res;
    char              q[SIM_NAME_MAX + 16], full[SIM_NAME_MAX + 64];

    if (sim_gen_early(ctx, &res) != 0) {
        return res;
    }

    if (name->n == 0) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "model is required");
    }

    if (sim_name_invalid(name)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "invalid model name");
    }

    if (sim_models_find(name->p, name->n, &m) != 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", sim_str_c(name));
    }

    if (r->nmessages == 0 && sim_unload_asked(r)) {
        sim_models_expire(m.name);
        return sim_gen_done_reply(ctx, 1, name, "unload");
    }

    if (r->think && !(m.caps & SIM_CAP_THINKING)) {
        return sim_gen_no_think(ctx, name);
    }

    if (!(m.caps & SIM_CAP_COMPLETION)) {
        sim_go_quote(q, sizeof(q), name->p, name->n);
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "%s does not support chat", q);
    }

    if (r->ntools > 0 && !(m.caps & SIM_CAP_TOOLS)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "%s does not support tools",
                               sim_model_full_name(&m, full, sizeof(full)));
    }

    if (sim_api_prepare(ctx, &m, &res) != 0) {
        return res;
    }

    if (r->nmessages == 0) {
        return sim_gen_done_reply(ctx, 1, name, "load");
    }

    if (r->nimages > 0 && !(m.caps & SIM_CAP_VISION)) {
        return sim_gen_no_vision(ctx);
    }

    return sim_gen_start(ctx, 1, name, &r->last_user);
}
