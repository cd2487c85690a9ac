/*
 * Ollama is read without holding the lock; only the swap of the finished
 * lists is locked, so a slow Ollama never delays a task's model check.
 * /api/show is asked once per model and digest: a model's capabilities
 * only change when it is pulled again.  When Ollama does not answer the
 * node reports no models at all (status "degraded") rather than stale
 * ones.  A change is announced through a callback that main sets: the
 * heartbeat reads the inventory, so the inventory does not call the
 * heartbeat by name.
 */

#include <pthread.h>
#include <stdio.h>
#include <string.h>


#include "buf.h"
#include "classify.h"
#include "http_fetch.h"
#include "inventory.h"
#include "log.h"
#include "ollama_json.h"
#include "runtime.h"
#include "worker.h"


#define INV_TIMEOUT_MS  5000
#define INV_PROBE_MS    5000


static void *inventory_main(void *arg);
static void inventory_refresh(hc_conn_t *conn, const conf_t *c, int probe);
static int inventory_read(hc_conn_t *conn, const conf_t *c,
    ollama_reply_t kind, const char *path, const char *body,
    model_list_t *list, model_t *show, char *err, size_t errlen);
static void inventory_show(hc_conn_t *conn, const conf_t *c, model_t *m);
static int inventory_sink(void *ud, const char *p, size_t n);
static uint64_t inventory_signature(const model_list_t *l, int up);


static worker_t         inv_worker = WORKER_INITIALIZER;
static pthread_mutex_t  inv_lock = PTHREAD_MUTEX_INITIALIZER;
static model_list_t     inv_models;
static hw_info_t        inv_hw;
static int              inv_up = -1;
static int              inv_gpu_stale = 1;
static uint64_t         inv_sig;
static void           (*inv_on_change)(void);

/* only the inventory thread, and main before it starts, refresh */
static pthread_mutex_t  inv_refresh_lock = PTHREAD_MUTEX_INITIALIZER;


int
inventory_start(void)
{
    if (worker_start(&inv_worker, inventory_main) != 0) {
        return -1;
    }

    /* a probe that start-up skipped runs now, in this thread */
    pthread_mutex_lock(&inv_lock);
    if (inv_gpu_stale) {
        worker_kick(&inv_worker);
    }
    pthread_mutex_unlock(&inv_lock);

    return 0;
}


void
inventory_stop(void)
{
    worker_stop(&inv_worker);
    model_list_free(&inv_models);
}


/* set once, before the first refresh */
void
inventory_on_change(void (*cb)(void))
{
    inv_on_change = cb;
}


/* after a reload: re-read Ollama and the GPUs now */
void
inventory_kick(void)
{
    pthread_mutex_lock(&inv_lock);
    inv_gpu_stale = 1;
    pthread_mutex_unlock(&inv_lock);

    worker_kick(&inv_worker);
}


/* at start-up: Ollama and /proc now, the slow probes (nvidia-smi) later */
void
inventory_refresh_now(void)
{
    hc_conn_t  *conn = NULL;
    conf_t     *c = NULL;

    conn = hc_new();
    if (conn == NULL) {
        log_error("inventory: out of memory");
        return;
    }

    c = runtime_conf();
    inventory_refresh(conn, c, 0);
    runtime_conf_put(c);
    hc_free(conn);
}


int
inventory_has_model(const char *name, int *ollama_up)
{
    int  found;

    pthread_mutex_lock(&inv_lock);
    found = model_list_find(&inv_models, name) != NULL;
    *ollama_up = inv_up > 0;
    pthread_mutex_unlock(&inv_lock);

    return found;
}


int
inventory_snapshot(model_list_t *models, hw_info_t *hw, int *ollama_up)
{
    int  rc;

    pthread_mutex_lock(&inv_lock);
    rc = model_list_copy(models, &inv_models);
    *hw = inv_hw;
    *ollama_up = inv_up > 0;
    pthread_mutex_unlock(&inv_lock);

    return rc;
}


static void *
inventory_main(void *arg)
{
    hc_conn_t  *conn = NULL;
    conf_t     *c = NULL;
    unsigned    ms;

    (void) arg;

    conn = hc_new();
    if (conn == NULL) {
        log_error("inventory: out of memory, Ollama is not re-read");
        return NULL;
    }

    for ( ;; ) {
        c = runtime_conf();
        ms = c->heartbeat_ms;
        runtime_conf_put(c);

        if (worker_wait(&inv_worker, ms, 1)) {
            break;
        }

        c = runtime_conf();
        inventory_refresh(conn, c, 1);
        runtime_conf_put(c);
    }

    hc_free(conn);
    return NULL;
}


