/*
 * Every request is judged in this order, and nothing reaches Ollama until
 * all checks pass: route (404, management 403, method 405), mesh
 * credential (401), draining (503), declared size (413), load (503), then
 * with the body: size (413), JSON (400 with the error position), model
 * present (400 missing, 404 unknown, 503 if Ollama is down), a task slot
 * (503 busy).  A refusal decided before the body arrives is sent once
 * the body has been read and dropped: libmicrohttpd closes a connection
 * whose body is unread, the unread bytes make the kernel answer with a
 * reset, and the caller (nginx) then sees a failed node instead of the
 * status.  Only a client that asked "Expect: 100-continue" (it waits
 * before sending the body) or declared a body past the discard limit is
 * answered at once.  Bodies held in memory are capped in total
 * (max_tasks x max_body), so connections uploading at once cannot
 * exhaust the node.
 */

#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sign.h"
#include "buf.h"
#include "inventory.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "report.h"
#include "runtime.h"
#include "server.h"
#include "task_body.h"


#define SERVER_STACK        (512 * 1024)
#define SERVER_IDLE_SECS    120
#define SERVER_BLOCK        8192
#define SERVER_MSG_MAX      400
#define SERVER_URL_MAX      512
#define SERVER_REPORT_MAX   (256 * 1024)
#define SERVER_DISCARD_MAX  (32 * 1024 * 1024)


typedef enum {
    ROUTE_TASK = 0,
    ROUTE_HEALTH,
    ROUTE_CAPS,
    ROUTE_METRICS,
    ROUTE_FORBIDDEN,
    ROUTE_MOVED,
    ROUTE_RELAY_GET             /* relayed to Ollama as a GET */
} route_kind_t;


typedef struct {
    const char    *path;
    int            prefix;
    route_kind_t   kind;
    endpoint_t     ep;
} route_t;


typedef struct {
    conf_t          *conf;
    const route_t   *route;
    unsigned         status;
    unsigned         retry_after;
    char             msg[SERVER_MSG_MAX];
    char             url[SERVER_URL_MAX];   /* of a ROUTE_RELAY_GET */
    buf_t            body;
    task_body_t      tb;
    int              tb_ready;
    size_t           discarded;
    size_t           reserved;
    double           t0;
} req_t;


static enum MHD_Result server_on_request(void *cls,
    struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *data, size_t *size, void **req_cls);
static void server_on_completed(void *cls, struct MHD_Connection *conn,
    void **req_cls, enum MHD_RequestTerminationCode toe);
