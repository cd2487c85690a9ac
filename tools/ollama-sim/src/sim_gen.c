#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sim_config.h"
#include "sim_fault.h"
#include "sim_gen.h"
#include "sim_json.h"
#include "sim_time.h"
#include "sim_wait.h"


static sim_wait_rc_t sim_gen_wait(sim_gen_t *g);
static int sim_gen_step(sim_gen_t *g);
static void sim_gen_final(sim_gen_t *g, sim_buf_t *b, const char *text,
    size_t n);
static void sim_gen_metrics(sim_gen_t *g, sim_buf_t *b);
static ssize_t sim_gen_read(void *cls, uint64_t pos, char *buf, size_t max);
static enum MHD_Result sim_gen_whole(sim_gen_t *g);
static enum MHD_Result sim_gen_stream(sim_gen_t *g);


void
sim_gen_free(sim_gen_t *g)
{
    if (g == NULL) {
        return;
    }

    sim_words_free(&g->words);
    sim_buf_free(&g->out);
    sim_buf_free(&g->tok);
    free(g);
}


/*
 * The caller holds a slot.  model and text live in ctx->req, which
 * outlives the reply.
 */
enum MHD_Result
sim_gen_start(sim_ctx_t *ctx, int chat, const sim_str_t *model,
    const sim_str_t *text)
{
    sim_request_t  *r = &ctx->req;
    sim_gen_t      *g = NULL;
    sim_fault_t     fault;

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return sim_reply_oom(ctx);
    }
    ctx->gen = g;

    g->ctx = ctx;
    g->chat = chat;
    g->with_context = !chat && !r->raw;
    g->model = model->p;
    g->mlen = model->n;
    g->t_loaded = sim_mono_ns();
    sim_buf_init(&g->out);
    sim_buf_init(&g->tok);

    /* Ollama ends with "length" when num_predict cut the reply short */
    if (r->has_num_predict && r->num_predict > 0) {
        g->ntokens = r->num_predict < SIM_TOKENS_MAX ? (long) r->num_predict
                                                     : SIM_TOKENS_MAX;
        g->done_reason = "length";
    } else {
        g->ntokens = sim_cfg.tokens;
        g->done_reason = "stop";
    }

    g->fail_after = -1;
    sim_fault_get(&fault);
    if (fault.kind == SIM_FAULT_FAIL_AFTER && fault.arg < g->ntokens) {
        g->fail_after = fault.arg;
    }

    if (sim_words_split(&g->words, text->p, text->n,
                        (size_t) (g->ntokens > SIM_CONTEXT_WORDS_MAX
                                  ? g->ntokens : SIM_CONTEXT_WORDS_MAX))
        != 0)
    {
        return sim_reply_oom(ctx);
    }

    /* a failure before any content is a plain error reply in Ollama */
    if (r->stream == 0 || g->fail_after == 0) {
        return sim_gen_whole(g);
    }

    return sim_gen_stream(g);
}


/* The pause before token g->next. */
static sim_wait_rc_t
sim_gen_wait(sim_gen_t *g)
{
    long  ms = sim_cfg.token_delay_ms;

    if (g->next == 0) {
        ms = sim_cfg.first_token_delay_ms;
    }

    return sim_wait_ms(g->ctx->fd, ms);
}


static enum MHD_Result
sim_gen_whole(sim_gen_t *g)
{
    sim_buf_t        text, body;
    enum MHD_Result  res;

    sim_buf_init(&text);
    sim_buf_init(&body);

    for (g->next = 0; g->next < g->ntokens; g->next++) {
        if (sim_gen_wait(g) != SIM_WAIT_DONE) {
            sim_buf_free(&text);
            return MHD_NO;
        }

        if (g->next == g->fail_after) {
            sim_buf_free(&text);
            g->ctx->outcome = SIM_OUT_FAILED;
            return sim_reply_error(g->ctx, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "%s", SIM_ERR_MODEL);
        }

        if (g->next == 0) {
            g->t_first = sim_mono_ns();
        }

        sim_token_add(&text, g->model, g->mlen, &g->words, g->next);
        if (text.len > SIM_REPLY_MAX) {
            g->next++;
            g->done_reason = "length";
            break;
        }
    }

    if (!sim_buf_ok(&text)) {
        sim_buf_free(&text);
        return sim_reply_oom(g->ctx);
    }

    g->t_end = sim_mono_ns();
    sim_gen_final(g, &body, text.data != NULL ? text.data : "", text.len);
    sim_buf_free(&text);

    g->ctx->outcome = SIM_OUT_OK;
    res = sim_reply_buf(g->ctx, MHD_HTTP_OK, SIM_CT_JSON, &body);
    return res;
}


static enum MHD_Result
sim_gen_stream(sim_gen_t *g)
{
    struct MHD_Response  *resp = NULL;
    enum MHD_Result       ret;

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                             sim_gen_read, g, NULL);
    if (resp == NULL) {
        return sim_reply_oom(g->ctx);
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            SIM_CT_NDJSON);
    if (g->fail_after >= 0) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }

    ret = MHD_queue_response(g->ctx->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    g->ctx->replied = 1;
    return ret;
}


