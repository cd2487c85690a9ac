#include <math.h>
#include <stdlib.h>

#include "sim_json.h"
#include "sim_tokens.h"


static const sim_span_t  sim_no_words = { "...", 3 };


static int
sim_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
           || c == '\f';
}


/*
 * Spans point into text, which must outlive w.  Only the first keep_max
 * words are remembered (a reply of N tokens needs at most N - 1 of
 * them) but all are counted, for prompt_eval_count.
 */
int
sim_words_split(sim_words_t *w, const char *text, size_t n, size_t keep_max)
{
    const unsigned char  *s = (const unsigned char *) text;
    size_t                i = 0, start, cap = 0;
    sim_span_t           *p = NULL;

    w->words = NULL;
    w->nkept = 0;
    w->nwords = 0;

    if (keep_max == 0) {
        keep_max = 1;
    }

    while (i < n) {
        while (i < n && sim_is_space(s[i])) {
            i++;
        }
        if (i >= n) {
            break;
        }

        start = i;
        while (i < n && !sim_is_space(s[i])) {
            i++;
        }

        w->nwords++;
        if (w->nkept >= keep_max) {
            continue;
        }

        if (w->nkept == cap) {
            cap = cap ? cap * 2 : 16;
            if (cap > keep_max) {
                cap = keep_max;
            }
            p = realloc(w->words, cap * sizeof(sim_span_t));
            if (p == NULL) {
                goto failed;
            }
            w->words = p;
        }

        w->words[w->nkept].p = text + start;
        w->words[w->nkept].n = i - start;
        w->nkept++;
    }

    if (w->nwords == 0) {
        w->words = malloc(sizeof(sim_span_t));
        if (w->words == NULL) {
            goto failed;
        }
        w->words[0] = sim_no_words;
        w->nkept = 1;
        w->nwords = 1;
    }

    return 0;

failed:

    sim_words_free(w);
    return -1;
}


void
sim_words_free(sim_words_t *w)
{
    free(w->words);
    w->words = NULL;
    w->nkept = 0;
    w->nwords = 0;
}


int
sim_token_add(sim_buf_t *b, const char *model, size_t mlen,
    const sim_words_t *w, long i)
{
    size_t  k;

    if (i == 0) {
        sim_buf_addc(b, '[');
        sim_buf_add(b, model, mlen);
        return sim_buf_addc(b, ']');
    }

    k = (size_t) (i - 1) % w->nwords;
    if (k >= w->nkept) {
        /* cannot happen when keep_max >= ntokens; stay defined anyway */
        k %= w->nkept;
    }

    sim_buf_addc(b, ' ');
    return sim_buf_add(b, w->words[k].p, w->words[k].n);
}


/* FNV-1a with a seed mixed in, then a final avalanche (murmur3 fmix). */
uint32_t
sim_hash32(const void *p, size_t n, uint32_t seed)
{
    const unsigned char  *s = p;
    uint32_t              h = 2166136261u ^ seed;
    size_t                i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}


/* Unit length, as Ollama normalises every embedding it returns. */
void
sim_embed(const char *text, size_t n, float *out, size_t dim)
{
    size_t  j;
    double  sum = 0, v;

    for (j = 0; j < dim; j++) {
        v = sim_hash32(text, n, (uint32_t) j * 2654435761u + 1u)
            / 4294967295.0 * 2.0 - 1.0;
        out[j] = (float) v;
        sum += v * v;
    }

    if (sum <= 0) {
        return;
    }

    sum = sqrt(sum);
    for (j = 0; j < dim; j++) {
        out[j] = (float) (out[j] / sum);
    }
}


/* The "context" array of a /api/generate reply: one id per prompt word
 * (up to SIM_CONTEXT_WORDS_MAX) then one per reply token. */
int
sim_context_add(sim_buf_t *b, const sim_words_t *w, const char *model,
    size_t mlen, long ntokens)
{
    size_t  i, nprompt;
    long    t;
    size_t  k;

    nprompt = w->nkept < SIM_CONTEXT_WORDS_MAX ? w->nkept
                                                : SIM_CONTEXT_WORDS_MAX;
    sim_buf_addc(b, '[');

    for (i = 0; i < nprompt; i++) {
        sim_json_sep(b);
        sim_buf_printf(b, "%u",
                       sim_hash32(w->words[i].p, w->words[i].n, 0) % 32000
                       + 1);
    }

    for (t = 0; t < ntokens; t++) {
        sim_json_sep(b);
        if (t == 0) {
            sim_buf_printf(b, "%u", sim_hash32(model, mlen, 1) % 32000 + 1);
            continue;
        }
        k = ((size_t) (t - 1) % w->nwords) % w->nkept;
        sim_buf_printf(b, "%u",
                       sim_hash32(w->words[k].p, w->words[k].n, 0) % 32000
                       + 1);
    }

    return sim_buf_addc(b, ']');
}
