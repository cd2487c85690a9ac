/*
 * POST /v1/chat/completions, /v1/completions, /v1/embeddings and GET
 * /v1/models, /v1/models/{model}, after Ollama's middleware/openai.go and
 * openai/openai.go: ChatMiddleware, CompletionsMiddleware,
 * EmbeddingsMiddleware, ListMiddleware and RetrieveMiddleware.
 *
 * The request body is decoded (keys without regard to case, as Go's
 * encoding/json), turned into the body of /api/chat, /api/generate or
 * /api/embed (FromChatRequest, FromCompleteRequest), and run by the same
 * handlers; sim_gen.c writes the reply through the writers at the end
 * (ChatWriter, CompleteWriter).  The JSON is checked with yajl's
 * streaming parser before yajl_tree_parse sees it: the tree parser leaks
 * on malformed input.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "sim_api.h"
#include "sim_json.h"
#include "sim_models.h"
#include "sim_openai.h"
#include "sim_request.h"

#define SIM_OA_ERR_MAX  256


static enum MHD_Result sim_oa_abort(sim_ctx_t *ctx, unsigned status,
    const char *msg);
static yajl_val sim_oa_decode(sim_ctx_t *ctx, enum MHD_Result *res);
static yajl_val sim_oa_get(yajl_val obj, const char *key);
static const char *sim_oa_str(yajl_val v);
static int sim_oa_type_error(sim_ctx_t *ctx, yajl_val v, const char *field,
    const char *gotype, int ok, enum MHD_Result *res);
static void sim_oa_write(sim_buf_t *b, yajl_val v);
static void sim_oa_options(sim_buf_t *b, yajl_val req);
static int sim_oa_messages(sim_ctx_t *ctx, sim_buf_t *b, yajl_val msgs,
    enum MHD_Result *res);
static int sim_oa_image(sim_buf_t *b, const char *url);
static enum MHD_Result sim_oa_run(sim_ctx_t *ctx, sim_api_t api,
    sim_buf_t *body, sim_handler_pt handler);
static void sim_oa_start(sim_ctx_t *ctx, yajl_val req, const char *prefix);
static void sim_oa_head(sim_gen_t *g, sim_buf_t *b, const char *object);
static void sim_oa_usage(sim_gen_t *g, sim_buf_t *b);
static void sim_oa_complete_tail(sim_gen_t *g, sim_buf_t *b,
    int zero_usage);
static void sim_oa_tool_calls(sim_gen_t *g, sim_buf_t *b);
static const char *sim_oa_finish(sim_gen_t *g);


/* openai.NewError: the type by status, param and code null */
void
sim_oa_error_body(sim_buf_t *b, unsigned status, const char *msg)
{
    const char  *type;

    switch (status) {
    case MHD_HTTP_BAD_REQUEST:
        type = "invalid_request_error";
        break;
    case MHD_HTTP_NOT_FOUND:
        type = "not_found_error";
        break;
    default:
        type = "api_error";
    }

    sim_buf_adds(b, "{\"error\":{");
    sim_json_kcstr(b, "message", msg);
    sim_json_kcstr(b, "type", type);
    sim_buf_adds(b, ",\"param\":null,\"code\":null}}");
}


/* the middleware's own refusals: c.AbortWithStatusJSON, no newline */
static enum MHD_Result
sim_oa_abort(sim_ctx_t *ctx, unsigned status, const char *msg)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_oa_error_body(&b, status, msg);
    return sim_reply_buf(ctx, status, SIM_CT_JSON, &b);
}


/*
 * The body as a tree, or NULL with *res set.  Bad JSON gets the text of
 * the simulator's Go-like decoder (the one /api/show reads with), which
 * is what c.ShouldBindJSON says.
 */