static void server_on_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe);
static void server_on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static const route_t *route_find(const char *url);
static void req_reject(req_t *r, unsigned status, reject_t why,
    unsigned retry_after, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void req_check(req_t *r, struct MHD_Connection *conn,
    const char *url, const char *method);
static void req_take_body(req_t *r, const char *data, size_t size);
static int has_body(struct MHD_Connection *conn);
static int answer_at_once(struct MHD_Connection *conn, const req_t *r);
static size_t discard_max(const conf_t *c);
static int body_reserve(req_t *r, size_t total);
static enum MHD_Result reply_oom(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result reply(struct MHD_Connection *conn, const conf_t *c,
    unsigned status, const char *type, const char *body, size_t len,
    unsigned retry_after);
static enum MHD_Result reply_error(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result serve_health(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result serve_caps(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result serve_metrics(struct MHD_Connection *conn,
    req_t *r);
static enum MHD_Result serve_task(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result serve_moved(struct MHD_Connection *conn, req_t *r);
static enum MHD_Result serve_relay(struct MHD_Connection *conn, req_t *r,
    const char *path, char *body, size_t len);
static enum MHD_Result serve_relay_get(struct MHD_Connection *conn,
    req_t *r);
static int route_is_openai(const route_t *rt);


static struct MHD_Daemon  *server_daemon;
/* connections open now (libmicrohttpd tells STARTED and CLOSED) */
static unsigned            server_open;

static const route_t  routes[] = {
    { "/api/generate",    0, ROUTE_TASK,      EP_GENERATE },
    { "/api/chat",        0, ROUTE_TASK,      EP_CHAT },
    { "/api/embed",       0, ROUTE_TASK,      EP_EMBED },
    /* Ollama's own OpenAI-compatible API */
    { "/v1/chat/completions", 0, ROUTE_TASK,  EP_OA_CHAT },
    { "/v1/completions",  0, ROUTE_TASK,      EP_OA_COMPLETIONS },
    { "/v1/embeddings",   0, ROUTE_TASK,      EP_OA_EMBEDDINGS },
    { "/v1/models",       1, ROUTE_RELAY_GET, EP_OA_MODELS },
    { "/healthz",         0, ROUTE_HEALTH,    EP_COUNT },
    { AGENT_CAPS_PATH,    0, ROUTE_CAPS,      EP_COUNT },
    /* the old path: /v1 belongs to Ollama's OpenAI-compatible API */
    { "/v1/capabilities", 0, ROUTE_MOVED,     EP_COUNT },
    { "/metrics",         0, ROUTE_METRICS,   EP_COUNT },
    { "/api/pull",        0, ROUTE_FORBIDDEN, EP_COUNT },
    { "/api/push",        0, ROUTE_FORBIDDEN, EP_COUNT },
    { "/api/create",      0, ROUTE_FORBIDDEN, EP_COUNT },
    { "/api/delete",      0, ROUTE_FORBIDDEN, EP_COUNT },
    { "/api/copy",        0, ROUTE_FORBIDDEN, EP_COUNT },
    { "/api/blobs",       1, ROUTE_FORBIDDEN, EP_COUNT },
    { NULL, 0, ROUTE_TASK, EP_COUNT }
};


int
server_listen(const conf_t *c, char *err, size_t errlen)
{
    struct addrinfo   hints, *res = NULL;
    char              port[8];
    int               fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", c->listen_port);

    rc = getaddrinfo(c->listen_host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s:%u: %s", c->listen_host,
                 c->listen_port, gai_strerror(rc));
        return -1;
    }

    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, res->ai_addr, res->ai_addrlen) != 0
        || listen(fd, 128) != 0)
    {
        snprintf(err, errlen, "listen %s:%u: %m", c->listen_host,
                 c->listen_port);
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }

    freeaddrinfo(res);
    return fd;
}


int
server_start(int fd, const conf_t *c)
{
    /* see relay.c for why a thread per connection */
    server_daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
        | MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, server_on_request, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, server_on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) c->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) SERVER_IDLE_SECS,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) SERVER_STACK,
        MHD_OPTION_NOTIFY_COMPLETED, server_on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, server_on_connection, NULL,
        MHD_OPTION_END);

    return server_daemon != NULL ? 0 : -1;
}


void
server_stop(void)
{
    if (server_daemon != NULL) {
        MHD_stop_daemon(server_daemon);
        server_daemon = NULL;
    }
}


static void
server_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char  line[512];
    size_t len;

    (void) cls;

    vsnprintf(line, sizeof(line), fmt, ap);
    len = strlen(line);
    while (len > 0 && line[len - 1] == '\n') {
        line[--len] = '\0';
    }

    log_debug("http: %s", line);
}


static const route_t *
route_find(const char *url)
{
    const route_t  *rt;
    size_t          len;

    for (rt = routes; rt->path != NULL; rt++) {
        len = strlen(rt->path);
        if (strncmp(url, rt->path, len) == 0
            && (url[len] == '\0' || (rt->prefix && url[len] == '/')))
        {
            return rt;
        }
    }

    return NULL;
}


static void
req_reject(req_t *r, unsigned status, reject_t why, unsigned retry_after,
    const char *fmt, ...)
{
    va_list  ap;

    if (r->status != 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);

    r->status = status;
    r->retry_after = retry_after;
    metrics_reject(why);

    /* the body is no longer needed: stop holding it */
    buf_free(&r->body);
}


static int
has_body(struct MHD_Connection *conn)
{
    const char  *len;

    len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len != NULL) {
        return strtoull(len, NULL, 10) > 0;
    }

    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
               MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}


static size_t
discard_max(const conf_t *c)
{
    return c->max_body > SERVER_DISCARD_MAX ? c->max_body
                                            : SERVER_DISCARD_MAX;
}


