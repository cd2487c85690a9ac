/*
 * Memory and GPU facts for the capability report, read from /proc and /sys
 * (under a root directory, so tests can use recorded trees).
 */

#ifndef ECHO_AGENT_HARDWARE_H
#define ECHO_AGENT_HARDWARE_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    uint64_t  mem_total;
    uint64_t  mem_available;
    int       has_gpu;
    uint64_t  vram_total;
} hw_info_t;


int hw_read_memory(const char *root, hw_info_t *hw);
void hw_detect_gpu(const char *root, unsigned probe_ms, hw_info_t *hw);
int hw_probe_run(char *const argv[], unsigned timeout_ms, char *out,
    size_t size);


#endif /* ECHO_AGENT_HARDWARE_H */
