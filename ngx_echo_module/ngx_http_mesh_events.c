
/*
 * Building and publishing mesh events.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_parse.h"
#include "ngx_http_mesh_redis.h"


#define NGX_HTTP_MESH_EVENTS_FLUSH  10        /* ms */
#define NGX_HTTP_MESH_LINGER        50        /* ms */
#define NGX_HTTP_MESH_EVENTS_SIZE   4096      /* a batch's first buffer */
#define NGX_HTTP_MESH_EVENTS_EACH   60        /* s, after a refused EVAL */

/*
 * A flush sends its task events as one EVAL of this script: one PUBLISH
 * per event, in their order, on the channel of ARGV[1].  One command to
 * format and one reply to read for the whole batch, where one PUBLISH
 * each cost a command and a reply per event.
 *
 * Not CLIENT REPLY OFF ... ON around plain PUBLISHes: where Redis refuses
 * CLIENT (an ACL, rename-command), each PUBLISH answers, and hiredis
 * aborts the worker on a reply that no command waits for.  A refused EVAL
 * is one error reply: the batch then goes as one PUBLISH each (every
 * PUBLISH of a batch is to the same channel, so a script that ran has
 * published all or, refused at its first, none).
 */
#define NGX_HTTP_MESH_EVENTS_SCRIPT                                           \
    "for i = 2, #ARGV do redis.call('PUBLISH', ARGV[1], ARGV[i]) end"

/* room before the arguments for the command's head, written at the flush */
#define NGX_HTTP_MESH_EVENTS_HEAD                                             \
    (64 + sizeof(NGX_HTTP_MESH_EVENTS_SCRIPT)                                 \
     + sizeof(NGX_HTTP_MESH_TASK_CHANNEL))

/* "$<len>\r\n" and "\r\n" around an event */
#define NGX_HTTP_MESH_EVENTS_ARG    (NGX_SIZE_T_LEN + 5)

#define NGX_HTTP_MESH_EVENTS_ROOM                                             \
    (NGX_HTTP_MESH_REDIS_COMMAND_MAX - NGX_HTTP_MESH_EVENTS_HEAD)


/*
 * The task events of the next flush, as the RESP bulk strings of their
 * command: size bytes follow this header, NGX_HTTP_MESH_EVENTS_HEAD of
 * them free for the command's head, then len bytes of arguments.
 */
typedef struct {
    size_t                         size;
    size_t                         len;
    ngx_uint_t                     n;
} ngx_http_mesh_events_batch_t;


#define ngx_http_mesh_events_args(b)                                          \
    ((u_char *) ((b) + 1) + NGX_HTTP_MESH_EVENTS_HEAD)


static void ngx_http_mesh_events_add(ngx_str_t *msg, ngx_log_t *log);
static u_char *ngx_http_mesh_events_bulk(u_char *p, u_char *data,
    size_t len);
