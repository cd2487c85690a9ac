
/*
 * The checks shared by the unit tests: each counts a pass or prints where
 * and what failed; test_check_report() prints "N passed, M failed" and
 * gives the exit status.
 */


#ifndef _TEST_CHECK_H_INCLUDED_
#define _TEST_CHECK_H_INCLUDED_


#define CHECK(c)              test_check((c), #c, __FILE__, __LINE__)
#define CHECK_STR(got, want)  test_check_str((got), (want), __FILE__,        \
                                             __LINE__)


void test_check(int ok, const char *what, const char *file, int line);
void test_check_str(const char *got, const char *want, const char *file,
    int line);
int test_check_report(void);


#endif /* _TEST_CHECK_H_INCLUDED_ */
