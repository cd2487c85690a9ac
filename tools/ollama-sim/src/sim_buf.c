#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_buf.h"


static int sim_buf_grow(sim_buf_t *b, size_t more);


void
sim_buf_init(sim_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}


void
sim_buf_free(sim_buf_t *b)
{
    free(b->data);
    sim_buf_init(b);
}


void
sim_buf_reset(sim_buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}


/* Keeps one spare byte so data is always NUL-terminated. */
static int
sim_buf_grow(sim_buf_t *b, size_t more)
{
    size_t   need, cap;
    char    *p = NULL;

    if (b->failed) {
        return -1;
    }

    if (more > (size_t) -1 / 2 - b->len) {
        b->failed = 1;
        return -1;
    }

    need = b->len + more + 1;
    if (need <= b->cap) {
        return 0;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}


int
sim_buf_reserve(sim_buf_t *b, size_t more)
{
    return sim_buf_grow(b, more);
}


int
sim_buf_add(sim_buf_t *b, const void *p, size_t n)
{
    if (sim_buf_grow(b, n) != 0) {
        return -1;
    }

    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}


int
sim_buf_adds(sim_buf_t *b, const char *s)
{
    return sim_buf_add(b, s, strlen(s));
}


int
sim_buf_addc(sim_buf_t *b, char c)
{
    return sim_buf_add(b, &c, 1);
}


int
sim_buf_printf(sim_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || sim_buf_grow(b, (size_t) n) != 0) {
        b->failed = 1;
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
    return 0;
}


/* Hands the memory to the caller (who frees it); NULL if any append
 * failed, in which case the buffer is released. */
char *
sim_buf_detach(sim_buf_t *b, size_t *len)
{
    char  *p = NULL;

    if (b->failed || sim_buf_grow(b, 0) != 0) {
        sim_buf_free(b);
        return NULL;
    }

    p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    sim_buf_init(b);
    return p;
}


int
sim_buf_ok(const sim_buf_t *b)
{
    return !b->failed;
}