static void
inventory_refresh(hc_conn_t *conn, const conf_t *c, int probe)
{
    model_list_t   models, loaded, old;
    model_t       *m, *prev;
    hw_info_t      hw;
    size_t         i;
    int            up, was_up, gpu_stale;
    uint64_t       sig;
    char           err[256];

    pthread_mutex_lock(&inv_refresh_lock);

    model_list_init(&models);
    model_list_init(&loaded);
    model_list_init(&old);

    up = inventory_read(conn, c, OLLAMA_TAGS, "/api/tags", NULL, &models,
                        NULL, err, sizeof(err)) == 0;
    if (!up) {
        model_list_free(&models);
    }

    if (up && inventory_read(conn, c, OLLAMA_PS, "/api/ps", NULL, &loaded,
                             NULL, err, sizeof(err)) != 0)
    {
        log_debug("ollama /api/ps: %s", err);
    }

    pthread_mutex_lock(&inv_lock);
    if (model_list_copy(&old, &inv_models) != 0) {
        model_list_init(&old);
    }
    hw = inv_hw;
    was_up = inv_up;
    gpu_stale = inv_gpu_stale;
    inv_gpu_stale = 0;
    pthread_mutex_unlock(&inv_lock);

    if (gpu_stale) {
        hw_detect_gpu("", probe ? INV_PROBE_MS : 0, &hw);

        /* a VRAM size only a probe can give: the inventory thread's */
        if (!probe && hw.has_gpu && hw.vram_total == 0) {
            pthread_mutex_lock(&inv_lock);
            inv_gpu_stale = 1;
            pthread_mutex_unlock(&inv_lock);
        }
    }

    for (i = 0; i < models.n; i++) {
        m = &models.items[i];
        prev = model_list_find(&old, m->name);

        if (prev != NULL && prev->shown
            && strcmp(prev->digest, m->digest) == 0)
        {
            m->caps = prev->caps;
            m->caps_known = prev->caps_known;
            m->families |= prev->families;
            m->shown = 1;

        } else {
            inventory_show(conn, c, m);
        }

        m->type = classify_model(m);
        m->loaded = model_list_find(&loaded, m->name) != NULL;
    }

    if (hw_read_memory("", &hw) != 0) {
        log_debug("cannot read /proc/meminfo");
    }

    if (up != was_up) {
        if (up) {
            log_info("ollama at %s is up: %zu model(s)", c->ollama,
                     models.n);
        } else {
            log_warn("ollama at %s is not answering (%s): reporting "
                     "status degraded", c->ollama, err);
        }
    }

    sig = inventory_signature(&models, up);

    pthread_mutex_lock(&inv_lock);
    model_list_free(&inv_models);
    inv_models = models;
    inv_hw = hw;
    inv_up = up;
    if (sig != inv_sig) {
        inv_sig = sig;
        pthread_mutex_unlock(&inv_lock);
        log_info("inventory: %zu model(s) installed, %zu loaded",
                 models.n, loaded.n);
        if (inv_on_change != NULL) {
            inv_on_change();
        }

    } else {
        pthread_mutex_unlock(&inv_lock);
    }

    model_list_free(&loaded);
    model_list_free(&old);
    pthread_mutex_unlock(&inv_refresh_lock);
}


static void
inventory_show(hc_conn_t *conn, const conf_t *c, model_t *m)
{
    buf_t  body;
    char   err[256];

    buf_init(&body, 1024);

    if (buf_puts(&body, "{\"model\":") != 0
        || buf_json_string(&body, m->name, strlen(m->name)) != 0
        || buf_puts(&body, "}") != 0)
    {
        buf_free(&body);
        return;
    }

    /* an older Ollama without capabilities still gives the families */
    if (inventory_read(conn, c, OLLAMA_SHOW, "/api/show", body.data, NULL,
                       m, err, sizeof(err)) != 0)
    {
        log_debug("ollama /api/show %s: %s", m->name, err);
        m->caps = 0;
        m->caps_known = 0;

    } else {
        m->shown = 1;
    }

    buf_free(&body);
}


static int
inventory_sink(void *ud, const char *p, size_t n)
{
    return ollama_json_feed(ud, p, n);
}


static int
inventory_read(hc_conn_t *conn, const conf_t *c, ollama_reply_t kind,
    const char *path, const char *body, model_list_t *list, model_t *show,
    char *err, size_t errlen)
{
    char           url[CONF_URL_MAX + 32];
    long           status;
    ollama_json_t  oj;
    fetch_req_t    req;
    int            rc = -1;

    if (ollama_json_init(&oj, kind, list, show) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    snprintf(url, sizeof(url), "%s%s", c->ollama, path);

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = INV_TIMEOUT_MS;
    req.sink = inventory_sink;
    req.ud = &oj;

    if (http_fetch(conn, &req, &status, err, errlen) != 0) {
        if (oj.jw.failed) {
            snprintf(err, errlen, "bad JSON at byte %zu: %s", oj.jw.err_pos,
                     oj.jw.err);
        }
        goto done;
    }

    if (status != 200) {
        snprintf(err, errlen, "HTTP %ld", status);
        goto done;
    }

    if (ollama_json_finish(&oj) != 0) {
        snprintf(err, errlen, "bad JSON at byte %zu: %s", oj.jw.err_pos,
                 oj.jw.err);
        goto done;
    }

    rc = 0;

done:

    ollama_json_free(&oj);
    return rc;
}


/* FNV-1a over what a heartbeat reports about models */
static uint64_t
inventory_signature(const model_list_t *l, int up)
{
    uint64_t        h = 1469598103934665603ULL;
    size_t          i;
    const char     *p;
    const model_t  *m;

    h = (h ^ (uint64_t) up) * 1099511628211ULL;

    for (i = 0; i < l->n; i++) {
        m = &l->items[i];
        for (p = m->name; *p != '\0'; p++) {
            h = (h ^ (unsigned char) *p) * 1099511628211ULL;
        }
        h = (h ^ (uint64_t) (m->type * 2 + m->loaded)) * 1099511628211ULL;
    }

    return h;
}
