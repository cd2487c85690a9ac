/*
 * The mesh credential check.
 */

#include "unit.h"

#include "auth.h"


int
main(void)
{
    const char  *secret = "0123456789abcdef-mesh";
    size_t       len = strlen(secret);

    CHECK(auth_bearer_ok("Bearer 0123456789abcdef-mesh", secret, len));
    CHECK(auth_bearer_ok("bearer   0123456789abcdef-mesh  ", secret, len));
    CHECK(auth_bearer_ok("BEARER\t0123456789abcdef-mesh", secret, len));

    CHECK(!auth_bearer_ok(NULL, secret, len));
    CHECK(!auth_bearer_ok("", secret, len));
    CHECK(!auth_bearer_ok("Bearer", secret, len));
    CHECK(!auth_bearer_ok("Bearer ", secret, len));
    CHECK(!auth_bearer_ok("0123456789abcdef-mesh", secret, len));
    CHECK(!auth_bearer_ok("Basic 0123456789abcdef-mesh", secret, len));
    CHECK(!auth_bearer_ok("Bearer0123456789abcdef-mesh", secret, len));
    CHECK(!auth_bearer_ok("Bearer 0123456789abcdef-mesX", secret, len));
    CHECK(!auth_bearer_ok("Bearer 0123456789abcdef-mes", secret, len));
    CHECK(!auth_bearer_ok("Bearer 0123456789abcdef-mesh1", secret, len));
    CHECK(!auth_bearer_ok("Bearer X123456789abcdef-mesh", secret, len));
    CHECK(!auth_bearer_ok("Bearer 0123456789abcdef mesh", secret, len));
    CHECK(!auth_bearer_ok("Bearer 0123456789abcdef-mesh", secret, 0));

    CHECK(auth_equal("abc", 3, "abc", 3));
    CHECK(!auth_equal("abc", 3, "abd", 3));
    CHECK(!auth_equal("ab", 2, "abc", 3));
    CHECK(!auth_equal("abcd", 4, "abc", 3));
    CHECK(!auth_equal("", 0, "", 0));
    CHECK(!auth_equal("\0bc", 3, "abc", 3));

    return UNIT_DONE();
}
