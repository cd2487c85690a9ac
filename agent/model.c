/*
 * Model lists are small arrays; lookups are linear because a node holds a
 * handful of models, never thousands.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"


static size_t model_name_base_len(const char *name);


void
model_list_init(model_list_t *l)
{
    l->items = NULL;
    l->n = 0;
    l->cap = 0;
}


void
model_list_free(model_list_t *l)
{
    free(l->items);
    model_list_init(l);
}


model_t *
model_list_add(model_list_t *l)
{
    size_t    cap;
    model_t  *p = NULL;

    if (l->n >= MODELS_MAX) {
        return NULL;
    }

    if (l->n == l->cap) {
        cap = l->cap ? l->cap * 2 : 8;
        p = realloc(l->items, cap * sizeof(model_t));
        if (p == NULL) {
            return NULL;
        }
        l->items = p;
        l->cap = cap;
    }

    p = &l->items[l->n++];
    memset(p, 0, sizeof(*p));
    return p;
}


model_t *
model_list_find(const model_list_t *l, const char *name)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (model_name_equal(l->items[i].name, name)) {
            return &l->items[i];
        }
    }

    return NULL;
}


int
model_list_copy(model_list_t *dst, const model_list_t *src)
{
    model_list_init(dst);

    if (src->n == 0) {
        return 0;
    }

    dst->items = malloc(src->n * sizeof(model_t));
    if (dst->items == NULL) {
        return -1;
    }

    memcpy(dst->items, src->items, src->n * sizeof(model_t));
    dst->n = src->n;
    dst->cap = src->n;
    return 0;
}


/* the length of a name without an implicit ":latest" tag */
static size_t
model_name_base_len(const char *name)
{
    size_t       len;
    const char  *slash, *colon;

    len = strlen(name);
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');

    if (colon != NULL && strcmp(colon, ":latest") == 0) {
        return (size_t) (colon - name);
    }

    return len;
}


/*
 * Ollama treats "llama3" and "llama3:latest" as one model, and matches
 * names regardless of case.
 */
int
model_name_equal(const char *a, const char *b)
{
    size_t  la, lb;

    la = model_name_base_len(a);
    lb = model_name_base_len(b);

    return la == lb && strncasecmp(a, b, la) == 0;
}