static yajl_val
sim_oa_decode(sim_ctx_t *ctx, enum MHD_Result *res)
{
    yajl_handle     h;
    yajl_status     st;
    yajl_val        tree;
    sim_request_t   scratch;
    char           *text;
    char            err[SIM_OA_ERR_MAX];
    const char     *data = ctx->raw.data != NULL ? ctx->raw.data : "";
    size_t          len = ctx->raw.len;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        *res = sim_reply_oom(ctx);
        return NULL;
    }

    st = yajl_parse(h, (const unsigned char *) data, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    yajl_free(h);

    if (st != yajl_status_ok || len == 0) {
        sim_request_init(&scratch);
        if (sim_request_parse(SIM_API_SHOW, data, len, &scratch, err,
                              sizeof(err)) == 0)
        {
            snprintf(err, sizeof(err), "invalid JSON");
        }
        sim_request_free(&scratch);
        *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, err);
        return NULL;
    }

    text = malloc(len + 1);
    if (text == NULL) {
        *res = sim_reply_oom(ctx);
        return NULL;
    }
    memcpy(text, data, len);
    text[len] = '\0';

    tree = yajl_tree_parse(text, err, sizeof(err));
    free(text);

    if (tree == NULL) {
        *res = sim_reply_oom(ctx);
        return NULL;
    }

    if (!YAJL_IS_OBJECT(tree)) {
        yajl_tree_free(tree);
        *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, "json: cannot "
                            "unmarshal non-object into Go value");
        return NULL;
    }

    return tree;
}


/* Go's decoder: a key matches regardless of case; the last one wins */
static yajl_val
sim_oa_get(yajl_val obj, const char *key)
{
    yajl_val  v = NULL;
    size_t    i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcasecmp(obj->u.object.keys[i], key) == 0) {
            v = obj->u.object.values[i];
        }
    }

    return v != NULL && YAJL_IS_NULL(v) ? NULL : v;
}


/* a string's text; "" for anything else */
static const char *
sim_oa_str(yajl_val v)
{
    return v != NULL && YAJL_IS_STRING(v) && v->u.string != NULL
           ? v->u.string : "";
}


static int
sim_oa_type_error(sim_ctx_t *ctx, yajl_val v, const char *field,
    const char *gotype, int ok, enum MHD_Result *res)
{
    char         msg[SIM_OA_ERR_MAX];
    const char  *got;

    if (v == NULL || ok) {
        return 0;
    }

    got = YAJL_IS_STRING(v) ? "string" : YAJL_IS_NUMBER(v) ? "number"
          : YAJL_IS_OBJECT(v) ? "object" : YAJL_IS_ARRAY(v) ? "array"
          : "bool";

    snprintf(msg, sizeof(msg), "json: cannot unmarshal %s into Go struct "
             "field %s of type %s", got, field, gotype);
    *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, msg);
    return -1;
}


/* a decoded value back as JSON (numbers as they were written) */
static void
sim_oa_write(sim_buf_t *b, yajl_val v)
{
    size_t  i;

    if (v == NULL || YAJL_IS_NULL(v)) {
        sim_buf_adds(b, "null");

    } else if (YAJL_IS_STRING(v)) {
        sim_json_cstr(b, sim_oa_str(v));

    } else if (YAJL_IS_NUMBER(v)) {
        sim_buf_adds(b, YAJL_GET_NUMBER(v));

    } else if (YAJL_IS_TRUE(v)) {
        sim_buf_adds(b, "true");

    } else if (YAJL_IS_FALSE(v)) {
        sim_buf_adds(b, "false");

    } else if (YAJL_IS_OBJECT(v)) {
        sim_buf_addc(b, '{');
        for (i = 0; i < v->u.object.len; i++) {
            sim_json_key(b, v->u.object.keys[i]);
            sim_oa_write(b, v->u.object.values[i]);
        }
        sim_buf_addc(b, '}');

    } else {
        sim_buf_addc(b, '[');
        for (i = 0; i < v->u.array.len; i++) {
            sim_json_sep(b);
            sim_oa_write(b, v->u.array.values[i]);
        }
        sim_buf_addc(b, ']');
    }
}


