
/*
 * The node API (mesh_node_api):
 *   POST .../heartbeat   join and heartbeat, capability JSON, signed
 *   POST .../leave       {"node_id":...}, signed
 *   GET  .../nodes       every node with status, models, hardware and load
 * A heartbeat updates the shared zone at once, then Redis (hash, liveness
 * set, event); the reply waits for Redis, so an agent learns that the
 * registry did not take it (503) and retries.
 *
 * A node request is signed (ngx_http_mesh_sign.h): the header is checked
 * before the body is read, the signature after; then its nonce is claimed
 * in Redis (SET NX, expiring after twice the window), so a replay is
 * refused by every worker and orchestrator sharing that Redis.  A 200
 * reply is signed in turn (X-Mesh-Reply-Signature), bound to the request
 * it answers: an agent stays only with an orchestrator that proves the
 * secret, not with an impostor that merely answers.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_redis.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_sign.h"



/* longer than the Redis command timeout, which answers first */
#define NGX_HTTP_MESH_NODE_WAIT_MAX  3000


/*
 * Outlives the request if the client goes first: the pool cleanup
 * detaches it, the Redis reply frees it.  Its timer is not cancelable:
 * a worker shutting down gracefully answers the wait before it exits
 * (nothing else holds it, and exiting first would leave the request's
 * socket open).
 */
typedef struct {
    ngx_http_request_t     *request;
    ngx_pool_cleanup_t     *cln;
    ngx_event_t             guard;
    ngx_str_t               body;       /* while the nonce is claimed */
    time_t                  sent;       /* signed, at most its arrival */
} ngx_http_mesh_node_wait_t;


static void ngx_http_mesh_node_post(ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_node_refuse(ngx_http_request_t *r,
    const char *why);
static ngx_int_t ngx_http_mesh_node_signed(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_http_mesh_node_nonce_reply(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mesh_node_run(ngx_http_request_t *r,
    ngx_str_t *body, time_t sent);
static ngx_int_t ngx_http_mesh_node_heartbeat(ngx_http_request_t *r,
    ngx_str_t *body, time_t sent);
static ngx_int_t ngx_http_mesh_node_leave(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_mesh_node_list(ngx_http_request_t *r);
static void ngx_http_mesh_node_list_one(ngx_http_mesh_json_t *w,
    ngx_http_mesh_node_t *node, int64_t now, int64_t timeout);
static ngx_http_mesh_node_wait_t *ngx_http_mesh_node_wait_alloc(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_mesh_node_wait(ngx_http_request_t *r,
    ngx_http_mesh_node_wait_t *wait, ngx_int_t rc);
static void ngx_http_mesh_node_reply(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static ngx_http_request_t *ngx_http_mesh_node_wait_take(
    ngx_http_mesh_node_wait_t *wait);
static void ngx_http_mesh_node_wait_cleanup(void *data);
static void ngx_http_mesh_node_wait_expired(ngx_event_t *ev);
static ngx_int_t ngx_http_mesh_node_send_signed(ngx_http_request_t *r,
    ngx_str_t *json);
static ngx_uint_t ngx_http_mesh_node_is(ngx_http_request_t *r,
    const char *tail);
static ngx_int_t ngx_http_mesh_node_unavailable(ngx_http_request_t *r);


static ngx_uint_t
ngx_http_mesh_node_is(ngx_http_request_t *r, const char *tail)
{
    size_t  len;

    len = ngx_strlen(tail);

    return r->uri.len >= len
           && ngx_strncmp(r->uri.data + r->uri.len - len, tail, len) == 0;
}


/* Redis away: the agent backs off and tries again */

static ngx_int_t
ngx_http_mesh_node_unavailable(ngx_http_request_t *r)
{
    return ngx_http_mesh_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "the registry is unavailable, "
                                    "retry later");
}


ngx_int_t
ngx_http_mesh_node_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    const char                 *why;
    ngx_http_mesh_sign_t        sign;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        if (!ngx_http_mesh_node_is(r, "/nodes")
            && !ngx_http_mesh_node_is(r, "/nodes/"))
        {
            return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "no such endpoint");
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_mesh_node_list(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method not allowed");
    }

    if (!ngx_http_mesh_node_is(r, "/heartbeat")
        && !ngx_http_mesh_node_is(r, "/leave"))
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_NOT_FOUND,
                                        "no such endpoint");
    }

    /* refused before the body is read; parsed again with the body */
    if (ngx_http_mesh_sign_parse(r, mmcf->auth_window, &sign, &why)
        != NGX_OK)
    {
        return ngx_http_mesh_node_refuse(r, why);
    }

    if (r->headers_in.content_length_n > (off_t) mmcf->node_body_max) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "request body is too large");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_mesh_node_post);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_mesh_node_post(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   body;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    rc = ngx_http_mesh_read_json_body(r, mmcf->node_body_max, &body);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        rc = ngx_http_mesh_send_error(r, rc, "request body is too large");

    } else if (rc == NGX_HTTP_BAD_REQUEST) {
        rc = ngx_http_mesh_send_error(r, rc, "a JSON body is required");

    } else if (rc == NGX_OK) {
        rc = ngx_http_mesh_node_signed(r, &body);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_mesh_node_refuse(ngx_http_request_t *r, const char *why)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mesh: node request without a valid credential "
                  "from %V: %s", &r->connection->addr_text, why);

    return ngx_http_mesh_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "a valid mesh credential is required");
}


