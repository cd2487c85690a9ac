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


/* the types Ollama's openai.NewError gives each status */
int
buf_openai_error(buf_t *b, unsigned status, const char *msg)
{
    const char  *type;

    switch (status) {
    case 400:
        type = "invalid_request_error";
        break;
    case 404:
        type = "not_found_error";
        break;
    default:
        type = "api_error";
    }

    if (buf_puts(b, "{\"error\":{\"message\":") != 0
        || buf_json_string(b, msg, strlen(msg)) != 0
        || buf_printf(b, ",\"type\":\"%s\",\"param\":null,"
                      "\"code\":null}}", type) != 0)
    {
        return -1;
    }

    return 0;
}
