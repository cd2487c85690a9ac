#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sim_api.h"
#include "sim_config.h"
#include "sim_fault.h"
#include "sim_gen.h"
#include "sim_openai.h"
#include "sim_json.h"
#include "sim_shape.h"
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
static int sim_gen_shape(sim_gen_t *g);
static int sim_gen_doc(sim_gen_t *g, yajl_val tree);
static void sim_gen_calls(sim_gen_t *g, yajl_val tree);
static void sim_gen_token(sim_gen_t *g, sim_buf_t *b, long i);
static void sim_gen_message(sim_gen_t *g, sim_buf_t *b, const char *text,
    size_t n, int with_calls);
static enum MHD_Result sim_gen_bad_format(sim_ctx_t *ctx);


void
sim_gen_free(sim_gen_t *g)
{
    if (g == NULL) {
        return;
    }

    sim_words_free(&g->words);
    sim_buf_free(&g->out);
    sim_buf_free(&g->tok);
    sim_buf_free(&g->calls);
    sim_buf_free(&g->doc);
    free(g->cuts);
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
    sim_buf_init(&g->calls);
    sim_buf_init(&g->doc);

    /* Ollama ends with "length" when num_predict cut the reply short */
    if (r->has_num_predict && r->num_predict > 0) {
        g->ntokens = r->num_predict < SIM_TOKENS_MAX ? (long) r->num_predict
                                                     : SIM_TOKENS_MAX;
        g->done_reason = "length";
    } else {
        g->ntokens = sim_cfg.tokens;
        g->done_reason = "stop";
    }

    if (sim_words_split(&g->words, text->p, text->n,
                        (size_t) (g->ntokens > SIM_CONTEXT_WORDS_MAX
                                  ? g->ntokens : SIM_CONTEXT_WORDS_MAX))
        != 0)
    {
        return sim_reply_oom(ctx);
    }

    /* llm/llama_server.go Completion refuses it before any token */
    if (r->format == SIM_FORMAT_INVALID) {
        ctx->outcome = SIM_OUT_FAILED;
        return sim_gen_bad_format(ctx);
    }

    if (sim_gen_shape(g) != 0) {
        return sim_reply_oom(ctx);
    }

    g->fail_after = -1;
    sim_fault_get(&fault);
    if (fault.kind == SIM_FAULT_FAIL_AFTER && fault.arg < g->ntokens) {
        g->fail_after = fault.arg;
    }

    if (sim_api_prompt_phase(ctx) != 0) {
        return MHD_NO;
    }

    /* a failure before any content is a plain error reply in Ollama */
    if (g->fail_after == 0) {
        ctx->outcome = SIM_OUT_FAILED;
        return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
                               SIM_ERR_MODEL);
    }

    if (r->stream == 0) {
        return sim_gen_whole(g);
    }

    /* gin's c.Stream sends the status and headers with the first chunk */
    if (sim_gen_step(g) != 0) {
        return sim_reply_oom(ctx);
    }

    return sim_gen_stream(g);
}


