/*
 * The read-only endpoints: GET /, /api/version, /api/tags, /api/ps and
 * POST /api/show.  Shapes as in Ollama's docs/api.md and api/types.go.
 */

#include "sim_api.h"
#include "sim_config.h"
#include "sim_json.h"
#include "sim_models.h"


enum MHD_Result
sim_api_root(sim_ctx_t *ctx)
{
    return sim_reply_text(ctx, MHD_HTTP_OK, SIM_CT_TEXT, "Ollama is running");
}


enum MHD_Result
sim_api_version(sim_ctx_t *ctx)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "version", sim_cfg.version);
    sim_buf_addc(&b, '}');

    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


enum MHD_Result
sim_api_tags(sim_ctx_t *ctx)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_models_write_tags(&b);
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


enum MHD_Result
sim_api_ps(sim_ctx_t *ctx)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_models_write_ps(&b);
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


enum MHD_Result
sim_api_show(sim_ctx_t *ctx)
{
    const sim_str_t  *name = sim_request_model(&ctx->req);
    sim_model_t       m;
    sim_buf_t         b;

    if (name->n == 0) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "model is required");
    }

    if (sim_models_find(name->p, name->n, &m) != 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", sim_str_c(name));
    }

    sim_buf_init(&b);
    sim_models_write_show(&b, &m, (int) sim_cfg.embed_dim);
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}
