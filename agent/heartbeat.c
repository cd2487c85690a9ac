/*
 * One thread with its own HTTP connection.  Joining and heartbeating are the
 * same call, so an orchestrator that restarts (or comes back after being
 * away) learns of the node on the next beat.  Failures back off
 * exponentially with jitter, capped, so a down orchestrator costs almost
 * nothing and a hundred agents do not return in lockstep.  A change in
 * the models (kick) sends a beat at once, except while backing off.
 * Without a configured orchestrator the beat goes to one found over mDNS
 * (discovery.c); one that fails is left for another of the mesh, tried
 * without waiting out the backoff.  A 2xx reply counts only when it is
 * signed with the mesh secret (sign.h): an impostor that answers 200 is
 * a failed heartbeat, so discovery moves on and nothing stays with it.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "backoff.h"
#include "buf.h"
#include "discovery.h"
#include "heartbeat.h"
#include "http_fetch.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "runtime.h"
#include "sign.h"
#include "worker.h"


#define HB_TIMEOUT_MS     3000
#define HB_REPORT_MAX     (256 * 1024)
#define HB_REPLY_MAX      (64 * 1024)
/* orchestrators remembered as having failed to prove the secret, so each
   is reported once (until it proves it) */
#define HB_UNPROVEN_MAX   8


static void *heartbeat_main(void *arg);
static hb_result_t heartbeat_send(hc_conn_t *conn, const conf_t *c,
    const char *orch, const char *path, const buf_t *body, char *err,
    size_t errlen);
static int heartbeat_sink(void *ud, const char *p, size_t n);
static void heartbeat_send_leave(hc_conn_t *conn);
static int heartbeat_unproven_once(char (*seen)[CONF_URL_MAX],
    const char *orch);
static void heartbeat_proven(char (*seen)[CONF_URL_MAX], const char *orch);


static worker_t  hb_worker = WORKER_INITIALIZER;
static int       hb_leaving;


int
heartbeat_start(void)
{
    return worker_start(&hb_worker, heartbeat_main);
}


void
heartbeat_kick(void)
{
    worker_kick(&hb_worker);
}


/* sends the leave call and ends the heartbeats; waits for it, bounded */
void
heartbeat_leave(unsigned wait_ms)
{
    __atomic_store_n(&hb_leaving, 1, __ATOMIC_SEQ_CST);
    worker_end(&hb_worker, wait_ms);
}


void
heartbeat_stop(void)
{
    worker_stop(&hb_worker);
}


static void *
heartbeat_main(void *arg)
{
    hc_conn_t    *conn = NULL;
    conf_t       *c = NULL;
    buf_t         body;
    unsigned      failures = 0, delay;
    uint32_t      rnd;
    hb_result_t   result;
    char          err[256], orch[CONF_URL_MAX], next[CONF_URL_MAX];
    char          joined[CONF_URL_MAX] = "";
    char          unproven[HB_UNPROVEN_MAX][CONF_URL_MAX];

    memset(unproven, 0, sizeof(unproven));

    (void) arg;

    rnd = (uint32_t) time(NULL) ^ ((uint32_t) getpid() << 16);
    buf_init(&body, HB_REPORT_MAX);

    conn = hc_new();
    if (conn == NULL) {
        log_error("heartbeat: out of memory, not joining the mesh");
        goto done;
    }

    for ( ;; ) {
        c = runtime_conf();
        delay = c->heartbeat_ms;

        if (discovery_target(c, orch, sizeof(orch)) == 0) {
            buf_reset(&body);
            if (report_build(&body, c) != 0) {
                result = HB_FAILED_LOCAL;
                snprintf(err, sizeof(err), "out of memory building the "
                         "report");
            } else {
                result = heartbeat_send(conn, c, orch,
                                        "/mesh/v1/nodes/heartbeat", &body,
                                        err, sizeof(err));
            }
            metrics_heartbeat(result);

            if (result == HB_UNPROVEN && heartbeat_unproven_once(unproven,
                                                                 orch))
            {
                /* configured or discovered: the operator must see it */
                log_error("heartbeat: orchestrator %s did not prove the "
                          "mesh secret (%s); not staying with it%s", orch,
                          err, c->orchestrator[0] ? ": check its "
                          "mesh_secret" : "");
            }

            if (result == HB_OK) {
                heartbeat_proven(unproven, orch);

                if (strcmp(joined, orch) != 0) {
                    log_info("heartbeat: joined the mesh at %s%s", orch,
                             c->orchestrator[0] ? "" : " (found over mDNS)");
                    snprintf(joined, sizeof(joined), "%s", orch);

                } else if (failures > 0) {
                    log_info("heartbeat: joined %s again after %u failed "
                             "attempt(s)", orch, failures);
                }
                failures = 0;

            } else {
                failures++;
                delay = backoff_delay_ms(c->heartbeat_ms, failures,
                                         BACKOFF_CAP_MS,
                                         backoff_random(&rnd));
                log_msg(failures == 1 ? AGENT_LOG_WARN : AGENT_LOG_DEBUG,
                        "heartbeat to %s failed: %s; retrying in %ums",
                        orch, err, delay);

                /* another orchestrator of the mesh is worth a try now */
                discovery_failed(c, orch);
                if (discovery_target(c, next, sizeof(next)) == 0
                    && strcmp(next, orch) != 0)
                {
                    log_info("heartbeat: trying %s instead", next);
                    delay = c->heartbeat_ms;
                }
            }
        }

        runtime_conf_put(c);

        /* while backing off, a change in the models waits its turn */
        if (worker_wait(&hb_worker, delay, failures == 0)) {
            break;
        }
    }

    if (__atomic_load_n(&hb_leaving, __ATOMIC_SEQ_CST)) {
        heartbeat_send_leave(conn);
    }

done:

    worker_finish(&hb_worker);

    if (conn != NULL) {
        hc_free(conn);
    }
    buf_free(&body);
    return NULL;
}


