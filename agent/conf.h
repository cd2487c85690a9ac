/*
 * The agent's configuration: flags > environment > config file > defaults.
 */

#ifndef ECHO_AGENT_CONF_H
#define ECHO_AGENT_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "model.h"


#define AGENT_VERSION      "0.1.0"

#define CONF_URL_MAX       512
#define CONF_HOST_MAX      255
#define CONF_PATH_MAX      1024
#define CONF_NODE_ID_MAX   63      /* the orchestrator's limit */
#define CONF_SECRET_MAX    512
#define CONF_TYPES_MAX     64
#define CONF_MESH_MAX      63
#define CONF_ENV_PREFIX    "ECHO_AGENT_"


typedef struct {
    char          name[MODEL_NAME_MAX + 1];
    model_type_t  type;
} conf_type_t;


typedef struct conf_s {
    char          config_path[CONF_PATH_MAX];
    char          orchestrator[CONF_URL_MAX];
    char          listen_host[CONF_HOST_MAX + 1];
    unsigned      listen_port;
    char          advertise_host[CONF_HOST_MAX + 1];
    unsigned      advertise_port;
    char          ollama[CONF_URL_MAX];
    char          node_id[CONF_NODE_ID_MAX + 1];
    char          mesh[CONF_MESH_MAX + 1];
    int           mdns;
    char          secret_file[CONF_PATH_MAX];
    char          secret[CONF_SECRET_MAX + 1];
    size_t        secret_len;
    unsigned      heartbeat_ms;
    unsigned      drain_ms;
    unsigned      max_tasks;
    unsigned      max_connections;
    size_t        max_body;
    int           log_level;
    int           check_only;
    conf_type_t   types[CONF_TYPES_MAX];
    size_t        ntypes;
    char          warning[256];
    int           refs;
} conf_t;


typedef enum {
    CONF_OK = 0,
    CONF_HELP,
    CONF_VERSION,
    CONF_ERROR
} conf_result_t;


conf_result_t conf_load(conf_t *c, int argc, char *const argv[],
    char *const envp[], char *err, size_t errlen);
void conf_usage(FILE *f);
int conf_model_type(const conf_t *c, const char *model);


#endif /* ECHO_AGENT_CONF_H */
