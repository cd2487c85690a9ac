/*
 * Unit tests: the request parser (good, malformed, wrong types, deep,
 * big and byte-by-byte input).
 */

#include <stdint.h>
#include <stdlib.h>

#include "sim_request.h"
#include "sim_test.h"


static char  err[SIM_ERR_MAX];


static int
parse(sim_api_t api, const char *json, sim_request_t *r)
{
    sim_request_init(r);
    return sim_request_parse(api, json, strlen(json), r, err, sizeof(err));
}


/* Parses and expects an error; returns the message. */
static const char *
parse_err(sim_api_t api, const char *json)
{
    sim_request_t  r;
    int            rc;

    rc = parse(api, json, &r);
    sim_request_free(&r);
    return rc != 0 ? err : "(parsed)";
}


static void
test_generate(void)
{
    sim_request_t  r;

    CHECK(parse(SIM_API_GENERATE,
                "{\"model\":\"llama3.2\",\"prompt\":\"why is the sky blue\","
                "\"stream\":false,\"raw\":true,\"suffix\":\"s\","
                "\"system\":\"\",\"context\":[1,2,3],"
                "\"images\":[\"aGVsbG8=\",\"\"],"
                "\"options\":{\"temperature\":0.5,\"num_predict\":12,"
                "\"stop\":[\"x\"]},\"keep_alive\":\"10m\","
                "\"format\":{\"type\":\"object\"},\"unknown\":[{}]}", &r)
          == 0);
    CHECK_STR(r.model.p, "llama3.2");
    CHECK_STR(r.prompt.p, "why is the sky blue");
    CHECK(r.stream == 0);
    CHECK(r.raw == 1);
    CHECK(r.has_suffix == 1);
    CHECK(r.has_system == 0);
    CHECK(r.ncontext == 3);
    CHECK(r.nimages == 2);
    CHECK(r.has_num_predict && r.num_predict == 12);
    CHECK(r.has_keep_alive && r.keep_alive_ns == 600000000000LL);
    sim_request_free(&r);

    /* defaults */
    CHECK(parse(SIM_API_GENERATE, "{\"model\":\"m\"}", &r) == 0);
    CHECK(r.stream == -1);
    CHECK(r.prompt.n == 0 && r.has_num_predict == 0 && r.nimages == 0);
    sim_request_free(&r);

    /* keys match without case, as in Go; null leaves a field unset */
    CHECK(parse(SIM_API_GENERATE, "{\"MODEL\":\"a\",\"Prompt\":\"p\","
                "\"stream\":null,\"options\":null}", &r) == 0);
    CHECK_STR(r.model.p, "a");
    CHECK_STR(r.prompt.p, "p");
    CHECK(r.stream == -1);
    sim_request_free(&r);

    /* the last duplicate wins; escapes are decoded */
    CHECK(parse(SIM_API_GENERATE, "{\"model\":\"a\",\"model\":\"b\","
                "\"prompt\":\"q\\\"\\u00e9\\n\"}", &r) == 0);
    CHECK_STR(r.model.p, "b");
    CHECK_STR(r.prompt.p, "q\"\xc3\xa9\n");
    sim_request_free(&r);

    /* numbers for keep_alive are seconds; negative means forever */
    CHECK(parse(SIM_API_GENERATE, "{\"keep_alive\":0}", &r) == 0);
    CHECK(r.has_keep_alive && r.keep_alive_ns == 0);
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"keep_alive\":-1}", &r) == 0);
    CHECK(r.keep_alive_ns == INT64_MAX);
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"keep_alive\":1.5}", &r) == 0);
    CHECK(r.keep_alive_ns == 1500000000LL);
    sim_request_free(&r);

    /* num_predict of the wrong type is an options error, found later */
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"num_predict\":\"5\"}}",
                &r) == 0);
    CHECK_STR(r.bad_option, "option \"num_predict\" must be of type integer");
    CHECK(r.has_num_predict == 0);
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"NUM_PREDICT\":\"5\"}}",
                &r) == 0);
    CHECK(r.bad_option[0] == '\0');
    sim_request_free(&r);

    /* bytes after the first value are ignored, like Go's Decoder */
    CHECK(parse(SIM_API_GENERATE, "{\"model\":\"m\"} trailing junk", &r)
          == 0);
    CHECK_STR(r.model.p, "m");
    sim_request_free(&r);

    /* invalid UTF-8 is kept (the writer replaces it) */
    CHECK(parse(SIM_API_GENERATE, "{\"prompt\":\"a\xff\"}", &r) == 0);
    CHECK(r.prompt.n == 2);
    sim_request_free(&r);
}


