/*
 * Helpers shared by the endpoint files.
 */

#ifndef SIM_API_H
#define SIM_API_H

#include "sim_http.h"
#include "sim_models.h"
#include "sim_request.h"


const char *sim_str_c(const sim_str_t *s);
int sim_name_invalid(const sim_str_t *name);
int sim_api_prepare(sim_ctx_t *ctx, const sim_model_t *m,
    enum MHD_Result *res);
int sim_api_prompt_phase(sim_ctx_t *ctx);

#endif /* SIM_API_H */
