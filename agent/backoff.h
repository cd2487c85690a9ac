/*
 * Retry delays for an unreachable orchestrator.
 */

#ifndef ECHO_AGENT_BACKOFF_H
#define ECHO_AGENT_BACKOFF_H

#include <stdint.h>


#define BACKOFF_CAP_MS  30000


unsigned backoff_delay_ms(unsigned base_ms, unsigned failures,
    unsigned cap_ms, uint32_t rnd);
uint32_t backoff_random(uint32_t *state);


#endif /* ECHO_AGENT_BACKOFF_H */
