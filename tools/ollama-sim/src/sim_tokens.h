/*
 * The deterministic "model": a reply of N tokens is token 0 = "[MODEL]"
 * (the model name as the client wrote it, in brackets), then token i =
 * " " + word[(i - 1) % nwords] for the whitespace-separated words of
 * the prompt.  A prompt without words counts as the single word "...".
 * Embeddings and context ids are hashes of the text, so they too are
 * the same on every run.
 */

#ifndef SIM_TOKENS_H
#define SIM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "sim_buf.h"

/* At most this many prompt words feed the context array (Ollama caps
 * its context at num_ctx too). */
#define SIM_CONTEXT_WORDS_MAX  4096


typedef struct {
    const char  *p;
    size_t       n;
} sim_span_t;


typedef struct {
    sim_span_t  *words;     /* the first nkept words */
    size_t       nkept;
    size_t       nwords;    /* all words in the text */
} sim_words_t;


int sim_words_split(sim_words_t *w, const char *text, size_t n,
    size_t keep_max);
void sim_words_free(sim_words_t *w);
int sim_token_add(sim_buf_t *b, const char *model, size_t mlen,
    const sim_words_t *w, long i);
uint32_t sim_hash32(const void *p, size_t n, uint32_t seed);
void sim_embed(const char *text, size_t n, float *out, size_t dim);
int sim_context_add(sim_buf_t *b, const sim_words_t *w, const char *model,
    size_t mlen, long ntokens);

#endif /* SIM_TOKENS_H */
