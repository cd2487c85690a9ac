
/*
 * Small helpers every layer of the mesh module may use.
 */


#include "ngx_http_mesh_util.h"


int64_t
ngx_http_mesh_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}