static void
heartbeat_send_leave(hc_conn_t *conn)
{
    conf_t  *c = NULL;
    buf_t    body;
    char     err[256], orch[CONF_URL_MAX];

    c = runtime_conf();
    buf_init(&body, 1024);

    if (discovery_target(c, orch, sizeof(orch)) == 0
        && buf_puts(&body, "{\"node_id\":") == 0
        && buf_json_string(&body, c->node_id, strlen(c->node_id)) == 0
        && buf_puts(&body, "}") == 0)
    {
        if (heartbeat_send(conn, c, orch, "/mesh/v1/nodes/leave", &body,
                           err, sizeof(err)) == HB_OK)
        {
            log_info("left the mesh at %s", orch);
        } else {
            log_warn("leave to %s failed: %s", orch, err);
        }
    }

    buf_free(&body);
    runtime_conf_put(c);
}


/* 1 the first time orch fails to prove the secret (remembered) */
static int
heartbeat_unproven_once(char (*seen)[CONF_URL_MAX], const char *orch)
{
    size_t  i, free_slot = HB_UNPROVEN_MAX;

    for (i = 0; i < HB_UNPROVEN_MAX; i++) {
        if (strcmp(seen[i], orch) == 0) {
            return 0;
        }
        if (seen[i][0] == '\0' && free_slot == HB_UNPROVEN_MAX) {
            free_slot = i;
        }
    }

    /* full: the oldest is forgotten and may be reported again */
    if (free_slot == HB_UNPROVEN_MAX) {
        memmove(seen[0], seen[1], (HB_UNPROVEN_MAX - 1) * CONF_URL_MAX);
        free_slot = HB_UNPROVEN_MAX - 1;
    }

    snprintf(seen[free_slot], CONF_URL_MAX, "%s", orch);
    return 1;
}


static void
heartbeat_proven(char (*seen)[CONF_URL_MAX], const char *orch)
{
    size_t  i;

    for (i = 0; i < HB_UNPROVEN_MAX; i++) {
        if (strcmp(seen[i], orch) == 0) {
            seen[i][0] = '\0';
        }
    }
}


static int
heartbeat_sink(void *ud, const char *p, size_t n)
{
    buf_t  *reply = ud;

    /* kept for the reply signature; buf_t bounds it at HB_REPLY_MAX */
    return buf_append(reply, p, n) != 0 ? -1 : 0;
}


static hb_result_t
heartbeat_send(hc_conn_t *conn, const conf_t *c, const char *orch,
    const char *path, const buf_t *body, char *err, size_t errlen)
{
    char         url[CONF_URL_MAX + 64];
    char         auth[SIGN_HEADER_MAX], proof[SIGN_HEX + 2];
    long         status;
    int          rc;
    buf_t        reply;
    fetch_req_t  req;

    snprintf(url, sizeof(url), "%s%s", orch, path);

    /* signed, never the secret: whoever answers here learns nothing */
    if (sign_node_header(c->secret, c->secret_len, "POST",
                         sign_url_path(url), body->data, body->len,
                         time(NULL), auth, sizeof(auth)) != 0)
    {
        snprintf(err, errlen, "cannot sign the request");
        return HB_UNREACHABLE;
    }

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.body = body->data;
    req.body_len = body->len;
    req.auth = auth;
    req.timeout_ms = HB_TIMEOUT_MS;
    req.sink = heartbeat_sink;
    req.ud = &reply;
    req.header = SIGN_REPLY_HEADER;
    req.header_out = proof;
    req.header_outlen = sizeof(proof);

    buf_init(&reply, HB_REPLY_MAX);
    rc = http_fetch(conn, &req, &status, err, errlen);

    if (rc == 0 && status >= 200 && status <= 299
        && sign_reply_ok(c->secret, c->secret_len, auth, status,
                         reply.data, reply.len, proof) != 0)
    {
        snprintf(err, errlen, "HTTP %ld %s", status,
                 proof[0] ? "with a wrong " SIGN_REPLY_HEADER
                 : "without " SIGN_REPLY_HEADER);
        buf_free(&reply);
        return HB_UNPROVEN;
    }

    buf_free(&reply);

    if (rc != 0) {
        return HB_UNREACHABLE;
    }

    if (status < 200 || status > 299) {
        snprintf(err, errlen, "HTTP %ld%s", status,
                 status == 401 ? " (the orchestrator refused the signature:"
                 " check the mesh secret and this clock)"
                 : status == 403 ? " (the orchestrator does not accept this "
                 "host: see mesh_node_networks)" : "");
        return HB_REFUSED;
    }

    return HB_OK;
}
