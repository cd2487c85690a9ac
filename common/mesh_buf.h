/*
 * A growable byte buffer with a size limit, and the JSON string escape,
 * shared by echo-agent and ollama-sim (each keeps its own names through
 * a small compatibility header: agent/buf.h, sim_buf.h).
 *
 * Every append either fits entirely or fails and leaves the contents as
 * they were; the first failure is also sticky (until reset), so a writer
 * may chain appends and check once at the end.  The contents are always
 * NUL-terminated.
 */

#ifndef MESH_BUF_H
#define MESH_BUF_H

#include <stddef.h>


#define MESH_BUF_NO_LIMIT  ((size_t) -1 / 4)


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t   max;
    int      failed;
} mesh_buf_t;


void mesh_buf_init(mesh_buf_t *b, size_t max);
void mesh_buf_free(mesh_buf_t *b);
void mesh_buf_reset(mesh_buf_t *b);
int mesh_buf_reserve(mesh_buf_t *b, size_t more);
int mesh_buf_append(mesh_buf_t *b, const void *p, size_t n);
int mesh_buf_puts(mesh_buf_t *b, const char *s);
int mesh_buf_putc(mesh_buf_t *b, char c);
int mesh_buf_printf(mesh_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *mesh_buf_detach(mesh_buf_t *b, size_t *len);
int mesh_buf_ok(const mesh_buf_t *b);

int mesh_json_string(mesh_buf_t *b, const char *s, size_t n);
size_t mesh_utf8_seq_len(const unsigned char *s, size_t n);


#endif /* MESH_BUF_H */