/* FromChatRequest / FromCompleteRequest: the sampling options */
static void
sim_oa_options(sim_buf_t *b, yajl_val req)
{
    static const char *const  same[] = {
        "seed", "temperature", "top_p", "frequency_penalty",
        "presence_penalty", NULL
    };
    const char *const  *k;
    yajl_val            v;

    sim_json_key(b, "options");
    sim_buf_addc(b, '{');

    v = sim_oa_get(req, "max_tokens");
    if (v != NULL && YAJL_IS_NUMBER(v)) {
        sim_json_key(b, "num_predict");
        sim_oa_write(b, v);
    }

    for (k = same; *k != NULL; k++) {
        v = sim_oa_get(req, *k);
        if (v != NULL && YAJL_IS_NUMBER(v)) {
            sim_json_key(b, *k);
            sim_oa_write(b, v);
        }
    }

    v = sim_oa_get(req, "stop");
    if (v != NULL && (YAJL_IS_STRING(v) || YAJL_IS_ARRAY(v))) {
        sim_json_key(b, "stop");
        if (YAJL_IS_STRING(v)) {
            sim_buf_addc(b, '[');
            sim_oa_write(b, v);
            sim_buf_addc(b, ']');
        } else {
            sim_oa_write(b, v);
        }
    }

    sim_buf_addc(b, '}');
}


/* a data URL's image, as FromChatRequest accepts it */
static int
sim_oa_image(sim_buf_t *b, const char *url)
{
    static const char *const  types[] = {
        "data:image/jpeg;base64,", "data:image/jpg;base64,",
        "data:image/png;base64,", "data:image/webp;base64,", NULL
    };
    const char *const  *t;

    for (t = types; *t != NULL; t++) {
        if (strncmp(url, *t, strlen(*t)) == 0) {
            sim_json_cstr(b, url + strlen(*t));
            return 0;
        }
    }

    return -1;
}


/* the messages: a string content, or parts (text, image_url) */
static int
sim_oa_messages(sim_ctx_t *ctx, sim_buf_t *b, yajl_val msgs,
    enum MHD_Result *res)
{
    yajl_val     m, role, content, part, type, img, url, name;
    size_t       i, j;

    sim_json_key(b, "messages");
    sim_buf_addc(b, '[');

    for (i = 0; i < msgs->u.array.len; i++) {
        m = msgs->u.array.values[i];

        if (!YAJL_IS_OBJECT(m)) {
            *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, "json: cannot "
                                "unmarshal into Go struct field "
                                "ChatCompletionRequest.messages of type "
                                "openai.Message");
            return -1;
        }

        role = sim_oa_get(m, "role");
        content = sim_oa_get(m, "content");
        name = sim_oa_get(m, "name");

        if (sim_oa_type_error(ctx, role, "Message.role", "string",
                              role == NULL || YAJL_IS_STRING(role), res)
            != 0)
        {
            return -1;
        }

        if (content == NULL || YAJL_IS_STRING(content)) {
            sim_json_sep(b);
            sim_buf_addc(b, '{');
            sim_json_kcstr(b, "role", role ? sim_oa_str(role) : "");
            sim_json_kcstr(b, "content",
                           content ? sim_oa_str(content) : "");
            if (role != NULL && strcasecmp(sim_oa_str(role), "tool") == 0
                && name != NULL && YAJL_IS_STRING(name))
            {
                sim_json_kcstr(b, "tool_name", sim_oa_str(name));
            }
            sim_buf_addc(b, '}');
            continue;
        }

        if (!YAJL_IS_ARRAY(content)) {
            *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST,
                                "invalid message content type");
            return -1;
        }

        /* each part is a message of its own, as Ollama splits them */
        for (j = 0; j < content->u.array.len; j++) {
            part = content->u.array.values[j];
            type = sim_oa_get(part, "type");

            if (type == NULL || !YAJL_IS_STRING(type)) {
                *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST,
                                    "invalid message format");
                return -1;
            }

            sim_json_sep(b);
            sim_buf_addc(b, '{');
            sim_json_kcstr(b, "role", role ? sim_oa_str(role) : "");

            if (strcmp(sim_oa_str(type), "text") == 0) {
                img = sim_oa_get(part, "text");
                sim_json_kcstr(b, "content", img != NULL
                               && YAJL_IS_STRING(img)
                               ? sim_oa_str(img) : "");

            } else if (strcmp(sim_oa_str(type), "image_url") == 0) {
                img = sim_oa_get(part, "image_url");
                url = YAJL_IS_STRING(img) ? img : sim_oa_get(img, "url");

                sim_json_key(b, "images");
                sim_buf_addc(b, '[');
                if (url == NULL || !YAJL_IS_STRING(url)
                    || sim_oa_image(b, sim_oa_str(url)) != 0)
                {
                    *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST,
                                        "invalid image input");
                    return -1;
                }
                sim_buf_addc(b, ']');

            } else {
                *res = sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST,
                                    "invalid message format");
                return -1;
            }

            sim_buf_addc(b, '}');
        }
    }

    sim_buf_addc(b, ']');
    return 0;
}


