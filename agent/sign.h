/*
 * The mesh credential without sending it (the scheme is described in
 * ngx_echo_module/ngx_http_mesh_sign.h):
 *   - heartbeats and leave are signed: HMAC-SHA256 of the secret over the
 *     method, path, timestamp, a random nonce and the body's SHA-256;
 *   - each task from nginx carries "MESH-TASK <ts>:<task id>:<sig>", a
 *     signature bound to this node's id, the task id and the time, checked
 *     here against a window and against replays;
 *   - each 200 reply to a heartbeat or leave must carry
 *     "X-Mesh-Reply-Signature: <sig>", HMAC-SHA256 of the secret over
 *     "MESH-REPLY", the request's signature, the status and the reply
 *     body's SHA-256: an orchestrator that answers without it has not
 *     proved that it knows the secret, and the agent does not stay.
 */

#ifndef ECHO_AGENT_SIGN_H
#define ECHO_AGENT_SIGN_H

#include <stddef.h>
#include <time.h>

#define SIGN_NODE_SCHEME   "MESH-HMAC-SHA256"
#define SIGN_TASK_SCHEME   "MESH-TASK"
#define SIGN_REPLY_SCHEME  "MESH-REPLY"
#define SIGN_REPLY_HEADER  "X-Mesh-Reply-Signature"
#define SIGN_HEX           64
#define SIGN_WINDOW_S      30
#define SIGN_HEADER_MAX    256
/* task tokens remembered against replay; older ones fall out first */
#define SIGN_SEEN_MAX      4096

/* "Authorization: MESH-HMAC-SHA256 ..." for one request; 0 or -1 */
int sign_node_header(const char *secret, size_t secret_len,
    const char *method, const char *path, const char *body, size_t body_len,
    time_t now, char *out, size_t outlen);

/* the path part of an http(s) URL ("/" when there is none) */
const char *sign_url_path(const char *url);

/* 0: a valid, fresh, first-seen task token for node_id; else -1 and why */
int sign_task_ok(const char *header, const char *secret, size_t secret_len,
    const char *node_id, time_t now, const char **why);

/* the reply signature to the request whose signed "Authorization: ..."
   line is auth (made by sign_node_header); 0 or -1 */
int sign_reply_hex(const char *secret, size_t secret_len, const char *auth,
    long status, const char *body, size_t body_len, char *hex);

/* 0: sig (the header's value, may be NULL) is that signature, compared in
   constant time; else -1 */
int sign_reply_ok(const char *secret, size_t secret_len, const char *auth,
    long status, const char *body, size_t body_len, const char *sig);

/* HMAC-SHA256 of msg as 64 lowercase hex digits and a NUL; 0 or -1 */
int sign_hmac_hex(const char *secret, size_t secret_len, const char *msg,
    size_t len, char *hex);

#endif /* ECHO_AGENT_SIGN_H */
