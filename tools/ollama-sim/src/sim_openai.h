/*
 * Ollama's OpenAI-compatible API (/v1), as its middleware/openai.go and
 * openai/openai.go do it at the release in SIM_OLLAMA_VERSION: the
 * request is translated into an /api/chat, /api/generate or /api/embed
 * one and served by the same handlers, and their replies are written as
 * OpenAI's objects and SSE chunks.
 */

#ifndef SIM_OPENAI_H
#define SIM_OPENAI_H

#include "sim_gen.h"
#include "sim_http.h"


/* sim_ctx_t.oa.kind */
#define SIM_OA_NONE         0
#define SIM_OA_CHAT         1
#define SIM_OA_COMPLETIONS  2
#define SIM_OA_EMBEDDINGS   3
#define SIM_OA_MODELS       4
#define SIM_OA_MODEL        5

#define SIM_CT_SSE  "text/event-stream"


enum MHD_Result sim_api_oa_chat(sim_ctx_t *ctx);
enum MHD_Result sim_api_oa_completions(sim_ctx_t *ctx);
enum MHD_Result sim_api_oa_embeddings(sim_ctx_t *ctx);
enum MHD_Result sim_api_oa_models(sim_ctx_t *ctx);
enum MHD_Result sim_api_oa_model(sim_ctx_t *ctx);

/* the error body of a /v1 reply (openai.NewError) */
void sim_oa_error_body(sim_buf_t *b, unsigned status, const char *msg);

/* floatsToBase64: float32 little-endian, standard base64, as a string */
void sim_oa_b64_floats(sim_buf_t *b, const float *v, size_t n);

/* a generation's reply: one token's chunk, the end, a failure, whole */
void sim_oa_chunk(sim_gen_t *g, sim_buf_t *b, const char *tok, size_t n);
void sim_oa_end(sim_gen_t *g, sim_buf_t *b);
void sim_oa_broken(sim_gen_t *g, sim_buf_t *b);
void sim_oa_whole(sim_gen_t *g, sim_buf_t *b, const char *text, size_t n);

#endif /* SIM_OPENAI_H */
