
/*
 * hiredis async on nginx events.
 *
 * hiredis owns each socket: its fd is wrapped in an nginx connection only to
 * receive events, and that connection goes back with ngx_free_connection()
 * from hiredis' cleanup hook, just before hiredis closes the fd itself.
 *
 * A context is freed only from outside hiredis (a timer, a posted event, a
 * read handler, exit_process): code running inside a hiredis callback that
 * wants the connection gone posts lk->drop instead.  hiredis runs every
 * pending callback with a NULL reply, then our cleanup hook, then frees.
 *
 *   IDLE --timer--> CONNECTING --writable--> HANDSHAKE --last reply--> READY
 *     ^                 |                        |                      |
 *     +------ cleanup hook, backoff timer <------+----------------------+
 *
 * The handshake is AUTH (with a password), SELECT (db != 0), then PING on
 * the command connection or SUBSCRIBE on the subscriber, one at a time.
 *
 * A third link, the listener, exists only while the layer above asks for
 * it (the live feed, while it has clients): a subscription to a few
 * channels of its own, opened by redis_listen() and closed by
 * redis_unlisten(), with the same reconnects as the other two.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <sys/un.h>

#include <hiredis/async.h>

#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_json.h"
#include "ngx_http_mesh_redis.h"


#define NGX_HTTP_MESH_REDIS_BACKOFF_MIN      500
#define NGX_HTTP_MESH_REDIS_BACKOFF_MAX      10000
#define NGX_HTTP_MESH_REDIS_ERROR_LEN        256
#define NGX_HTTP_MESH_REDIS_CRED_MAX         1024


typedef enum {
    NGX_HTTP_MESH_REDIS_IDLE = 0,
    NGX_HTTP_MESH_REDIS_CONNECTING,
    NGX_HTTP_MESH_REDIS_HANDSHAKE,
    NGX_HTTP_MESH_REDIS_READY,
    NGX_HTTP_MESH_REDIS_CLOSING
} ngx_http_mesh_redis_state_e;


typedef enum {
    NGX_HTTP_MESH_REDIS_STEP_AUTH = 0,
    NGX_HTTP_MESH_REDIS_STEP_SELECT,
    NGX_HTTP_MESH_REDIS_STEP_FINAL,
    NGX_HTTP_MESH_REDIS_STEP_DONE
} ngx_http_mesh_redis_step_e;


struct ngx_http_mesh_redis_s {
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;     /* retry, connect or command */
    ngx_event_t                    drop;      /* posted: free off hiredis */
    ngx_queue_t                    pending;   /* commands sent, oldest first */
    ngx_uint_t                     npending;
    ngx_uint_t                     state;
    ngx_uint_t                     step;
    ngx_msec_t                     backoff;
    ngx_msec_t                     ready_since;
    ngx_uint_t                     attempts;  /* failed since last ready */
    ngx_uint_t                     connects;
    const char                    *name;
    u_char                         logged[NGX_HTTP_MESH_REDIS_ERROR_LEN];
    size_t                         logged_len;
    unsigned                       subscriber:1;
    unsigned                       listener:1;
    unsigned                       ready:1;   /* this context reached READY */
    unsigned                       failed:1;  /* why it ends is logged */
    unsigned                       stopping:1;
    unsigned                       writing:1; /* in hiredis' write handler */
};


typedef struct {
    ngx_queue_t                    queue;
    ngx_http_mesh_redis_t         *link;
    ngx_http_mesh_redis_reply_pt   handler;
    void                          *data;
    ngx_msec_t                     deadline;
} ngx_http_mesh_redis_cmd_t;


/* the worker's own copy of the address: it outlives any cycle's pool */
typedef struct {
    ngx_http_mesh_redis_t          command;
    ngx_http_mesh_redis_t          subscriber;
    ngx_http_mesh_redis_t          listener;
    ngx_http_mesh_redis_handlers_t handlers;
    ngx_http_mesh_redis_listen_t   listen;
    ngx_str_t                      ip;           /* NUL-terminated */
    int                            port;
    ngx_str_t                      unix_path;    /* NUL-terminated */
    ngx_str_t                      user;
    ngx_str_t                      password;
    ngx_uint_t                     db;
    ngx_msec_t                     timeout;      /* connect, each command */
    ngx_str_t                      target;       /* for logs: no password */
    ngx_uint_t                     reconnects;
    u_char                         last_error[NGX_HTTP_MESH_REDIS_ERROR_LEN];
    size_t                         last_error_len;
} ngx_http_mesh_redis_worker_t;


static ngx_str_t *ngx_http_mesh_redis_masked_url(ngx_conf_t *cf,
    ngx_str_t *url);
static u_char *ngx_http_mesh_redis_copy(u_char *p, ngx_str_t *dst,
    ngx_str_t *src);
static void ngx_http_mesh_redis_link_init(ngx_http_mesh_redis_t *lk,
    const char *name, ngx_uint_t subscriber);