/* a refused request whose body cannot be read first: answer now */
static int
answer_at_once(struct MHD_Connection *conn, const req_t *r)
{
    const char  *v;

    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_EXPECT);
    if (v != NULL && strcasecmp(v, "100-continue") == 0) {
        return 1;
    }

    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_CONTENT_LENGTH);
    return v != NULL && strtoull(v, NULL, 10) > discard_max(r->conf);
}


/* holds total bytes of the body against the node's cap */
static int
body_reserve(req_t *r, size_t total)
{
    const conf_t  *c = r->conf;

    if (total <= r->reserved) {
        return 0;
    }

    if (!runtime_body_reserve(total - r->reserved,
                              (size_t) c->max_tasks * c->max_body))
    {
        req_reject(r, MHD_HTTP_SERVICE_UNAVAILABLE, REJECT_UPLOAD_MEMORY, 1,
                   "node %s is busy: %zu bytes of request bodies held, "
                   "the most it holds", c->node_id, runtime_body_bytes());
        return -1;
    }

    r->reserved = total;
    return 0;
}


static void
req_check(req_t *r, struct MHD_Connection *conn, const char *url,
    const char *method)
{
    const conf_t  *c = r->conf;
    const char    *auth, *len, *why = NULL;
    int            is_get;

    r->route = route_find(url);
    if (r->route == NULL) {
        req_reject(r, MHD_HTTP_NOT_FOUND, REJECT_NOT_FOUND, 0,
                   "not found");
        return;
    }

    if (r->route->kind == ROUTE_FORBIDDEN) {
        req_reject(r, MHD_HTTP_FORBIDDEN, REJECT_FORBIDDEN, 0,
                   "%s is an Ollama management endpoint: never relayed",
                   r->route->path);
        return;
    }

    is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0
             || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    if (r->route->kind == ROUTE_TASK
        ? strcmp(method, MHD_HTTP_METHOD_POST) != 0 : !is_get)
    {
        req_reject(r, MHD_HTTP_METHOD_NOT_ALLOWED, REJECT_METHOD, 0,
                   "method %s not allowed on %s", method, r->route->path);
        return;
    }

    if (r->route->kind == ROUTE_HEALTH || r->route->kind == ROUTE_MOVED) {
        return;
    }

    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_AUTHORIZATION);
    if (sign_task_ok(auth, c->secret, c->secret_len, c->node_id,
                     time(NULL), &why) != 0)
    {
        req_reject(r, MHD_HTTP_UNAUTHORIZED, REJECT_AUTH, 0,
                   "%s (Authorization: " SIGN_TASK_SCHEME
                   " <ts>:<task id>:<signature>)", why);
        return;
    }

    if (r->route->kind == ROUTE_RELAY_GET) {
        if (strlen(url) >= sizeof(r->url)) {
            req_reject(r, MHD_HTTP_URI_TOO_LONG, REJECT_NOT_FOUND, 0,
                       "URL longer than %zu bytes", sizeof(r->url) - 1);
            return;
        }
        snprintf(r->url, sizeof(r->url), "%s", url);
        return;
    }

    if (r->route->kind != ROUTE_TASK) {
        return;
    }

    if (runtime_draining()) {
        req_reject(r, MHD_HTTP_SERVICE_UNAVAILABLE, REJECT_DRAINING, 5,
                   "node %s is draining", c->node_id);
        return;
    }

    len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len != NULL && strtoull(len, NULL, 10) > c->max_body) {
        req_reject(r, MHD_HTTP_CONTENT_TOO_LARGE, REJECT_TOO_LARGE, 0,
                   "request body larger than %zu bytes", c->max_body);
        return;
    }

    if (runtime_active() >= c->max_tasks) {
        req_reject(r, MHD_HTTP_SERVICE_UNAVAILABLE, REJECT_BUSY, 1,
                   "node %s is busy: %u of %u tasks running", c->node_id,
                   runtime_active(), c->max_tasks);
        return;
    }

    /* a declared length is held at once, so a refusal comes first */
    if (len != NULL && body_reserve(r, strtoull(len, NULL, 10)) != 0) {
        return;
    }

    buf_init(&r->body, c->max_body);
    if (task_body_init(&r->tb) != 0) {
        req_reject(r, MHD_HTTP_INTERNAL_SERVER_ERROR, REJECT_NO_MEMORY, 0,
                   "out of memory");
        return;
    }
    r->tb_ready = 1;
}


