/*
 * Readers for Ollama's /api/tags, /api/ps and /api/show replies, fed in
 * chunks as the reply arrives.
 */

#ifndef ECHO_AGENT_OLLAMA_JSON_H
#define ECHO_AGENT_OLLAMA_JSON_H

#include "json_walk.h"
#include "model.h"


typedef enum {
    OLLAMA_TAGS = 0,
    OLLAMA_PS,
    OLLAMA_SHOW
} ollama_reply_t;


typedef struct {
    jw_t            jw;
    ollama_reply_t  kind;
    model_list_t   *list;
    model_t         cur;
    int             in_item;
    int             dropped;
    model_t        *show;
} ollama_json_t;


/* TAGS and PS fill list; SHOW fills caps/families/family of one model */
int ollama_json_init(ollama_json_t *oj, ollama_reply_t kind,
    model_list_t *list, model_t *show);
int ollama_json_feed(ollama_json_t *oj, const char *p, size_t n);
int ollama_json_finish(ollama_json_t *oj);
void ollama_json_free(ollama_json_t *oj);
unsigned ollama_cap_flag(const char *name, size_t len);
unsigned ollama_family_flag(const char *name, size_t len);


#endif /* ECHO_AGENT_OLLAMA_JSON_H */