static void ngx_http_mesh_redis_connect(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_retry(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_close(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_write_out(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_close_later(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_mesh_redis_drop_handler(ngx_event_t *ev);
static void ngx_http_mesh_redis_read_handler(ngx_event_t *rev);
static void ngx_http_mesh_redis_write_handler(ngx_event_t *wev);
static void ngx_http_mesh_redis_add_read(void *privdata);
static void ngx_http_mesh_redis_del_read(void *privdata);
static void ngx_http_mesh_redis_add_write(void *privdata);
static void ngx_http_mesh_redis_del_write(void *privdata);
static void ngx_http_mesh_redis_event(ngx_http_mesh_redis_t *lk,
    ngx_uint_t write, ngx_uint_t add);
static void ngx_http_mesh_redis_cleanup(void *privdata);
static void ngx_http_mesh_redis_release(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_on_connect(const redisAsyncContext *ac,
    int status);
static ngx_int_t ngx_http_mesh_redis_handshake(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_handshake_reply(ngx_http_mesh_redis_t *lk,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mesh_redis_subscribe(ngx_http_mesh_redis_t *lk);
static void ngx_http_mesh_redis_on_subscribe(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_mesh_redis_ready(ngx_http_mesh_redis_t *lk);
static ngx_uint_t ngx_http_mesh_redis_accepts(ngx_http_mesh_redis_t *lk);
static ngx_int_t ngx_http_mesh_redis_submit(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, char *cmd, int len);
static ngx_uint_t ngx_http_mesh_redis_allowed(u_char *cmd, size_t len);
static ngx_int_t ngx_http_mesh_redis_send_argv(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
static char *ngx_http_mesh_redis_format_argv(int argc, const char **argv,
    const size_t *argvlen, int *len);
static u_char *ngx_http_mesh_redis_digits(u_char *p, size_t n);
static ngx_int_t ngx_http_mesh_redis_send(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, char *cmd, int len);
static void ngx_http_mesh_redis_on_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mesh_redis_fail(ngx_http_mesh_redis_t *lk,
    ngx_uint_t level, const char *fmt, ...);


/*
 * Per process by nature (each worker has its own sockets), kept in the
 * module's per-process state; NULL in the master and without
 * mesh_registry.
 */
#define ngx_http_mesh_redis_worker                                           \
    ((ngx_http_mesh_redis_worker_t *) ngx_http_mesh_worker.redis)


/* commands that would switch the shared connection out of request/reply */
static const char  *ngx_http_mesh_redis_refused[] = {
    "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
    "sunsubscribe", "monitor", "hello", "reset", "quit", "sync", "psync",
    NULL
};


/*
 * redis://[[user]:password@]host[:port][/db]  or  unix:/path/to/redis.sock
 */

ngx_int_t
ngx_http_mesh_redis_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_mesh_redis_addr_t *addr)
{
    u_char     *p, *last, *at, *colon, *slash;
    ngx_int_t   n;
    ngx_str_t  *shown;

    addr->url = *url;
    addr->port = 6379;

    /* messages show the URL without its password */
    shown = ngx_http_mesh_redis_masked_url(cf, url);
    if (shown == NULL) {
        return NGX_ERROR;
    }

    p = url->data;
    last = url->data + url->len;

    if (url->len > 5 && ngx_strncmp(p, "unix:", 5) == 0) {
        addr->unix_path.data = p + 5;
        addr->unix_path.len = url->len - 5;

        if (addr->unix_path.data[0] != '/') {
            goto invalid;
        }

        return NGX_OK;
    }

    if (url->len < 9 || ngx_strncasecmp(p, (u_char *) "redis://", 8) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid registry address \"%V\": expected "
                           "\"redis://host:port\" or \"unix:/path\"", shown);
        return NGX_ERROR;
    }

    p += 8;

    at = ngx_strlchr(p, last, '@');

    if (at) {
        colon = ngx_strlchr(p, at, ':');

        if (colon == NULL) {
            goto invalid;
        }

        addr->user.data = p;
        addr->user.len = colon - p;
        addr->password.data = colon + 1;
        addr->password.len = at - colon - 1;

        if (addr->password.len == 0) {
            goto invalid;
        }

        p = at + 1;
    }

    slash = ngx_strlchr(p, last, '/');

    if (slash) {
        n = ngx_atoi(slash + 1, last - slash - 1);

        if (n == NGX_ERROR || n > 1024) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid registry database in \"%V\"", shown);
            return NGX_ERROR;
        }

        addr->db = n;
        last = slash;
    }

    colon = ngx_strlchr(p, last, ':');

    if (colon) {
        n = ngx_atoi(colon + 1, last - colon - 1);

        if (n < 1 || n > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid registry port in \"%V\"", shown);
            return NGX_ERROR;
        }

        addr->port = (in_port_t) n;
        last = colon;
    }

    if (p == last) {
        goto invalid;
    }

    addr->host.data = p;
    addr->host.len = last - p;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid registry address \"%V\"", shown);
    return NGX_ERROR;
}


/* redis://user:secret@host -> redis://user:***@host */

static ngx_str_t *
ngx_http_mesh_redis_masked_url(ngx_conf_t *cf, ngx_str_t *url)
{
    u_char     *p, *at, *colon, *start;
    ngx_str_t  *shown;

    shown = ngx_palloc(cf->pool, sizeof(ngx_str_t));
    if (shown == NULL) {
        return NULL;
    }

    *shown = *url;

    if (url->len < 8
        || ngx_strncasecmp(url->data, (u_char *) "redis://", 8) != 0)
    {
        return shown;
    }

    start = url->data + 8;
    at = ngx_strlchr(start, url->data + url->len, '@');

    if (at == NULL) {
        return shown;
    }

    colon = ngx_strlchr(start, at, ':');

    if (colon == NULL) {
        return shown;
    }

    shown->data = ngx_pnalloc(cf->pool, url->len + 3);
    if (shown->data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(shown->data, url->data, colon + 1 - url->data);
    p = ngx_cpymem(p, "***", 3);
    p = ngx_cpymem(p, at, url->data + url->len - at);
    shown->len = p - shown->data;

    return shown;
}


ngx_int_t
ngx_http_mesh_redis_resolve(ngx_conf_t *cf, ngx_http_mesh_redis_addr_t *addr)
{
    u_char              *ip;
    size_t               len;
    ngx_url_t            u;
    ngx_uint_t           i;
    ngx_addr_t           numeric, *chosen;
    struct sockaddr_un   sun;

    /* the URL holds the password: errors name only the parts */

    if (addr->user.len > NGX_HTTP_MESH_REDIS_CRED_MAX
        || addr->password.len > NGX_HTTP_MESH_REDIS_CRED_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "registry user or password is longer than "
                           "%d bytes", NGX_HTTP_MESH_REDIS_CRED_MAX);
        return NGX_ERROR;
    }

    if (addr->unix_path.len) {
        if (addr->unix_path.len >= sizeof(sun.sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "registry socket path \"%V\" is longer than "
                               "%uz bytes", &addr->unix_path,
                               sizeof(sun.sun_path) - 1);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (addr->host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "registry host is empty");
        return NGX_ERROR;
    }

    switch (ngx_parse_addr(cf->pool, &numeric, addr->host.data,
                           addr->host.len))
    {
    case NGX_OK:
        chosen = &numeric;
        break;

    case NGX_DECLINED:
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.host = addr->host;
        u.port = addr->port;

        if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in registry host \"%V\"",
                               u.err ? u.err : "host not found",
                               &addr->host);
            return NGX_ERROR;
        }

        /* hiredis itself prefers IPv4 when a name has both */

        chosen = &u.addrs[0];

        for (i = 0; i < u.naddrs; i++) {
            if (u.addrs[i].sockaddr->sa_family == AF_INET) {
                chosen = &u.addrs[i];
                break;
            }
        }

        break;

    default:
        return NGX_ERROR;
    }

    ip = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (ip == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(chosen->sockaddr, chosen->socklen, ip,
                        NGX_SOCKADDR_STRLEN, 0);
    ip[len] = '\0';

    addr->ip.data = ip;
    addr->ip.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_mesh_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_mesh_redis_addr_t *addr, ngx_http_mesh_redis_handlers_t *handlers)
{
    u_char                        *p;
    size_t                         size;
    ngx_http_mesh_redis_worker_t  *w;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_http_mesh_redis_worker != NULL
        || addr == NULL)
    {
        return NGX_OK;
    }

    if (addr->unix_path.len == 0 && addr->ip.len == 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mesh registry: redis host \"%V\" was not resolved",
                      &addr->host);
        return NGX_OK;
    }

    size = sizeof(ngx_http_mesh_redis_worker_t)
           + addr->ip.len + 1 + addr->unix_path.len + 1
           + addr->user.len + 1 + addr->password.len + 1
           + sizeof("unix:") + addr->unix_path.len
           + addr->host.len + sizeof(":65535");

    w = ngx_calloc(size, cycle->log);
    if (w == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) (w + 1);
    p = ngx_http_mesh_redis_copy(p, &w->ip, &addr->ip);
    p = ngx_http_mesh_redis_copy(p, &w->unix_path, &addr->unix_path);
    p = ngx_http_mesh_redis_copy(p, &w->user, &addr->user);
    p = ngx_http_mesh_redis_copy(p, &w->password, &addr->password);

    w->target.data = p;

    if (addr->unix_path.len) {
        p = ngx_sprintf(p, "unix:%V", &addr->unix_path);

    } else {
        p = ngx_sprintf(p, "%V:%d", &addr->host, (int) addr->port);
    }

    w->target.len = p - w->target.data;
    w->port = addr->port;
    w->db = addr->db;
    w->timeout = addr->timeout;
    w->handlers = *handlers;

    ngx_http_mesh_worker.redis = w;

    ngx_http_mesh_redis_link_init(&w->command, "command", 0);
    ngx_http_mesh_redis_link_init(&w->subscriber, "subscriber", 1);
    ngx_http_mesh_redis_link_init(&w->listener, "listener", 1);

    w->listener.listener = 1;
    w->listener.stopping = 1;

    ngx_http_mesh_redis_connect(&w->command);
    ngx_http_mesh_redis_connect(&w->subscriber);

    return NGX_OK;
}


static u_char *
ngx_http_mesh_redis_copy(u_char *p, ngx_str_t *dst, ngx_str_t *src)
{
    dst->data = p;
    dst->len = src->len;

    p = ngx_cpymem(p, src->data, src->len);
    *p++ = '\0';

    return p;
}


static void
ngx_http_mesh_redis_link_init(ngx_http_mesh_redis_t *lk, const char *name,
    ngx_uint_t subscriber)
{
    lk->name = name;
    lk->subscriber = subscriber;
    lk->backoff = NGX_HTTP_MESH_REDIS_BACKOFF_MIN;

    ngx_queue_init(&lk->pending);

    lk->timer.handler = ngx_http_mesh_redis_timer_handler;
    lk->timer.data = lk;
    lk->timer.log = ngx_cycle->log;

    /* a retry or a wait for Redis must never hold a worker's exit */
    lk->timer.cancelable = 1;

    lk->drop.handler = ngx_http_mesh_redis_drop_handler;
    lk->drop.data = lk;
    lk->drop.log = ngx_cycle->log;
}


void
ngx_http_mesh_redis_exit_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_mesh_redis_t         *lk[3];
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    if (w == NULL) {
        return;
    }

    lk[0] = &w->command;
    lk[1] = &w->subscriber;
    lk[2] = &w->listener;

    for (i = 0; i < 3; i++) {
        lk[i]->stopping = 1;
    }

    for (i = 0; i < 3; i++) {
        if (lk[i]->timer.timer_set) {
            ngx_del_timer(&lk[i]->timer);
        }

        if (lk[i]->drop.posted) {
            ngx_delete_posted_event(&lk[i]->drop);
        }

        ngx_http_mesh_redis_write_out(lk[i]);
        ngx_http_mesh_redis_close(lk[i]);
    }

    ngx_http_mesh_worker.redis = NULL;
    ngx_free(w);
}


ngx_http_mesh_redis_t *
ngx_http_mesh_redis_commands(void)
{
    if (ngx_http_mesh_redis_worker == NULL) {
        return NULL;
    }

    return &ngx_http_mesh_redis_worker->command;
}


ngx_uint_t
ngx_http_mesh_redis_subscribed(void)
{
    return ngx_http_mesh_redis_worker == NULL
           || ngx_http_mesh_redis_worker->subscriber.state
              == NGX_HTTP_MESH_REDIS_READY;
}


ngx_int_t
ngx_http_mesh_redis_listen(ngx_http_mesh_redis_listen_t *listen)
{
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    if (w == NULL || listen->nchannels == 0
        || listen->nchannels > NGX_HTTP_MESH_REDIS_LISTEN_MAX)
    {
        return NGX_DECLINED;
    }

    lk = &w->listener;
    w->listen = *listen;

    if (!lk->stopping) {
        return NGX_OK;
    }

    lk->stopping = 0;
    lk->backoff = NGX_HTTP_MESH_REDIS_BACKOFF_MIN;
    lk->attempts = 0;

    if (lk->ac == NULL && !lk->timer.timer_set) {
        ngx_http_mesh_redis_connect(lk);
    }

    return NGX_OK;
}


void
ngx_http_mesh_redis_unlisten(void)
{
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    if (w == NULL || w->listener.stopping) {
        return;
    }

    lk = &w->listener;
    lk->stopping = 1;

    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    if (lk->drop.posted) {
        ngx_delete_posted_event(&lk->drop);
    }

    ngx_http_mesh_redis_close(lk);
}


ngx_uint_t
ngx_http_mesh_redis_listening(void)
{
    return ngx_http_mesh_redis_worker != NULL
           && ngx_http_mesh_redis_worker->listener.state
              == NGX_HTTP_MESH_REDIS_READY;
}


ngx_uint_t
ngx_http_mesh_redis_connected(ngx_http_mesh_redis_t *rc)
{
    return rc != NULL && rc->state == NGX_HTTP_MESH_REDIS_READY;
}


ngx_uint_t
ngx_http_mesh_redis_pending(void)
{
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    return w ? w->command.npending : 0;
}


void
ngx_http_mesh_redis_status_json(ngx_http_mesh_json_t *j)
{
    ngx_str_t                      err;
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    if (w == NULL) {
        ngx_http_mesh_json_null(j);
        return;
    }

    err.data = w->last_error;
    err.len = w->last_error_len;

    ngx_http_mesh_json_obj_start(j);
    ngx_http_mesh_json_kbool(j, "connected",
        ngx_http_mesh_redis_connected(&w->command));
    ngx_http_mesh_json_key(j, "subscribed");
    ngx_http_mesh_json_bool(j,
                           ngx_http_mesh_redis_connected(&w->subscriber));
    ngx_http_mesh_json_kint(j, "reconnects", w->reconnects);
    ngx_http_mesh_json_kint(j, "pending", w->command.npending);
    ngx_http_mesh_json_kstr(j, "last_error", &err);
    ngx_http_mesh_json_obj_end(j);
}


static void
ngx_http_mesh_redis_connect(ngx_http_mesh_redis_t *lk)
{
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_mesh_redis_worker_t  *w;

    if (lk->stopping || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    w = ngx_http_mesh_redis_worker;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "mesh redis %s: connecting to %V, attempt %ui",
                   lk->name, &w->target, lk->attempts + 1);

    lk->failed = 0;
    lk->ready = 0;

    /* numeric address or unix socket: hiredis does no DNS lookup here */

    if (w->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) w->unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) w->ip.data, w->port);
    }

    if (ac == NULL) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V failed: "
                                 "out of memory", lk->name, &w->target);
        goto retry;
    }

    if (ac->c.err == 0 && w->unix_path.len == 0) {
        (void) redisEnableKeepAlive(&ac->c);
    }

    if (ac->c.err) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V failed: %s",
                                 lk->name, &w->target, ac->c.errstr);
        redisAsyncFree(ac);
        goto retry;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V failed: "
                                 "no free worker connection",
                                 lk->name, &w->target);
        redisAsyncFree(ac);
        goto retry;
    }

    c->data = lk;
    c->read->handler = ngx_http_mesh_redis_read_handler;
    c->write->handler = ngx_http_mesh_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    lk->ac = ac;
    lk->conn = c;
    lk->state = NGX_HTTP_MESH_REDIS_CONNECTING;
    lk->step = NGX_HTTP_MESH_REDIS_STEP_AUTH;

    ac->data = lk;
    ac->ev.data = lk;
    ac->ev.addRead = ngx_http_mesh_redis_add_read;
    ac->ev.delRead = ngx_http_mesh_redis_del_read;
    ac->ev.addWrite = ngx_http_mesh_redis_add_write;
    ac->ev.delWrite = ngx_http_mesh_redis_del_write;
    ac->ev.cleanup = ngx_http_mesh_redis_cleanup;

    ngx_add_timer(&lk->timer, w->timeout);

    /* asks for the write event that tells the connect is done */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_mesh_redis_on_connect);

    return;

