/*
 * The signed credential: task tokens checked against a vector made by the
 * suites' signer (t/lib/Mesh/Sign.pm), node headers that verify there,
 * the orchestrator's reply signature against a vector made there too.
 */

#include "unit.h"

#include "sign.h"

/* a leave request as the agent signs it: method, path, time, nonce, body */
#define LEAVE_TEXT                                                          \
    "MESH-HMAC-SHA256\nPOST\n/mesh/v1/nodes/leave\n1764584640\n"           \
    "00112233445566778899aabbccddeeff\n"                                    \
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e"                        \
    "8310c060f61caaff8a"

/* a request line as sign_node_header makes it, and Mesh::Sign::reply of
   a 200 {"ok":true} to it */
#define REPLY_AUTH                                                          \
    "Authorization: MESH-HMAC-SHA256 1764584640:"                           \
    "00112233445566778899aabbccddeeff:"                                     \
    "abababababababababababababababababababababababababababababababab"
#define REPLY_BODY  "{\"ok\":true}\n"
#define REPLY_SIG                                                           \
    "50dd1428284ae4496cce5bbc267282da1c436c9df3d911a544d2b305572e09b0"


static void
test_reply(const char *secret, size_t len)
{
    char  hex[SIGN_HEX + 1], other[sizeof(REPLY_AUTH)];

    CHECK(sign_reply_hex(secret, len, REPLY_AUTH, 200, REPLY_BODY,
                         strlen(REPLY_BODY), hex) == 0);
    CHECK(strcmp(hex, REPLY_SIG) == 0);
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 200, REPLY_BODY,
                        strlen(REPLY_BODY), REPLY_SIG) == 0);

    /* no proof, another secret, status, body or request: refused */
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 200, REPLY_BODY,
                        strlen(REPLY_BODY), NULL) != 0);
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 200, REPLY_BODY,
                        strlen(REPLY_BODY), "") != 0);
    CHECK(sign_reply_ok("another-secret-0123", 19, REPLY_AUTH, 200,
                        REPLY_BODY, strlen(REPLY_BODY), REPLY_SIG) != 0);
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 204, REPLY_BODY,
                        strlen(REPLY_BODY), REPLY_SIG) != 0);
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 200, "{}\n", 3, REPLY_SIG)
          != 0);
    memcpy(other, REPLY_AUTH, sizeof(other));
    other[sizeof(other) - 2] = 'c';
    CHECK(sign_reply_ok(secret, len, other, 200, REPLY_BODY,
                        strlen(REPLY_BODY), REPLY_SIG) != 0);
    /* the hex must be the whole value: one more character is not it */
    CHECK(sign_reply_ok(secret, len, REPLY_AUTH, 200, REPLY_BODY,
                        strlen(REPLY_BODY), REPLY_SIG "0") != 0);
    /* an empty secret proves nothing; a request too short is refused */
    CHECK(sign_reply_ok(secret, 0, REPLY_AUTH, 200, REPLY_BODY,
                        strlen(REPLY_BODY), REPLY_SIG) != 0);
    CHECK(sign_reply_hex(secret, len, "Authorization: x", 200, NULL, 0, hex)
          != 0);
}


static int
test_token(const char *secret, size_t len, time_t now, int id)
{
    const char  *why = NULL;
    char         msg[128], hdr[SIGN_HEADER_MAX], hex[SIGN_HEX + 1];

    snprintf(msg, sizeof(msg), "MESH-TASK\nnode-a\nseen-%d\n%lld", id,
             (long long) now);
    if (sign_hmac_hex(secret, len, msg, strlen(msg), hex) != 0) {
        return -2;
    }
    snprintf(hdr, sizeof(hdr), "MESH-TASK %lld:seen-%d:%s", (long long) now,
             id, hex);

    if (sign_task_ok(hdr, secret, len, "node-a", now, &why) == 0) {
        return 0;
    }
    return strstr(why, "replayed") != NULL ? 1 : -1;
}


