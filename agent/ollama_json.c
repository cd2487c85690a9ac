/*
 * Only the fields the capability report needs are kept; everything else
 * in Ollama's replies (modelfile, license, model_info) streams past.
 */

#include <stdlib.h>
#include <string.h>

#include "ollama_json.h"


typedef struct {
    const char  *name;
    unsigned     flag;
} ollama_flag_t;


static int ollama_json_on_value(void *ud, const char *path, jw_type_t type,
    const char *val, size_t len);
static int ollama_json_item(ollama_json_t *oj, const char *field,
    jw_type_t type, const char *val, size_t len);
static int ollama_json_show(ollama_json_t *oj, const char *path,
    jw_type_t type, const char *val, size_t len);
static void copy_text(char *dst, size_t size, const char *val, size_t len);
static uint64_t parse_u64(const char *val, size_t len);
static unsigned flag_lookup(const ollama_flag_t *t, const char *s,
    size_t len);


static const ollama_flag_t  ollama_caps[] = {
    { "completion", CAP_COMPLETION },
    { "vision",     CAP_VISION },
    { "embedding",  CAP_EMBEDDING },
    { "tools",      CAP_TOOLS },
    { "insert",     CAP_INSERT },
    { "thinking",   CAP_THINKING },
    { NULL, 0 }
};

static const ollama_flag_t  ollama_families[] = {
    { "clip",       FAM_CLIP },
    { "mllama",     FAM_CLIP },
    { "bert",       FAM_BERT },
    { "nomic-bert", FAM_BERT },
    { "xlm-roberta", FAM_BERT },
    { NULL, 0 }
};


int
ollama_json_init(ollama_json_t *oj, ollama_reply_t kind, model_list_t *list,
    model_t *show)
{
    memset(oj, 0, sizeof(*oj));
    oj->kind = kind;
    oj->list = list;
    oj->show = show;

    return jw_init(&oj->jw, ollama_json_on_value, oj);
}


int
ollama_json_feed(ollama_json_t *oj, const char *p, size_t n)
{
    return jw_feed(&oj->jw, p, n);
}


int
ollama_json_finish(ollama_json_t *oj)
{
    return jw_finish(&oj->jw);
}


void
ollama_json_free(ollama_json_t *oj)
{
    jw_free(&oj->jw);
}


unsigned
ollama_cap_flag(const char *name, size_t len)
{
    return flag_lookup(ollama_caps, name, len);
}


unsigned
ollama_family_flag(const char *name, size_t len)
{
    return flag_lookup(ollama_families, name, len);
}


static unsigned
flag_lookup(const ollama_flag_t *t, const char *s, size_t len)
{
    for ( /* void */ ; t->name != NULL; t++) {
        if (strlen(t->name) == len && memcmp(t->name, s, len) == 0) {
            return t->flag;
        }
    }

    return 0;
}


static int
ollama_json_on_value(void *ud, const char *path, jw_type_t type,
    const char *val, size_t len)
{
    ollama_json_t  *oj = ud;
    model_t        *m = NULL;

    if (oj->kind == OLLAMA_SHOW) {
        return ollama_json_show(oj, path, type, val, len);
    }

    if (strcmp(path, ".models[]") == 0) {
        if (type == JW_MAP_START) {
            memset(&oj->cur, 0, sizeof(oj->cur));
            oj->in_item = 1;
            return 1;
        }

        if (type == JW_MAP_END && oj->in_item) {
            oj->in_item = 0;

            /* a model without a usable name cannot be routed to */
            if (oj->cur.name[0] == '\0') {
                oj->dropped++;
                return 1;
            }

            m = model_list_add(oj->list);
            if (m == NULL) {
                oj->dropped++;
                return 1;
            }
            *m = oj->cur;
            m->loaded = (oj->kind == OLLAMA_PS);
        }
        return 1;
    }

    if (oj->in_item && strncmp(path, ".models[].", 10) == 0) {
        return ollama_json_item(oj, path + 10, type, val, len);
    }

    return 1;
}


static int
ollama_json_item(ollama_json_t *oj, const char *field, jw_type_t type,
    const char *val, size_t len)
{
    model_t  *m = &oj->cur;

    if (type == JW_STRING && strcmp(field, "name") == 0) {
        /* an over-long name would be cut and then match the wrong model */
        if (len > MODEL_NAME_MAX || memchr(val, '\0', len) != NULL) {
            m->name[0] = '\0';
            return 1;
        }
        copy_text(m->name, sizeof(m->name), val, len);

    } else if (type == JW_NUMBER && strcmp(field, "size") == 0) {
        m->size = parse_u64(val, len);

    } else if (type == JW_NUMBER && strcmp(field, "size_vram") == 0) {
        m->size_vram = parse_u64(val, len);

    } else if (type == JW_STRING && strcmp(field, "digest") == 0) {
        copy_text(m->digest, sizeof(m->digest), val, len);

    } else if (type == JW_STRING && strcmp(field, "details.family") == 0) {
        copy_text(m->family, sizeof(m->family), val, len);

    } else if (type == JW_STRING
               && strcmp(field, "details.families[]") == 0)
    {
        m->families |= ollama_family_flag(val, len);
    }

    return 1;
}


static int
ollama_json_show(ollama_json_t *oj, const char *path, jw_type_t type,
    const char *val, size_t len)
{
    model_t  *m = oj->show;

    if (strcmp(path, ".capabilities") == 0 && type == JW_ARRAY_START) {
        m->caps_known = 1;

    } else if (type == JW_STRING && strcmp(path, ".capabilities[]") == 0) {
        m->caps |= ollama_cap_flag(val, len);

    } else if (type == JW_STRING
               && strcmp(path, ".details.families[]") == 0)
    {
        m->families |= ollama_family_flag(val, len);

    } else if (type == JW_STRING && strcmp(path, ".details.family") == 0) {
        copy_text(m->family, sizeof(m->family), val, len);
    }

    return 1;
}


static void
copy_text(char *dst, size_t size, const char *val, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }

    /* an embedded NUL (\u0000) simply ends the text early */
    memcpy(dst, val, len);
    dst[len] = '\0';
}


static uint64_t
parse_u64(const char *val, size_t len)
{
    char    tmp[32];
    double  d;

    if (len == 0 || len >= sizeof(tmp) || val[0] == '-') {
        return 0;
    }

    memcpy(tmp, val, len);
    tmp[len] = '\0';

    /* sizes may come as 4.1e9 from other producers; strtod reads both */
    d = strtod(tmp, NULL);
    if (!(d >= 0.0) || d >= 1.8e19) {
        return 0;
    }

    return (uint64_t) d;
}
