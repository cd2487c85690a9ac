/*
 * JSON strings are escaped the way Go's encoding/json does it (Ollama is
 * written in Go), so the simulator's bytes on the wire match a real
 * server and the agent's own lines look like Ollama's: \n \r \t \b \f
 * and \" \\ by name, other control bytes as \u00XX, the HTML characters
 * < > & as \u003c \u003e \u0026, U+2028 and U+2029 escaped, and invalid
 * UTF-8 replaced by \ufffd (so the output is always valid JSON).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_buf.h"


static int mesh_buf_grow(mesh_buf_t *b, size_t more);
static int mesh_json_escape(mesh_buf_t *b, const unsigned char *p,
    size_t n);


static const char  mesh_hex[] = "0123456789abcdef";


void
mesh_buf_init(mesh_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max < MESH_BUF_NO_LIMIT ? max : MESH_BUF_NO_LIMIT;
    b->failed = 0;
}


void
mesh_buf_free(mesh_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}


void
mesh_buf_reset(mesh_buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}


/* one spare byte keeps the contents NUL-terminated */
static int
mesh_buf_grow(mesh_buf_t *b, size_t more)
{
    size_t   need, cap;
    char    *p = NULL;

    if (b->failed) {
        return -1;
    }

    if (more > b->max || b->len > b->max - more) {
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
    if (cap > b->max + 1) {
        cap = b->max + 1;
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
mesh_buf_reserve(mesh_buf_t *b, size_t more)
{
    return mesh_buf_grow(b, more);
}


int
mesh_buf_append(mesh_buf_t *b, const void *p, size_t n)
{
    if (mesh_buf_grow(b, n) != 0) {
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
mesh_buf_puts(mesh_buf_t *b, const char *s)
{
    return mesh_buf_append(b, s, strlen(s));
}


int
mesh_buf_putc(mesh_buf_t *b, char c)
{
    return mesh_buf_append(b, &c, 1);
}


int
mesh_buf_printf(mesh_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->failed = 1;
        return -1;
    }

    if (mesh_buf_grow(b, (size_t) n) != 0) {
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
    return 0;
}


/* hands the memory to the caller (who frees it); NULL, and the buffer
 * released, if any append failed */
char *
mesh_buf_detach(mesh_buf_t *b, size_t *len)
{
    char    *p = NULL;
    size_t   max = b->max;

    if (b->failed || mesh_buf_grow(b, 0) != 0) {
        mesh_buf_free(b);
        return NULL;
    }

    p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    mesh_buf_init(b, max);
    return p;
}


int
mesh_buf_ok(const mesh_buf_t *b)
{
    return !b->failed;
}


/*
 * Length of the valid UTF-8 sequence at s, or 0 when the bytes there
 * are not valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF and
 * truncated sequences all count as invalid, as in Go's utf8 package).
 */
size_t
mesh_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char  c = s[0];
    unsigned char  lo = 0x80, hi = 0xbf;
    size_t         len, i;

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }
    } else {
        return 0;
    }

    if (n < len) {
        return 0;
    }

    if (s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }

    return len;
}


/* the quoted string, or nothing: a failure leaves the contents as they
 * were (and the buffer failed) */
int
mesh_json_string(mesh_buf_t *b, const char *s, size_t n)
{
    size_t  start = b->len;

    if (mesh_buf_putc(b, '"') == 0
        && mesh_json_escape(b, (const unsigned char *) s, n) == 0
        && mesh_buf_putc(b, '"') == 0)
    {
        return 0;
    }

    b->len = start;
    if (b->data != NULL) {
        b->data[start] = '\0';
    }
    return -1;
}


static int
mesh_json_escape(mesh_buf_t *b, const unsigned char *p, size_t n)
{
    size_t          i = 0, run = 0, len;
    unsigned char   c;
    char            esc[6] = { '\\', 'u', '0', '0', 0, 0 };

    while (i < n) {
        c = p[i];

        if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>'
            && c != '&' && c < 0x80)
        {
            run++;
            i++;
            continue;
        }

        if (c >= 0x80) {
            len = mesh_utf8_seq_len(p + i, n - i);
            if (len == 3 && c == 0xe2 && p[i + 1] == 0x80
                && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
            {
                mesh_buf_append(b, p + i - run, run);
                run = 0;
                mesh_buf_puts(b, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                i += 3;
                continue;
            }

            if (len > 0) {
                run += len;
                i += len;
                continue;
            }

            mesh_buf_append(b, p + i - run, run);
            run = 0;
            mesh_buf_puts(b, "\\ufffd");
            i++;
            continue;
        }

        mesh_buf_append(b, p + i - run, run);
        run = 0;

        switch (c) {
        case '"':
            mesh_buf_puts(b, "\\\"");
            break;
        case '\\':
            mesh_buf_puts(b, "\\\\");
            break;
        case '\n':
            mesh_buf_puts(b, "\\n");
            break;
        case '\r':
            mesh_buf_puts(b, "\\r");
            break;
        case '\t':
            mesh_buf_puts(b, "\\t");
            break;
        case '\b':
            mesh_buf_puts(b, "\\b");
            break;
        case '\f':
            mesh_buf_puts(b, "\\f");
            break;
        default:
            esc[4] = mesh_hex[c >> 4];
            esc[5] = mesh_hex[c & 0x0f];
            mesh_buf_append(b, esc, sizeof(esc));
            break;
        }
        i++;
    }

    mesh_buf_append(b, p + i - run, run);
    return mesh_buf_ok(b) ? 0 : -1;
}
