/*
 * Every append either fits entirely or fails and leaves the buffer as it
 * was, so callers check once at the end of a sequence of appends.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"


static int buf_reserve(buf_t *b, size_t extra);


void
buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}


void
buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


void
buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}


static int
buf_reserve(buf_t *b, size_t extra)
{
    size_t   need, cap;
    char    *p = NULL;

    /* one spare byte keeps the contents NUL-terminated */
    if (extra > b->max || b->len + extra > b->max) {
        return -1;
    }

    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}


int
buf_append(buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0) {
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
buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}


int
buf_printf(buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || buf_reserve(b, (size_t) n) != 0) {
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
    return 0;
}


int
buf_json_string(buf_t *b, const char *s, size_t n)
{
    size_t          i, start;
    char            esc[8];
    unsigned char   c;

    start = b->len;

    if (buf_append(b, "\"", 1) != 0) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) c;
            if (buf_append(b, esc, 2) != 0) {
                goto failed;
            }

        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            if (buf_append(b, esc, 6) != 0) {
                goto failed;
            }

        } else if (buf_append(b, &s[i], 1) != 0) {
            goto failed;
        }
    }

    if (buf_append(b, "\"", 1) != 0) {
        goto failed;
    }

    return 0;

failed:

    b->len = start;
    if (b->data != NULL) {
        b->data[start] = '\0';
    }
    return -1;
}


int
buf_json_error(buf_t *b, const char *msg)
{
    if (buf_puts(b, "{\"error\":") != 0
        || buf_json_string(b, msg, strlen(msg)) != 0
        || buf_puts(b, "}") != 0)
    {
        return -1;
    }

    return 0;
}