/* The pause before token g->next; the first one's is the prompt phase. */
static sim_wait_rc_t
sim_gen_wait(sim_gen_t *g)
{
    if (g->next == 0) {
        return SIM_WAIT_DONE;
    }

    return sim_wait_ms(g->ctx->fd, sim_cfg.token_delay_ms);
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

        sim_gen_token(g, &text, g->next);
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
    if (g->ctx->oa.kind != SIM_OA_NONE) {
        sim_oa_whole(g, &body, text.data != NULL ? text.data : "", text.len);
    } else {
        sim_gen_final(g, &body, text.data != NULL ? text.data : "",
                      text.len);
    }
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
                            g->ctx->oa.kind != SIM_OA_NONE ? SIM_CT_SSE
                                                           : SIM_CT_NDJSON);
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
        if (g->ctx->oa.kind != SIM_OA_NONE) {
            sim_oa_end(g, b);
        } else {
            sim_gen_final(g, b, "", 0);
            sim_buf_addc(b, '\n');
        }
        g->ended = 1;
        g->ctx->outcome = SIM_OUT_OK;
        return sim_buf_ok(b) ? 0 : -1;
    }

    if (sim_gen_wait(g) != SIM_WAIT_DONE) {
        return -1;
    }

    if (g->next == g->fail_after) {
        if (g->ctx->oa.kind != SIM_OA_NONE) {
            sim_oa_broken(g, b);
        } else {
            sim_buf_addc(b, '{');
            sim_json_kcstr(b, "error", SIM_ERR_MODEL);
            sim_buf_adds(b, "}\n");
        }
        g->ended = 1;
        g->ctx->outcome = SIM_OUT_FAILED;
        return sim_buf_ok(b) ? 0 : -1;
    }

    if (g->next == 0) {
        g->t_first = sim_mono_ns();
    }

    sim_buf_reset(&g->tok);
    sim_gen_token(g, &g->tok, g->next);
    g->next++;

    if (g->ctx->oa.kind != SIM_OA_NONE) {
        sim_oa_chunk(g, b, g->tok.data, g->tok.len);
        return sim_buf_ok(b) && sim_buf_ok(&g->tok) ? 0 : -1;
    }

    sim_json_head(b, g->model, g->mlen);
    if (g->chat) {
        sim_gen_message(g, b, g->tok.data, g->tok.len, g->tool_call);
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
        /* a streamed reply had its calls in a chunk, a whole one here */
        sim_gen_message(g, b, text, n,
                        g->tool_call && g->ctx->req.stream == 0);
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


/* message of api.ChatResponse: role, content, then tool_calls. */
static void
sim_gen_message(sim_gen_t *g, sim_buf_t *b, const char *text, size_t n,
    int with_calls)
{
    sim_json_key(b, "message");
    sim_buf_addc(b, '{');
    sim_json_kcstr(b, "role", "assistant");
    sim_json_kstr(b, "content", text != NULL ? text : "", n);
    if (with_calls && g->calls.len > 0) {
        sim_json_key(b, "tool_calls");
        sim_buf_add(b, g->calls.data, g->calls.len);
    }
    sim_buf_addc(b, '}');
}


/* Token i of the reply: a piece of the format document, nothing for a
 * tool call, else the deterministic text. */
static void
sim_gen_token(sim_gen_t *g, sim_buf_t *b, long i)
{
    if (g->tool_call) {
        return;
    }

    if (g->cuts != NULL) {
        sim_buf_add(b, g->doc.data + g->cuts[i], g->cuts[i + 1] - g->cuts[i]);
        return;
    }

    sim_token_add(b, g->model, g->mlen, &g->words, i);
}


/*
 * Tools (chat, last message not a tool's result): the model calls the
 * first tool, once.  "format": the reply spells a JSON document.
 */
static int
sim_gen_shape(sim_gen_t *g)
{
    sim_request_t  *r = &g->ctx->req;
    yajl_val        tree = NULL;
    int             rc = 0;

    if (g->chat && r->ntools > 0 && !r->last_is_tool) {
        tree = sim_shape_tree(g->ctx->raw.data, g->ctx->raw.len);
        sim_gen_calls(g, tree);
        g->tool_call = 1;
        g->ntokens = 1;
        g->done_reason = "stop";
        rc = sim_buf_ok(&g->calls) ? 0 : -1;

    } else if (r->format == SIM_FORMAT_JSON
               || r->format == SIM_FORMAT_SCHEMA)
    {
        tree = sim_shape_tree(g->ctx->raw.data, g->ctx->raw.len);
        rc = sim_gen_doc(g, tree);
    }

    if (tree != NULL) {
        yajl_tree_free(tree);
    }
    return rc;
}


/*
 * [{"id":"call_...","function":{"index":0,"name":...,"arguments":{...}}}]
 * as api.ToolCall marshals; the arguments fill the tool's parameters.
 */
static void
sim_gen_calls(sim_gen_t *g, yajl_val tree)
{
    sim_request_t  *r = &g->ctx->req;
    sim_buf_t      *b = &g->calls;
    yajl_val        tools = NULL, fn = NULL, params = NULL;
    uint32_t        h;
    char            id[16];
    int             i;

    tools = sim_shape_key(tree, "tools");
    if (tools != NULL && YAJL_IS_ARRAY(tools) && tools->u.array.len > 0) {
        fn = sim_shape_key(tools->u.array.values[0], "function");
        params = sim_shape_key(fn, "parameters");
    }

    /* Ollama's toolCallId is random; this one is a hash, as everything */
    h = sim_hash32(r->last_user.p != NULL ? r->last_user.p : "",
                   r->last_user.n, 0x746f6f6cu);
    memcpy(id, "call_", 5);
    for (i = 0; i < 8; i++) {
        id[5 + i] = "abcdefghijklmnopqrstuvwxyz0123456789"[h % 36];
        h = h / 36 + (uint32_t) i * 2654435761u;
    }
    id[13] = '\0';

    sim_buf_adds(b, "[{");
    sim_json_kcstr(b, "id", id);
    sim_json_key(b, "function");
    sim_buf_addc(b, '{');
    sim_json_kint(b, "index", 0);
    sim_json_kstr(b, "name", r->tool_name.p != NULL ? r->tool_name.p : "",
                  r->tool_name.n);
    sim_json_key(b, "arguments");
    if (params != NULL && YAJL_IS_OBJECT(params)) {
        sim_shape_fill(b, params, r->last_user.p != NULL ? r->last_user.p
                                                         : "",
                       r->last_user.n, (long) g->words.nwords, 0);
    } else {
        sim_buf_adds(b, "{}");
    }
    sim_buf_adds(b, "}}]");
}


/*
 * The document a format asks for: for "json" {"response": the usual
 * text}, for a schema a value filling it (sim_shape_fill).  Its tokens
 * are pieces of it, never splitting a UTF-8 sequence; num_predict cuts
 * it short (done_reason "length"), as it would a real model's.
 */
static int
sim_gen_doc(sim_gen_t *g, yajl_val tree)
{
    sim_request_t  *r = &g->ctx->req;
    sim_buf_t       text;
    long            i, n, npieces = 0;
    size_t          off, end, piece;

    sim_buf_init(&text);
    n = sim_cfg.tokens < SIM_DOC_TOKENS_MAX ? sim_cfg.tokens
                                            : SIM_DOC_TOKENS_MAX;
    for (i = 0; i < n; i++) {
        sim_token_add(&text, g->model, g->mlen, &g->words, i);
    }

    if (r->format == SIM_FORMAT_SCHEMA) {
        sim_shape_fill(&g->doc, sim_shape_key(tree, "format"),
                       text.data != NULL ? text.data : "", text.len,
                       (long) g->words.nwords, 0);
    } else {
        sim_buf_addc(&g->doc, '{');
        sim_json_kstr(&g->doc, "response", text.data != NULL ? text.data
                                                              : "",
                      text.len);
        sim_buf_addc(&g->doc, '}');
    }
    sim_buf_free(&text);

    if (!sim_buf_ok(&g->doc)) {
        return -1;
    }

    /* longer pieces for a long document: at most SIM_TOKENS_MAX */
    piece = g->doc.len / SIM_TOKENS_MAX + 1;
    if (piece < SIM_DOC_PIECE) {
        piece = SIM_DOC_PIECE;
    }

    g->cuts = malloc((g->doc.len / piece + 2) * sizeof(size_t));
    if (g->cuts == NULL) {
        return -1;
    }

    for (off = 0; off < g->doc.len; off = end) {
        end = off + piece < g->doc.len ? off + piece : g->doc.len;
        while (end < g->doc.len
               && ((unsigned char) g->doc.data[end] & 0xc0) == 0x80)
        {
            end++;
        }
        g->cuts[npieces++] = off;
    }
    g->cuts[npieces] = g->doc.len;

    if (r->has_num_predict && r->num_predict > 0
        && r->num_predict < npieces)
    {
        g->ntokens = (long) r->num_predict;
        g->done_reason = "length";
    } else {
        g->ntokens = npieces;
        g->done_reason = "stop";
    }

    return 0;
}


static enum MHD_Result
sim_gen_bad_format(sim_ctx_t *ctx)
{
    yajl_val   tree = NULL;
    sim_buf_t  raw;
    char       q[128];

    sim_buf_init(&raw);
    tree = sim_shape_tree(ctx->raw.data, ctx->raw.len);
    sim_shape_write(&raw, sim_shape_key(tree, "format"));
    if (tree != NULL) {
        yajl_tree_free(tree);
    }

    sim_go_quote(q, sizeof(q), raw.data != NULL ? raw.data : "", raw.len);
    sim_buf_free(&raw);

    return sim_reply_error(ctx, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "invalid format: %s; expected \"json\" or a "
                           "valid JSON Schema object", q);
}