static void
req_take_body(req_t *r, const char *data, size_t size)
{
    char  err[SERVER_MSG_MAX];

    /* a refused request's body, or one sent with a GET: dropped */
    if (r->status != 0 || r->route->kind != ROUTE_TASK) {
        r->discarded += size;
        return;
    }

    if (r->body.len + size > r->conf->max_body) {
        req_reject(r, MHD_HTTP_CONTENT_TOO_LARGE, REJECT_TOO_LARGE, 0,
                   "request body larger than %zu bytes",
                   r->conf->max_body);
        r->discarded += size;
        return;
    }

    if (body_reserve(r, r->body.len + size) != 0) {
        r->discarded += size;
        return;
    }

    if (buf_append(&r->body, data, size) != 0) {
        req_reject(r, MHD_HTTP_INTERNAL_SERVER_ERROR, REJECT_NO_MEMORY, 0,
                   "out of memory");
        r->discarded += size;
        return;
    }

    if (task_body_feed(&r->tb, data, size) != 0) {
        task_body_error(&r->tb, err, sizeof(err));
        req_reject(r, MHD_HTTP_BAD_REQUEST, REJECT_BAD_JSON, 0, "%s", err);
    }
}


static enum MHD_Result
server_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **req_cls)
{
    req_t  *r = *req_cls;

    (void) cls;
    (void) version;

    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return MHD_NO;
        }
        *req_cls = r;

        r->t0 = relay_now();
        r->conf = runtime_conf();
        buf_init(&r->body, 0);

        req_check(r, conn, url, method);

        if (r->status != 0 && has_body(conn) && answer_at_once(conn, r)) {
            return reply_error(conn, r);
        }
        return MHD_YES;
    }

    if (*size > 0) {
        req_take_body(r, data, *size);
        *size = 0;

        /* a dropped body is read so the client sees the answer; one
         * that goes on past the discard limit is cut */
        return r->discarded > discard_max(r->conf) ? MHD_NO : MHD_YES;
    }

    if (r->status != 0) {
        return reply_error(conn, r);
    }

    switch (r->route->kind) {
    case ROUTE_HEALTH:
        return serve_health(conn, r);
    case ROUTE_CAPS:
        return serve_caps(conn, r);
    case ROUTE_METRICS:
        return serve_metrics(conn, r);
    case ROUTE_MOVED:
        return serve_moved(conn, r);
    case ROUTE_RELAY_GET:
        return serve_relay_get(conn, r);
    default:
        return serve_task(conn, r);
    }
}


static void
server_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
    req_t  *r = *req_cls;

    (void) cls;
    (void) conn;
    (void) toe;

    if (r == NULL) {
        return;
    }

    if (r->tb_ready) {
        task_body_free(&r->tb);
    }
    buf_free(&r->body);
    runtime_body_release(r->reserved);
    runtime_conf_put(r->conf);
    free(r);
    *req_cls = NULL;
}


/*
 * When the last connection is gone, the memory its thread, its curl
 * handles and libmicrohttpd's pool held goes back to the system
 * (malloc_trim; see MAIN_ARENAS in main.c), so an idle agent after a
 * burst is close to a fresh one.  Once per burst, not per connection.
 */
static void
server_on_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    (void) cls;
    (void) conn;
    (void) socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        __atomic_add_fetch(&server_open, 1, __ATOMIC_RELAXED);
        return;
    }

    if (__atomic_sub_fetch(&server_open, 1, __ATOMIC_RELAXED) == 0) {
        (void) malloc_trim(0);
    }
}


static enum MHD_Result
reply(struct MHD_Connection *conn, const conf_t *c, unsigned status,
    const char *type, const char *body, size_t len, unsigned retry_after)
{
    struct MHD_Response  *resp = NULL;
    enum MHD_Result       ret;
    char                  secs[16];

    resp = MHD_create_response_from_buffer(len, (void *) body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Mesh-Node", c->node_id);

    if (retry_after > 0) {
        snprintf(secs, sizeof(secs), "%u", retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }

    if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                SIGN_TASK_SCHEME " realm=\"echo-mesh\"");
    }

    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}