/* what every writer needs: the id, the pinned created, stream, usage */
static void
sim_oa_start(sim_ctx_t *ctx, yajl_val req, const char *prefix)
{
    yajl_val  v, opts;

    /* fmt.Sprintf("chatcmpl-%d", rand.Intn(999)) */
    snprintf(ctx->oa.id, sizeof(ctx->oa.id), "%s%d", prefix, rand() % 999);
    ctx->oa.created = (long long) time(NULL);

    v = sim_oa_get(req, "stream");
    ctx->oa.stream = v != NULL && YAJL_IS_TRUE(v);

    opts = sim_oa_get(req, "stream_options");
    v = sim_oa_get(opts, "include_usage");
    ctx->oa.include_usage = v != NULL && YAJL_IS_TRUE(v);
}


/* the translated body through Ollama's own decoder and handler */
static enum MHD_Result
sim_oa_run(sim_ctx_t *ctx, sim_api_t api, sim_buf_t *body,
    sim_handler_pt handler)
{
    char  err[SIM_OA_ERR_MAX];

    if (!sim_buf_ok(body)) {
        sim_buf_free(body);
        return sim_reply_oom(ctx);
    }

    if (sim_request_parse(api, body->data, body->len, &ctx->req, err,
                          sizeof(err))
        != 0)
    {
        sim_buf_free(body);
        return sim_reply_error(ctx, MHD_HTTP_BAD_REQUEST, "%s", err);
    }

    /* the handlers see the translated body, as Ollama's do (tools,
     * format): it takes the place of the OpenAI one */
    sim_buf_free(&ctx->raw);
    ctx->raw = *body;
    return handler(ctx);
}


enum MHD_Result
sim_api_oa_chat(sim_ctx_t *ctx)
{
    yajl_val         req, model, msgs, stream, fmt, v;
    sim_buf_t        b;
    enum MHD_Result  res;

    req = sim_oa_decode(ctx, &res);
    if (req == NULL) {
        return res;
    }

    model = sim_oa_get(req, "model");
    msgs = sim_oa_get(req, "messages");
    stream = sim_oa_get(req, "stream");

    if (sim_oa_type_error(ctx, model, "ChatCompletionRequest.model",
                          "string", YAJL_IS_STRING(model), &res) != 0
        || sim_oa_type_error(ctx, stream, "ChatCompletionRequest.stream",
                             "bool", YAJL_IS_TRUE(stream)
                                     || YAJL_IS_FALSE(stream), &res) != 0
        || sim_oa_type_error(ctx, msgs, "ChatCompletionRequest.messages",
                             "[]openai.Message", YAJL_IS_ARRAY(msgs), &res)
           != 0)
    {
        yajl_tree_free(req);
        return res;
    }

    if (msgs == NULL || msgs->u.array.len == 0) {
        yajl_tree_free(req);
        return sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST,
                            "[] is too short - 'messages'");
    }

    sim_oa_start(ctx, req, "chatcmpl-");

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "model", model ? sim_oa_str(model) : "");

    if (sim_oa_messages(ctx, &b, msgs, &res) != 0) {
        sim_buf_free(&b);
        yajl_tree_free(req);
        return res;
    }

    sim_oa_options(&b, req);
    sim_json_kbool(&b, "stream", ctx->oa.stream);

    fmt = sim_oa_get(req, "response_format");
    v = sim_oa_get(fmt, "type");
    if (v != NULL && YAJL_IS_STRING(v)) {
        if (strcmp(sim_oa_str(v), "json_object") == 0) {
            sim_json_kcstr(&b, "format", "json");
        } else if (strcmp(sim_oa_str(v), "json_schema") == 0
                   && (v = sim_oa_get(sim_oa_get(fmt, "json_schema"),
                                      "schema")) != NULL)
        {
            sim_json_key(&b, "format");
            sim_oa_write(&b, v);
        }
    }

    v = sim_oa_get(req, "tools");
    if (v != NULL && YAJL_IS_ARRAY(v)) {
        sim_json_key(&b, "tools");
        sim_oa_write(&b, v);
    }

    sim_buf_addc(&b, '}');
    yajl_tree_free(req);

    return sim_oa_run(ctx, SIM_API_CHAT, &b, sim_api_chat);
}