retry:

    ngx_http_mesh_redis_retry(lk);
}


/*
 * Exponential backoff with jitter, so that the workers of every nginx do
 * not knock on a recovering Redis in step.
 */

static void
ngx_http_mesh_redis_retry(ngx_http_mesh_redis_t *lk)
{
    ngx_msec_t  delay;

    if (lk->stopping || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    delay = lk->backoff - (ngx_msec_t) ngx_random() % (lk->backoff / 4 + 1);

    lk->backoff = ngx_min(2 * lk->backoff, NGX_HTTP_MESH_REDIS_BACKOFF_MAX);
    lk->attempts++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "mesh redis %s: next attempt in %M ms", lk->name, delay);

    ngx_add_timer(&lk->timer, delay);
}


/* only from outside hiredis: the context is gone when this returns */

static void
ngx_http_mesh_redis_close(ngx_http_mesh_redis_t *lk)
{
    redisAsyncContext  *ac;

    ac = lk->ac;

    if (ac == NULL) {
        return;
    }

    lk->state = NGX_HTTP_MESH_REDIS_CLOSING;

    redisAsyncFree(ac);
}


/*
 * hiredis drops its output buffer with the context: the commands of the
 * exiting worker's last turn (its final task events and load changes)
 * would never leave.  Write what the socket takes now; it is non-blocking,
 * and a full one is not waited for.
 */