static void
test_chat(void)
{
    sim_request_t  r;

    CHECK(parse(SIM_API_CHAT,
                "{\"model\":\"m\",\"messages\":["
                "{\"role\":\"system\",\"content\":\"be brief\"},"
                "{\"content\":\"first question\",\"role\":\"user\"},"
                "{\"role\":\"assistant\",\"content\":\"answer\"},"
                "{\"role\":\"user\",\"content\":\"second one\","
                "\"images\":[\"aGk=\"]},"
                "{\"role\":\"tool\",\"content\":\"t\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{}}]}", &r)
          == 0);
    CHECK(r.nmessages == 5);
    CHECK_STR(r.last_user.p, "second one");
    CHECK(r.nimages == 1);
    CHECK(r.ntools == 1);
    sim_request_free(&r);

    CHECK(parse(SIM_API_CHAT, "{\"model\":\"m\",\"messages\":[]}", &r) == 0);
    CHECK(r.nmessages == 0 && r.last_user.p == NULL);
    sim_request_free(&r);

    CHECK_STR(parse_err(SIM_API_CHAT, "{\"messages\":[\"hi\"]}"),
              "json: cannot unmarshal string into Go struct field "
              "ChatRequest.messages of type api.Message");
    CHECK_STR(parse_err(SIM_API_CHAT,
                        "{\"messages\":[{\"role\":\"user\",\"content\":5}]}"),
              "json: cannot unmarshal number into Go struct field "
              "Message.messages.content of type string");
    CHECK_STR(parse_err(SIM_API_CHAT, "{\"messages\":{}}"),
              "json: cannot unmarshal object into Go struct field "
              "ChatRequest.messages of type []api.Message");
    CHECK_STR(parse_err(SIM_API_CHAT, "{\"think\":\"huge\"}"),
              "invalid think value: \"huge\" (must be \"high\", \"medium\", "
              "\"low\", true, or false)");
    CHECK_STR(parse_err(SIM_API_CHAT, "{\"think\":\"high\"}"), "(parsed)");
}


static void
test_embed(void)
{
    sim_request_t  r;

    CHECK(parse(SIM_API_EMBED, "{\"model\":\"e\",\"input\":\"one\"}", &r)
          == 0);
    CHECK(r.input_kind == SIM_INPUT_STRING && r.ninputs == 1);
    CHECK_STR(r.inputs[0].p, "one");
    sim_request_free(&r);

    CHECK(parse(SIM_API_EMBED, "{\"input\":[\"a\",\"\",\"c\"]}", &r) == 0);
    CHECK(r.input_kind == SIM_INPUT_ARRAY && r.ninputs == 3);
    CHECK(r.inputs[1].n == 0);
    sim_request_free(&r);

    CHECK(parse(SIM_API_EMBED, "{\"input\":\"\"}", &r) == 0);
    CHECK(r.input_kind == SIM_INPUT_STRING && r.ninputs == 0);
    sim_request_free(&r);

    /* anything else is Ollama's "invalid input type", decided later */
    CHECK(parse(SIM_API_EMBED, "{\"input\":[\"a\",1]}", &r) == 0);
    CHECK(r.input_kind == SIM_INPUT_INVALID);
    sim_request_free(&r);
    CHECK(parse(SIM_API_EMBED, "{\"input\":{\"a\":[1]}}", &r) == 0);
    CHECK(r.input_kind == SIM_INPUT_INVALID);
    sim_request_free(&r);
    CHECK(parse(SIM_API_EMBED, "{\"input\":[null]}", &r) == 0);
    CHECK(r.input_kind == SIM_INPUT_INVALID);
    sim_request_free(&r);
}


