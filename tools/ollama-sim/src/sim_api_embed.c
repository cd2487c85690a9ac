/*
 * POST /api/embed, after Ollama's EmbedHandler (server/routes.go):
 * "input" is a string or an array of strings, vectors have unit length.
 * A model without the embedding capability fails as Ollama's runner
 * does, with a 500 "this model does not support embeddings".  And the
 * legacy POST /api/embeddings (EmbeddingsHandler): one "prompt", one
 * "embedding" of float64s.
 */

#include <stdlib.h>

#include "sim_api.h"
#include "sim_config.h"
#include "sim_json.h"
#include "sim_models.h"
#include "sim_openai.h"
#include "sim_time.h"
#include "sim_tokens.h"

#define SIM_ERR_NO_EMBED  "this model does not support embeddings"


static int sim_embed_model(sim_ctx_t *ctx, sim_model_t *m,
    enum MHD_Result *res);
static int sim_embed_run(sim_ctx_t *ctx, const sim_model_t *m,
    enum MHD_Result *res);


/* The model, as both handlers find and load it (getModel's error goes
 * through handleScheduleError: os.ErrNotExist is a 404). */
static int
sim_embed_model(sim_ctx_t *ctx, sim_model_t *m, enum MHD_Result *res)
{
    const sim_str_t  *name = &ctx->req.model;
    char              q[SIM_NAME_MAX + 16];

    if (sim_models_find(name->p, name->n, m) != 0) {
        sim_go_quote(q, sizeof(q), name->p, name->n);
        *res = sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model %s not found, try pulling it first", q);
        return -1;
    }

    return sim_api_prepare(ctx, m, res);
}


/* Before the vectors: the runner refuses a model that does not embed,
 * then the prompt phase. */
static int
sim_embed_run(sim_ctx_t *ctx, const sim_model_t *m, enum MHD_Result *res)
{
    if (!(m->caps & SIM_CAP_EMBEDDING)) {
        ctx->outcome = SIM_OUT_FAILED;
        *res = sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               SIM_ERR_NO_EMBED);
        return -1;
    }

    if (sim_api_prompt_phase(ctx) != 0) {
        *res = MHD_NO;
        return -1;
    }

    return 0;
}


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

    if (name->n == 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND, "model '' not found");
    }

    if (sim_name_invalid(name)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "invalid model name");
    }

    if (r->input_kind == SIM_INPUT_INVALID) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "invalid input type");
    }

    if (sim_embed_model(ctx, &m, &res) != 0) {
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

    if (sim_embed_run(ctx, &m, &res) != 0) {
        return res;
    }

    vec = malloc((size_t) sim_cfg.embed_dim * sizeof(float));
    if (vec == NULL) {
        return sim_reply_oom(ctx);
    }

    if (ctx->oa.kind != SIM_OA_NONE) {
        /* openai.ToEmbeddingList */
        sim_buf_adds(&b, "{\"object\":\"list\",\"data\":[");
    } else {
        sim_buf_addc(&b, '{');
        sim_json_kstr(&b, "model", name->p, name->n);
        sim_json_key(&b, "embeddings");
        sim_buf_addc(&b, '[');
    }

    for (i = 0; i < r->ninputs; i++) {
        sim_embed(r->inputs[i].p, r->inputs[i].n, vec,
                  (size_t) sim_cfg.embed_dim);
        sim_json_sep(&b);
        if (ctx->oa.kind != SIM_OA_NONE) {
            sim_buf_adds(&b, "{\"object\":\"embedding\",\"embedding\":");
        }
        if (ctx->oa.b64) {
            sim_oa_b64_floats(&b, vec, (size_t) sim_cfg.embed_dim);
        } else {
            sim_buf_addc(&b, '[');
            for (j = 0; j < sim_cfg.embed_dim; j++) {
                sim_json_sep(&b);
                sim_json_float(&b, vec[j]);
            }
            sim_buf_addc(&b, ']');
        }
        if (ctx->oa.kind != SIM_OA_NONE) {
            sim_json_kint(&b, "index", (long long) i);
            sim_buf_addc(&b, '}');
        }

        if (sim_words_split(&w, r->inputs[i].p, r->inputs[i].n, 1) == 0) {
            words += w.nwords;
            sim_words_free(&w);
        }
    }
    free(vec);

    sim_buf_addc(&b, ']');

    if (ctx->oa.kind != SIM_OA_NONE) {
        sim_json_kstr(&b, "model", name->p, name->n);
        sim_buf_adds(&b, ",\"usage\":{");
        sim_json_kint(&b, "prompt_tokens", (long long) words);
        sim_json_kint(&b, "total_tokens", (long long) words);
        sim_buf_adds(&b, "}}\n");
        ctx->outcome = SIM_OUT_OK;
        return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
    }

    sim_json_kint(&b, "total_duration", sim_mono_ns() - ctx->t_start + 1);
    sim_json_kint(&b, "load_duration", t_loaded - ctx->t_start + 1);
    sim_json_kint(&b, "prompt_eval_count", (long long) words);
    sim_buf_addc(&b, '}');

    ctx->outcome = SIM_OUT_OK;
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


enum MHD_Result
sim_api_embeddings(sim_ctx_t *ctx)
{
    sim_request_t    *r = &ctx->req;
    const sim_str_t  *name = &r->model;
    sim_model_t       m;
    sim_buf_t         b;
    enum MHD_Result   res;
    float            *vec = NULL;
    long              j;

    if (name->n == 0) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "model is required");
    }

    if (sim_name_invalid(name)) {
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "invalid model name");
    }

    if (sim_embed_model(ctx, &m, &res) != 0) {
        return res;
    }

    sim_buf_init(&b);

    /* an empty prompt only loads the model */
    if (r->prompt.n == 0) {
        sim_buf_adds(&b, "{\"embedding\":[]}");
        ctx->outcome = SIM_OUT_OK;
        return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
    }

    if (sim_embed_run(ctx, &m, &res) != 0) {
        return res;
    }

    vec = malloc((size_t) sim_cfg.embed_dim * sizeof(float));
    if (vec == NULL) {
        return sim_reply_oom(ctx);
    }
    sim_embed(r->prompt.p, r->prompt.n, vec, (size_t) sim_cfg.embed_dim);

    /* EmbeddingResponse holds float64s made from the runner's float32s */
    sim_buf_adds(&b, "{\"embedding\":[");
    for (j = 0; j < sim_cfg.embed_dim; j++) {
        sim_json_sep(&b);
        sim_json_double(&b, (double) vec[j]);
    }
    sim_buf_adds(&b, "]}");
    free(vec);

    ctx->outcome = SIM_OUT_OK;
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}