enum MHD_Result
sim_api_oa_completions(sim_ctx_t *ctx)
{
    yajl_val         req, model, prompt, stream, suffix;
    sim_buf_t        b;
    enum MHD_Result  res;

    req = sim_oa_decode(ctx, &res);
    if (req == NULL) {
        return res;
    }

    model = sim_oa_get(req, "model");
    prompt = sim_oa_get(req, "prompt");
    stream = sim_oa_get(req, "stream");
    suffix = sim_oa_get(req, "suffix");

    if (sim_oa_type_error(ctx, model, "CompletionRequest.model", "string",
                          YAJL_IS_STRING(model), &res) != 0
        || sim_oa_type_error(ctx, prompt, "CompletionRequest.prompt",
                             "string", YAJL_IS_STRING(prompt), &res) != 0
        || sim_oa_type_error(ctx, stream, "CompletionRequest.stream",
                             "bool", YAJL_IS_TRUE(stream)
                                     || YAJL_IS_FALSE(stream), &res) != 0
        || sim_oa_type_error(ctx, suffix, "CompletionRequest.suffix",
                             "string", YAJL_IS_STRING(suffix), &res) != 0)
    {
        yajl_tree_free(req);
        return res;
    }

    sim_oa_start(ctx, req, "cmpl-");

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "model", model ? sim_oa_str(model) : "");
    sim_json_kcstr(&b, "prompt", prompt ? sim_oa_str(prompt) : "");
    if (suffix != NULL && sim_oa_str(suffix)[0] != '\0') {
        sim_json_kcstr(&b, "suffix", sim_oa_str(suffix));
    }
    sim_oa_options(&b, req);
    sim_json_kbool(&b, "stream", ctx->oa.stream);
    sim_buf_addc(&b, '}');
    yajl_tree_free(req);

    return sim_oa_run(ctx, SIM_API_GENERATE, &b, sim_api_generate);
}


enum MHD_Result
sim_api_oa_embeddings(sim_ctx_t *ctx)
{
    yajl_val         req, model, input, fmt;
    sim_buf_t        b;
    enum MHD_Result  res;
    size_t           i;
    int              empty;

    req = sim_oa_decode(ctx, &res);
    if (req == NULL) {
        return res;
    }

    model = sim_oa_get(req, "model");
    input = sim_oa_get(req, "input");
    fmt = sim_oa_get(req, "encoding_format");

    if (sim_oa_type_error(ctx, model, "EmbedRequest.model", "string",
                          YAJL_IS_STRING(model), &res) != 0
        || sim_oa_type_error(ctx, fmt, "EmbedRequest.encoding_format",
                             "string", YAJL_IS_STRING(fmt), &res) != 0)
    {
        yajl_tree_free(req);
        return res;
    }

    if (fmt != NULL && sim_oa_str(fmt)[0] != '\0'
        && strcasecmp(sim_oa_str(fmt), "float") != 0
        && strcasecmp(sim_oa_str(fmt), "base64") != 0)
    {
        char  msg[SIM_OA_ERR_MAX];

        snprintf(msg, sizeof(msg), "Invalid value for 'encoding_format' = "
                 "%s. Supported values: ['float', 'base64'].",
                 sim_oa_str(fmt));
        yajl_tree_free(req);
        return sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, msg);
    }

    ctx->oa.b64 = fmt != NULL && strcasecmp(sim_oa_str(fmt),
                                            "base64") == 0;

    /* an empty string, an empty list, or one with an empty string */
    empty = input == NULL;
    if (input != NULL && YAJL_IS_STRING(input)) {
        empty = sim_oa_str(input)[0] == '\0';
    } else if (input != NULL && YAJL_IS_ARRAY(input)) {
        empty = input->u.array.len == 0;
        for (i = 0; i < input->u.array.len; i++) {
            if (YAJL_IS_STRING(input->u.array.values[i])
                && sim_oa_str(input->u.array.values[i])[0] == '\0')
            {
                empty = 1;
            }
        }
    }

    if (empty) {
        yajl_tree_free(req);
        return sim_oa_abort(ctx, MHD_HTTP_BAD_REQUEST, "invalid input");
    }

    sim_buf_init(&b);
    sim_buf_addc(&b, '{');
    sim_json_kcstr(&b, "model", model ? sim_oa_str(model) : "");
    sim_json_key(&b, "input");
    sim_oa_write(&b, input);
    sim_buf_addc(&b, '}');
    yajl_tree_free(req);

    return sim_oa_run(ctx, SIM_API_EMBED, &b, sim_api_embed);
}