static u_char *ngx_http_mesh_events_digits(u_char *p, size_t n);
static void ngx_http_mesh_events_eval(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_events_batch_t *b);
static void ngx_http_mesh_events_reply(ngx_http_mesh_redis_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mesh_events_each(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_events_batch_t *b);
static void ngx_http_mesh_events_timer_handler(ngx_event_t *ev);
static void ngx_http_mesh_linger_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_mesh_event_start(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    const char *kind)
{
    if (ngx_http_mesh_json_init(w, pool, 512) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_kcstr(w, "event", kind);
    ngx_http_mesh_json_kint(w, "ts", ngx_http_mesh_now_ms());

    return NGX_OK;
}


void
ngx_http_mesh_event_publish(ngx_http_mesh_json_t *w, ngx_log_t *log)
{
    ngx_str_t  msg;

    ngx_http_mesh_json_obj_end(w);

    if (ngx_http_mesh_json_result(w, &msg) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mesh: event too large, dropped");
        return;
    }

    ngx_http_mesh_event_send(&msg, log);
}


void
ngx_http_mesh_event_send(ngx_str_t *msg, ngx_log_t *log)
{
    ngx_http_mesh_redis_t  *rc;

    rc = ngx_http_mesh_redis_commands();

    if (rc == NULL || !ngx_http_mesh_redis_connected(rc)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "mesh: registry away, event dropped: %V", msg);
        return;
    }

    if (msg->len <= 15
        || ngx_strncmp(msg->data, "{\"event\":\"task.", 15) != 0)
    {
        (void) ngx_http_mesh_redis_command(rc, NULL, NULL, "PUBLISH %s %b",
                                           NGX_HTTP_MESH_EVENT_CHANNEL,
                                           msg->data, msg->len);
        return;
    }

    ngx_http_mesh_events_add(msg, log);
}


/*
 * Task events wait up to NGX_HTTP_MESH_EVENTS_FLUSH ms and go out
 * together: one write to Redis and one wakeup of it for many tasks,
 * instead of one per event.  A live feed does not notice 10 ms.
 */

static void
ngx_http_mesh_events_add(ngx_str_t *msg, ngx_log_t *log)
{
    u_char                        *p;
    size_t                         need, size;
    ngx_http_mesh_events_batch_t  *b, *nb;

    need = msg->len + NGX_HTTP_MESH_EVENTS_ARG;

    if (need > NGX_HTTP_MESH_EVENTS_ROOM) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mesh: event of %uz bytes is too large, dropped",
                      msg->len);
        return;
    }

    b = ngx_http_mesh_worker.events;

    if (b != NULL
        && (b->n == NGX_HTTP_MESH_EVENTS_BATCH
            || b->len + need > NGX_HTTP_MESH_EVENTS_ROOM))
    {
        ngx_http_mesh_events_flush();
        b = NULL;
    }

    if (b == NULL || NGX_HTTP_MESH_EVENTS_HEAD + b->len + need > b->size) {
        size = b ? b->size : NGX_HTTP_MESH_EVENTS_SIZE;

        while (NGX_HTTP_MESH_EVENTS_HEAD + (b ? b->len : 0) + need > size) {
            size *= 2;
        }

        nb = ngx_alloc(sizeof(ngx_http_mesh_events_batch_t) + size, log);
        if (nb == NULL) {
            return;
        }

        nb->size = size;
        nb->len = 0;
        nb->n = 0;

        if (b) {
            ngx_memcpy(ngx_http_mesh_events_args(nb),
                       ngx_http_mesh_events_args(b), b->len);
            nb->len = b->len;
            nb->n = b->n;
            ngx_free(b);
        }

        b = nb;
        ngx_http_mesh_worker.events = b;
    }

    p = ngx_http_mesh_events_args(b) + b->len;

    p = ngx_http_mesh_events_bulk(p, msg->data, msg->len);

    b->len = p - ngx_http_mesh_events_args(b);
    b->n++;

    if (!ngx_http_mesh_worker.events_timer.timer_set) {
        ngx_http_mesh_worker.events_timer.handler =
                                      ngx_http_mesh_events_timer_handler;
        ngx_http_mesh_worker.events_timer.data =
                                      &ngx_http_mesh_worker.timer_conn;
        ngx_http_mesh_worker.events_timer.log = ngx_cycle->log;
        ngx_add_timer(&ngx_http_mesh_worker.events_timer,
                      NGX_HTTP_MESH_EVENTS_FLUSH);
    }

    /* an exiting worker waits for its last events (a reload ends a stream) */
    ngx_http_mesh_worker.events_timer.cancelable = ngx_exiting ? 0 : 1;
}


/* a RESP bulk string: $<len>CRLF<data>CRLF */

static u_char *
ngx_http_mesh_events_bulk(u_char *p, u_char *data, size_t len)
{
    *p++ = '$';
    p = ngx_http_mesh_events_digits(p, len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, data, len);
    *p++ = CR; *p++ = LF;

    return p;
}


