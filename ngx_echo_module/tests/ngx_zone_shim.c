
/*
 * What ngx_http_mesh_registry.c needs of nginx and of the module's zone,
 * so test_router drives the registry's own writers (join, heartbeat,
 * leave, down, ejection, load) outside nginx: a zone on malloc, a clock
 * the test sets, and a mutex that fails the test when it is taken twice
 * or given back unheld.  Not used by the module.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_zone_shim.h"


volatile ngx_cycle_t   *ngx_cycle;
volatile ngx_time_t    *ngx_cached_time;
ngx_pid_t               ngx_pid;

static ngx_cycle_t           shim_cycle;
static ngx_log_t             shim_log;
static ngx_time_t            shim_time;
static ngx_slab_pool_t       shim_pool;
static ngx_http_mesh_shctx_t shim_sh;
static ngx_http_mesh_zone_t  shim_zone;
static void                 *shim_blocks[16];
static ngx_uint_t            shim_nblocks;
static ngx_uint_t            shim_locked;

ngx_uint_t  shim_lock_errors;


ngx_http_mesh_zone_t *
shim_zone_init(size_t size, ngx_http_mesh_zone_init_pt init)
{
    shim_log.log_level = 0;             /* nothing is logged */
    shim_cycle.log = &shim_log;
    ngx_cycle = &shim_cycle;
    ngx_cached_time = &shim_time;

    /* the registry sizes itself from the zone's end */
    shim_pool.end = (u_char *) &shim_pool + size;
    shim_zone.shpool = &shim_pool;
    shim_zone.sh = &shim_sh;

    if (init(&shim_pool, &shim_sh.data) != NGX_OK) {
        return NULL;
    }

    return &shim_zone;
}


void
shim_zone_free(void)
{
    while (shim_nblocks) {
        free(shim_blocks[--shim_nblocks]);
    }
}


void
shim_set_now(int64_t ms)
{
    shim_time.sec = ms / 1000;
    shim_time.msec = ms % 1000;
}


ngx_http_mesh_zone_t *
ngx_http_mesh_zone_from_cycle(ngx_cycle_t *cycle)
{
    return shim_zone.sh ? &shim_zone : NULL;
}


void *
ngx_slab_alloc(ngx_slab_pool_t *pool, size_t size)
{
    void  *p;

    if (shim_nblocks == sizeof(shim_blocks) / sizeof(shim_blocks[0])) {
        return NULL;
    }

    p = malloc(size);
    if (p != NULL) {
        shim_blocks[shim_nblocks++] = p;
    }

    return p;
}


void *
ngx_slab_calloc(ngx_slab_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_slab_alloc(pool, size);
    if (p != NULL) {
        memset(p, 0, size);
    }

    return p;
}


void
ngx_shmtx_lock(ngx_shmtx_t *mtx)
{
    shim_lock_errors += shim_locked;
    shim_locked = 1;
}


void
ngx_shmtx_unlock(ngx_shmtx_t *mtx)
{
    shim_lock_errors += !shim_locked;
    shim_locked = 0;
}


/* any hash will do: the id index only needs the same one every time */

ngx_uint_t
ngx_hash_key(u_char *data, size_t len)
{
    size_t      i;
    ngx_uint_t  h;

    for (h = 0, i = 0; i < len; i++) {
        h = h * 31 + data[i];
    }

    return h;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    if (max) {
        buf[0] = '\0';
    }

    return buf;
}


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}
