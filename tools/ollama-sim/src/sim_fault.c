#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_fault.h"

#define SIM_FAULT_ARG_MAX  100000000L


static pthread_mutex_t  sim_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_fault_t      sim_fault_now;


static int
sim_fault_arg(const char *s, size_t n, long *out)
{
    char   num[16];
    char  *end = NULL;
    long   v;

    if (n == 0 || n >= sizeof(num)) {
        return -1;
    }

    memcpy(num, s, n);
    num[n] = '\0';

    if (num[0] < '0' || num[0] > '9') {
        return -1;
    }

    v = strtol(num, &end, 10);
    if (*end != '\0' || v < 0 || v > SIM_FAULT_ARG_MAX) {
        return -1;
    }

    *out = v;
    return 0;
}


int
sim_fault_parse(const char *s, size_t n, sim_fault_t *f, char *err,
    size_t errlen)
{
    f->kind = SIM_FAULT_NONE;
    f->arg = 0;

    if (n == 4 && memcmp(s, "none", 4) == 0) {
        return 0;
    }

    if (n == 4 && memcmp(s, "hang", 4) == 0) {
        f->kind = SIM_FAULT_HANG;
        return 0;
    }

    if (n == 3 && memcmp(s, "500", 3) == 0) {
        f->kind = SIM_FAULT_500;
        return 0;
    }

    if (n == 9 && memcmp(s, "fail-load", 9) == 0) {
        f->kind = SIM_FAULT_FAIL_LOAD;
        return 0;
    }

    if (n == 6 && memcmp(s, "refuse", 6) == 0) {
        f->kind = SIM_FAULT_REFUSE;
        return 0;
    }

    if (n > 7 && memcmp(s, "refuse=", 7) == 0
        && sim_fault_arg(s + 7, n - 7, &f->arg) == 0 && f->arg > 0)
    {
        f->kind = SIM_FAULT_REFUSE;
        return 0;
    }

    if (n > 11 && memcmp(s, "fail-after=", 11) == 0
        && sim_fault_arg(s + 11, n - 11, &f->arg) == 0)
    {
        f->kind = SIM_FAULT_FAIL_AFTER;
        return 0;
    }

    snprintf(err, errlen, "unknown fault \"%.*s\" (none, refuse[=MS], hang, "
             "500, fail-load, fail-after=N)", (int) (n > 32 ? 32 : n), s);
    return -1;
}


void
sim_fault_format(const sim_fault_t *f, char *out, size_t size)
{
    switch (f->kind) {
    case SIM_FAULT_REFUSE:
        if (f->arg > 0) {
            snprintf(out, size, "refuse=%ld", f->arg);
        } else {
            snprintf(out, size, "refuse");
        }
        break;
    case SIM_FAULT_HANG:
        snprintf(out, size, "hang");
        break;
    case SIM_FAULT_500:
        snprintf(out, size, "500");
        break;
    case SIM_FAULT_FAIL_LOAD:
        snprintf(out, size, "fail-load");
        break;
    case SIM_FAULT_FAIL_AFTER:
        snprintf(out, size, "fail-after=%ld", f->arg);
        break;
    default:
        snprintf(out, size, "none");
        break;
    }
}


void
sim_fault_set(const sim_fault_t *f)
{
    pthread_mutex_lock(&sim_fault_lock);
    sim_fault_now = *f;
    pthread_mutex_unlock(&sim_fault_lock);
}


void
sim_fault_get(sim_fault_t *f)
{
    pthread_mutex_lock(&sim_fault_lock);
    *f = sim_fault_now;
    pthread_mutex_unlock(&sim_fault_lock);
}


sim_fault_kind_t
sim_fault_kind(void)
{
    sim_fault_t  f;

    sim_fault_get(&f);
    return f.kind;
}