static u_char *
ngx_http_mesh_events_digits(u_char *p, size_t n)
{
    u_char  *s, *e, c;

    s = p;

    do {
        *p++ = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    for (e = p - 1; s < e; s++, e--) {
        c = *s;
        *s = *e;
        *e = c;
    }

    return p;
}


/*
 * An exiting worker leaves as soon as no timer holds it, before its last
 * Redis writes go out: hold it a moment after sending them.
 */

void
ngx_http_mesh_events_linger(void)
{
    if (!ngx_exiting || ngx_http_mesh_worker.linger_timer.timer_set) {
        return;
    }

    ngx_http_mesh_worker.linger_timer.data = &ngx_http_mesh_worker.timer_conn;
    ngx_http_mesh_worker.linger_timer.handler = ngx_http_mesh_linger_handler;
    ngx_http_mesh_worker.linger_timer.log = ngx_cycle->log;
    ngx_http_mesh_worker.linger_timer.cancelable = 0;

    ngx_add_timer(&ngx_http_mesh_worker.linger_timer, NGX_HTTP_MESH_LINGER);
}


static void
ngx_http_mesh_linger_handler(ngx_event_t *ev)
{
}


static void
ngx_http_mesh_events_timer_handler(ngx_event_t *ev)
{
    ngx_http_mesh_events_flush();
}


/* sends what waits; also at worker exit, so nothing is lost or leaked */

void
ngx_http_mesh_events_flush(void)
{
    ngx_http_mesh_redis_t         *rc;
    ngx_http_mesh_worker_t        *w;
    ngx_http_mesh_events_batch_t  *b;

    w = &ngx_http_mesh_worker;

    if (w->events_timer.timer_set) {
        ngx_del_timer(&w->events_timer);
    }

    b = w->events;

    if (b == NULL) {
        return;
    }

    w->events = NULL;

    rc = ngx_http_mesh_redis_commands();

    if (rc && ngx_http_mesh_redis_connected(rc)) {
        if (ngx_time() >= w->events_each) {
            /* the batch is the reply handler's now */
            ngx_http_mesh_events_eval(rc, b);
            b = NULL;

        } else {
            ngx_http_mesh_events_each(rc, b);
        }
    }

    ngx_free(b);

    ngx_http_mesh_events_linger();
}


static void
ngx_http_mesh_events_eval(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_events_batch_t *b)
{
    u_char  *p, *args;
    size_t   len;
    u_char   head[NGX_HTTP_MESH_EVENTS_HEAD];

    p = head;
    *p++ = '*';
    p = ngx_http_mesh_events_digits(p, 4 + b->n);
    *p++ = CR; *p++ = LF;
    p = ngx_http_mesh_events_bulk(p, (u_char *) "EVAL", 4);
    p = ngx_http_mesh_events_bulk(p, (u_char *) NGX_HTTP_MESH_EVENTS_SCRIPT,
                                  sizeof(NGX_HTTP_MESH_EVENTS_SCRIPT) - 1);
    p = ngx_http_mesh_events_bulk(p, (u_char *) "0", 1);
    p = ngx_http_mesh_events_bulk(p, (u_char *) NGX_HTTP_MESH_TASK_CHANNEL,
                                  sizeof(NGX_HTTP_MESH_TASK_CHANNEL) - 1);

    len = p - head;
    args = ngx_http_mesh_events_args(b);
    ngx_memcpy(args - len, head, len);

    if (ngx_http_mesh_redis_command_formatted(rc,
            ngx_http_mesh_events_reply, b, args - len, len + b->len)
        != NGX_OK)
    {
        /* refused like a PUBLISH would be: pending full or link gone */
        ngx_free(b);
    }
}


static void
ngx_http_mesh_events_reply(ngx_http_mesh_redis_t *rc, redisReply *reply,
    void *data)
{
    ngx_http_mesh_events_batch_t  *b = data;

    ngx_http_mesh_worker_t  *w;

    w = &ngx_http_mesh_worker;

    /*
     * NULL: the link went before a reply, and the events with it, as
     * PUBLISHes in flight would.  An error: the script did not run; its
     * events go again, one PUBLISH each (after batches sent since, if
     * any: the only change of order, and only then).
     */

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        if (ngx_time() >= w->events_each) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "mesh: redis refused the EVAL that publishes "
                          "task events (\"%*s\"), one PUBLISH each for "
                          "the next %d s", (size_t) reply->len, reply->str,
                          NGX_HTTP_MESH_EVENTS_EACH);
        }

        w->events_each = ngx_time() + NGX_HTTP_MESH_EVENTS_EACH;

        ngx_http_mesh_events_each(rc, b);
    }

    ngx_free(b);
}