static void
test_names(void)
{
    sim_request_t  r;

    CHECK(parse(SIM_API_DELETE, "{\"name\":\"old\"}", &r) == 0);
    CHECK_STR(sim_request_model(&r)->p, "old");
    sim_request_free(&r);

    CHECK(parse(SIM_API_PULL, "{\"model\":\"new\",\"name\":\"old\","
                "\"stream\":false}", &r) == 0);
    CHECK_STR(sim_request_model(&r)->p, "new");
    CHECK(r.stream == 0);
    sim_request_free(&r);

    /* show has no prompt field: it is ignored */
    CHECK(parse(SIM_API_SHOW, "{\"model\":\"x\",\"prompt\":5}", &r) == 0);
    CHECK(r.prompt.p == NULL);
    sim_request_free(&r);
}


typedef struct {
    sim_api_t    api;
    const char  *json;
    const char  *want;
} bad_case_t;


#define GEN  SIM_API_GENERATE
#define TYPE_ERR(from, field, type)                                         \
    "json: cannot unmarshal " from " into Go struct field " field           \
    " of type " type

static const bad_case_t  bad_cases[] = {
    { GEN, "", "missing request body" },
    { GEN, " \r\n\t", "missing request body" },
    { GEN, "{\"model\":\"m\"", "unexpected EOF" },
    { GEN, "{\"model\":", "unexpected EOF" },
    /* yajl finds the error at the end of the token it did not expect */
    { GEN, "{\"model\" \"m\"}", "invalid character '\"' at offset 11" },
    { GEN, "xyz", "invalid character 'x' at offset 0" },
    { GEN, "{\"a\":tru}", "invalid character 'u' at offset 7" },
    { GEN, "[1,2]",
      "json: cannot unmarshal array into Go value of type "
      "api.GenerateRequest" },
    { SIM_API_EMBED, "\"text\"",
      "json: cannot unmarshal string into Go value of type "
      "api.EmbedRequest" },
    { GEN, "{\"model\":7}",
      TYPE_ERR("number", "GenerateRequest.model", "string") },
    { GEN, "{\"stream\":\"no\"}",
      TYPE_ERR("string", "GenerateRequest.stream", "bool") },
    /* Go reports the first type error, after reading everything ... */
    { GEN, "{\"prompt\":[],\"stream\":1,\"model\":\"m\"}",
      TYPE_ERR("array", "GenerateRequest.prompt", "string") },
    /* ... but a syntax error wins */
    { GEN, "{\"prompt\":[],\"x\":}", "invalid character '}' at offset 17" },
    { GEN, "{\"images\":[\"a!\"]}", "illegal base64 data at input byte 1" },
    { GEN, "{\"images\":[\"abc\"]}", "illegal base64 data at input byte 3" },
    { GEN, "{\"images\":[\"ab=c\"]}", "illegal base64 data at input byte 3" },
    { GEN, "{\"images\":[\"ab==\"]}", "(parsed)" },
    { GEN, "{\"images\":[\"ab==cd==\"]}",
      "illegal base64 data at input byte 4" },
    { GEN, "{\"images\":\"aGk=\"}",
      TYPE_ERR("string", "GenerateRequest.images", "[]api.ImageData") },
    { GEN, "{\"keep_alive\":\"soon\"}", "time: invalid duration \"soon\"" },
    { GEN, "{\"keep_alive\":true}", "Unsupported type: 'bool'" },
    { GEN, "{\"context\":[\"x\"]}",
      TYPE_ERR("string", "GenerateRequest.context", "int") },
    { GEN, "{\"options\":[]}",
      TYPE_ERR("array", "GenerateRequest.options",
               "map[string]interface {}") },
};


