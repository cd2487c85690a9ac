/*
 * The mesh credential without sending it (the scheme is described in
 * ngx_echo_module/ngx_http_mesh_sign.h):
 *   - heartbeats and leave are signed: HMAC-SHA256 of the secret over the
 *     method, path, timestamp, a random nonce and the body's SHA-256;
 *   - each task from nginx carries "MESH-TASK <ts>:<task id>:<sig>", a
 *     signature bound to this node's id, the task id and the time, checked
 *     here against a window and against replays.
 */

#ifndef ECHO_AGENT_SIGN_H
#define ECHO_AGENT_SIGN_H

#include <stddef.h>
#include <time.h>

#define SIGN_NODE_SCHEME   "MESH-HMAC-SHA256"
#define SIGN_TASK_SCHEME   "MESH-TASK"
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

/* HMAC-SHA256 of msg as 64 lowercase hex digits and a NUL; 0 or -1 */
int sign_hmac_hex(const char *secret, size_t secret_len, const char *msg,
    size_t len, char *hex);

#endif /* ECHO_AGENT_SIGN_H */
