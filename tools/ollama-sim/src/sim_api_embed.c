/*
 * POST /api/embed, after Ollama's EmbedHandler (server/routes.go):
 * "input" is a string or an array of strings, vectors have unit length.
 * A model without the embedding capability fails as Ollama's runner
 * does, with a 500 "this model does not support embeddings".
 */

#include <stdlib.h>

#include "sim_api.h"
#include "sim_config.h"
#include "sim_json.h"
#include "sim_models.h"
#include "sim_time.h"
#include "sim_tokens.h"


enum MHD_Result
sim_api_embed(sim_ctx_t *ctx)
{
    sim_request_t    *r = &ctx->req;
    const sim_str_t  *name = &r->model;
    sim_model_t       m;
    sim_buf_t         b;
    enum MHD_Result   res;
    float            *vec = NULL;
    size_t            i, words = 0;
    long              j;
    sim_words_t       w;
    int64_t           t_loaded;
    char              q[SIM_NAME_MAX + 16];

    if (r->input_kind == SIM_INPUT_INVALID) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "invalid input type");
    }

    if (name->n == 0) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "model is required");
    }

    if (sim_models_find(name->p, name->n, &m) != 0) {
        sim_go_quote(q, sizeof(q), name->p, name->n);
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model %s not found, try pulling it first", q);
    }

    if (sim_api_prepare(ctx, &m, &res) != 0) {
        return res;
    }
    t_loaded = sim_mono_ns();

    sim_buf_init(&b);

    if (r->ninputs == 0) {
        sim_buf_addc(&b, '{');
        sim_json_kstr(&b, "model", name->p, name->n);
        sim_buf_adds(&b, ",\"embeddings\":[]}");
        ctx->outcome = SIM_OUT_OK;
        return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
    }

    if (!(m.caps & SIM_CAP_EMBEDDING)) {
        ctx->outcome = SIM_OUT_FAILED;
        return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "this model does not support embeddings");
    }

    vec = malloc((size_t) sim_cfg.embed_dim * sizeof(float));
    if (vec == NULL) {
        return sim_reply_oom(ctx);
    }

    sim_buf_addc(&b, '{');
    sim_json_kstr(&b, "model", name->p, name->n);
    sim_json_key(&b, "embeddings");
    sim_buf_addc(&b, '[');

    for (i = 0; i < r->ninputs; i++) {
        sim_embed(r->inputs[i].p, r->inputs[i].n, vec,
                  (size_t) sim_cfg.embed_dim);
        sim_json_sep(&b);
        sim_buf_addc(&b, '[');
        for (j = 0; j < sim_cfg.embed_dim; j++) {
            sim_json_sep(&b);
            sim_json_float(&b, vec[j]);
        }
        sim_buf_addc(&b, ']');

        if (sim_words_split(&w, r->inputs[i].p, r->inputs[i].n, 1) == 0) {
            words += w.nwords;
            sim_words_free(&w);
        }
    }
    free(vec);

    sim_buf_addc(&b, ']');
    sim_json_kint(&b, "total_duration", sim_mono_ns() - ctx->t_start + 1);
    sim_json_kint(&b, "load_duration", t_loaded - ctx->t_start + 1);
    sim_json_kint(&b, "prompt_eval_count", (long long) words);
    sim_buf_addc(&b, '}');

    ctx->outcome = SIM_OUT_OK;
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}
