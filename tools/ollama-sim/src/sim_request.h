/*
 * Request bodies of the Ollama API, parsed with yajl's streaming parser
 * as the bytes arrive (no tree: yajl_tree_parse leaks on bad input).
 * Field names, accepted types and error texts follow Ollama's Go
 * structs in api/types.go and Go's encoding/json: keys match without
 * regard to case, unknown keys are ignored, null leaves a field unset,
 * a value of the wrong type is reported once the body has been read,
 * bytes after the first JSON value are ignored.
 */

#ifndef SIM_REQUEST_H
#define SIM_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* Go's decoder allows 10000; nothing in Ollama's API nests beyond 6. */
#define SIM_JSON_MAX_DEPTH  128
#define SIM_ERR_MAX         256


typedef enum {
    SIM_API_GENERATE = 0,
    SIM_API_CHAT,
    SIM_API_EMBED,
    SIM_API_SHOW,
    SIM_API_PULL,
    SIM_API_DELETE,
    SIM_API_EMBEDDINGS
} sim_api_t;


typedef enum {
    SIM_FORMAT_NONE = 0,        /* absent, null or "" */
    SIM_FORMAT_JSON,            /* "json" */
    SIM_FORMAT_SCHEMA,          /* an object: a JSON schema */
    SIM_FORMAT_INVALID          /* anything else: fails at generation */
} sim_format_t;


typedef enum {
    SIM_INPUT_NONE = 0,
    SIM_INPUT_STRING,
    SIM_INPUT_ARRAY,
    SIM_INPUT_INVALID
} sim_input_kind_t;


/* NUL-terminated for convenience, but may hold NUL bytes: use n. */
typedef struct {
    char    *p;
    size_t   n;
} sim_str_t;


typedef struct {
    sim_str_t         model;
    sim_str_t         name;
    sim_str_t         prompt;
    sim_str_t         last_user;      /* chat: last message from "user" */
    size_t            nmessages;
    size_t            nimages;        /* top level and in messages */
    size_t            ncontext;
    size_t            ntools;
    sim_str_t         tool_name;      /* the first tool's function name */
    int               last_is_tool;   /* chat: last message role "tool" */
    sim_format_t      format;
    int               think;          /* think: true or a level */
    int               has_top_logprobs;
    long long         top_logprobs;
    int               stream;         /* -1 when absent */
    int               raw;
    int               has_suffix;
    int               has_system;
    int               has_template;
    int               has_num_predict;
    long long         num_predict;
    char              bad_option[96]; /* api.Options.FromMap's error */
    int               has_keep_alive;
    int64_t           keep_alive_ns;  /* INT64_MAX: forever */
    sim_input_kind_t  input_kind;
    sim_str_t        *inputs;
    size_t            ninputs;
} sim_request_t;


typedef struct sim_parser_s  sim_parser_t;


void sim_request_init(sim_request_t *r);
void sim_request_free(sim_request_t *r);
const sim_str_t *sim_request_model(const sim_request_t *r);

sim_parser_t *sim_parser_new(sim_api_t api, sim_request_t *req);
int sim_parser_feed(sim_parser_t *p, const char *data, size_t len);
int sim_parser_finish(sim_parser_t *p);
const char *sim_parser_error(const sim_parser_t *p);
void sim_parser_free(sim_parser_t *p);

int sim_request_parse(sim_api_t api, const char *data, size_t len,
    sim_request_t *req, char *err, size_t errlen);

#endif /* SIM_REQUEST_H */