static ngx_int_t
ngx_http_mesh_node_signed(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                   rc;
    const char                 *why;
    ngx_http_mesh_sign_t        sign;
    ngx_http_mesh_node_wait_t  *wait;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (ngx_http_mesh_sign_parse(r, mmcf->auth_window, &sign, &why)
        != NGX_OK)
    {
        return ngx_http_mesh_node_refuse(r, why);
    }

    rc = ngx_http_mesh_sign_verify(r, mmcf->sign_key, &sign, body);

    if (rc == NGX_DECLINED) {
        return ngx_http_mesh_node_refuse(r, "wrong signature");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wait = ngx_http_mesh_node_wait_alloc(r);
    if (wait == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wait->body = *body;

    /*
     * The agent counted before the request arrived here: a later signed
     * time is its clock ahead of ours, and would take none of the ends
     * since off its count (registry_update).
     */
    wait->sent = ngx_min(sign.ts, r->start_sec);

    /* a timestamp is accepted up to a window either side of now */
    rc = ngx_http_mesh_sync_nonce(&sign.nonce,
                                  (ngx_msec_t) mmcf->auth_window * 2000,
                                  ngx_http_mesh_node_nonce_reply, wait);

    return ngx_http_mesh_node_wait(r, wait, rc);
}


static void
ngx_http_mesh_node_nonce_reply(ngx_http_mesh_redis_t *rc, redisReply *reply,
    void *data)
{
    ngx_http_mesh_node_wait_t  *wait = data;

    time_t               sent;
    ngx_int_t            status;
    ngx_str_t            body;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    body = wait->body;
    sent = wait->sent;

    r = ngx_http_mesh_node_wait_take(wait);
    if (r == NULL) {
        return;
    }

    c = r->connection;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        status = ngx_http_mesh_node_unavailable(r);

    } else if (reply->type == REDIS_REPLY_NIL) {
        status = ngx_http_mesh_node_refuse(r, "a replayed signature");

    } else {
        status = ngx_http_mesh_node_run(r, &body, sent);
    }

    ngx_http_finalize_request(r, status);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_mesh_node_run(ngx_http_request_t *r, ngx_str_t *body, time_t sent)
{
    if (ngx_http_mesh_node_is(r, "/heartbeat")) {
        return ngx_http_mesh_node_heartbeat(r, body, sent);
    }

    return ngx_http_mesh_node_leave(r, body);
}


static ngx_int_t
ngx_http_mesh_node_heartbeat(ngx_http_request_t *r, ngx_str_t *body,
    time_t sent)
{
    char                       *json;
    size_t                      len;
    int64_t                     now;
    ngx_int_t                   rc, counted;
    ngx_uint_t                  change;
    ngx_str_t                   event, caps_json;
    const char                 *kind;
    ngx_http_mesh_caps_t       *caps;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_zone_t       *zone;
    ngx_http_mesh_node_wait_t  *wait;
    ngx_http_mesh_main_conf_t  *mmcf;
    char                        err[NGX_HTTP_MESH_ERR_LEN];

    caps = ngx_palloc(r->pool, sizeof(ngx_http_mesh_caps_t));
    json = ngx_pnalloc(r->pool, NGX_HTTP_MESH_CAPS_JSON_MAX);

    if (caps == NULL || json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mesh_parse_caps((char *) body->data, body->len, caps, err)
        != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    rc = ngx_http_mesh_sign_host_allowed(r, mmcf->node_networks,
                                         mmcf->node_networks_source,
                                         caps->host);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mesh: node \"%s\" from %V may not register host "
                      "\"%s\" (mesh_node_networks)", caps->node_id,
                      &r->connection->addr_text, caps->host);
        return ngx_http_mesh_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "this host is outside the networks "
                                        "nodes may register");
    }

    now = ngx_http_mesh_now_ms();

    /* caps->active_tasks becomes the count taken: Redis and the event
       carry it */
    rc = ngx_http_mesh_registry_update(caps, now, sent, &change);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mesh: the registry is full, node \"%s\" refused: "
                      "no slot is long dead, raise the mesh_zone size",
                      caps->node_id);
        return ngx_http_mesh_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "the registry is full: raise the "
                                        "mesh_zone size");
    }

    if (rc != NGX_OK && rc != NGX_DONE) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    counted = (rc == NGX_OK);

    switch (change) {
    case NGX_HTTP_MESH_CHANGE_JOIN:
        kind = "node.join";
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mesh: node \"%s\" joined from %s:%d",
                      caps->node_id, caps->host, (int) caps->port);
        break;
    case NGX_HTTP_MESH_CHANGE_UP:
        kind = "node.up";
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mesh: node \"%s\" is up", caps->node_id);
        break;
    case NGX_HTTP_MESH_CHANGE_UPDATE:
        kind = "node.update";
        break;
    default:
        kind = "node.heartbeat";
    }

    /* serialised once: the Redis copy, and the event that carries the full
       capabilities for other orchestrators to update their snapshot */

    len = ngx_http_mesh_caps_to_json(caps, json, NGX_HTTP_MESH_CAPS_JSON_MAX);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    caps_json.data = (u_char *) json;
    caps_json.len = len;

    if (ngx_http_mesh_event_start(&w, r->pool, kind) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * "by" first, after "ts": this nginx's workers find it at a fixed
     * place and skip the message, whose update the zone has already
     * (ngx_http_mesh_sync_on_message); other orchestrators apply it.
     */

    zone = ngx_http_mesh_zone_get(r);

    if (zone) {
        ngx_http_mesh_json_kcstr(&w, "by",
                                 (char *) ngx_http_mesh_reg(zone)->orch_id);
    }

    /* other orchestrators take their own tasks' ends since off the count */
    ngx_http_mesh_json_kint(&w, "sent", sent);
    ngx_http_mesh_json_raw_members(&w, &caps_json);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &event) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wait = ngx_http_mesh_node_wait_alloc(r);
    if (wait == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mesh_sync_heartbeat(caps, &caps_json, now, counted, &event,
                                      ngx_http_mesh_node_reply, wait,
                                      r->connection->log);

    return ngx_http_mesh_node_wait(r, wait, rc);
}


