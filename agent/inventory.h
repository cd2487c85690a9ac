/*
 * What this node's Ollama holds, re-read periodically by a background
 * thread: installed models and their types, loaded models, free memory.
 */

#ifndef ECHO_AGENT_INVENTORY_H
#define ECHO_AGENT_INVENTORY_H

#include "hardware.h"
#include "model.h"


void inventory_on_change(void (*cb)(void));
int inventory_start(void);
void inventory_stop(void);
void inventory_kick(void);
void inventory_refresh_now(void);
int inventory_has_model(const char *name, int *ollama_up);
int inventory_snapshot(model_list_t *models, hw_info_t *hw, int *ollama_up);


#endif /* ECHO_AGENT_INVENTORY_H */