static void
ngx_http_mesh_redis_write_out(ngx_http_mesh_redis_t *lk)
{
    int         done;
    ngx_uint_t  n;

    if (lk->ac == NULL || lk->state != NGX_HTTP_MESH_REDIS_READY) {
        return;
    }

    done = 0;

    for (n = 0; n < 16 && !done; n++) {
        if (redisBufferWrite(&lk->ac->c, &done) != REDIS_OK) {
            return;
        }
    }
}


/* from inside hiredis: freeing there would pull the context from under it */

static void
ngx_http_mesh_redis_close_later(ngx_http_mesh_redis_t *lk)
{
    if (lk->ac == NULL) {
        return;
    }

    lk->state = NGX_HTTP_MESH_REDIS_CLOSING;

    ngx_post_event(&lk->drop, &ngx_posted_events);
}


static void
ngx_http_mesh_redis_drop_handler(ngx_event_t *ev)
{
    ngx_http_mesh_redis_close(ev->data);
}


static void
ngx_http_mesh_redis_timer_handler(ngx_event_t *ev)
{
    ngx_msec_int_t                 left;
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_cmd_t     *cmd;
    ngx_http_mesh_redis_worker_t  *w;

    lk = ev->data;
    w = ngx_http_mesh_redis_worker;

    switch (lk->state) {

    case NGX_HTTP_MESH_REDIS_IDLE:
        ngx_http_mesh_redis_connect(lk);
        return;

    case NGX_HTTP_MESH_REDIS_CONNECTING:
    case NGX_HTTP_MESH_REDIS_HANDSHAKE:
        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V timed out "
                                 "while %s", lk->name, &w->target,
                                 lk->state == NGX_HTTP_MESH_REDIS_CONNECTING
                                 ? "connecting" : "in handshake");
        ngx_http_mesh_redis_close(lk);
        return;

    case NGX_HTTP_MESH_REDIS_READY:
        if (ngx_queue_empty(&lk->pending)) {
            return;
        }

        cmd = ngx_queue_data(ngx_queue_head(&lk->pending),
                             ngx_http_mesh_redis_cmd_t, queue);

        left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

        if (left > 0) {
            ngx_add_timer(ev, (ngx_msec_t) left);
            return;
        }

        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V: no reply "
                                 "within %M ms", lk->name, &w->target,
                                 w->timeout);
        ngx_http_mesh_redis_close(lk);
        return;

    default:
        /* closing: the posted drop follows */
        return;
    }
}


