/*
 * {"error":"..."}: how Ollama reports an error, in a reply body or as the
 * last line of a stream.
 */

#include <string.h>

#include "buf.h"


int
buf_json_error(buf_t *b, const char *msg)
{
    if (buf_puts(b, "{\"error\":") != 0
        || buf_json_string(b, msg, strlen(msg)) != 0
        || buf_puts(b, "}") != 0)
    {
        return -1;
    }

    return 0;
}
