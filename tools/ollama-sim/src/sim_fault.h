/*
 * Faults the simulator can play, chosen with --fault or at run time
 * with POST /_sim/fault:
 *   none          behave
 *   refuse[=MS]   close the listening socket (connections are refused)
 *                 and drop requests on open connections; with MS, open
 *                 again after MS milliseconds (SIGUSR1 also clears it)
 *   hang          read requests, never answer
 *   500           answer every Ollama endpoint with a 500 error
 *   fail-load     loading a model fails: a 500 reply before any chunk
 *   fail-after=N  stream N tokens, then an error line, then close; with
 *                 0 the prompt phase fails: a 500 reply, no stream
 * The test endpoints under /_sim/ are never faulted, so a test can
 * always switch a fault off again on a connection it holds.
 */

#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stddef.h>
#include <stdint.h>

#define SIM_FAULT_STR_MAX  48


typedef enum {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_REFUSE,
    SIM_FAULT_HANG,
    SIM_FAULT_500,
    SIM_FAULT_FAIL_AFTER,
    SIM_FAULT_FAIL_LOAD
} sim_fault_kind_t;


typedef struct {
    sim_fault_kind_t  kind;
    long              arg;      /* fail-after: N; refuse: ms, 0 = ever */
} sim_fault_t;


int sim_fault_parse(const char *s, size_t n, sim_fault_t *f, char *err,
    size_t errlen);
void sim_fault_format(const sim_fault_t *f, char *out, size_t size);
void sim_fault_set(const sim_fault_t *f);
void sim_fault_get(sim_fault_t *f);
sim_fault_kind_t sim_fault_kind(void);

#endif /* SIM_FAULT_H */
