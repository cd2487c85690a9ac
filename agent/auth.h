/*
 * The mesh credential: "Authorization: Bearer <shared secret>".
 */

#ifndef ECHO_AGENT_AUTH_H
#define ECHO_AGENT_AUTH_H

#include <stddef.h>


int auth_equal(const char *given, size_t given_len, const char *secret,
    size_t secret_len);
int auth_bearer_ok(const char *header, const char *secret,
    size_t secret_len);


#endif /* ECHO_AGENT_AUTH_H */
