/*
 * Clocks and timestamps.  Timestamps follow Go's time.RFC3339Nano in
 * UTC (what Ollama puts in created_at): trailing zeros of the fraction
 * are dropped, and so is the dot when the fraction is zero.
 */

#ifndef SIM_TIME_H
#define SIM_TIME_H

#include <stddef.h>
#include <stdint.h>

#define SIM_TIME_STR_MAX  40
#define SIM_NS_PER_MS     1000000LL
#define SIM_NS_PER_SEC    1000000000LL


int64_t sim_mono_ns(void);
int64_t sim_real_ns(void);
void sim_time_rfc3339(int64_t real_ns, char *out, size_t size);
int sim_duration_parse(const char *s, size_t n, int64_t *ns);

#endif /* SIM_TIME_H */
