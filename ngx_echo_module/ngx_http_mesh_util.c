
/*
 * Small helpers every layer of the mesh module may use.
 */


#include "ngx_http_mesh_util.h"


/* per process by nature: see ngx_http_mesh_worker_t */
ngx_http_mesh_worker_t  ngx_http_mesh_worker;


int64_t
ngx_http_mesh_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


void
ngx_http_mesh_worker_init(void)
{
    ngx_memzero(&ngx_http_mesh_worker, sizeof(ngx_http_mesh_worker_t));

    ngx_http_mesh_worker.timer_conn.fd = (ngx_socket_t) -1;
}