static ngx_int_t
ngx_http_mesh_node_leave(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                   rc;
    ngx_http_mesh_node_wait_t  *wait;
    char                        node_id[NGX_HTTP_MESH_ID_LEN];
    char                    err[NGX_HTTP_MESH_ERR_LEN];

    if (ngx_http_mesh_parse_node_id((char *) body->data, body->len, node_id,
                                    err)
        != 0)
    {
        return ngx_http_mesh_send_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    rc = ngx_http_mesh_registry_leave(node_id);

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mesh: node \"%s\" left", node_id);
    }

    wait = ngx_http_mesh_node_wait_alloc(r);
    if (wait == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mesh_sync_leave(node_id, ngx_http_mesh_node_reply, wait,
                                  r->connection->log);

    return ngx_http_mesh_node_wait(r, wait, rc);
}


/* the reply to the last Redis command of a heartbeat or leave answers */

static ngx_http_mesh_node_wait_t *
ngx_http_mesh_node_wait_alloc(ngx_http_request_t *r)
{
    ngx_http_mesh_node_wait_t  *wait;

    wait = ngx_calloc(sizeof(ngx_http_mesh_node_wait_t), r->connection->log);
    if (wait == NULL) {
        return NULL;
    }

    wait->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (wait->cln == NULL) {
        ngx_free(wait);
        return NULL;
    }

    wait->request = r;
    wait->cln->handler = ngx_http_mesh_node_wait_cleanup;
    wait->cln->data = wait;

    return wait;
}