/*
 * The last SIGN_SEEN_MAX tokens are remembered, the oldest falls out
 * first, over three turns of the ring (every slot reused, so every
 * bucket chain loses entries as well as gains them).
 */
static void
test_seen(const char *secret, size_t len, time_t now)
{
    int  i, n = SIGN_SEEN_MAX, bad = 0;

    for (i = 0; i <= 3 * n; i++) {
        bad += test_token(secret, len, now, i) != 0;
    }
    CHECK(bad == 0);

    /* replays of the last n, newest first: refused, nothing remembered */
    for (i = 3 * n; i > 2 * n; i--) {
        bad += test_token(secret, len, now, i) != 1;
    }
    CHECK(bad == 0);

    /* fell out when 3n came in; back in, it pushes 2n + 1 out */
    CHECK(test_token(secret, len, now, 2 * n) == 0);
    CHECK(test_token(secret, len, now, 2 * n) == 1);
    CHECK(test_token(secret, len, now, 2 * n + 2) == 1);
    CHECK(test_token(secret, len, now, 2 * n + 1) == 0);
    CHECK(test_token(secret, len, now, 0) == 0);
}


int
main(void)
{
    const char  *secret = "0123456789abcdef-mesh";
    const char  *good = "MESH-TASK 1764584640:t1-2:"
        "bb0edb7362d2e0727e462f9a3e551df9f7929a44242e1d5297c43f530cf99b52";
    const char  *why = NULL;
    size_t       len = strlen(secret);
    time_t       now = 1764584640;
    char         hdr[SIGN_HEADER_MAX], hex[SIGN_HEX + 1];

    CHECK(sign_task_ok(good, secret, len, "node-a", now, &why) == 0);
    /* the same token again is a replay */
    CHECK(sign_task_ok(good, secret, len, "node-a", now, &why) != 0);
    CHECK(strstr(why, "replayed") != NULL);

    CHECK(sign_task_ok(good, secret, len, "node-b", now + 1, &why) != 0);
    CHECK(sign_task_ok(good, "another-secret-0123", 19, "node-a", now,
                       &why) != 0);
    CHECK(sign_task_ok(good, secret, len, "node-a", now + 31, &why) != 0);
    CHECK(strstr(why, "window") != NULL);
    CHECK(sign_task_ok(good, secret, len, "node-a", now - 31, &why) != 0);
    CHECK(sign_task_ok(NULL, secret, len, "node-a", now, &why) != 0);
    CHECK(sign_task_ok("Bearer 0123456789abcdef-mesh", secret, len,
                       "node-a", now, &why) != 0);
    CHECK(sign_task_ok("MESH-TASK 1764584640:t1-2:", secret, len, "node-a",
                       now, &why) != 0);
    CHECK(sign_task_ok("MESH-TASK 1764584640:t 1:bb", secret, len,
                       "node-a", now, &why) != 0);
    CHECK(sign_task_ok(good, secret, 0, "node-a", now, &why) != 0);

    CHECK(sign_hmac_hex(secret, len, LEAVE_TEXT, strlen(LEAVE_TEXT), hex)
          == 0);
    CHECK(strcmp(hex, "09dc229cd093d4b503460aabace79ce66d4ee5c40a77e7136"
                 "c1052bcaadf3ceb") == 0);

    CHECK(sign_node_header(secret, len, "POST", "/mesh/v1/nodes/leave",
                           "{}", 2, now, hdr, sizeof(hdr)) == 0);
    CHECK(strncmp(hdr, "Authorization: MESH-HMAC-SHA256 1764584640:", 43)
          == 0);
    CHECK(strlen(hdr) == 43 + 32 + 1 + SIGN_HEX);

    CHECK(strcmp(sign_url_path("http://10.0.0.1:8080/mesh/v1/x"),
                 "/mesh/v1/x") == 0);
    CHECK(strcmp(sign_url_path("http://10.0.0.1:8080"), "/") == 0);

    test_reply(secret, len);
    test_seen(secret, len, now);

    return UNIT_DONE();
}
