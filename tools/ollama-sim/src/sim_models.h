/*
 * The simulated model store: what /api/tags lists, /api/ps shows as
 * loaded, /api/pull adds and /api/delete removes.  Names follow
 * Ollama's convention: "name" means "name:latest", and names compare
 * without regard to case.
 *
 * Loaded models follow Ollama's server/sched.go: a request loads its
 * model (evicting one when --max-loaded-models are loaded), holds it
 * while it runs, and when the last request ends the model stays for
 * its keep_alive, then unloads; keep_alive 0 unloads it at once.
 */

#ifndef SIM_MODELS_H
#define SIM_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "sim_buf.h"

#define SIM_NAME_MAX     200
#define SIM_FAMILY_MAX   48
#define SIM_MODELS_MAX   256
#define SIM_SIZE_MAX     (1LL << 50)

#define SIM_CAP_COMPLETION  0x01u
#define SIM_CAP_VISION      0x02u
#define SIM_CAP_EMBEDDING   0x04u
#define SIM_CAP_TOOLS       0x08u
#define SIM_CAP_INSERT      0x10u
#define SIM_CAP_THINKING    0x20u


typedef struct {
    char       name[SIM_NAME_MAX + 1];      /* always with a tag */
    char       family[SIM_FAMILY_MAX + 1];
    long long  size;
    unsigned   caps;
    char       digest[65];
    int64_t    modified_ns;
    int        loaded;          /* loaded or loading */
    int        refs;            /* requests using it now */
    int64_t    ready_ns;        /* monotonic: when loading ends */
    int64_t    session_ns;      /* its keep_alive; INT64_MAX: forever */
    int64_t    expires_ns;      /* real; 0: not yet set (first use) */
} sim_model_t;


typedef enum {
    SIM_USE_OK = 0,
    SIM_USE_MISSING,            /* no such model (deleted meanwhile) */
    SIM_USE_WAIT                /* all loaded models busy: try again */
} sim_use_rc_t;


int sim_model_name_norm(const char *in, size_t n, char *out, size_t size);
int sim_model_defaults(sim_model_t *m, const char *name, size_t n);
int sim_model_parse_spec(const char *spec, sim_model_t *m, char *err,
    size_t errlen);
const char *sim_model_full_name(const sim_model_t *m, char *out,
    size_t size);

void sim_models_init(void);
void sim_models_fini(void);
int sim_models_add(const sim_model_t *m);
int sim_models_find(const char *name, size_t n, sim_model_t *out);
int sim_models_delete(const char *name, size_t n);
void sim_models_configure(int64_t keep_alive_ns, int64_t load_ns,
    long max_loaded);
sim_use_rc_t sim_models_use(const char *name, int64_t keep_alive_ns,
    int64_t *wait_ns, int *loading);
void sim_models_release(const char *name, int load_failed);
void sim_models_expire(const char *name);
int sim_models_write_tags(sim_buf_t *b);
int sim_models_write_openai(sim_buf_t *b);
void sim_models_write_oa_model(sim_buf_t *b, const char *name, int64_t ns);
int sim_models_write_ps(sim_buf_t *b);
int sim_models_write_show(sim_buf_t *b, const sim_model_t *m,
    int embed_dim);

#endif /* SIM_MODELS_H */
