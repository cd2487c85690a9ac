
/*
 * hiredis' async API on nginx's event loop: per worker, one connection for
 * commands and one subscribed to the mesh event channel, both reconnecting
 * on their own with backoff.  Nothing here ever blocks a worker.
 */


#ifndef _NGX_HTTP_MESH_REDIS_H_INCLUDED_
#define _NGX_HTTP_MESH_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>

#include "ngx_http_mesh_json.h"


/* a longer message on the channel is dropped with a warning */
#define NGX_HTTP_MESH_REDIS_MESSAGE_MAX  (256 * 1024)
/* a longer formatted command is refused (NGX_ERROR) */
#define NGX_HTTP_MESH_REDIS_COMMAND_MAX  (1024 * 1024)
/* commands awaiting a reply; one more is refused (NGX_DECLINED) */
#define NGX_HTTP_MESH_REDIS_PENDING_MAX  4096


typedef struct ngx_http_mesh_redis_s       ngx_http_mesh_redis_t;
typedef struct ngx_http_mesh_redis_addr_s  ngx_http_mesh_redis_addr_t;

/*
 * reply == NULL: error, timeout or disconnect before a reply.  The callback
 * is called exactly once per accepted command (NGX_OK), possibly from
 * exit_process with reply == NULL; the reply is freed after it returns.
 */
typedef void (*ngx_http_mesh_redis_reply_pt)(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);


struct ngx_http_mesh_redis_addr_s {
    ngx_str_t                     url;       /* as written in nginx.conf */
    ngx_str_t                     host;      /* empty for a unix socket */
    ngx_str_t                     ip;        /* numeric, resolved at start */
    in_port_t                     port;
    ngx_str_t                     unix_path;
    ngx_uint_t                    db;
    ngx_str_t                     user;
    ngx_str_t                     password;
    ngx_msec_t                    timeout;   /* connect+handshake, command */
};


/*
 * config time: redis://[[user]:password@]host[:port][/db] or unix:/path;
 * errors are logged without the password
 */
ngx_int_t ngx_http_mesh_redis_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_mesh_redis_addr_t *addr);
/* config time (may block): host to a numeric addr->ip, limits checked */
ngx_int_t ngx_http_mesh_redis_resolve(ngx_conf_t *cf,
    ngx_http_mesh_redis_addr_t *addr);

/*
 * What the layer above hears from the adapter: every message on the
 * subscribed channel, and "ready" each time both connections are up (again).
 */
typedef struct {
    const char                   *channel;   /* subscribed, static text */
    void                        (*message)(ngx_str_t *msg, void *data);
    void                        (*ready)(void *data);
    void                         *data;
} ngx_http_mesh_redis_handlers_t;


/*
 * The listener: a subscription of its own to a few channels, for as long
 * as the layer above wants it.  message gets the channel's name; ready is
 * called each time the subscription is (again) in place.
 */
#define NGX_HTTP_MESH_REDIS_LISTEN_MAX  4

typedef struct {
    const char                   *channels[NGX_HTTP_MESH_REDIS_LISTEN_MAX];
    ngx_uint_t                    nchannels;
    void                        (*message)(ngx_str_t *channel,
                                      ngx_str_t *msg, void *data);
    void                        (*ready)(void *data);
    void                         *data;
} ngx_http_mesh_redis_listen_t;


/* init_process / exit_process; addr NULL: no Redis in this config */
ngx_int_t ngx_http_mesh_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_mesh_redis_addr_t *addr,
    ngx_http_mesh_redis_handlers_t *handlers);
void ngx_http_mesh_redis_exit_worker(ngx_cycle_t *cycle);

/* this worker's command connection, NULL when no mesh_registry is set */
ngx_http_mesh_redis_t *ngx_http_mesh_redis_commands(void);
ngx_uint_t ngx_http_mesh_redis_subscribed(void);
ngx_uint_t ngx_http_mesh_redis_connected(ngx_http_mesh_redis_t *rc);
/* commands sent on this worker's command link, their replies not in */
ngx_uint_t ngx_http_mesh_redis_pending(void);

/*
 * NGX_OK: the listener connects (or already is); NGX_DECLINED: no Redis.
 * unlisten closes it; never call it from inside a listener callback.
 */
ngx_int_t ngx_http_mesh_redis_listen(ngx_http_mesh_redis_listen_t *listen);
void ngx_http_mesh_redis_unlisten(void);
ngx_uint_t ngx_http_mesh_redis_listening(void);

/*
 * NGX_OK: queued, cb will be called; NGX_DECLINED: not connected or too
 * many commands pending (answer 503); NGX_ERROR: bad command.  cb may be
 * NULL.  Pub/sub, MONITOR and protocol switching commands are refused.
 */
ngx_int_t ngx_http_mesh_redis_command(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, const char *fmt, ...);
ngx_int_t ngx_http_mesh_redis_command_argv(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, int argc,
    const char **argv, const size_t *argvlen);
/*
 * A command its caller wrote in RESP: exactly one command (hiredis waits
 * for one reply per call), copied before this returns.
 */
ngx_int_t ngx_http_mesh_redis_command_formatted(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_redis_reply_pt cb, void *data, u_char *cmd, size_t len);

/* {"connected":b,"subscribed":b,"reconnects":n,"pending":n,"last_error":s},
 * or null without mesh_registry */
void ngx_http_mesh_redis_status_json(ngx_http_mesh_json_t *w);


#endif /* _NGX_HTTP_MESH_REDIS_H_INCLUDED_ */
