
/*
 * The registry's zone outside nginx (ngx_zone_shim.c), for test_router.
 */


#ifndef _NGX_ZONE_SHIM_H_INCLUDED_
#define _NGX_ZONE_SHIM_H_INCLUDED_


#include "ngx_http_mesh_zone.h"


/* a zone of size bytes, init run on it as nginx runs it on a new zone */
ngx_http_mesh_zone_t *shim_zone_init(size_t size,
    ngx_http_mesh_zone_init_pt init);
void shim_zone_free(void);
/* what ngx_http_mesh_now_ms() returns from now on */
void shim_set_now(int64_t ms);

/* the mutex taken while held, or given back while not */
extern ngx_uint_t  shim_lock_errors;


#endif /* _NGX_ZONE_SHIM_H_INCLUDED_ */
