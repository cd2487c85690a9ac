/*
 * Decides a model's type (text, code, vision, embedding) from what Ollama
 * says about it and from well-known model names.
 */

#ifndef ECHO_AGENT_CLASSIFY_H
#define ECHO_AGENT_CLASSIFY_H

#include "model.h"


model_type_t classify_model(const model_t *m);
const char *model_type_name(model_type_t type);
int model_type_parse(const char *name);


#endif /* ECHO_AGENT_CLASSIFY_H */
