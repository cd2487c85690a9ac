/*
 * Generation slots and the wait queue, like Ollama's scheduler:
 * --parallel requests run at once, up to --queue more wait for a slot,
 * anything beyond is refused with 503.  Also the counters behind
 * GET /_sim/stats.
 */

#ifndef SIM_SLOTS_H
#define SIM_SLOTS_H


typedef enum {
    SIM_SLOT_OK = 0,
    SIM_SLOT_BUSY,          /* slots and queue full: 503 */
    SIM_SLOT_GONE           /* client left (or we stop) while queued */
} sim_slot_rc_t;


typedef enum {
    SIM_STAT_REQUESTS = 0,
    SIM_STAT_COMPLETED,
    SIM_STAT_CANCELLED,
    SIM_STAT_FAILED,
    SIM_STAT_BUSY,
    SIM_STAT_COUNT
} sim_stat_t;


typedef struct {
    long  active;
    long  queued;
    long  counts[SIM_STAT_COUNT];
} sim_stats_t;


void sim_slots_init(int parallel, int queue);
sim_slot_rc_t sim_slot_acquire(int fd);
void sim_slot_release(void);
void sim_slots_wake_all(void);
void sim_stats_add(sim_stat_t which);
void sim_stats_get(sim_stats_t *s);

#endif /* SIM_SLOTS_H */
