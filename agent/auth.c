/*
 * The comparison runs over every byte of the secret whatever the input,
 * so its time tells nothing about how much of a guess was right; it only
 * depends on the secret's length and on the length of the guess, which
 * the guesser already knows.
 */

#include <string.h>
#include <strings.h>

#include "auth.h"


int
auth_equal(const char *given, size_t given_len, const char *secret,
    size_t secret_len)
{
    size_t                  i;
    volatile unsigned char  diff;
    unsigned char           g;

    diff = (unsigned char) (given_len != secret_len);

    for (i = 0; i < secret_len; i++) {
        g = i < given_len ? (unsigned char) given[i] : 0;
        diff |= g ^ (unsigned char) secret[i];
    }

    return given_len > 0 && diff == 0;
}


int
auth_bearer_ok(const char *header, const char *secret, size_t secret_len)
{
    size_t  len;

    if (header == NULL || secret_len == 0) {
        return 0;
    }

    if (strncasecmp(header, "Bearer", 6) != 0
        || (header[6] != ' ' && header[6] != '\t'))
    {
        return 0;
    }

    header += 6;
    while (*header == ' ' || *header == '\t') {
        header++;
    }

    len = strlen(header);
    while (len > 0 && (header[len - 1] == ' ' || header[len - 1] == '\t')) {
        len--;
    }

    return auth_equal(header, len, secret, secret_len);
}
