
/*
 * Pipelines: steps chained across nodes, each step a subrequest to the
 * location that mesh_pipelines names (mesh_route task + proxy_pass), so
 * it is routed, queued and retried like any task.  Steps before the last
 * are captured in memory with a bound; the last one streams.
 */


#ifndef _NGX_HTTP_MESH_PIPELINE_H_INCLUDED_
#define _NGX_HTTP_MESH_PIPELINE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_pipeline_parse.h"


/* a named pipeline of nginx.conf */
typedef struct {
    ngx_str_t                 name;
    ngx_http_mesh_step_t     *steps;
    ngx_uint_t                nsteps;
    u_char                   *file;
    ngx_uint_t                line;
} ngx_http_mesh_pipeline_t;


/* mesh_pipeline NAME { step ...; } */
char *ngx_http_mesh_pipeline_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* init main conf: the checks that need every directive read */
char *ngx_http_mesh_pipeline_conf_check(ngx_conf_t *cf,
    ngx_http_mesh_main_conf_t *mmcf);
ngx_int_t ngx_http_mesh_pipeline_filter_init(ngx_conf_t *cf);

/*
 * 0 when every step has a node that could serve it (up or not), else the
 * 1-based index of the first step that has none; what it asks is in want.
 */
ngx_uint_t ngx_http_mesh_pipeline_unservable(ngx_http_request_t *r,
    ngx_http_mesh_step_t *steps, ngx_uint_t nsteps, char *want, size_t size);

/*
 * Runs the steps for r (its body read); from then on the pipeline owns r
 * and finalizes it.  name: NULL for an ad hoc pipeline.
 */
ngx_int_t ngx_http_mesh_pipeline_run(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_mesh_step_t *steps, ngx_uint_t nsteps,
    ngx_http_mesh_pipeline_req_t *req);


#endif /* _NGX_HTTP_MESH_PIPELINE_H_INCLUDED_ */
