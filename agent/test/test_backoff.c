/*
 * Heartbeat retry delays: doubling, capped, jittered, never zero.
 */

#include "unit.h"

#include "backoff.h"


int
main(void)
{
    unsigned  f, d, lo, hi, i, prev_hi = 0, seen_lo, seen_hi;
    uint32_t  rnd = 42;

    CHECK_INT(backoff_delay_ms(300, 0, BACKOFF_CAP_MS, 12345), 300);

    for (f = 1; f <= 40; f++) {
        hi = 300u << (f - 1 > 20 ? 20 : f - 1);
        if (f > 20 || hi > BACKOFF_CAP_MS) {
            hi = BACKOFF_CAP_MS;
        }
        lo = hi / 2;
        seen_lo = ~0u;
        seen_hi = 0;

        for (i = 0; i < 2000; i++) {
            d = backoff_delay_ms(300, f, BACKOFF_CAP_MS,
                                 backoff_random(&rnd));
            if (d < lo || d > hi) {
                CHECK(d >= lo && d <= hi);
                break;
            }
            seen_lo = d < seen_lo ? d : seen_lo;
            seen_hi = d > seen_hi ? d : seen_hi;
        }

        /* jitter spreads over the range, the range never shrinks */
        CHECK(seen_hi - seen_lo > (hi - lo) / 2);
        CHECK(hi >= prev_hi);
        prev_hi = hi;
    }

    CHECK_INT(backoff_delay_ms(300, 1, BACKOFF_CAP_MS, 0), 150);
    CHECK_INT(backoff_delay_ms(300, 3, BACKOFF_CAP_MS, 600), 1200);
    CHECK_INT(backoff_delay_ms(300, 30, BACKOFF_CAP_MS, 0), 15000);
    CHECK_INT(backoff_delay_ms(300, 30, BACKOFF_CAP_MS, 15000), 30000);

    /* an interval above the cap is never shortened by a failure */
    CHECK(backoff_delay_ms(60000, 1, BACKOFF_CAP_MS, 0) >= 30000);
    CHECK(backoff_delay_ms(1, 1, BACKOFF_CAP_MS, 0) > 0);
    CHECK(backoff_random(&rnd) != backoff_random(&rnd));

    return UNIT_DONE();
}
