/*
 * Checks a task request body (Ollama's /api/generate, /api/chat, /api/embed
 * JSON) as it arrives: well-formed, an object, and which model it names.
 */

#ifndef ECHO_AGENT_TASK_BODY_H
#define ECHO_AGENT_TASK_BODY_H

#include <stddef.h>

#include "json_walk.h"


#define TASK_MODEL_MAX  255


typedef struct {
    jw_t      jw;
    int       started;
    int       model_set;
    char      model[TASK_MODEL_MAX + 1];
} task_body_t;


int task_body_init(task_body_t *t);
int task_body_feed(task_body_t *t, const char *p, size_t n);
int task_body_finish(task_body_t *t);
void task_body_free(task_body_t *t);
int task_body_error(task_body_t *t, char *out, size_t len);


#endif /* ECHO_AGENT_TASK_BODY_H */
