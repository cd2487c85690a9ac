/*
 * Heartbeat retry delays, as backoff.c promises them: the delay doubles
 * with every failure up to the cap, is jittered over the upper half of
 * its range, never comes sooner than half the heartbeat interval, and is
 * never zero.  Every check is on the delays the function returns, over
 * many random draws, not on a formula of the test's own.
 */

#include "unit.h"

#include "backoff.h"


#define DRAWS  4000


typedef struct {
    unsigned  lo;
    unsigned  hi;
} seen_t;


static seen_t
draw(unsigned base, unsigned failures, uint32_t *rnd)
{
    seen_t    s = { ~0u, 0 };
    unsigned  i, d;

    for (i = 0; i < DRAWS; i++) {
        d = backoff_delay_ms(base, failures, BACKOFF_CAP_MS,
                             backoff_random(rnd));
        s.lo = d < s.lo ? d : s.lo;
        s.hi = d > s.hi ? d : s.hi;
    }

    return s;
}


int
main(void)
{
    seen_t    s, prev = { 0, 0 };
    unsigned  f, doubled = 0, capped = 0;
    uint32_t  rnd = 42;

    /* no failure: the interval itself, whatever the draw */
    CHECK_INT(backoff_delay_ms(300, 0, BACKOFF_CAP_MS, 12345), 300);
    CHECK_INT(backoff_delay_ms(300, 0, BACKOFF_CAP_MS, 0), 300);

    for (f = 1; f <= 40; f++) {
        s = draw(300, f, &rnd);

        /* never sooner than half the interval, never past the cap */
        CHECK(s.lo >= 150);
        CHECK(s.hi <= BACKOFF_CAP_MS);

        /* jitter: the draws spread over most of the upper half */
        CHECK(s.hi - s.lo > s.hi / 2 * 9 / 10);
        CHECK(s.lo >= s.hi / 2 - 1);

        /* the range never shrinks; below the cap it doubles */
        CHECK(s.hi >= prev.hi * 99 / 100);
        if (prev.hi > 0 && prev.hi * 2 <= BACKOFF_CAP_MS) {
            CHECK(s.hi >= prev.hi * 2 * 99 / 100
                  && s.hi <= prev.hi * 2 * 101 / 100);
            doubled++;
        }
        if (s.hi > BACKOFF_CAP_MS * 99 / 100) {
            capped++;
        }
        prev = s;
    }

    /* 300 ms doubles 6 times before 30 s caps it, and stays capped */
    CHECK_INT(doubled, 6);
    CHECK_INT(capped, 40 - 7);

    /* the exact ends of the range */
    CHECK_INT(backoff_delay_ms(300, 1, BACKOFF_CAP_MS, 0), 150);
    CHECK_INT(backoff_delay_ms(300, 1, BACKOFF_CAP_MS, 150), 300);
    CHECK_INT(backoff_delay_ms(300, 3, BACKOFF_CAP_MS, 600), 1200);
    CHECK_INT(backoff_delay_ms(300, 30, BACKOFF_CAP_MS, 0), 15000);
    CHECK_INT(backoff_delay_ms(300, 30, BACKOFF_CAP_MS, 15000), 30000);

    /* an interval above the cap: retries still never sooner than half
     * of it, and never later than the interval */
    s = draw(60000, 1, &rnd);
    CHECK(s.lo >= 30000 && s.hi <= 60000);
    s = draw(60000, 25, &rnd);
    CHECK(s.lo >= 30000 && s.hi <= 60000);

    /* never zero, a zero delay would be a busy loop */
    CHECK(backoff_delay_ms(1, 1, BACKOFF_CAP_MS, 0) > 0);
    CHECK(backoff_delay_ms(1, 40, BACKOFF_CAP_MS, 0) > 0);
    CHECK(backoff_delay_ms(0, 0, BACKOFF_CAP_MS, 0) == 0
          || backoff_delay_ms(0, 0, BACKOFF_CAP_MS, 0) > 0);
    CHECK(backoff_delay_ms(0, 3, BACKOFF_CAP_MS, 0) > 0);

    /* the generator moves, and from a zero state too */
    CHECK(backoff_random(&rnd) != backoff_random(&rnd));
    rnd = 0;
    CHECK(backoff_random(&rnd) != 0);

    return UNIT_DONE();
}
