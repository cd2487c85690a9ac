/*
 * The agent's names for the shared buffer and JSON writers
 * (common/mesh_buf.h), and the Ollama-style error body.
 */

#ifndef ECHO_AGENT_BUF_H
#define ECHO_AGENT_BUF_H

#include <stddef.h>

#include "mesh_buf.h"


typedef mesh_buf_t  buf_t;

#define buf_init         mesh_buf_init
#define buf_free         mesh_buf_free
#define buf_reset        mesh_buf_reset
#define buf_append       mesh_buf_append
#define buf_puts         mesh_buf_puts
#define buf_printf       mesh_buf_printf
#define buf_json_string  mesh_json_string


int buf_json_error(buf_t *b, const char *msg);
/* OpenAI's {"error":{"message","type","param","code"}}, as Ollama's /v1 */
int buf_openai_error(buf_t *b, unsigned status, const char *msg);


#endif /* ECHO_AGENT_BUF_H */