/* Options as Go decodes map[string]any, then Options.FromMap. */
static void
test_options(void)
{
    sim_request_t  r;

    CHECK_STR(parse_err(SIM_API_GENERATE,
                        "{\"options\":{\"num_ctx\":1e400}}"),
              "json: cannot unmarshal number 1e400 into Go struct field "
              "GenerateRequest.options of type float64");
    CHECK_STR(parse_err(SIM_API_CHAT,
                        "{\"options\":{\"x\":{\"y\":[-2e308]}}}"),
              "json: cannot unmarshal number -2e308 into Go struct field "
              "ChatRequest.options of type float64");
    CHECK_STR(parse_err(SIM_API_EMBED, "{\"input\":[\"a\",1e999]}"),
              "json: cannot unmarshal number 1e999 into Go struct field "
              "EmbedRequest.input of type float64");

    CHECK_STR(parse_err(SIM_API_CHAT, "{\"keep_alive\":-1e400}"),
              "json: cannot unmarshal number -1e400 into Go value of type "
              "float64");

    /* underflow is no error in strconv.ParseFloat; -1 is a fine int */
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"num_ctx\":-1,"
                "\"temperature\":1e-400}}", &r) == 0);
    CHECK(r.bad_option[0] == '\0');
    sim_request_free(&r);

    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"num_ctx\":\"big\"}}",
                &r) == 0);
    CHECK_STR(r.bad_option, "option \"num_ctx\" must be of type integer");
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"top_p\":true}}", &r)
          == 0);
    CHECK_STR(r.bad_option, "option \"top_p\" must be of type float32");
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"use_mmap\":1}}", &r)
          == 0);
    CHECK_STR(r.bad_option, "option \"use_mmap\" must be of type boolean");
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"stop\":\"x\"}}", &r)
          == 0);
    CHECK_STR(r.bad_option, "option \"stop\" must be of type array");
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"stop\":[\"a\",null]}}",
                &r) == 0);
    CHECK_STR(r.bad_option,
              "option \"stop\" must be of an array of strings");
    sim_request_free(&r);

    /* unknown options and null values are ignored */
    CHECK(parse(SIM_API_GENERATE, "{\"options\":{\"bogus\":\"x\","
                "\"num_ctx\":null,\"stop\":[\"a\"]}}", &r) == 0);
    CHECK(r.bad_option[0] == '\0');
    sim_request_free(&r);

    /* int fields take what strconv.ParseInt takes */
    CHECK_STR(parse_err(SIM_API_GENERATE, "{\"context\":[1,1.5]}"),
              "json: cannot unmarshal number 1.5 into Go struct field "
              "GenerateRequest.context of type int");
    CHECK_STR(parse_err(SIM_API_GENERATE,
                        "{\"top_logprobs\":99999999999999999999}"),
              "json: cannot unmarshal number 99999999999999999999 into Go "
              "struct field GenerateRequest.top_logprobs of type int");
    CHECK_STR(parse_err(SIM_API_EMBED, "{\"dimensions\":\"8\"}"),
              "json: cannot unmarshal string into Go struct field "
              "EmbedRequest.dimensions of type int");
    CHECK(parse(SIM_API_CHAT, "{\"top_logprobs\":-3}", &r) == 0);
    CHECK(r.has_top_logprobs && r.top_logprobs == -3);
    sim_request_free(&r);

    /* unknown fields are skipped whatever they hold, as Go does */
    CHECK(parse(SIM_API_GENERATE, "{\"model\":\"m\",\"extra\":"
                "{\"n\":1e400,\"deep\":[[\"x\"]]}}", &r) == 0);
    sim_request_free(&r);
}


/* format (json.RawMessage), tools, think. */
static void
test_shapes(void)
{
    sim_request_t  r;

    CHECK(parse(SIM_API_GENERATE, "{\"format\":\"json\"}", &r) == 0);
    CHECK(r.format == SIM_FORMAT_JSON);
    sim_request_free(&r);
    CHECK(parse(SIM_API_GENERATE, "{\"format\":{\"type\":\"object\"}}",
                &r) == 0);
    CHECK(r.format == SIM_FORMAT_SCHEMA);
    sim_request_free(&r);
    CHECK(parse(SIM_API_CHAT, "{\"format\":\"\"}", &r) == 0);
    CHECK(r.format == SIM_FORMAT_NONE);
    sim_request_free(&r);
    CHECK(parse(SIM_API_CHAT, "{\"format\":[1e400]}", &r) == 0);
    CHECK(r.format == SIM_FORMAT_INVALID);
    sim_request_free(&r);

    CHECK(parse(SIM_API_CHAT, "{\"tools\":[{\"type\":\"function\","
                "\"function\":{\"name\":\"first\",\"parameters\":{}}},"
                "{\"function\":{\"name\":\"second\"}}],"
                "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                "{\"role\":\"tool\",\"content\":\"r\"}]}", &r) == 0);
    CHECK(r.ntools == 2);
    CHECK_STR(r.tool_name.p, "first");
    CHECK(r.last_is_tool == 1);
    sim_request_free(&r);
    CHECK_STR(parse_err(SIM_API_CHAT,
                        "{\"tools\":[{\"function\":{\"name\":7}}]}"),
              "json: cannot unmarshal number into Go struct field "
              "ToolFunction.tools.function.name of type string");

    CHECK(parse(SIM_API_CHAT, "{\"think\":\"low\"}", &r) == 0);
    CHECK(r.think == 1);
    sim_request_free(&r);
    CHECK(parse(SIM_API_CHAT, "{\"think\":false}", &r) == 0);
    CHECK(r.think == 0);
    sim_request_free(&r);
}


static void
test_bad(void)
{
    size_t  i;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        CHECK_STR(parse_err(bad_cases[i].api, bad_cases[i].json),
                  bad_cases[i].want);
    }
}