/* MHD asks for more of the stream; blocking here is fine (one thread
 * per connection). */
static ssize_t
sim_gen_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sim_gen_t  *g = cls;
    size_t      n;

    (void) pos;

    while (g->off >= g->out.len) {
        if (g->ended) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }

        sim_buf_reset(&g->out);
        g->off = 0;

        if (sim_gen_step(g) != 0) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }

    n = g->out.len - g->off;
    if (n > max) {
        n = max;
    }

    memcpy(buf, g->out.data + g->off, n);
    g->off += n;
    return (ssize_t) n;
}


/* Puts the next NDJSON line into g->out. */
static int
sim_gen_step(sim_gen_t *g)
{
    sim_buf_t  *b = &g->out;

    if (g->next >= g->ntokens) {
        g->t_end = sim_mono_ns();
        sim_gen_final(g, b, "", 0);
        sim_buf_addc(b, '\n');
        g->ended = 1;
        g->ctx->outcome = SIM_OUT_OK;
        return sim_buf_ok(b) ? 0 : -1;
    }

    if (sim_gen_wait(g) != SIM_WAIT_DONE) {
        return -1;
    }

    if (g->next == g->fail_after) {
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "error", SIM_ERR_MODEL);
        sim_buf_adds(b, "}\n");
        g->ended = 1;
        g->ctx->outcome = SIM_OUT_FAILED;
        return sim_buf_ok(b) ? 0 : -1;
    }

    if (g->next == 0) {
        g->t_first = sim_mono_ns();
    }

    sim_buf_reset(&g->tok);
    sim_token_add(&g->tok, g->model, g->mlen, &g->words, g->next);
    g->next++;

    sim_json_head(b, g->model, g->mlen);
    if (g->chat) {
        sim_json_key(b, "message");
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "role", "assistant");
        sim_json_kstr(b, "content", g->tok.data, g->tok.len);
        sim_buf_addc(b, '}');
    } else {
        sim_json_kstr(b, "response", g->tok.data, g->tok.len);
    }
    sim_json_kbool(b, "done", 0);
    sim_buf_adds(b, "}\n");

    return sim_buf_ok(b) && sim_buf_ok(&g->tok) ? 0 : -1;
}


/* Field order as Go marshals api.GenerateResponse / api.ChatResponse. */
static void
sim_gen_final(sim_gen_t *g, sim_buf_t *b, const char *text, size_t n)
{
    sim_json_head(b, g->model, g->mlen);

    if (g->chat) {
        sim_json_key(b, "message");
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "role", "assistant");
        sim_json_kstr(b, "content", text, n);
        sim_buf_addc(b, '}');
        sim_json_kcstr(b, "done_reason", g->done_reason);
        sim_json_kbool(b, "done", 1);
    } else {
        sim_json_kstr(b, "response", text, n);
        sim_json_kbool(b, "done", 1);
        sim_json_kcstr(b, "done_reason", g->done_reason);
        if (g->with_context) {
            sim_json_key(b, "context");
            sim_context_add(b, &g->words, g->model, g->mlen, g->next);
        }
    }

    sim_gen_metrics(g, b);
    sim_buf_addc(b, '}');
}


/* Durations in ns; Go omits zero values, real runs never have any. */
static void
sim_gen_metrics(sim_gen_t *g, sim_buf_t *b)
{
    int64_t  start = g->ctx->t_start;
    int64_t  first = g->t_first ? g->t_first : g->t_end;

#define SIM_POS(v)  ((v) > 0 ? (long long) (v) : 1LL)

    sim_json_kint(b, "total_duration", SIM_POS(g->t_end - start));
    sim_json_kint(b, "load_duration", SIM_POS(g->t_loaded - start));
    sim_json_kint(b, "prompt_eval_count", (long long) g->words.nwords);
    sim_json_kint(b, "prompt_eval_duration", SIM_POS(first - g->t_loaded));
    if (g->next > 0) {
        sim_json_kint(b, "eval_count", g->next);
    }
    sim_json_kint(b, "eval_duration", SIM_POS(g->t_end - first));

#undef SIM_POS
}


/* The replies to an empty prompt ("load") or keep_alive 0 ("unload"). */
enum MHD_Result
sim_gen_done_reply(sim_ctx_t *ctx, int chat, const sim_str_t *model,
    const char *reason)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_json_head(&b, model->p != NULL ? model->p : "", model->n);

    if (chat) {
        sim_json_key(&b, "message");
        sim_buf_addc(&b, '{');
        sim_json_kcstr(&b, "role", "assistant");
        sim_json_kcstr(&b, "content", "");
        sim_buf_addc(&b, '}');
        sim_json_kcstr(&b, "done_reason", reason);
        sim_json_kbool(&b, "done", 1);
    } else {
        sim_json_kcstr(&b, "response", "");
        sim_json_kbool(&b, "done", 1);
        sim_json_kcstr(&b, "done_reason", reason);
    }
    sim_buf_addc(&b, '}');

    ctx->outcome = SIM_OUT_OK;
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}
