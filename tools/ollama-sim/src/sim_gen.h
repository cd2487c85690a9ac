/*
 * One reply of /api/generate or /api/chat: the tokens, their pacing,
 * the fail-after fault, and the NDJSON lines or the single object that
 * carry them.
 */

#ifndef SIM_GEN_H
#define SIM_GEN_H

#include "sim_http.h"
#include "sim_request.h"
#include "sim_tokens.h"

/* A non-streamed reply stops growing here (done_reason "length"). */
#define SIM_REPLY_MAX  (64 * 1024 * 1024)

/* format replies: text for strings from this many tokens at most, and
 * the document streamed in pieces of about this many bytes */
#define SIM_DOC_TOKENS_MAX  4096
#define SIM_DOC_PIECE       8


struct sim_gen_s {
    sim_ctx_t    *ctx;
    int           chat;
    int           with_context;
    const char   *model;
    size_t        mlen;
    sim_words_t   words;
    long          ntokens;
    long          next;
    long          fail_after;       /* -1: no failure */
    const char   *done_reason;
    int64_t       t_loaded;
    int64_t       t_first;
    int64_t       t_end;
    sim_buf_t     out;              /* bytes not yet given to MHD */
    size_t        off;
    sim_buf_t     tok;
    int           ended;
    int           tool_call;        /* the reply is calls: JSON in calls */
    sim_buf_t     calls;
    sim_buf_t     doc;              /* format: the JSON the tokens spell */
    size_t       *cuts;             /* token i is doc[cuts[i]..cuts[i+1]) */
};


enum MHD_Result sim_gen_start(sim_ctx_t *ctx, int chat,
    const sim_str_t *model, const sim_str_t *text);
enum MHD_Result sim_gen_done_reply(sim_ctx_t *ctx, int chat,
    const sim_str_t *model, const char *reason);

#endif /* SIM_GEN_H */
