/*
 * State shared by the agent's threads: the current configuration, the
 * running tasks, draining, and the forced-stop signal.
 */

#ifndef ECHO_AGENT_RUNTIME_H
#define ECHO_AGENT_RUNTIME_H

#include <stddef.h>

#include "conf.h"


int runtime_init(conf_t *c);
void runtime_shutdown(void);

conf_t *runtime_conf(void);
void runtime_conf_put(conf_t *c);
void runtime_conf_swap(conf_t *c);

int runtime_task_acquire(unsigned max_tasks);
void runtime_task_release(void);
unsigned runtime_active(void);
int runtime_wait_idle(unsigned ms);

int runtime_body_reserve(size_t n, size_t cap);
void runtime_body_release(size_t n);
size_t runtime_body_bytes(void);

void runtime_set_draining(void);
int runtime_draining(void);
void runtime_abort(void);
int runtime_abort_fd(void);


#endif /* ECHO_AGENT_RUNTIME_H */