static enum MHD_Result
reply_error(struct MHD_Connection *conn, req_t *r)
{
    buf_t            b;
    enum MHD_Result  ret;

    buf_init(&b, SERVER_MSG_MAX * 2);
    if ((route_is_openai(r->route)
         ? buf_openai_error(&b, r->status, r->msg)
         : buf_json_error(&b, r->msg)) != 0)
    {
        buf_free(&b);
        return MHD_NO;
    }

    log_debug("refused %s: %u %s", r->route ? r->route->path : "?",
              r->status, r->msg);

    ret = reply(conn, r->conf, r->status, "application/json", b.data, b.len,
                r->retry_after);
    buf_free(&b);
    return ret;
}


/* out of memory while answering: say so rather than drop the connection */
static enum MHD_Result
reply_oom(struct MHD_Connection *conn, req_t *r)
{
    req_reject(r, MHD_HTTP_INTERNAL_SERVER_ERROR, REJECT_NO_MEMORY, 0,
               "out of memory");
    return reply_error(conn, r);
}


static enum MHD_Result
serve_moved(struct MHD_Connection *conn, req_t *r)
{
    struct MHD_Response  *resp = NULL;
    enum MHD_Result       ret;

    resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, AGENT_CAPS_PATH);
    MHD_add_response_header(resp, "X-Mesh-Node", r->conf->node_id);

    ret = MHD_queue_response(conn, MHD_HTTP_PERMANENT_REDIRECT, resp);
    MHD_destroy_response(resp);
    return ret;
}


static enum MHD_Result
serve_health(struct MHD_Connection *conn, req_t *r)
{
    char         body[256];
    int          n, up;
    unsigned     active;
    const char  *status;

    (void) inventory_has_model("", &up);
    active = runtime_active();
    status = runtime_draining() ? "draining" : up ? "ok" : "degraded";

    n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"ollama\":\"%s\","
                 "\"active_tasks\":%u,\"version\":\"%s\"}", status,
                 up ? "up" : "down", active, AGENT_VERSION);

    return reply(conn, r->conf, runtime_draining()
                 ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                 "application/json", body, (size_t) n, 0);
}


static enum MHD_Result
serve_caps(struct MHD_Connection *conn, req_t *r)
{
    buf_t            b;
    enum MHD_Result  ret;

    buf_init(&b, SERVER_REPORT_MAX);
    if (report_build(&b, r->conf) != 0) {
        buf_free(&b);
        return reply_oom(conn, r);
    }

    ret = reply(conn, r->conf, MHD_HTTP_OK, "application/json", b.data,
                b.len, 0);
    buf_free(&b);
    return ret;
}


static enum MHD_Result
serve_metrics(struct MHD_Connection *conn, req_t *r)
{
    buf_t             b;
    model_list_t      models;
    hw_info_t         hw;
    metrics_gauges_t  g;
    enum MHD_Result   ret;

    if (inventory_snapshot(&models, &hw, &g.ollama_up) != 0) {
        return reply_oom(conn, r);
    }

    g.active = runtime_active();
    g.max_tasks = r->conf->max_tasks;
    g.models = (unsigned) models.n;
    g.body_bytes = runtime_body_bytes();
    g.body_cap = (size_t) r->conf->max_tasks * r->conf->max_body;

    buf_init(&b, SERVER_REPORT_MAX);
    if (metrics_render(&b, &g) != 0) {
        model_list_free(&models);
        buf_free(&b);
        return reply_oom(conn, r);
    }

    ret = reply(conn, r->conf, MHD_HTTP_OK,
                "text/plain; version=0.0.4; charset=utf-8", b.data, b.len,
                0);
    model_list_free(&models);
    buf_free(&b);
    return ret;
}


