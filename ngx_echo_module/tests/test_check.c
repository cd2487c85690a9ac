
/*
 * The checks shared by the unit tests (test_check.h).
 */


#include <stdio.h>
#include <string.h>

#include "test_check.h"


static int  passed, failed;


void
test_check(int ok, const char *what, const char *file, int line)
{
    if (ok) {
        passed++;
        return;
    }

    failed++;
    fprintf(stderr, "%s:%d: failed: %s\n", file, line, what);
}


void
test_check_str(const char *got, const char *want, const char *file, int line)
{
    if (got != NULL && strcmp(got, want) == 0) {
        passed++;
        return;
    }

    failed++;
    fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", file, line,
            got ? got : "(null)", want);
}


int
test_check_report(void)
{
    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
