/*
 * POST /api/pull, DELETE /api/delete, and the simulator's own
 * GET /_sim/stats and GET|POST /_sim/fault.
 */

#include <stdio.h>
#include <string.h>

#include "sim_api.h"
#include "sim_fault.h"
#include "sim_json.h"
#include "sim_listener.h"
#include "sim_models.h"
#include "sim_slots.h"


static void
sim_pull_line(sim_buf_t *b, const char *status, const sim_model_t *m)
{
    char  digest[80];

    sim_buf_addc(b, '{');
    sim_json_kcstr(b, "status", status);
    if (m != NULL) {
        snprintf(digest, sizeof(digest), "sha256:%s", m->digest);
        sim_json_kcstr(b, "digest", digest);
        sim_json_kint(b, "total", m->size);
        sim_json_kint(b, "completed", m->size);
    }
    sim_buf_adds(b, "}\n");
}


/* The model "downloads" at once: the progress lines Ollama sends, then
 * the model is in /api/tags. */
enum MHD_Result
sim_api_pull(sim_ctx_t *ctx)
{
    const sim_str_t  *name = sim_request_model(&ctx->req);
    sim_model_t       m;
    sim_buf_t         b;
    char              status[SIM_NAME_MAX + 32];

    if (sim_models_find(sim_str_c(name), name->n, &m) != 0) {
        if (memchr(sim_str_c(name), '\0', name->n) != NULL
            || sim_model_defaults(&m, sim_str_c(name), name->n) != 0)
        {
            return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                                   "invalid model name");
        }
        if (sim_models_add(&m) != 0) {
            return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "too many models (max %d)",
                                   SIM_MODELS_MAX);
        }
    }

    sim_buf_init(&b);

    if (ctx->req.stream == 0) {
        sim_buf_adds(&b, "{\"status\":\"success\"}");
        return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
    }

    snprintf(status, sizeof(status), "pulling %.12s", m.digest);
    sim_pull_line(&b, "pulling manifest", NULL);
    sim_pull_line(&b, status, &m);
    sim_pull_line(&b, "verifying sha256 digest", NULL);
    sim_pull_line(&b, "writing manifest", NULL);
    sim_pull_line(&b, "success", NULL);

    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_NDJSON, &b);
}


enum MHD_Result
sim_api_delete(sim_ctx_t *ctx)
{
    const sim_str_t  *name = sim_request_model(&ctx->req);
    char              norm[SIM_NAME_MAX + 8], q[SIM_NAME_MAX + 16];

    if (name->n == 0
        || sim_model_name_norm(name->p, name->n, norm, sizeof(norm)) != 0)
    {
        sim_go_quote(q, sizeof(q), sim_str_c(name), name->n);
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST,
                               "name %s is invalid", q);
    }

    if (sim_models_delete(name->p, name->n) != 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", name->p);
    }

    return sim_reply_text(ctx, MHD_HTTP_OK, SIM_CT_JSON, "");
}


enum MHD_Result
sim_api_stats(sim_ctx_t *ctx)
{
    sim_stats_t  s;
    sim_buf_t    b;

    sim_stats_get(&s);
    sim_buf_init(&b);

    sim_buf_addc(&b, '{');
    sim_json_kint(&b, "active", s.active);
    sim_json_kint(&b, "completed", s.counts[SIM_STAT_COMPLETED]);
    sim_json_kint(&b, "cancelled", s.counts[SIM_STAT_CANCELLED]);
    sim_json_kint(&b, "requests", s.counts[SIM_STAT_REQUESTS]);
    sim_json_kint(&b, "busy_rejected", s.counts[SIM_STAT_BUSY]);
    sim_json_kint(&b, "queued", s.queued);
    sim_json_kint(&b, "failed", s.counts[SIM_STAT_FAILED]);
    sim_buf_addc(&b, '}');

    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


/* Body: the fault as plain text ("fail-after=3"), blanks trimmed. */
enum MHD_Result
sim_api_fault(sim_ctx_t *ctx)
{
    sim_fault_t   f;
    sim_buf_t     b;
    const char   *s = ctx->raw.data != NULL ? ctx->raw.data : "";
    size_t        n = ctx->raw.len;
    char          err[128], name[SIM_FAULT_STR_MAX];

    if (ctx->method == SIM_M_POST) {
        while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n'
                         || *s == '\r' || *s == '"'))
        {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'
                         || s[n - 1] == '\n' || s[n - 1] == '\r'
                         || s[n - 1] == '"'))
        {
            n--;
        }

        if (sim_fault_parse(s, n, &f, err, sizeof(err)) != 0) {
            return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "%s", err);
        }

        sim_fault_set(&f);
        sim_listener_sync();
    }

    sim_fault_get(&f);
    sim_fault_format(&f, name, sizeof(name));

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "fault", name);
    sim_buf_addc(&b, '}');
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}