static enum MHD_Result
serve_task(struct MHD_Connection *conn, req_t *r)
{
    const conf_t  *c = r->conf;
    char           err[SERVER_MSG_MAX / 2];
    char          *body;
    size_t         len;
    int            up;

    if (task_body_finish(&r->tb) != 0) {
        task_body_error(&r->tb, err, sizeof(err));
        req_reject(r, MHD_HTTP_BAD_REQUEST, REJECT_BAD_JSON, 0, "%s", err);
        return reply_error(conn, r);
    }

    if (!r->tb.model_set || r->tb.model[0] == '\0') {
        req_reject(r, MHD_HTTP_BAD_REQUEST, REJECT_NO_MODEL, 0,
                   "model is required");
        return reply_error(conn, r);
    }

    if (!inventory_has_model(r->tb.model, &up)) {
        if (!up) {
            req_reject(r, MHD_HTTP_SERVICE_UNAVAILABLE, REJECT_DEGRADED, 5,
                       "ollama is not answering on node %s", c->node_id);
        } else {
            req_reject(r, MHD_HTTP_NOT_FOUND, REJECT_NO_MODEL, 0,
                       "model \"%s\" not found on node %s", r->tb.model,
                       c->node_id);
        }
        return reply_error(conn, r);
    }

    if (!runtime_task_acquire(c->max_tasks)) {
        req_reject(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                   runtime_draining() ? REJECT_DRAINING : REJECT_BUSY,
                   runtime_draining() ? 5 : 1, "node %s is %s", c->node_id,
                   runtime_draining() ? "draining" : "busy");
        return reply_error(conn, r);
    }

    /* the relay owns the body and the task slot from here on */
    body = r->body.data;
    len = r->body.len;
    buf_init(&r->body, 0);

    return serve_relay(conn, r, r->route->path, body, len);
}


/* Ollama's /v1 endpoints: refusals in OpenAI's shape there */
static int
route_is_openai(const route_t *rt)
{
    return rt != NULL && strncmp(rt->path, "/v1/", 4) == 0
           && (rt->kind == ROUTE_TASK || rt->kind == ROUTE_RELAY_GET);
}


/* GET /v1/models and /v1/models/{model}: no body, no task slot */
static enum MHD_Result
serve_relay_get(struct MHD_Connection *conn, req_t *r)
{
    return serve_relay(conn, r, r->url, NULL, 0);
}


/* body NULL: a GET; otherwise a task that holds a slot */
static enum MHD_Result
serve_relay(struct MHD_Connection *conn, req_t *r, const char *path,
    char *body, size_t len)
{
    const conf_t                     *c = r->conf;
    const union MHD_ConnectionInfo   *info;
    struct MHD_Response              *resp = NULL;
    relay_t                          *relay = NULL;
    enum MHD_Result                   ret;
    relay_start_t                     rc;
    char                              err[SERVER_MSG_MAX / 2];
    char                              url[CONF_URL_MAX + SERVER_URL_MAX];

    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    relay = relay_create(r->route->ep, body, len,
                         info ? info->connect_fd : -1, r->t0);
    if (relay == NULL) {
        free(body);
        if (body != NULL) {
            runtime_task_release();
        }
        return reply_oom(conn, r);
    }

    if (body != NULL) {
        relay_hold_slot(relay);
    }

    snprintf(url, sizeof(url), "%s%s", c->ollama, path);

    rc = relay_start(relay, url, err, sizeof(err));
    if (rc != RELAY_OK) {
        relay_free(relay);

        if (rc == RELAY_CLIENT_GONE) {
            return MHD_NO;
        }

        snprintf(r->msg, sizeof(r->msg), "%s%s", rc == RELAY_ABORTED
                 ? "" : "ollama unreachable: ", err);
        r->status = rc == RELAY_ABORTED ? MHD_HTTP_SERVICE_UNAVAILABLE
                                        : MHD_HTTP_BAD_GATEWAY;
        return reply_error(conn, r);
    }

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SERVER_BLOCK,
                                             relay_read, relay, relay_free);
    if (resp == NULL) {
        relay_free(relay);
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            relay_content_type(relay));
    MHD_add_response_header(resp, "X-Mesh-Node", c->node_id);

    ret = MHD_queue_response(conn, (unsigned) relay_status(relay), resp);
    MHD_destroy_response(resp);
    return ret;
}
