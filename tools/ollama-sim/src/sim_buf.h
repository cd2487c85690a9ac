/*
 * A growable byte buffer.  Appends never fail loudly: the first failed
 * allocation sets a sticky flag, so a writer can chain appends and
 * check once at the end.
 */

#ifndef SIM_BUF_H
#define SIM_BUF_H

#include <stddef.h>


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    int      failed;
} sim_buf_t;


void sim_buf_init(sim_buf_t *b);
void sim_buf_free(sim_buf_t *b);
void sim_buf_reset(sim_buf_t *b);
int sim_buf_reserve(sim_buf_t *b, size_t more);
int sim_buf_add(sim_buf_t *b, const void *p, size_t n);
int sim_buf_adds(sim_buf_t *b, const char *s);
int sim_buf_addc(sim_buf_t *b, char c);
int sim_buf_printf(sim_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *sim_buf_detach(sim_buf_t *b, size_t *len);
int sim_buf_ok(const sim_buf_t *b);

#endif /* SIM_BUF_H */
