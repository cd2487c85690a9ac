/*
 * "Equal jitter": the delay doubles with every failure up to the cap, and
 * a random half of it is dropped so that many agents restarted together
 * do not hammer the orchestrator in step.  The lower half is kept, so a
 * retry never comes sooner than half the heartbeat interval.
 */

#include "backoff.h"


unsigned
backoff_delay_ms(unsigned base_ms, unsigned failures, unsigned cap_ms,
    uint32_t rnd)
{
    uint64_t  delay;
    unsigned  shift;

    if (failures == 0) {
        return base_ms;
    }

    shift = failures - 1;
    if (shift > 20) {
        shift = 20;
    }

    delay = (uint64_t) base_ms << shift;
    if (delay > cap_ms) {
        delay = cap_ms;
    }
    if (delay < base_ms) {
        delay = base_ms;
    }

    delay = delay / 2 + rnd % (delay / 2 + 1);

    /* never zero: a zero delay would be a busy loop */
    return delay ? (unsigned) delay : 1;
}


/* xorshift32: enough to spread retries, no cryptographic use */
uint32_t
backoff_random(uint32_t *state)
{
    uint32_t  x = *state ? *state : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}
