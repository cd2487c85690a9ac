
/*
 * Small helpers every layer of the mesh module may use.
 */


#ifndef _NGX_HTTP_MESH_UTIL_H_INCLUDED_
#define _NGX_HTTP_MESH_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* wall clock in ms since the epoch, from nginx's cached time */
int64_t ngx_http_mesh_now_ms(void);


#endif /* _NGX_HTTP_MESH_UTIL_H_INCLUDED_ */
