/*
 * What the agent knows about one model installed in Ollama.
 */

#ifndef ECHO_AGENT_MODEL_H
#define ECHO_AGENT_MODEL_H

#include <stddef.h>
#include <stdint.h>


#define MODEL_NAME_MAX    127
#define MODEL_FAMILY_MAX  47
#define MODEL_DIGEST_MAX  79
#define MODELS_MAX        256

/* capabilities reported by Ollama's /api/show */
#define CAP_COMPLETION  0x01u
#define CAP_VISION      0x02u
#define CAP_EMBEDDING   0x04u
#define CAP_TOOLS       0x08u
#define CAP_INSERT      0x10u
#define CAP_THINKING    0x20u

/* families seen in details.families that say what a model does */
#define FAM_CLIP        0x01u
#define FAM_BERT        0x02u


typedef enum {
    MODEL_TEXT = 0,
    MODEL_CODE,
    MODEL_VISION,
    MODEL_EMBEDDING
} model_type_t;


typedef struct {
    char          name[MODEL_NAME_MAX + 1];
    char          family[MODEL_FAMILY_MAX + 1];
    char          digest[MODEL_DIGEST_MAX + 1];
    uint64_t      size;
    uint64_t      size_vram;
    unsigned      caps;
    unsigned      families;
    int           caps_known;
    int           shown;
    int           loaded;
    model_type_t  type;
} model_t;


typedef struct {
    model_t      *items;
    size_t        n;
    size_t        cap;
} model_list_t;


void model_list_init(model_list_t *l);
void model_list_free(model_list_t *l);
model_t *model_list_add(model_list_t *l);
model_t *model_list_find(const model_list_t *l, const char *name);
int model_list_copy(model_list_t *dst, const model_list_t *src);
int model_name_equal(const char *a, const char *b);


#endif /* ECHO_AGENT_MODEL_H */