/* rc: NGX_OK if the command that answers was sent, with wait as its data */

static ngx_int_t
ngx_http_mesh_node_wait(ngx_http_request_t *r,
    ngx_http_mesh_node_wait_t *wait, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        wait->cln->handler = NULL;
        ngx_free(wait);
        return ngx_http_mesh_node_unavailable(r);
    }

    wait->guard.handler = ngx_http_mesh_node_wait_expired;
    wait->guard.data = wait;
    wait->guard.log = r->connection->log;
    ngx_add_timer(&wait->guard, NGX_HTTP_MESH_NODE_WAIT_MAX);

    r->main->count++;

    return NGX_DONE;
}


/* a Redis reply came: the waiting request, if it is still there */

static ngx_http_request_t *
ngx_http_mesh_node_wait_take(ngx_http_mesh_node_wait_t *wait)
{
    ngx_http_request_t  *r;

    if (wait->guard.timer_set) {
        ngx_del_timer(&wait->guard);
    }

    r = wait->request;

    if (r != NULL) {
        wait->cln->handler = NULL;
    }

    ngx_free(wait);

    return r;
}


static void
ngx_http_mesh_node_wait_cleanup(void *data)
{
    ngx_http_mesh_node_wait_t  *wait = data;

    wait->request = NULL;

    if (wait->guard.timer_set) {
        ngx_del_timer(&wait->guard);
    }
}


static void
ngx_http_mesh_node_wait_expired(ngx_event_t *ev)
{
    ngx_http_mesh_node_wait_t  *wait = ev->data;

    ngx_int_t            status;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = wait->request;

    if (r == NULL) {
        return;
    }

    /* the Redis reply comes later and frees the wait */
    wait->request = NULL;
    wait->cln->handler = NULL;

    c = r->connection;

    status = ngx_http_mesh_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "the registry did not answer, "
                                      "retry later");
    ngx_http_finalize_request(r, status);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mesh_node_reply(ngx_http_mesh_redis_t *rc, redisReply *reply,
    void *data)
{
    ngx_http_mesh_node_wait_t  *wait = data;

    ngx_int_t                   status;
    ngx_str_t                   json;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_mesh_json_t        w;
    ngx_http_mesh_main_conf_t  *mmcf;

    r = ngx_http_mesh_node_wait_take(wait);
    if (r == NULL) {
        return;
    }

    c = r->connection;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        status = ngx_http_mesh_node_unavailable(r);
        goto done;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (ngx_http_mesh_json_init(&w, r->pool, 64) != NGX_OK) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_http_mesh_json_obj_start(&w);
    ngx_http_mesh_json_kbool(&w, "ok", 1);

    if (ngx_http_mesh_node_is(r, "/heartbeat")) {
        ngx_http_mesh_json_kint(&w, "heartbeat_interval_ms",
            mmcf->heartbeat_interval);
    }

    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    status = ngx_http_mesh_node_send_signed(r, &json);

done:

    ngx_http_finalize_request(r, status);
    ngx_http_run_posted_requests(c);
}


/* 200 with json, signed over the body exactly as ngx_http_mesh_send_json
   sends it (with its newline) */

