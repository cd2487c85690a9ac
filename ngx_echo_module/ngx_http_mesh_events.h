
/*
 * Mesh events: every registry change and task step, published as one JSON
 * object on the Redis event channel (see README, "Events").
 */


#ifndef _NGX_HTTP_MESH_EVENTS_H_INCLUDED_
#define _NGX_HTTP_MESH_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_caps.h"
#include "ngx_http_mesh_json.h"


/* registry changes, which every orchestrator applies */
#define NGX_HTTP_MESH_EVENT_CHANNEL  "mesh:events"

/*
 * Task events go to their own channel: nothing in nginx needs them back, so
 * the registry subscribers never receive them; the live feed reads both.
 */
#define NGX_HTTP_MESH_TASK_CHANNEL  "mesh:tasks"


/* starts {"event":"<kind>","ts":<ms>, ...; the caller adds fields */
ngx_int_t ngx_http_mesh_event_start(ngx_http_mesh_json_t *w, ngx_pool_t *pool,
    const char *kind);
/* closes the object and publishes it; errors are logged, never fatal */
void ngx_http_mesh_event_publish(ngx_http_mesh_json_t *w, ngx_log_t *log);
/* publishes an event already written as JSON (msg->data is not kept) */
void ngx_http_mesh_event_send(ngx_str_t *msg, ngx_log_t *log);
/* {"event":kind,"ts":..,"node_id":id} */
void ngx_http_mesh_event_node(const char *kind, const char *node_id,
    ngx_log_t *log);
/* the capability object fields (no braces), as parse_caps reads them */
void ngx_http_mesh_event_caps_fields(ngx_http_mesh_json_t *w,
    ngx_http_mesh_caps_t *caps);
/* task events are batched per worker: send the batch now */
void ngx_http_mesh_events_flush(void);
/* in an exiting worker: stay a moment so Redis writes just made go out */
void ngx_http_mesh_events_linger(void);


#endif /* _NGX_HTTP_MESH_EVENTS_H_INCLUDED_ */