static void
test_deep(void)
{
    char    *s = NULL;
    size_t   i, n, depth;

    /* deep but within the limit, in an ignored field: fine */
    depth = SIM_JSON_MAX_DEPTH - 1;
    n = 16 + depth * 2;
    s = malloc(n + 1);
    CHECK(s != NULL);
    if (s == NULL) {
        return;
    }
    strcpy(s, "{\"x\":");
    for (i = 0; i < depth - 1; i++) {
        strcat(s, "[");
    }
    for (i = 0; i < depth - 1; i++) {
        strcat(s, "]");
    }
    strcat(s, "}");
    CHECK_STR(parse_err(SIM_API_GENERATE, s), "(parsed)");
    free(s);

    /* beyond it: a clear error, however deep */
    depth = 100000;
    s = malloc(depth * 2 + 1);
    CHECK(s != NULL);
    if (s == NULL) {
        return;
    }
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[depth * 2] = '\0';
    CHECK_STR(parse_err(SIM_API_GENERATE, s),
              "json: exceeded max depth of 128");
    for (i = 0; i < depth; i++) {
        s[i] = (i % 2) ? '[' : '{';
    }
    s[depth] = '\0';
    CHECK(strcmp(parse_err(SIM_API_CHAT, s), "(parsed)") != 0);
    free(s);
}


/* Big strings, and the same document fed one byte at a time. */
static void
test_chunks(void)
{
    sim_request_t   r;
    sim_parser_t   *p = NULL;
    const char     *doc = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"h\\u00e9llo w\\n\"}],"
                          "\"options\":{\"num_predict\":3}}";
    char           *big = NULL;
    size_t          i, n = 8 * 1024 * 1024;

    sim_request_init(&r);
    p = sim_parser_new(SIM_API_CHAT, &r);
    CHECK(p != NULL);
    if (p == NULL) {
        return;
    }
    for (i = 0; doc[i] != '\0'; i++) {
        CHECK(sim_parser_feed(p, doc + i, 1) == 0);
    }
    CHECK(sim_parser_finish(p) == 0);
    CHECK_STR(r.last_user.p, "h\xc3\xa9llo w\n");
    CHECK(r.num_predict == 3);
    sim_parser_free(p);
    sim_request_free(&r);

    big = malloc(n + 32);
    CHECK(big != NULL);
    if (big == NULL) {
        return;
    }
    memcpy(big, "{\"prompt\":\"", 11);
    memset(big + 11, 'w', n);
    memcpy(big + 11 + n, "\"}", 3);
    CHECK(parse(SIM_API_GENERATE, big, &r) == 0);
    CHECK(r.prompt.n == n);
    sim_request_free(&r);

    /* truncated anywhere: an error, never a crash */
    for (i = 0; doc[i] != '\0'; i++) {
        memcpy(big, doc, i);
        big[i] = '\0';
        CHECK(parse(SIM_API_CHAT, big, &r) != 0);
        sim_request_free(&r);
    }
    free(big);
}


int
main(void)
{
    test_generate();
    test_chat();
    test_embed();
    test_names();
    test_options();
    test_shapes();
    test_bad();
    test_deep();
    test_chunks();
    return sim_test_done("test_request");
}
