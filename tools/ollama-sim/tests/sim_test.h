/*
 * A minimal check harness for the unit tests: each failed check prints
 * its place and expression; main returns sim_test_done(), non-zero
 * when anything failed.
 */

#ifndef SIM_TEST_H
#define SIM_TEST_H

#include <stdio.h>
#include <string.h>

static int  sim_test_checks;
static int  sim_test_failed;

#define CHECK(cond)                                                         \
    do {                                                                    \
        sim_test_checks++;                                                  \
        if (!(cond)) {                                                      \
            sim_test_failed++;                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
        }                                                                   \
    } while (0)

#define CHECK_STR(got, want)                                                \
    do {                                                                    \
        const char  *g_ = (got), *w_ = (want);                              \
        sim_test_checks++;                                                  \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                            \
            sim_test_failed++;                                              \
            fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__,   \
                    __LINE__, g_ != NULL ? g_ : "(null)", w_);              \
        }                                                                   \
    } while (0)

#define CHECK_MEM(got, glen, want)                                          \
    do {                                                                    \
        const char  *w_ = (want);                                           \
        size_t       wl_ = strlen(w_), gl_ = (glen);                        \
        sim_test_checks++;                                                  \
        if (gl_ != wl_ || memcmp((got), w_, wl_) != 0) {                    \
            sim_test_failed++;                                              \
            fprintf(stderr, "%s:%d: got \"%.*s\", want \"%s\"\n",          \
                    __FILE__, __LINE__, (int) gl_, (const char *) (got),    \
                    w_);                                                    \
        }                                                                   \
    } while (0)


static int
sim_test_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, sim_test_checks,
           sim_test_failed);
    return sim_test_failed != 0;
}

#endif /* SIM_TEST_H */
