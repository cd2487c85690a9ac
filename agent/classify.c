/*
 * Ollama's capabilities are the best evidence; older Ollama versions lack
 * them, so the families and the name are read as a fallback.  Code models
 * have no capability of their own and are always known by name.
 */

#include <ctype.h>
#include <string.h>

#include "classify.h"


static void base_name(const char *name, char *out, size_t size);
static int name_is_code(const char *base, const char *family);
static int name_is_embedding(const char *base);


static const char  *model_type_names[] = {
    "text", "code", "vision", "embedding"
};

/* substrings that mark a code model: codellama, *-coder, starcoder... */
static const char  *code_marks[] = {
    "coder", "codellama", "codegemma", "codestral", "codeqwen",
    "codegeex", "codeup", "codebooga", "-code", "devstral", NULL
};

static const char  *embed_marks[] = {
    "embed", "minilm", "bge-", "e5-", NULL
};


const char *
model_type_name(model_type_t type)
{
    if ((unsigned) type > MODEL_EMBEDDING) {
        return "text";
    }

    return model_type_names[type];
}


int
model_type_parse(const char *name)
{
    int  i;

    for (i = 0; i <= MODEL_EMBEDDING; i++) {
        if (strcmp(name, model_type_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


model_type_t
classify_model(const model_t *m)
{
    char  base[MODEL_NAME_MAX + 1];

    if (m->caps_known) {
        if (m->caps & CAP_VISION) {
            return MODEL_VISION;
        }
        if ((m->caps & CAP_EMBEDDING) && !(m->caps & CAP_COMPLETION)) {
            return MODEL_EMBEDDING;
        }

    } else if (m->families & FAM_CLIP) {
        return MODEL_VISION;
    }

    base_name(m->name, base, sizeof(base));

    if (!m->caps_known
        && ((m->families & FAM_BERT) || name_is_embedding(base)))
    {
        return MODEL_EMBEDDING;
    }

    if (name_is_code(base, m->family)) {
        return MODEL_CODE;
    }

    return MODEL_TEXT;
}


/* "registry/ns/Qwen2.5-Coder:7b" -> "qwen2.5-coder" */
static void
base_name(const char *name, char *out, size_t size)
{
    size_t       i;
    const char  *slash;

    slash = strrchr(name, '/');
    if (slash != NULL) {
        name = slash + 1;
    }

    for (i = 0; i + 1 < size && name[i] != '\0' && name[i] != ':'; i++) {
        out[i] = (char) tolower((unsigned char) name[i]);
    }
    out[i] = '\0';
}


static int
name_is_code(const char *base, const char *family)
{
    int  i;

    if (strncmp(base, "code", 4) == 0) {
        return 1;
    }

    for (i = 0; code_marks[i] != NULL; i++) {
        if (strstr(base, code_marks[i]) != NULL) {
            return 1;
        }
    }

    return strncmp(family, "starcoder", 9) == 0;
}


static int
name_is_embedding(const char *base)
{
    int  i;

    for (i = 0; embed_marks[i] != NULL; i++) {
        if (strstr(base, embed_marks[i]) != NULL) {
            return 1;
        }
    }

    return 0;
}