static void
ngx_http_mesh_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t       *c;
    ngx_http_mesh_redis_t  *lk;

    c = rev->data;
    lk = c->data;

    if (c->close) {
        /* the worker's shutdown timeout: go, and stay gone (ngx_exiting) */
        ngx_http_mesh_redis_close(lk);
        return;
    }

    redisAsyncHandleRead(lk->ac);
}


static void
ngx_http_mesh_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t       *c;
    ngx_http_mesh_redis_t  *lk;

    c = wev->data;
    lk = c->data;

    /* hiredis asks for the write event again only when the socket is full */
    lk->writing = 1;
    redisAsyncHandleWrite(lk->ac);
    lk->writing = 0;
}


static void
ngx_http_mesh_redis_add_read(void *privdata)
{
    ngx_http_mesh_redis_event(privdata, 0, 1);
}


static void
ngx_http_mesh_redis_del_read(void *privdata)
{
    ngx_http_mesh_redis_event(privdata, 0, 0);
}


/*
 * A command of a connected link is written at the end of the event loop's
 * turn (a posted event), not once epoll says the socket is writable: the
 * commands of every heartbeat a turn handles leave in one write(), with no
 * epoll_ctl() to ask for the write event and another to drop it.  The
 * event itself is asked for while connecting and when a write left data
 * behind (a full socket).
 */

static void
ngx_http_mesh_redis_add_write(void *privdata)
{
    ngx_http_mesh_redis_t  *lk = privdata;

    if (lk->conn != NULL && !lk->writing && !lk->conn->write->active
        && (lk->ac->c.flags & REDIS_CONNECTED))
    {
        if (!lk->conn->write->posted) {
            ngx_post_event(lk->conn->write, &ngx_posted_events);
        }

        return;
    }

    ngx_http_mesh_redis_event(lk, 1, 1);
}


static void
ngx_http_mesh_redis_del_write(void *privdata)
{
    ngx_http_mesh_redis_event(privdata, 1, 0);
}


/*
 * hiredis expects level-triggered events (it reads at most 16k per call and
 * adds/deletes interest itself), so they are asked for as such even where
 * nginx would use edge-triggered ones.
 */

static void
ngx_http_mesh_redis_event(ngx_http_mesh_redis_t *lk, ngx_uint_t write,
    ngx_uint_t add)
{
    ngx_int_t     event, rc;
    ngx_event_t  *ev;

    if (lk->conn == NULL) {
        return;
    }

    ev = write ? lk->conn->write : lk->conn->read;
    event = write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (add) {
        if (ev->active) {
            return;
        }

        rc = ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else {
        if (!ev->active) {
            return;
        }

        rc = ngx_del_event(ev, event, 0);
    }

    if (rc != NGX_OK) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                 "redis %s connection: cannot %s %s events",
                                 lk->name, add ? "add" : "delete",
                                 write ? "write" : "read");
        ngx_http_mesh_redis_close_later(lk);
    }
}


/*
 * hiredis' last word on a context, after the pending callbacks got their
 * NULL reply and before it closes the fd and frees the context.
 */

static void
ngx_http_mesh_redis_cleanup(void *privdata)
{
    ngx_uint_t                     stable;
    redisAsyncContext             *ac;
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_worker_t  *w;

    lk = privdata;
    ac = lk->ac;
    w = ngx_http_mesh_redis_worker;

    if (!lk->failed && !lk->stopping) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_WARN,
                                 "redis %s connection to %V %s: %s",
                                 lk->name, &w->target,
                                 lk->ready ? "lost" : "failed",
                                 ac->c.err ? ac->c.errstr
                                           : "connection closed");
    }

    ngx_http_mesh_redis_release(lk);

    /* a link that flaps right after its handshake keeps backing off */

    stable = lk->ready
             && ngx_current_msec - lk->ready_since
                >= NGX_HTTP_MESH_REDIS_BACKOFF_MAX;

    lk->ac = NULL;
    lk->state = NGX_HTTP_MESH_REDIS_IDLE;
    lk->ready = 0;

    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    if (lk->drop.posted) {
        ngx_delete_posted_event(&lk->drop);
    }

    if (stable) {
        lk->backoff = NGX_HTTP_MESH_REDIS_BACKOFF_MIN;
    }

    ngx_http_mesh_redis_retry(lk);
}


