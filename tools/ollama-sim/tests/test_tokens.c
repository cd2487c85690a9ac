/*
 * Unit tests: the token generator, word splitting, embeddings and
 * context ids.
 */

#include <math.h>
#include <stdlib.h>

#include "sim_buf.h"
#include "sim_tokens.h"
#include "sim_test.h"


/* The whole reply of n tokens for a prompt, as one string. */
static char *
reply(const char *model, const char *prompt, long n)
{
    sim_words_t  w;
    sim_buf_t    b;
    long         i;

    sim_buf_init(&b);
    if (sim_words_split(&w, prompt, strlen(prompt), (size_t) n) != 0) {
        return NULL;
    }
    sim_buf_adds(&b, "");
    for (i = 0; i < n; i++) {
        sim_token_add(&b, model, strlen(model), &w, i);
    }
    sim_words_free(&w);
    return sim_buf_detach(&b, NULL);
}


static void
test_split(void)
{
    sim_words_t  w;
    const char  *text = "  why\tis \n the\r\nsky   blue ";

    CHECK(sim_words_split(&w, text, strlen(text), 100) == 0);
    CHECK(w.nwords == 5 && w.nkept == 5);
    CHECK_MEM(w.words[0].p, w.words[0].n, "why");
    CHECK_MEM(w.words[4].p, w.words[4].n, "blue");
    sim_words_free(&w);

    /* all words are counted, only keep_max are kept */
    CHECK(sim_words_split(&w, text, strlen(text), 2) == 0);
    CHECK(w.nwords == 5 && w.nkept == 2);
    sim_words_free(&w);

    /* no words: the single word "..." */
    CHECK(sim_words_split(&w, " \t\n", 3, 8) == 0);
    CHECK(w.nwords == 1 && w.nkept == 1);
    CHECK_MEM(w.words[0].p, w.words[0].n, "...");
    sim_words_free(&w);

    CHECK(sim_words_split(&w, NULL, 0, 8) == 0);
    CHECK(w.nwords == 1);
    sim_words_free(&w);

    /* bytes that are not ASCII blanks stay inside words */
    CHECK(sim_words_split(&w, "a\0b c", 5, 8) == 0);
    CHECK(w.nwords == 2 && w.words[0].n == 3);
    sim_words_free(&w);
}


static void
test_tokens(void)
{
    static const struct {
        const char  *model;
        const char  *prompt;
        long         n;
        const char  *want;
    } cases[] = {
        { "llama3.2", "why is the sky blue", 8,
          "[llama3.2] why is the sky blue why is" },
        { "m:7b", "hello", 4, "[m:7b] hello hello hello" },
        { "m", "", 3, "[m] ... ..." },
        { "m", "a b", 1, "[m]" },
        { "m", "a b", 0, "" },
    };
    char    *s = NULL;
    size_t   i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = reply(cases[i].model, cases[i].prompt, cases[i].n);
        CHECK_STR(s, cases[i].want);
        free(s);
    }

    /* 39 words after "[x]": six whole rounds of six, then three */
    s = reply("x", "one two three four five six", 40);
    CHECK(s != NULL && strlen(s) == strlen("[x]")
          + strlen(" one two three four five six") * 6
          + strlen(" one two three"));
    CHECK(s != NULL && strcmp(s + strlen(s) - 14, " one two three") == 0);
    free(s);
}


static void
test_embed(void)
{
    float   a[16], b[16], c[16];
    double  norm = 0;
    size_t  i;
    int     same = 1;

    sim_embed("why is the sky blue", 19, a, 16);
    sim_embed("why is the sky blue", 19, b, 16);
    sim_embed("why is the grass green", 22, c, 16);

    for (i = 0; i < 16; i++) {
        norm += (double) a[i] * a[i];
        CHECK(a[i] == b[i]);
        CHECK(a[i] >= -1.0f && a[i] <= 1.0f);
        if (a[i] != c[i]) {
            same = 0;
        }
    }
    CHECK(fabs(norm - 1.0) < 1e-5);
    CHECK(!same);

    sim_embed("", 0, a, 1);
    CHECK(a[0] == 1.0f || a[0] == -1.0f);
}


static void
test_context(void)
{
    sim_words_t  w;
    sim_buf_t    b;
    size_t       i, commas = 0;

    sim_buf_init(&b);
    CHECK(sim_words_split(&w, "a b c", 5, 8) == 0);
    sim_context_add(&b, &w, "m", 1, 4);
    CHECK(b.data != NULL && b.data[0] == '[' && b.data[b.len - 1] == ']');
    for (i = 0; i < b.len; i++) {
        commas += (b.data[i] == ',');
    }
    CHECK(commas == 3 + 4 - 1);
    sim_words_free(&w);
    sim_buf_free(&b);

    CHECK(sim_hash32("abc", 3, 0) == sim_hash32("abc", 3, 0));
    CHECK(sim_hash32("abc", 3, 0) != sim_hash32("abc", 3, 1));
}


int
main(void)
{
    test_split();
    test_tokens();
    test_embed();
    test_context();
    return sim_test_done("test_tokens");
}