enum MHD_Result
sim_api_oa_models(sim_ctx_t *ctx)
{
    sim_buf_t  b;

    sim_buf_init(&b);
    sim_models_write_openai(&b);
    sim_buf_addc(&b, '\n');
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


/* RetrieveMiddleware over ShowHandler: the name as asked for */
enum MHD_Result
sim_api_oa_model(sim_ctx_t *ctx)
{
    sim_model_t  m;
    sim_buf_t    b;

    if (sim_models_find(ctx->oa.model, strlen(ctx->oa.model), &m) != 0) {
        return sim_reply_error(ctx, MHD_HTTP_NOT_FOUND,
                               "model '%s' not found", ctx->oa.model);
    }

    sim_buf_init(&b);
    sim_models_write_oa_model(&b, ctx->oa.model, m.modified_ns);
    sim_buf_addc(&b, '\n');
    return sim_reply_buf(ctx, MHD_HTTP_OK, SIM_CT_JSON, &b);
}


/* id, object, created, model, system_fingerprint: the chunk's head */
static void
sim_oa_head(sim_gen_t *g, sim_buf_t *b, const char *object)
{
    sim_buf_addc(b, '{');
    sim_json_kcstr(b, "id", g->ctx->oa.id);
    sim_json_kcstr(b, "object", object);
    sim_json_kint(b, "created", g->ctx->oa.created);
    if (!(g->ctx->oa.kind == SIM_OA_COMPLETIONS && g->ctx->oa.stream)) {
        sim_json_kstr(b, "model", g->model, g->mlen);
        sim_json_kcstr(b, "system_fingerprint", "fp_ollama");
    }
}


/* openai.ToUsage: prompt_eval_count and eval_count */
static void
sim_oa_usage(sim_gen_t *g, sim_buf_t *b)
{
    long long  p = (long long) g->words.nwords, c = g->next;

    sim_json_key(b, "usage");
    sim_buf_addc(b, '{');
    sim_json_kint(b, "prompt_tokens", p);
    sim_json_kint(b, "completion_tokens", c);
    sim_json_kint(b, "total_tokens", p + c);
    sim_buf_addc(b, '}');
}


/* CompletionChunk puts choices before model and system_fingerprint */
static void
sim_oa_complete_tail(sim_gen_t *g, sim_buf_t *b, int zero_usage)
{
    sim_json_kstr(b, "model", g->model, g->mlen);
    sim_json_kcstr(b, "system_fingerprint", "fp_ollama");
    if (zero_usage) {
        sim_buf_adds(b, ",\"usage\":{\"prompt_tokens\":0,"
                     "\"completion_tokens\":0,\"total_tokens\":0}");
    }
}


void
sim_oa_chunk(sim_gen_t *g, sim_buf_t *b, const char *tok, size_t n)
{
    sim_ctx_t  *ctx = g->ctx;

    sim_buf_adds(b, "data: ");

    if (ctx->oa.kind == SIM_OA_COMPLETIONS) {
        sim_oa_head(g, b, "text_completion");
        sim_buf_adds(b, ",\"choices\":[{");
        sim_json_kstr(b, "text", tok != NULL ? tok : "", n);
        sim_buf_adds(b, ",\"index\":0,\"finish_reason\":null}]");
        sim_oa_complete_tail(g, b, ctx->oa.include_usage);
        sim_buf_adds(b, "}\n\n");
        return;
    }

    sim_oa_head(g, b, "chat.completion.chunk");
    sim_buf_adds(b, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (!ctx->oa.first_sent) {
        sim_json_kcstr(b, "role", "assistant");
    }
    sim_json_kstr(b, "content", tok != NULL ? tok : "", n);
    if (g->tool_call && !ctx->oa.calls_sent) {
        sim_oa_tool_calls(g, b);
        ctx->oa.calls_sent = 1;
    }
    sim_buf_adds(b, "},\"finish_reason\":null}]}\n\n");
    ctx->oa.first_sent = 1;
}


/* the done line: finish chunk, usage chunk when asked, [DONE] */
void
sim_oa_end(sim_gen_t *g, sim_buf_t *b)
{
    sim_ctx_t  *ctx = g->ctx;

    if (ctx->oa.kind == SIM_OA_COMPLETIONS) {
        sim_buf_adds(b, "data: ");
        sim_oa_head(g, b, "text_completion");
        sim_buf_adds(b, ",\"choices\":[{\"text\":\"\",\"index\":0");
        sim_json_kcstr(b, "finish_reason", g->done_reason);
        sim_buf_adds(b, "}]");
        sim_oa_complete_tail(g, b, ctx->oa.include_usage);
        sim_buf_adds(b, "}\n\n");

        if (ctx->oa.include_usage) {
            sim_buf_adds(b, "data: ");
            sim_oa_head(g, b, "text_completion");
            sim_buf_adds(b, ",\"choices\":[]");
            sim_oa_complete_tail(g, b, 0);
            sim_oa_usage(g, b);
            sim_buf_adds(b, "}\n\n");
        }

        sim_buf_adds(b, "data: [DONE]\n\n");
        return;
    }

    /* a wholly empty reply still opens with a role chunk */
    if (!ctx->oa.first_sent) {
        sim_oa_chunk(g, b, "", 0);
    }

    sim_buf_adds(b, "data: ");
    sim_oa_head(g, b, "chat.completion.chunk");
    sim_buf_adds(b, ",\"choices\":[{\"index\":0,\"delta\":{}");
    sim_json_kcstr(b, "finish_reason", sim_oa_finish(g));
    sim_buf_adds(b, "}]}\n\n");

    if (ctx->oa.include_usage) {
        sim_buf_adds(b, "data: ");
        sim_oa_head(g, b, "chat.completion.chunk");
        sim_buf_adds(b, ",\"choices\":[]");
        sim_oa_usage(g, b);
        sim_buf_adds(b, "}\n\n");
    }

    sim_buf_adds(b, "data: [DONE]\n\n");
}


/*
 * The handler's {"error":...} line in a stream decodes as an empty
 * response that is not done: one empty chunk, and no [DONE] follows.
 */
void
sim_oa_broken(sim_gen_t *g, sim_buf_t *b)
{
    sim_oa_chunk(g, b, "", 0);
}


/* ToChatCompletion / ToCompletion, through json.Encoder */
void
sim_oa_whole(sim_gen_t *g, sim_buf_t *b, const char *text, size_t n)
{
    if (g->ctx->oa.kind == SIM_OA_COMPLETIONS) {
        sim_oa_head(g, b, "text_completion");
        sim_buf_adds(b, ",\"choices\":[{");
        sim_json_kstr(b, "text", text, n);
        sim_buf_adds(b, ",\"index\":0");
        sim_json_kcstr(b, "finish_reason", g->done_reason);
        sim_buf_adds(b, "}]");

    } else {
        sim_oa_head(g, b, "chat.completion");
        sim_buf_adds(b, ",\"choices\":[{\"index\":0,\"message\":{");
        sim_json_kcstr(b, "role", "assistant");
        sim_json_kstr(b, "content", text, n);
        if (g->tool_call) {
            sim_oa_tool_calls(g, b);
        }
        sim_buf_addc(b, '}');
        sim_json_kcstr(b, "finish_reason", sim_oa_finish(g));
        sim_buf_adds(b, "}]");
    }

    sim_oa_usage(g, b);
    sim_buf_adds(b, "}\n");
}


void
sim_oa_b64_floats(sim_buf_t *b, const float *v, size_t n)
{
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char  *p = (const unsigned char *) v;
    size_t                len = n * sizeof(float), i;
    unsigned              x;

    /* x86 and ARM Linux are little-endian, as binary.LittleEndian */
    sim_buf_addc(b, '"');

    for (i = 0; i + 2 < len; i += 3) {
        x = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8 | p[i + 2];
        sim_buf_addc(b, tab[x >> 18 & 63]);
        sim_buf_addc(b, tab[x >> 12 & 63]);
        sim_buf_addc(b, tab[x >> 6 & 63]);
        sim_buf_addc(b, tab[x & 63]);
    }

    if (len - i == 1) {
        x = (unsigned) p[i] << 16;
        sim_buf_addc(b, tab[x >> 18 & 63]);
        sim_buf_addc(b, tab[x >> 12 & 63]);
        sim_buf_adds(b, "==");
    } else if (len - i == 2) {
        x = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8;
        sim_buf_addc(b, tab[x >> 18 & 63]);
        sim_buf_addc(b, tab[x >> 12 & 63]);
        sim_buf_addc(b, tab[x >> 6 & 63]);
        sim_buf_addc(b, '=');
    }

    sim_buf_addc(b, '"');
}


/* "stop" after tool calls is "tool_calls" (ToChatCompletion, FinishChunk) */
static const char *
sim_oa_finish(sim_gen_t *g)
{
    if (g->tool_call && strcmp(g->done_reason, "stop") == 0) {
        return "tool_calls";
    }

    return g->done_reason;
}


/*
 * openai.ToToolCalls of the reply's calls (g->calls, Ollama's shape, which
 * this simulator wrote): id, index, type "function", and the arguments
 * as a JSON string.
 */
static void
sim_oa_tool_calls(sim_gen_t *g, sim_buf_t *b)
{
    yajl_val   calls, c, fn, v;
    sim_buf_t  args;
    size_t     i;
    char      *text;

    text = malloc(g->calls.len + 1);
    if (text == NULL) {
        b->failed = 1;
        return;
    }
    memcpy(text, g->calls.data != NULL ? g->calls.data : "", g->calls.len);
    text[g->calls.len] = '\0';
    calls = yajl_tree_parse(text, NULL, 0);
    free(text);

    if (calls == NULL || !YAJL_IS_ARRAY(calls)) {
        if (calls != NULL) {
            yajl_tree_free(calls);
        }
        return;
    }

    sim_json_key(b, "tool_calls");
    sim_buf_addc(b, '[');

    for (i = 0; i < calls->u.array.len; i++) {
        c = calls->u.array.values[i];
        fn = sim_oa_get(c, "function");

        sim_json_sep(b);
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "id", sim_oa_str(sim_oa_get(c, "id")));
        v = sim_oa_get(fn, "index");
        sim_json_key(b, "index");
        sim_buf_adds(b, v != NULL && YAJL_IS_NUMBER(v) ? YAJL_GET_NUMBER(v)
                                                       : "0");
        sim_json_kcstr(b, "type", "function");
        sim_json_key(b, "function");
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "name", sim_oa_str(sim_oa_get(fn, "name")));

        sim_buf_init(&args);
        sim_oa_write(&args, sim_oa_get(fn, "arguments"));
        sim_json_kstr(b, "arguments", args.data != NULL ? args.data : "",
                      args.len);
        sim_buf_free(&args);

        sim_buf_adds(b, "}}");
    }

    sim_buf_addc(b, ']');
    yajl_tree_free(calls);
}
