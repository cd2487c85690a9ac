#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_time.h"


int64_t
sim_mono_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * SIM_NS_PER_SEC + ts.tv_nsec;
}


int64_t
sim_real_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * SIM_NS_PER_SEC + ts.tv_nsec;
}


void
sim_time_rfc3339(int64_t real_ns, char *out, size_t size)
{
    time_t     secs;
    long       frac;
    struct tm  tm;
    char       fbuf[16];
    size_t     len;

    if (real_ns < 0) {
        real_ns = 0;
    }

    secs = (time_t) (real_ns / SIM_NS_PER_SEC);
    frac = (long) (real_ns % SIM_NS_PER_SEC);
    gmtime_r(&secs, &tm);

    fbuf[0] = '\0';
    if (frac != 0) {
        snprintf(fbuf, sizeof(fbuf), ".%09ld", frac);
        len = strlen(fbuf);
        while (len > 1 && fbuf[len - 1] == '0') {
            fbuf[--len] = '\0';
        }
    }

    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, fbuf);
}


/*
 * Go's time.ParseDuration, which Ollama uses for a string keep_alive:
 * an optional sign, then number+unit pairs ("1h30m", "0.5s", "300ms");
 * a bare "0" is allowed.  Returns 0 on success, -1 when invalid.
 */
int
sim_duration_parse(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char  *unit;
        double       scale;
    } units[] = {
        { "ns", 1.0 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 },
        { "\xce\xbcs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
        { "m", 60e9 }, { "h", 3600e9 },
    };

    size_t   i = 0, k, ulen, best;
    double   total = 0, num, scale;
    int      neg = 0, digits;

    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = (s[0] == '-');
        i = 1;
    }

    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }

    if (i >= n) {
        return -1;
    }

    while (i < n) {
        num = 0;
        digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            num = num * 10 + (s[i++] - '0');
            digits++;
        }
        if (i < n && s[i] == '.') {
            scale = 0.1;
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                num += (s[i++] - '0') * scale;
                scale /= 10;
                digits++;
            }
        }
        if (digits == 0) {
            return -1;
        }

        best = sizeof(units) / sizeof(units[0]);
        ulen = 0;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            size_t  l = strlen(units[k].unit);

            if (l > ulen && l <= n - i && memcmp(s + i, units[k].unit, l) == 0
                && (i + l == n || (s[i + l] >= '0' && s[i + l] <= '9')
                    || s[i + l] == '.'))
            {
                best = k;
                ulen = l;
            }
        }
        if (best == sizeof(units) / sizeof(units[0])) {
            return -1;
        }

        total += num * units[best].scale;
        i += ulen;
    }

    if (total > 9.2e18) {
        return -1;
    }

    *ns = (int64_t) (neg ? -total : total);
    return 0;
}