/* the fd stays hiredis': give back the nginx side only, never close it */

static void
ngx_http_mesh_redis_release(ngx_http_mesh_redis_t *lk)
{
    ngx_connection_t  *c;

    c = lk->conn;

    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    /* what tells the event loop that queued events for it are stale */
    c->fd = (ngx_socket_t) -1;

    lk->conn = NULL;
}


static void
ngx_http_mesh_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_worker_t  *w;

    lk = ac->data;
    w = ngx_http_mesh_redis_worker;

    if (status != REDIS_OK) {
        /* hiredis frees the context on return; the cleanup hook logs */
        lk->state = NGX_HTTP_MESH_REDIS_CLOSING;
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "mesh redis %s: connected to %V", lk->name, &w->target);

    lk->state = NGX_HTTP_MESH_REDIS_HANDSHAKE;

    if (ngx_http_mesh_redis_handshake(lk) != NGX_OK) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                 "redis %s connection to %V: cannot send "
                                 "handshake", lk->name, &w->target);
        ngx_http_mesh_redis_close_later(lk);
    }
}


/* sends the next handshake step, or declares the link ready after the last */

static ngx_int_t
ngx_http_mesh_redis_handshake(ngx_http_mesh_redis_t *lk)
{
    int                            argc;
    u_char                         db[NGX_INT_T_LEN];
    size_t                         argvlen[3];
    ngx_uint_t                     step;
    const char                    *argv[3];
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    while (lk->step < NGX_HTTP_MESH_REDIS_STEP_DONE) {

        step = lk->step++;
        argc = 0;

        switch (step) {

        case NGX_HTTP_MESH_REDIS_STEP_AUTH:
            if (w->password.len == 0) {
                continue;
            }

            argv[argc] = "AUTH";
            argvlen[argc++] = 4;

            if (w->user.len) {
                argv[argc] = (const char *) w->user.data;
                argvlen[argc++] = w->user.len;
            }

            argv[argc] = (const char *) w->password.data;
            argvlen[argc++] = w->password.len;
            break;

        case NGX_HTTP_MESH_REDIS_STEP_SELECT:
            if (w->db == 0) {
                continue;
            }

            argv[0] = "SELECT";
            argvlen[0] = 6;
            argv[1] = (const char *) db;
            argvlen[1] = ngx_sprintf(db, "%ui", w->db) - db;
            argc = 2;
            break;

        default:
            if (lk->subscriber) {
                return ngx_http_mesh_redis_subscribe(lk);
            }

            argv[0] = "PING";
            argvlen[0] = 4;
            argc = 1;
            break;
        }

        return ngx_http_mesh_redis_send_argv(lk,
                   ngx_http_mesh_redis_handshake_reply, (void *) step, argc,
                   argv, argvlen);
    }

    ngx_http_mesh_redis_ready(lk);

    return NGX_OK;
}


static void
ngx_http_mesh_redis_handshake_reply(ngx_http_mesh_redis_t *lk,
    redisReply *reply, void *data)
{
    ngx_uint_t                     step;
    ngx_http_mesh_redis_worker_t  *w;

    step = (ngx_uint_t) data;
    w = ngx_http_mesh_redis_worker;

    if (reply == NULL || lk->state != NGX_HTTP_MESH_REDIS_HANDSHAKE) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        switch (step) {

        case NGX_HTTP_MESH_REDIS_STEP_AUTH:
            ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                     "redis auth failed: %*s (%s "
                                     "connection to %V)", reply->len,
                                     reply->str, lk->name, &w->target);
            break;

        case NGX_HTTP_MESH_REDIS_STEP_SELECT:
            ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                     "redis select %ui failed: %*s (%s "
                                     "connection to %V)", w->db, reply->len,
                                     reply->str, lk->name, &w->target);
            break;

        default:
            ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                     "redis handshake failed: %*s (%s "
                                     "connection to %V)", reply->len,
                                     reply->str, lk->name, &w->target);
            break;
        }

        ngx_http_mesh_redis_close_later(lk);
        return;
    }

    if (ngx_http_mesh_redis_handshake(lk) != NGX_OK) {
        ngx_http_mesh_redis_fail(lk, NGX_LOG_ERR,
                                 "redis %s connection to %V: cannot send "
                                 "handshake", lk->name, &w->target);
        ngx_http_mesh_redis_close_later(lk);
    }
}


/* its callback lives in hiredis' channel table, not ours */

static ngx_int_t
ngx_http_mesh_redis_subscribe(ngx_http_mesh_redis_t *lk)
{
    int                            argc;
    size_t                         argvlen[NGX_HTTP_MESH_REDIS_LISTEN_MAX + 1];
    ngx_uint_t                     i;
    const char                    *argv[NGX_HTTP_MESH_REDIS_LISTEN_MAX + 1];
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argc = 1;

    if (lk->listener) {
        for (i = 0; i < w->listen.nchannels; i++) {
            argv[argc] = w->listen.channels[i];
            argvlen[argc++] = ngx_strlen(w->listen.channels[i]);
        }

    } else {
        argv[argc] = w->handlers.channel;
        argvlen[argc++] = ngx_strlen(w->handlers.channel);
    }

    return redisAsyncCommandArgv(lk->ac, ngx_http_mesh_redis_on_subscribe,
                                 lk, argc, argv, argvlen)
           == REDIS_OK ? NGX_OK : NGX_ERROR;
}


/* the subscription's confirmation, then every message on the channel */

