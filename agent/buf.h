/*
 * A growable byte buffer with a hard size limit, and JSON writers on it.
 */

#ifndef ECHO_AGENT_BUF_H
#define ECHO_AGENT_BUF_H

#include <stddef.h>


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t   max;
} buf_t;


void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_json_string(buf_t *b, const char *s, size_t n);
int buf_json_error(buf_t *b, const char *msg);


#endif /* ECHO_AGENT_BUF_H */