/*
 * One PUBLISH per event, its head written just before the event's
 * argument: over the batch's free room, then over events already sent
 * (hiredis copied each command when it took it).
 */

static void
ngx_http_mesh_events_each(ngx_http_mesh_redis_t *rc,
    ngx_http_mesh_events_batch_t *b)
{
    u_char      *p, *arg, *h;
    size_t       len, hlen;
    ngx_uint_t   i;
    u_char       head[NGX_HTTP_MESH_EVENTS_HEAD];

    h = ngx_cpymem(head, "*3" CRLF, sizeof("*3" CRLF) - 1);
    h = ngx_http_mesh_events_bulk(h, (u_char *) "PUBLISH", 7);
    h = ngx_http_mesh_events_bulk(h, (u_char *) NGX_HTTP_MESH_TASK_CHANNEL,
                                  sizeof(NGX_HTTP_MESH_TASK_CHANNEL) - 1);
    hlen = h - head;

    p = ngx_http_mesh_events_args(b);

    for (i = 0; i < b->n; i++) {
        arg = p;
        len = 0;

        for (p++; *p != CR; p++) {
            len = len * 10 + (*p - '0');
        }

        p += 2 + len + 2;

        ngx_memcpy(arg - hlen, head, hlen);

        (void) ngx_http_mesh_redis_command_formatted(rc, NULL, NULL,
                                                     arg - hlen,
                                                     hlen + (p - arg));
    }
}


void
ngx_http_mesh_event_node(const char *kind, const char *node_id,
    ngx_log_t *log)
{
    ngx_pool_t            *pool;
    ngx_http_mesh_json_t   w;

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_mesh_event_start(&w, pool, kind) == NGX_OK) {
        ngx_http_mesh_json_kcstr(&w, "node_id", node_id);
        ngx_http_mesh_event_publish(&w, log);
    }

    ngx_destroy_pool(pool);
}


void
ngx_http_mesh_event_caps_fields(ngx_http_mesh_json_t *w,
    ngx_http_mesh_caps_t *caps)
{
    ngx_uint_t              i;
    ngx_http_mesh_model_t  *m;

    ngx_http_mesh_json_kcstr(w, "node_id", caps->node_id);
    ngx_http_mesh_json_kcstr(w, "host", caps->host);
    ngx_http_mesh_json_kint(w, "port", caps->port);

    ngx_http_mesh_json_key(w, "models");
    ngx_http_mesh_json_arr_start(w);

    for (i = 0; i < caps->nmodels; i++) {
        m = &caps->models[i];

        ngx_http_mesh_json_obj_start(w);
        ngx_http_mesh_json_kcstr(w, "name", m->name);
        ngx_http_mesh_json_kcstr(w, "type", ngx_http_mesh_type_name(m->type));
        ngx_http_mesh_json_kdouble(w, "size_gb", m->size_gb);
        ngx_http_mesh_json_kbool(w, "loaded", m->loaded);
        ngx_http_mesh_json_obj_end(w);
    }

    ngx_http_mesh_json_arr_end(w);

    ngx_http_mesh_json_key(w, "hardware");
    ngx_http_mesh_json_obj_start(w);
    ngx_http_mesh_json_kdouble(w, "ram_total_gb", caps->ram_total_gb);
    ngx_http_mesh_json_kdouble(w, "ram_free_gb", caps->ram_free_gb);
    ngx_http_mesh_json_kbool(w, "has_gpu", caps->has_gpu);
    ngx_http_mesh_json_kdouble(w, "gpu_vram_gb", caps->gpu_vram_gb);
    ngx_http_mesh_json_obj_end(w);

    ngx_http_mesh_json_kcstr(w, "status",
        ngx_http_mesh_status_name(caps->status));
    ngx_http_mesh_json_kint(w, "active_tasks", caps->active_tasks);
    ngx_http_mesh_json_kint(w, "max_tasks", caps->max_tasks);
    ngx_http_mesh_json_kint(w, "queued", caps->queued);
    ngx_http_mesh_json_kdouble(w, "tokens_per_sec", caps->tokens_per_sec);
    ngx_http_mesh_json_kcstr(w, "agent_version", caps->agent_version);
}
