/*
 * The HTTP side: one libmicrohttpd daemon, a route table, the state of
 * one request, and reply helpers shared by the endpoint files.
 */

#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "sim_buf.h"
#include "sim_models.h"
#include "sim_request.h"

#define SIM_CT_JSON    "application/json; charset=utf-8"
#define SIM_CT_NDJSON  "application/x-ndjson"
#define SIM_CT_TEXT    "text/plain; charset=utf-8"

/* Go's "server busy" text, two spaces included (server/sched.go). */
#define SIM_ERR_BUSY \
    "server busy, please try again.  maximum pending requests exceeded"

/* A model that fails to load (llm/llama_server.go WaitUntilRunning). */
#define SIM_ERR_LOAD  "llama-server process has terminated"

/* The error Ollama's docs show for a failure inside the model. */
#define SIM_ERR_MODEL  "an error was encountered while running the model"

#define SIM_RAW_BODY_MAX  256


typedef struct sim_ctx_s   sim_ctx_t;
typedef struct sim_gen_s   sim_gen_t;

typedef enum MHD_Result (*sim_handler_pt)(sim_ctx_t *ctx);


typedef enum {
    SIM_OUT_NONE = 0,
    SIM_OUT_OK,
    SIM_OUT_FAILED
} sim_outcome_t;


typedef struct {
    const char      *path;
    const char      *allow;     /* methods, for the Allow header */
    unsigned         methods;   /* SIM_M_* bits */
    int              api;       /* sim_api_t of a JSON body, -1: none */
    int              internal;  /* /_sim/: no faults, not counted */
    sim_handler_pt   handler;
    int              openai;    /* SIM_OA_*: a /v1 route, body kept raw */
} sim_route_t;

#define SIM_M_GET     0x01u
#define SIM_M_HEAD    0x02u
#define SIM_M_POST    0x04u
#define SIM_M_DELETE  0x08u


struct sim_ctx_s {
    struct MHD_Connection  *conn;
    const sim_route_t      *route;
    unsigned                method;     /* SIM_M_* */
    sim_request_t           req;
    sim_parser_t           *parser;
    sim_buf_t               raw;        /* the request body */
    size_t                  body_len;
    int                     too_large;
    int                     replied;
    int                     fd;
    int64_t                 t_start;
    int                     holds_slot;
    int                     uses_model; /* a ref on used_model */
    char                    used_model[SIM_NAME_MAX + 1];
    int                     counted;    /* ends as completed/cancelled/.. */
    sim_outcome_t           outcome;
    sim_gen_t              *gen;
    struct {
        int                 kind;       /* SIM_OA_*, 0: not /v1 */
        int                 stream;
        int                 include_usage;
        int                 first_sent;
        int                 calls_sent;
        int                 b64;        /* encoding_format "base64" */
        long long           created;
        char                id[24];
        char                model[SIM_NAME_MAX + 1];  /* /v1/models/{m} */
    } oa;
};


int sim_http_start(char *err, size_t errlen);
struct MHD_Daemon *sim_http_daemon(void);
void sim_http_stop(void);

enum MHD_Result sim_reply_buf(sim_ctx_t *ctx, unsigned status,
    const char *ctype, sim_buf_t *body);
enum MHD_Result sim_reply_text(sim_ctx_t *ctx, unsigned status,
    const char *ctype, const char *text);
enum MHD_Result sim_reply_error(sim_ctx_t *ctx, unsigned status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
enum MHD_Result sim_reply_oom(sim_ctx_t *ctx);
int sim_ctx_acquire(sim_ctx_t *ctx, enum MHD_Result *res);
void sim_json_head(sim_buf_t *b, const char *model, size_t mlen);

/* endpoints */
enum MHD_Result sim_api_root(sim_ctx_t *ctx);
enum MHD_Result sim_api_version(sim_ctx_t *ctx);
enum MHD_Result sim_api_tags(sim_ctx_t *ctx);
enum MHD_Result sim_api_ps(sim_ctx_t *ctx);
enum MHD_Result sim_api_show(sim_ctx_t *ctx);
enum MHD_Result sim_api_generate(sim_ctx_t *ctx);
enum MHD_Result sim_api_chat(sim_ctx_t *ctx);
enum MHD_Result sim_api_embed(sim_ctx_t *ctx);
enum MHD_Result sim_api_embeddings(sim_ctx_t *ctx);
enum MHD_Result sim_api_pull(sim_ctx_t *ctx);
enum MHD_Result sim_api_delete(sim_ctx_t *ctx);
enum MHD_Result sim_api_stats(sim_ctx_t *ctx);
enum MHD_Result sim_api_fault(sim_ctx_t *ctx);
void sim_gen_free(sim_gen_t *g);

#endif /* SIM_HTTP_H */
