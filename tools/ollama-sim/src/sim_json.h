/*
 * JSON output helpers.  Strings are escaped the way Go's encoding/json
 * does it (Ollama is written in Go), so bytes on the wire match a real
 * server: HTML characters as \u003c \u003e \u0026, U+2028/U+2029
 * escaped, invalid UTF-8 replaced by \ufffd.
 *
 * Commas are automatic: a key or element written right after '{' or
 * '[' gets none, anything else gets one.
 */

#ifndef SIM_JSON_H
#define SIM_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "sim_buf.h"


int sim_json_str(sim_buf_t *b, const char *s, size_t n);
int sim_json_cstr(sim_buf_t *b, const char *s);
void sim_json_sep(sim_buf_t *b);
int sim_json_key(sim_buf_t *b, const char *key);
int sim_json_kstr(sim_buf_t *b, const char *key, const char *s, size_t n);
int sim_json_kcstr(sim_buf_t *b, const char *key, const char *s);
int sim_json_kint(sim_buf_t *b, const char *key, long long v);
int sim_json_kbool(sim_buf_t *b, const char *key, int v);
int sim_json_ktime(sim_buf_t *b, const char *key, int64_t real_ns);
int sim_json_float(sim_buf_t *b, double v);
int sim_json_double(sim_buf_t *b, double v);
size_t sim_utf8_seq_len(const unsigned char *s, size_t n);
void sim_go_quote(char *out, size_t size, const char *s, size_t n);

#endif /* SIM_JSON_H */