static void
ngx_http_mesh_redis_on_subscribe(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_str_t                      msg, name;
    redisReply                    *reply, *kind, *chan, *body;
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_worker_t  *w;

    reply = r;
    lk = privdata;
    w = ngx_http_mesh_redis_worker;

    if (reply == NULL) {
        lk->state = NGX_HTTP_MESH_REDIS_CLOSING;
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        return;
    }

    kind = reply->element[0];
    chan = reply->element[1];
    body = reply->element[2];

    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING) {
        return;
    }

    if (kind->len == sizeof("subscribe") - 1
        && ngx_strncasecmp((u_char *) kind->str, (u_char *) "subscribe",
                           kind->len) == 0)
    {
        if (lk->state == NGX_HTTP_MESH_REDIS_HANDSHAKE) {
            lk->step = NGX_HTTP_MESH_REDIS_STEP_DONE;
            ngx_http_mesh_redis_ready(lk);
        }

        return;
    }

    if (kind->len != sizeof("message") - 1
        || ngx_strncasecmp((u_char *) kind->str, (u_char *) "message",
                           kind->len) != 0
        || body->type != REDIS_REPLY_STRING
        || lk->state != NGX_HTTP_MESH_REDIS_READY)
    {
        return;
    }

    if (body->len > NGX_HTTP_MESH_REDIS_MESSAGE_MAX) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "mesh registry: dropped a message of %uz bytes on "
                      "\"%*s\", the limit is %uz", body->len,
                      chan->len, chan->str,
                      (size_t) NGX_HTTP_MESH_REDIS_MESSAGE_MAX);
        return;
    }

    msg.data = (u_char *) body->str;
    msg.len = body->len;

    if (lk->listener) {
        name.data = (u_char *) chan->str;
        name.len = chan->len;

        w->listen.message(&name, &msg, w->listen.data);
        return;
    }

    w->handlers.message(&msg, w->handlers.data);
}


static void
ngx_http_mesh_redis_ready(ngx_http_mesh_redis_t *lk)
{
    ngx_http_mesh_redis_t         *other;
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    lk->state = NGX_HTTP_MESH_REDIS_READY;
    lk->ready = 1;
    lk->ready_since = ngx_current_msec;

    if (lk->connects++ == 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mesh registry: redis %s connection to %V ready",
                      lk->name, &w->target);

    } else {
        w->reconnects++;

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mesh registry: redis %s connection to %V restored "
                      "on attempt %ui", lk->name, &w->target,
                      lk->attempts);
    }

    lk->attempts = 0;
    lk->logged_len = 0;

    if (lk->listener) {
        w->listen.ready(w->listen.data);
        return;
    }

    other = lk->subscriber ? &w->command : &w->subscriber;

    /* a resync needs both: commands to read, the channel to stay current */

    if (other->state == NGX_HTTP_MESH_REDIS_READY) {
        w->handlers.ready(w->handlers.data);
    }
}


ngx_int_t
ngx_http_mesh_redis_command(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, const char *fmt, ...)
{
    int        len;
    char      *cmd;
    va_list    args;
    ngx_int_t  rv;

    if (!ngx_http_mesh_redis_accepts(rc)) {
        return NGX_DECLINED;
    }

    cmd = NULL;

    va_start(args, fmt);
    len = redisvFormatCommand(&cmd, fmt, args);
    va_end(args);

    if (len < 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mesh registry: cannot format redis command \"%s\"",
                      fmt);
        return NGX_ERROR;
    }

    rv = ngx_http_mesh_redis_submit(rc, cb, data, cmd, len);

    redisFreeCommand(cmd);

    return rv;
}


ngx_int_t
ngx_http_mesh_redis_command_argv(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    int        len;
    char      *cmd;
    ngx_int_t  rv;

    if (!ngx_http_mesh_redis_accepts(rc)) {
        return NGX_DECLINED;
    }

    if (argc < 1 || argv == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mesh registry: empty redis command");
        return NGX_ERROR;
    }

    cmd = ngx_http_mesh_redis_format_argv(argc, argv, argvlen, &len);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    rv = ngx_http_mesh_redis_submit(rc, cb, data, cmd, len);

    ngx_free(cmd);

    return rv;
}


ngx_int_t
ngx_http_mesh_redis_command_formatted(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, u_char *cmd, size_t len)
{
    if (!ngx_http_mesh_redis_accepts(rc)) {
        return NGX_DECLINED;
    }

    /* one longer than the limit is refused there, whatever its size_t */
    len = ngx_min(len, (size_t) NGX_HTTP_MESH_REDIS_COMMAND_MAX + 1);

    return ngx_http_mesh_redis_submit(rc, cb, data, (char *) cmd, (int) len);
}


static ngx_uint_t
ngx_http_mesh_redis_accepts(ngx_http_mesh_redis_t *lk)
{
    if (lk == NULL
        || lk->subscriber
        || lk->state != NGX_HTTP_MESH_REDIS_READY)
    {
        return 0;
    }

    if (lk->npending >= NGX_HTTP_MESH_REDIS_PENDING_MAX) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "mesh redis %s: too many commands pending", lk->name);
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_http_mesh_redis_submit(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, char *cmd, int len)
{
    if (len > NGX_HTTP_MESH_REDIS_COMMAND_MAX) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mesh registry: redis command of %d bytes is longer "
                      "than %d", len, NGX_HTTP_MESH_REDIS_COMMAND_MAX);
        return NGX_ERROR;
    }

    if (!ngx_http_mesh_redis_allowed((u_char *) cmd, len)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mesh registry: redis command refused: \"%*s\"",
                      ngx_min((size_t) len, 64), cmd);
        return NGX_ERROR;
    }

    return ngx_http_mesh_redis_send(lk, handler, data, cmd, len);
}


/*
 * The formatted command is "*<argc>\r\n$<len>\r\n<name>\r\n...".  hiredis
 * asserts on a command without arguments, and the refused ones would turn
 * the shared connection into a pub/sub or monitor stream.
 */

