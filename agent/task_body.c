/*
 * Ollama decodes requests with Go's encoding/json, which matches keys
 * case-insensitively and keeps the last duplicate; the model is picked the
 * same way here so the model checked is the model Ollama will run.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "task_body.h"


static int task_body_on_value(void *ud, const char *path, jw_type_t type,
    const char *val, size_t len);


int
task_body_init(task_body_t *t)
{
    memset(t, 0, sizeof(*t));
    return jw_init(&t->jw, task_body_on_value, t);
}


void
task_body_free(task_body_t *t)
{
    jw_free(&t->jw);
}


int
task_body_feed(task_body_t *t, const char *p, size_t n)
{
    return jw_feed(&t->jw, p, n);
}


int
task_body_finish(task_body_t *t)
{
    if (jw_finish(&t->jw) != 0) {
        return -1;
    }

    return 0;
}


int
task_body_error(task_body_t *t, char *out, size_t len)
{
    return snprintf(out, len, "invalid JSON at byte %zu: %s",
                    t->jw.err_pos, t->jw.err);
}


static int
task_body_on_value(void *ud, const char *path, jw_type_t type,
    const char *val, size_t len)
{
    task_body_t  *t = ud;

    if (!t->started) {
        t->started = 1;
        if (type != JW_MAP_START) {
            jw_fail(&t->jw, "the body must be a JSON object");
            return 0;
        }
        return 1;
    }

    if (strcasecmp(path, ".model") != 0) {
        return 1;
    }

    if (type != JW_STRING) {
        jw_fail(&t->jw, "\"model\" must be a string");
        return 0;
    }

    if (len > TASK_MODEL_MAX || memchr(val, '\0', len) != NULL) {
        jw_fail(&t->jw, "\"model\" is too long or not text");
        return 0;
    }

    memcpy(t->model, val, len);
    t->model[len] = '\0';
    t->model_set = 1;
    return 1;
}
