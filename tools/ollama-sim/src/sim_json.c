#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_json.h"
#include "sim_time.h"


/* both shared with the agent: common/mesh_buf.c */
size_t
sim_utf8_seq_len(const unsigned char *s, size_t n)
{
    return mesh_utf8_seq_len(s, n);
}


int
sim_json_str(sim_buf_t *b, const char *s, size_t n)
{
    return mesh_json_string(b, s, n);
}


int
sim_json_cstr(sim_buf_t *b, const char *s)
{
    return sim_json_str(b, s, strlen(s));
}


void
sim_json_sep(sim_buf_t *b)
{
    char  last;

    if (b->len == 0) {
        return;
    }

    last = b->data[b->len - 1];
    if (last != '{' && last != '[' && last != ':') {
        sim_buf_addc(b, ',');
    }
}


int
sim_json_key(sim_buf_t *b, const char *key)
{
    sim_json_sep(b);
    sim_json_cstr(b, key);
    return sim_buf_addc(b, ':');
}


int
sim_json_kstr(sim_buf_t *b, const char *key, const char *s, size_t n)
{
    sim_json_key(b, key);
    return sim_json_str(b, s, n);
}


int
sim_json_kcstr(sim_buf_t *b, const char *key, const char *s)
{
    return sim_json_kstr(b, key, s, strlen(s));
}


int
sim_json_kint(sim_buf_t *b, const char *key, long long v)
{
    sim_json_key(b, key);
    return sim_buf_printf(b, "%lld", v);
}


int
sim_json_kbool(sim_buf_t *b, const char *key, int v)
{
    sim_json_key(b, key);
    return sim_buf_adds(b, v ? "true" : "false");
}


int
sim_json_ktime(sim_buf_t *b, const char *key, int64_t real_ns)
{
    char  ts[SIM_TIME_STR_MAX];

    sim_time_rfc3339(real_ns, ts, sizeof(ts));
    sim_json_key(b, key);
    sim_buf_addc(b, '"');
    sim_buf_adds(b, ts);
    return sim_buf_addc(b, '"');
}


/* JSON has no NaN or infinity; neither can come from our generators,
 * but a 0 keeps the output valid whatever happens. */
int
sim_json_float(sim_buf_t *b, double v)
{
    if (!isfinite(v)) {
        v = 0;
    }
    return sim_buf_printf(b, "%.9g", v);
}


/* A float64 as Go writes it: the shortest text that reads back the
 * same (for values in [-1, 1], as embeddings are). */
int
sim_json_double(sim_buf_t *b, double v)
{
    char  tmp[40];
    int   prec;

    if (!isfinite(v)) {
        v = 0;
    }

    for (prec = 1; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }

    return sim_buf_printf(b, "%.*g", prec, v);
}


/*
 * Client text inside an error message, quoted like Go's %q: printable
 * text as is, quotes and backslashes escaped, other bytes as \xNN.
 * Truncated to fit out (size >= 8).
 */
void
sim_go_quote(char *out, size_t size, const char *s, size_t n)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i = 0, o = 0, len;

    if (size < 8) {
        if (size > 0) {
            out[0] = '\0';
        }
        return;
    }

    out[o++] = '"';
    while (i < n && o + 6 < size) {
        unsigned char  c = p[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char) c;
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char) c;
            i++;
        } else if (c >= 0x80 && (len = sim_utf8_seq_len(p + i, n - i)) > 0
                   && o + len + 2 < size)
        {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            o += (size_t) snprintf(out + o, size - o, "\\x%02x", c);
            i++;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}