static ngx_uint_t
ngx_http_mesh_redis_allowed(u_char *cmd, size_t len)
{
    u_char       *p, *last, *nl;
    size_t        n;
    ngx_int_t     size;
    const char  **name;

    last = cmd + len;

    if (len < 4 || cmd[0] != '*' || cmd[1] < '1' || cmd[1] > '9') {
        return 0;
    }

    nl = ngx_strlchr(cmd, last, '\n');

    if (nl == NULL || last - nl < 4 || nl[1] != '$') {
        return 0;
    }

    p = nl + 2;
    nl = ngx_strlchr(p, last, '\n');

    if (nl == NULL || nl - p < 2) {
        return 0;
    }

    size = ngx_atoi(p, nl - 1 - p);

    if (size == NGX_ERROR || size > last - nl - 1) {
        return 0;
    }

    p = nl + 1;
    n = (size_t) size;

    for (name = ngx_http_mesh_redis_refused; *name; name++) {
        if (n == ngx_strlen(*name)
            && ngx_strncasecmp(p, (u_char *) *name, n) == 0)
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_mesh_redis_send_argv(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    int        len;
    char      *cmd;
    ngx_int_t  rv;

    cmd = ngx_http_mesh_redis_format_argv(argc, argv, argvlen, &len);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    rv = ngx_http_mesh_redis_send(lk, handler, data, cmd, len);

    ngx_free(cmd);

    return rv;
}


/*
 * The RESP that redisFormatCommandArgv() writes, without its sprintf()
 * per argument: in a heartbeat's four commands those were most of the
 * formatting.  NULL: out of memory, or longer than any command may be.
 */

static char *
ngx_http_mesh_redis_format_argv(int argc, const char **argv,
    const size_t *argvlen, int *len)
{
    int      i;
    size_t   n;
    u_char  *cmd, *p;

    n = 1 + NGX_SIZE_T_LEN + 2;

    /* each argument bounded, so the sum cannot wrap; submit() then
       refuses a command longer than NGX_HTTP_MESH_REDIS_COMMAND_MAX */

    for (i = 0; i < argc; i++) {
        if (argvlen[i] > NGX_HTTP_MESH_REDIS_COMMAND_MAX) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "mesh registry: redis command argument of %uz "
                          "bytes is longer than %d", argvlen[i],
                          NGX_HTTP_MESH_REDIS_COMMAND_MAX);
            return NULL;
        }

        n += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    /* NUL-terminated, as hiredis' own: it scans a SUBSCRIBE's arguments
       with strchr() up to the end */

    cmd = ngx_alloc(n + 1, ngx_cycle->log);
    if (cmd == NULL) {
        return NULL;
    }

    p = cmd;
    *p++ = '*';
    p = ngx_http_mesh_redis_digits(p, argc);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < argc; i++) {
        *p++ = '$';
        p = ngx_http_mesh_redis_digits(p, argvlen[i]);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = CR; *p++ = LF;
    }

    *p = '\0';
    *len = (int) (p - cmd);

    return (char *) cmd;
}


static u_char *
ngx_http_mesh_redis_digits(u_char *p, size_t n)
{
    u_char  *q, buf[NGX_SIZE_T_LEN];

    q = buf + NGX_SIZE_T_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, buf + NGX_SIZE_T_LEN - q);
}


static ngx_int_t
ngx_http_mesh_redis_send(ngx_http_mesh_redis_t *lk,
    ngx_http_mesh_redis_reply_pt handler, void *data, char *cmd, int len)
{
    ngx_http_mesh_redis_cmd_t     *c;
    ngx_http_mesh_redis_worker_t  *w;

    if (lk->ac == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_http_mesh_redis_worker;

    c = ngx_alloc(sizeof(ngx_http_mesh_redis_cmd_t), ngx_cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->link = lk;
    c->handler = handler;
    c->data = data;
    c->deadline = ngx_current_msec + w->timeout;

    if (redisAsyncFormattedCommand(lk->ac, ngx_http_mesh_redis_on_reply, c,
                                   cmd, len)
        != REDIS_OK)
    {
        ngx_free(c);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&lk->pending, &c->queue);
    lk->npending++;

    if (lk->state == NGX_HTTP_MESH_REDIS_READY && !lk->timer.timer_set) {
        ngx_add_timer(&lk->timer, w->timeout);
    }

    return NGX_OK;
}


static void
ngx_http_mesh_redis_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    void                          *data;
    ngx_http_mesh_redis_t         *lk;
    ngx_http_mesh_redis_cmd_t     *c;
    ngx_http_mesh_redis_reply_pt   handler;

    c = privdata;
    lk = c->link;
    handler = c->handler;
    data = c->data;

    ngx_queue_remove(&c->queue);
    lk->npending--;
    ngx_free(c);

    if (r == NULL) {
        /* hiredis is freeing the context: nothing can be sent on it now */
        lk->state = NGX_HTTP_MESH_REDIS_CLOSING;

    } else if (lk->npending == 0
               && lk->state == NGX_HTTP_MESH_REDIS_READY
               && lk->timer.timer_set)
    {
        ngx_del_timer(&lk->timer);
    }

    if (handler) {
        handler(lk, r, data);
    }
}


/*
 * Keeps the error for mesh_status and logs it, but only when it differs
 * from what this link logged last: an outage is one line, not one a retry.
 */

static void
ngx_http_mesh_redis_fail(ngx_http_mesh_redis_t *lk, ngx_uint_t level,
    const char *fmt, ...)
{
    u_char                        *p;
    size_t                         len;
    va_list                        args;
    ngx_http_mesh_redis_worker_t  *w;

    w = ngx_http_mesh_redis_worker;

    va_start(args, fmt);
    p = ngx_vslprintf(w->last_error,
                      w->last_error + NGX_HTTP_MESH_REDIS_ERROR_LEN, fmt,
                      args);
    va_end(args);

    len = p - w->last_error;
    w->last_error_len = len;
    lk->failed = 1;

    if (len == lk->logged_len && ngx_memcmp(lk->logged, w->last_error, len)
                                 == 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "mesh registry: %*s (again)", len, w->last_error);
        return;
    }

    ngx_memcpy(lk->logged, w->last_error, len);
    lk->logged_len = len;

    ngx_log_error(level, ngx_cycle->log, 0, "mesh registry: %*s",
                  len, w->last_error);
}
