/*
 * A minimal unit test harness: every failed check prints where and why,
 * and the test program exits non-zero if any check failed.
 */

#ifndef ECHO_AGENT_UNIT_H
#define ECHO_AGENT_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>


static int  unit_checks;
static int  unit_failures;


#define CHECK(cond)                                                          \
    do {                                                                     \
        unit_checks++;                                                       \
        if (!(cond)) {                                                       \
            unit_failures++;                                                 \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CHECK_INT(got, want)                                                 \
    do {                                                                     \
        long long  g_ = (long long) (got), w_ = (long long) (want);          \
        unit_checks++;                                                       \
        if (g_ != w_) {                                                      \
            unit_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__,      \
                    __LINE__, #got, g_, w_);                                 \
        }                                                                    \
    } while (0)

#define CHECK_STR(got, want)                                                 \
    do {                                                                     \
        const char  *g_ = (got), *w_ = (want);                               \
        unit_checks++;                                                       \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                             \
            unit_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__,  \
                    __LINE__, #got, g_ ? g_ : "(null)", w_);                 \
        }                                                                    \
    } while (0)

/* the whole of a fixture file, NUL-terminated; NULL if unreadable */
static inline char *
unit_read_file(const char *name, size_t *len)
{
    char   path[512];
    char  *data = NULL;
    long   size;
    FILE  *f = NULL;

    snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    data = malloc((size_t) size + 1);
    if (data != NULL) {
        *len = fread(data, 1, (size_t) size, f);
        data[*len] = '\0';
    }

    fclose(f);
    return data;
}


/* SIGALRM ends the test: a deadline that catches a hang, never a speed */
static inline void
unit_on_watchdog(int sig)
{
    static const char  msg[] = "unit test hung: watchdog fired\n";

    (void) sig;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        _exit(1);
    }
    _exit(1);
}


static inline void
unit_watchdog(unsigned secs)
{
    signal(SIGALRM, unit_on_watchdog);
    alarm(secs);
}


#define UNIT_DONE()                                                          \
    (printf("%-24s %3d checks, %d failed\n", __FILE__, unit_checks,          \
            unit_failures),                                                  \
     unit_failures ? 1 : 0)


#endif /* ECHO_AGENT_UNIT_H */
