/*
 * Each message is formatted into one buffer and written with a single
 * write(2), so lines from different threads never interleave.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"


#define LOG_LINE_MAX  1024


static int  log_level = AGENT_LOG_INFO;

static const char  *log_names[] = { "error", "warn", "info", "debug" };


void
log_set_level(int level)
{
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}


int
log_get_level(void)
{
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}


int
log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i <= AGENT_LOG_DEBUG; i++) {
        if (strcasecmp(name, log_names[i]) == 0) {
            return i;
        }
    }

    if (strcasecmp(name, "warning") == 0) {
        return AGENT_LOG_WARN;
    }

    return -1;
}


const char *
log_level_name(int level)
{
    if (level < 0 || level > AGENT_LOG_DEBUG) {
        return "?";
    }

    return log_names[level];
}


void
log_msg(int level, const char *fmt, ...)
{
    char            line[LOG_LINE_MAX];
    size_t          n;
    int             rc;
    va_list         ap;
    struct tm       tm;
    struct timeval  tv;

    if (level > log_get_level()) {
        return;
    }

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    rc = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: ",
                  (long) (tv.tv_usec / 1000), log_level_name(level));
    if (rc > 0) {
        n += (size_t) rc;
    }

    va_start(ap, fmt);
    rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);

    if (rc > 0) {
        n += (size_t) rc;
    }

    /* a truncated message still ends with its newline */
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';

    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
        return;
    }
}
