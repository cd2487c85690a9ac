/*
 * Command line of ollama-sim.  The settings are read-only once the
 * server runs.
 */

#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "sim_fault.h"
#include "sim_models.h"

#define SIM_VERSION          "0.1.0"
#define SIM_BODY_MAX         (32 * 1024 * 1024)
#define SIM_TOKENS_MAX       100000
#define SIM_DELAY_MAX_MS     600000
#define SIM_EMBED_DIM_MAX    8192
#define SIM_LOADED_MAX       256

/* The Ollama release whose behaviour the simulator follows (README). */
#define SIM_OLLAMA_VERSION   "0.32.15"


typedef struct {
    char          host[64];
    int           port;
    long          tokens;
    long          token_delay_ms;
    long          first_token_delay_ms;   /* the prompt phase */
    long          load_delay_ms;
    long          max_loaded;
    int64_t       keep_alive_ns;          /* INT64_MAX: forever */
    long          parallel;
    long          queue;
    long          embed_dim;
    sim_fault_t   fault;
    char          version[32];
    int           verbose;
    sim_model_t  *models;
    size_t        nmodels;
} sim_config_t;


typedef enum {
    SIM_CONFIG_RUN = 0,
    SIM_CONFIG_EXIT_OK,         /* --help or --version was printed */
    SIM_CONFIG_EXIT_USAGE       /* bad command line: exit status 2 */
} sim_config_rc_t;


extern sim_config_t  sim_cfg;

sim_config_rc_t sim_config_parse(sim_config_t *c, int argc, char **argv);
void sim_config_free(sim_config_t *c);

#endif /* SIM_CONFIG_H */