static ngx_int_t
ngx_http_mesh_node_send_signed(ngx_http_request_t *r, ngx_str_t *json)
{
    u_char                     *sig;
    ngx_str_t                   sent, req_sig;
    ngx_table_elt_t            *h, *auth;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    /* parsed and verified before: the value ends with the signature */
    auth = r->headers_in.authorization;
    if (auth == NULL || auth->value.len < NGX_HTTP_MESH_SIGN_HEX) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req_sig.data = auth->value.data + auth->value.len
                   - NGX_HTTP_MESH_SIGN_HEX;
    req_sig.len = NGX_HTTP_MESH_SIGN_HEX;

    sent.len = json->len + 1;
    sent.data = ngx_pnalloc(r->pool, sent.len);
    sig = ngx_pnalloc(r->pool, NGX_HTTP_MESH_SIGN_HEX);
    h = ngx_list_push(&r->headers_out.headers);

    if (sent.data == NULL || sig == NULL || h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(sent.data, json->data, json->len) = '\n';

    if (ngx_http_mesh_sign_reply(mmcf->sign_key, &req_sig, NGX_HTTP_OK,
                                 &sent, sig)
        != NGX_OK)
    {
        h->hash = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Mesh-Reply-Signature");
    h->value.data = sig;
    h->value.len = NGX_HTTP_MESH_SIGN_HEX;

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_http_mesh_node_list(ngx_http_request_t *r)
{
    ngx_str_t                     json;
    ngx_uint_t                    queued;
    ngx_http_mesh_zone_t         *zone;
    ngx_http_mesh_json_t          w;
    ngx_http_mesh_registry_sh_t  *reg;

    zone = ngx_http_mesh_zone_get(r);

    if (zone == NULL) {
        return ngx_http_mesh_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "no mesh_zone is configured");
    }

    reg = ngx_http_mesh_reg(zone);

    if (ngx_http_mesh_json_init(&w, r->pool, 1024) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_obj_start(&w);

    if (ngx_http_mesh_node_list_json(&w, zone, r->pool, &queued) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_json_kint(&w, "queued", queued);
    ngx_http_mesh_json_kint(&w, "generation", reg->generation);
    ngx_http_mesh_json_obj_end(&w);

    if (ngx_http_mesh_json_result(&w, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mesh_send_json(r, NGX_HTTP_OK, &json);
}


/* "nodes":[...] of the node list (the feed's snapshot has the same) */

ngx_int_t
ngx_http_mesh_node_list_json(ngx_http_mesh_json_t *w,
    ngx_http_mesh_zone_t *zone, ngx_pool_t *pool, ngx_uint_t *queued)
{
    int64_t                       now, timeout;
    ngx_uint_t                    i;
    ngx_http_mesh_node_t         *node;
    ngx_http_mesh_registry_sh_t  *reg;

    ngx_http_mesh_json_key(w, "nodes");
    ngx_http_mesh_json_arr_start(w);

    *queued = 0;

    if (zone == NULL) {
        ngx_http_mesh_json_arr_end(w);
        return NGX_OK;
    }

    reg = ngx_http_mesh_reg(zone);
    *queued = reg->queued;

    /* one node copied at a time, the JSON written outside the lock */

    node = ngx_palloc(pool, sizeof(ngx_http_mesh_node_t));
    if (node == NULL) {
        return NGX_ERROR;
    }

    now = ngx_http_mesh_now_ms();
    timeout = ngx_http_mesh_sync_timeout();

    for (i = 0; ngx_http_mesh_registry_get(i, node) == NGX_OK; i++) {
        if (node->used && !node->left) {
            ngx_http_mesh_node_list_one(w, node, now, timeout);
        }
    }

    ngx_http_mesh_json_arr_end(w);

    return NGX_OK;
}


static void
ngx_http_mesh_node_list_one(ngx_http_mesh_json_t *w,
    ngx_http_mesh_node_t *node, int64_t now, int64_t timeout)
{
    ngx_http_mesh_caps_t  caps;

    caps = node->caps;
    caps.active_tasks = ngx_http_mesh_registry_load(node);

    ngx_http_mesh_json_obj_start(w);

    ngx_http_mesh_event_caps_fields(w, &caps);

    ngx_http_mesh_json_kbool(w, "up",
        ngx_http_mesh_registry_live(node, now,
                                                             timeout));
    ngx_http_mesh_json_kint(w, "last_seen", node->last_seen);
    ngx_http_mesh_json_kint(w, "last_seen_ago_ms", now - node->last_seen);
    ngx_http_mesh_json_kdouble(w, "recent_tokens_per_sec", node->recent_tps);
    ngx_http_mesh_json_kint(w, "tasks_done", node->tasks_done);
    ngx_http_mesh_json_kint(w, "tasks_failed", node->tasks_failed);

    /* passive ejection: left out of routing though it heartbeats */
    ngx_http_mesh_json_kbool(w, "ejected", node->ejected_until > now);
    ngx_http_mesh_json_kint(w, "ejected_for_ms",
        node->ejected_until > now ? node->ejected_until - now : 0);
    ngx_http_mesh_json_kint(w, "ejections", node->ejections);
    ngx_http_mesh_json_kint(w, "consecutive_failures", node->fails);

    ngx_http_mesh_json_obj_end(w);
}
