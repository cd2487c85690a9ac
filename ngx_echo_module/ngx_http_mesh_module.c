
/*
 * Echo-System orchestrator: directives, configuration and module glue.
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_util.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_registry.h"
#include "ngx_http_mesh_queue.h"
#include "ngx_http_mesh_events.h"
#include "ngx_http_mesh_redis.h"
#include "ngx_http_mesh_sync.h"
#include "ngx_http_mesh_task.h"
#include "ngx_http_mesh_pipeline.h"
#include "ngx_http_mesh_api.h"
#include "ngx_http_mesh_sign.h"
#include "ngx_http_mesh_keys.h"


static ngx_int_t ngx_http_mesh_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mesh_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mesh_init_process(ngx_cycle_t *cycle);
static void ngx_http_mesh_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mesh_agent_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_mesh_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mesh_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mesh_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mesh_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mesh_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mesh_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mesh_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mesh_node_networks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mesh_add_network(ngx_conf_t *cf,
    ngx_http_mesh_main_conf_t *mmcf, ngx_str_t *text);
static char *ngx_http_mesh_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mesh_route_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mesh_pipelines_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mesh_route_check(ngx_conf_t *cf,
    ngx_http_mesh_main_conf_t *mmcf);
static char *ngx_http_mesh_eject(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* not in nginx's headers: mesh_route checks what proxy_pass leads to */
extern ngx_module_t  ngx_http_proxy_module;


static ngx_conf_num_bounds_t  ngx_http_mesh_tries_bounds = {
    ngx_conf_check_num_bounds, 1, 8
};

static ngx_conf_num_bounds_t  ngx_http_mesh_misses_bounds = {
    ngx_conf_check_num_bounds, 1, 100
};

static ngx_conf_num_bounds_t  ngx_http_mesh_steps_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_HTTP_MESH_PIPELINE_STEPS_MAX
};


static ngx_str_t  ngx_http_mesh_default_networks[] = {
    ngx_string("10.0.0.0/8"),
    ngx_string("172.16.0.0/12"),
    ngx_string("192.168.0.0/16"),
    ngx_string("127.0.0.0/8"),
    ngx_string("169.254.0.0/16"),
#if (NGX_HAVE_INET6)
    ngx_string("::1/128"),
    ngx_string("fc00::/7"),
    ngx_string("fe80::/10"),
#endif
    ngx_null_string
};


static ngx_command_t  ngx_http_mesh_commands[] = {

    { ngx_string("mesh_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_mesh_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_registry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_mesh_registry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mesh_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_auth_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, auth_window),
      NULL },

    { ngx_string("mesh_node_networks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mesh_node_networks,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_heartbeat_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, heartbeat_interval),
      NULL },

    { ngx_string("mesh_heartbeat_misses"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, heartbeat_misses),
      &ngx_http_mesh_misses_bounds },

    { ngx_string("mesh_queue_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, queue_ttl),
      NULL },

    { ngx_string("mesh_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, queue_size),
      NULL },

    { ngx_string("mesh_tries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, tries),
      &ngx_http_mesh_tries_bounds },

    { ngx_string("mesh_eject"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mesh_eject,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_node_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, node_body_max),
      NULL },

    { ngx_string("mesh_pipeline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_mesh_pipeline_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_pipeline_max_steps"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, pipeline_max_steps),
      &ngx_http_mesh_steps_bounds },

    { ngx_string("mesh_pipeline_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, pipeline_buffer),
      NULL },

    { ngx_string("mesh_pipelines"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mesh_pipelines_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_grpc"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mesh_pipelines_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_grpc_handler },

    { ngx_string("mesh_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_status_handler },

    { ngx_string("mesh_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_metrics_handler },

    { ngx_string("mesh_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mesh_api_keys,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_node_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_node_api_handler },

    { ngx_string("mesh_tags"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_tags_handler },

    { ngx_string("mesh_openai_models"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_openai_models_handler },

    { ngx_string("mesh_feed"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mesh_feed_handler },

    { ngx_string("mesh_feed_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, feed_buffer),
      NULL },

    { ngx_string("mesh_feed_max_clients"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, feed_max_clients),
      NULL },

    { ngx_string("mesh_feed_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mesh_main_conf_t, feed_ping_interval),
      NULL },

    { ngx_string("mesh_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mesh_route_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mesh_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_mesh_balancer,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_mesh_vars[] = {

    { ngx_string("mesh_agent_auth"), NULL,
      ngx_http_mesh_agent_auth_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("mesh_api_key_name"), NULL,
      ngx_http_mesh_api_key_variable, 0, 0, 0 },

    { ngx_string("mesh_node"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_NODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_model"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_task_id"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_TASK_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_tries"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_TRIES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_queue_ms"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_QUEUE_MS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_ttft_ms"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_TTFT_MS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_tokens"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mesh_outcome"), NULL, ngx_http_mesh_task_variable,
      NGX_HTTP_MESH_VAR_OUTCOME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_mesh_module_ctx = {
    ngx_http_mesh_add_variables,           /* preconfiguration */
    ngx_http_mesh_init,                    /* postconfiguration */

    ngx_http_mesh_create_main_conf,        /* create main configuration */
    ngx_http_mesh_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mesh_create_loc_conf,         /* create location configuration */
    ngx_http_mesh_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_mesh_module = {
    NGX_MODULE_V1,
    &ngx_http_mesh_module_ctx,             /* module context */
    ngx_http_mesh_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mesh_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mesh_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_mesh_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mesh_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $mesh_agent_auth: a token for the node the task is reserved on, bound to
 * its id, the task id and the time (ngx_http_mesh_sign.h); the balancer
 * re-signs it in place when a retry moves the task to another node.
 */

static ngx_int_t
ngx_http_mesh_agent_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                   token;
    ngx_http_mesh_ctx_t        *ctx;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);
    /* the task's own request: a pipeline step is a subrequest */
    ctx = ngx_http_get_module_ctx(r, ngx_http_mesh_module);

    if (mmcf->sign_key == NULL || ctx == NULL || ctx->node_id[0] == '\0') {
        v->not_found = 1;
        return NGX_OK;
    }

    ctx->auth_ts = ngx_time();

    if (ngx_http_mesh_sign_task(r->pool, mmcf->sign_key, ctx->node_id,
                                ctx->task_id, ctx->auth_ts, &token)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->auth_sig, token.data + token.len - NGX_HTTP_MESH_SIGN_HEX,
               NGX_HTTP_MESH_SIGN_HEX);
    ctx->auth_signed = 1;

    v->len = token.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = token.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mesh_precontent_handler;

    /*
     * Bottom up: the gRPC door turns what the pipeline filter passes into
     * messages; under the task filter a step's reply is counted first.
     */

    if (ngx_http_mesh_grpc_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mesh_pipeline_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mesh_filter_init(cf);
}


static ngx_int_t
ngx_http_mesh_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mesh_main_conf_t  *mmcf;

    ngx_http_mesh_worker_init();

    /*
     * nginx runs this hook in the cache manager and loader too; a sweep
     * there, with no Redis link to tell it of an outage, would mark
     * silent nodes down while the workers keep them up
     */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mesh_module);

    if (mmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_mesh_queue_init_worker(cycle) != NGX_OK
        || ngx_http_mesh_sync_init_worker(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (mmcf->registry) {
        return ngx_http_mesh_sync_connect(cycle, mmcf->registry);
    }

    return NGX_OK;
}


static void
ngx_http_mesh_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mesh_main_conf_t  *mmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mesh_module);

    if (mmcf == NULL) {
        return;
    }

    ngx_http_mesh_feed_exit_worker();
    ngx_http_mesh_queue_exit_worker(cycle);

    /* what this worker still owes Redis goes out before the link closes */
    ngx_http_mesh_sync_flush_load(cycle->log);
    ngx_http_mesh_events_flush();

    if (mmcf->registry) {
        ngx_http_mesh_redis_exit_worker(cycle);
    }
}


static void *
ngx_http_mesh_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mesh_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->registry = NULL;
     *     mmcf->shm_zone = NULL;
     *     mmcf->secret = { 0, NULL };
     *     mmcf->secret_file = { 0, NULL };
     *     mmcf->sign_key = NULL;
     *     mmcf->node_networks_source = 0;
     *     mmcf->api_keys = NULL;
     */

    mmcf->auth_window = NGX_CONF_UNSET;
    mmcf->node_networks = NGX_CONF_UNSET_PTR;

    mmcf->heartbeat_interval = NGX_CONF_UNSET_MSEC;
    mmcf->heartbeat_misses = NGX_CONF_UNSET_UINT;
    mmcf->queue_ttl = NGX_CONF_UNSET_MSEC;
    mmcf->queue_size = NGX_CONF_UNSET_UINT;
    mmcf->tries = NGX_CONF_UNSET_UINT;
    mmcf->node_body_max = NGX_CONF_UNSET_SIZE;
    mmcf->eject_failures = NGX_CONF_UNSET_UINT;
    mmcf->eject_time = NGX_CONF_UNSET_MSEC;
    mmcf->eject_max_time = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&mmcf->balancers, cf->pool, 4,
                       sizeof(ngx_http_upstream_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }
    mmcf->pipeline_max_steps = NGX_CONF_UNSET_UINT;
    mmcf->pipeline_buffer = NGX_CONF_UNSET_SIZE;
    mmcf->feed_buffer = NGX_CONF_UNSET_SIZE;
    mmcf->feed_max_clients = NGX_CONF_UNSET_UINT;
    mmcf->feed_ping_interval = NGX_CONF_UNSET_MSEC;

    return mmcf;
}


static char *
ngx_http_mesh_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    ngx_str_t  *d;

    ngx_conf_init_msec_value(mmcf->heartbeat_interval, 3000);
    ngx_conf_init_uint_value(mmcf->heartbeat_misses, 3);
    ngx_conf_init_msec_value(mmcf->queue_ttl, 30000);
    ngx_conf_init_uint_value(mmcf->queue_size, 64);
    ngx_conf_init_uint_value(mmcf->tries, 3);
    ngx_conf_init_size_value(mmcf->node_body_max, 65536);
    ngx_conf_init_uint_value(mmcf->eject_failures, 5);
    ngx_conf_init_msec_value(mmcf->eject_time, 30000);
    ngx_conf_init_msec_value(mmcf->eject_max_time, 300000);

    if (mmcf->eject_max_time < mmcf->eject_time) {
        mmcf->eject_max_time = mmcf->eject_time;
    }

    ngx_conf_init_uint_value(mmcf->pipeline_max_steps, 8);
    ngx_conf_init_size_value(mmcf->pipeline_buffer, 256 * 1024);

    if (mmcf->pipeline_buffer == 0
        || mmcf->pipeline_buffer > NGX_HTTP_MESH_PIPELINE_OUTPUT_MAX)
    {
        return "mesh_pipeline_buffer must be from 1 to 16m";
    }

    if (ngx_http_mesh_pipeline_conf_check(cf, mmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_size_value(mmcf->feed_buffer, 256 * 1024);
    ngx_conf_init_uint_value(mmcf->feed_max_clients, 1024);
    ngx_conf_init_msec_value(mmcf->feed_ping_interval, 30000);

    if (mmcf->feed_buffer < 4096) {
        return "mesh_feed_buffer must be at least 4k";
    }

    if (mmcf->feed_ping_interval == 0) {
        return "mesh_feed_ping_interval must be above zero";
    }

    if (mmcf->heartbeat_interval == 0) {
        return "mesh_heartbeat_interval must be above zero";
    }

    ngx_conf_init_value(mmcf->auth_window, 30);

    if (mmcf->auth_window <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mesh_auth_window\" must be above zero");
        return NGX_CONF_ERROR;
    }

    /* nodes live on the local networks: private, loopback, link-local */

    if (mmcf->node_networks == NGX_CONF_UNSET_PTR) {
        mmcf->node_networks = NULL;

        for (d = ngx_http_mesh_default_networks; d->len; d++) {
            if (ngx_http_mesh_add_network(cf, mmcf, d) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mesh_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mesh_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mesh_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->handler = NULL;
     */

    return mlcf;
}


static char *
ngx_http_mesh_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mesh_loc_conf_t *prev = parent;
    ngx_http_mesh_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_mesh_main_conf_t  *mmcf;

    /*
     * endpoints are not inherited: each location names its own; but a
     * limit_except block serves its location's endpoint (as proxy_pass
     * does), or its methods would get the static handler
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->lmt_excpt && conf->handler == NULL && conf->route == 0) {
        conf->handler = prev->handler;
        conf->route = prev->route;
        conf->pipeline_uri = prev->pipeline_uri;
        clcf->handler = prev->handler;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mesh_module);

    if ((conf->route || conf->pipeline_uri.len
         || conf->handler == ngx_http_mesh_node_api_handler
         || conf->handler == ngx_http_mesh_tags_handler
         || conf->handler == ngx_http_mesh_openai_models_handler)
        && mmcf->shm_zone == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mesh_route\", \"mesh_node_api\", "
                           "\"mesh_tags\" and \"mesh_openai_models\" "
                           "need a \"mesh_zone\"");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == ngx_http_mesh_metrics_handler
        && mmcf->shm_zone == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mesh_metrics\" needs a \"mesh_zone\"");
        return NGX_CONF_ERROR;
    }

    /* a browser's feed client can only give its key in the query */
    conf->key_args = (conf->handler == ngx_http_mesh_feed_handler);

    if (conf->handler == ngx_http_mesh_node_api_handler
        && mmcf->secret.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mesh_node_api\" needs \"mesh_secret_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->route) {
        return ngx_http_mesh_route_check(cf, mmcf);
    }

    return NGX_CONF_OK;
}


/*
 * A mesh_route location reserves a node slot that only mesh_balancer uses
 * and gives back: another upstream, or no proxy_pass, would serve the task
 * elsewhere.  ngx_http_proxy_loc_conf_t starts with its upstream conf,
 * whose upstream is set by a proxy_pass without variables; with variables
 * the target is known only per request (the request's cleanup gives the
 * slot back then).
 */

static char *
ngx_http_mesh_route_check(ngx_conf_t *cf, ngx_http_mesh_main_conf_t *mmcf)
{
    ngx_uint_t                      i;
    ngx_http_upstream_conf_t       *ucf;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_upstream_srv_conf_t  **uscfp;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    if (clcf->handler && ucf->upstream == NULL) {
        return NGX_CONF_OK;
    }

    uscfp = mmcf->balancers.elts;

    for (i = 0; ucf->upstream && i < mmcf->balancers.nelts; i++) {
        if (uscfp[i] == ucf->upstream) {
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"mesh_route\" needs \"proxy_pass\" to an upstream "
                       "with \"mesh_balancer\" in location \"%V\"",
                       &clcf->name);

    return NGX_CONF_ERROR;
}


/* mesh_eject failures=N [time=T] [max_time=T] | off */

static char *
ngx_http_mesh_eject(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   ms, *field;
    ngx_uint_t   i;

    if (mmcf->eject_failures != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        mmcf->eject_failures = 0;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "failures=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n < 1 || n > 1000) {
                goto invalid;
            }

            mmcf->eject_failures = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "time=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;
            field = &mmcf->eject_time;

        } else if (ngx_strncmp(value[i].data, "max_time=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            field = &mmcf->eject_max_time;

        } else {
            goto invalid;
        }

        ms = ngx_parse_time(&s, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        *field = ms;
    }

    if (mmcf->eject_failures == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mesh_eject\" needs \"failures=\" or \"off\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_mesh_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (mmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_mesh_zone_add(cf, &value[1], (size_t) size,
                                  ngx_http_mesh_registry_init_zone,
                                  &mmcf->shm_zone);
}


static char *
ngx_http_mesh_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    ngx_str_t                   *value, t;
    ngx_msec_t                   ms;
    ngx_http_mesh_redis_addr_t  *addr;

    if (mmcf->registry) {
        return "is duplicate";
    }

    value = cf->args->elts;

    addr = ngx_pcalloc(cf->pool, sizeof(ngx_http_mesh_redis_addr_t));
    if (addr == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mesh_redis_parse_url(cf, &value[1], addr) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a slow link (a Pi on Wi-Fi, valgrind) may need longer than 2 s */
    addr->timeout = 2000;

    if (cf->args->nelts == 3) {
        /* a second address, not a parameter: what nginx says for TAKE1 */
        if (ngx_strlchr(value[2].data, value[2].data + value[2].len, '=')
            == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" "
                               "directive", &cmd->name);
            return NGX_CONF_ERROR;
        }

        if (value[2].len <= 8
            || ngx_strncmp(value[2].data, "timeout=", 8) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": expected "
                               "timeout=<time>", &value[2]);
            return NGX_CONF_ERROR;
        }

        t.data = value[2].data + 8;
        t.len = value[2].len - 8;
        ms = ngx_parse_time(&t, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms < 100 || ms > 60000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid registry timeout \"%V\": expected "
                               "100ms to 60s", &t);
            return NGX_CONF_ERROR;
        }

        addr->timeout = ms;
    }

    if (ngx_http_mesh_redis_resolve(cf, addr) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mmcf->registry = addr;

    return NGX_CONF_OK;
}


static char *
ngx_http_mesh_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    u_char           *buf;
    ssize_t           n;
    ngx_str_t        *value;
    ngx_file_t        file;
    ngx_file_info_t   fi;
    char             *rv;

    if (mmcf->secret_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mmcf->secret_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &mmcf->secret_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = mmcf->secret_file;
    file.log = cf->log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file.name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &file.name);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_MESH_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh secret file \"%V\" is larger than %d bytes",
                           &file.name, NGX_HTTP_MESH_SECRET_MAX);
        goto done;
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "mesh secret file \"%V\" is readable by others",
                           &file.name);
    }

    buf = ngx_pnalloc(cf->pool, NGX_HTTP_MESH_SECRET_MAX);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, NGX_HTTP_MESH_SECRET_MAX, 0);
    if (n == NGX_ERROR) {
        goto done;
    }

    /* a trailing newline from "echo secret > file" is not part of it */

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    if (n < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh secret in \"%V\" is shorter than 16 bytes",
                           &file.name);
        goto done;
    }

    mmcf->secret.data = buf;
    mmcf->secret.len = n;

    mmcf->sign_key = ngx_http_mesh_sign_key_create(cf->pool, &mmcf->secret);
    if (mmcf->sign_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot set up the HMAC key of \"%V\"",
                           &file.name);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file.name);
    }

    return rv;
}


/* mesh_node_networks source | CIDR ...: where a node may say it lives */

static char *
ngx_http_mesh_node_networks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (mmcf->node_networks != NGX_CONF_UNSET_PTR
        || mmcf->node_networks_source)
    {
        return "is duplicate";
    }

    mmcf->node_networks = NULL;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "source") == 0) {
            mmcf->node_networks_source = 1;
            continue;
        }

        if (ngx_http_mesh_add_network(cf, mmcf, &value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mesh_add_network(ngx_conf_t *cf, ngx_http_mesh_main_conf_t *mmcf,
    ngx_str_t *text)
{
    ngx_int_t    rc;
    ngx_cidr_t  *cidr;

    if (mmcf->node_networks == NULL) {
        mmcf->node_networks = ngx_array_create(cf->pool, 8,
                                               sizeof(ngx_cidr_t));
        if (mmcf->node_networks == NULL) {
            return NGX_ERROR;
        }
    }

    cidr = ngx_array_push(mmcf->node_networks);
    if (cidr == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_ptocidr(text, cidr);

    if (rc == NGX_DONE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "low address bits of %V are meaningless", text);
        rc = NGX_OK;
    }

    return rc;
}


static char *
ngx_http_mesh_set_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->handler) {
        return "is duplicate";
    }

    mlcf->handler = (ngx_http_mesh_handler_pt) cmd->post;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = mlcf->handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_mesh_route_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_loc_conf_t *mlcf = conf;

    ngx_str_t  *value;

    if (mlcf->route) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "ollama") == 0) {
        mlcf->route = NGX_HTTP_MESH_ROUTE_OLLAMA;

    } else if (ngx_strcmp(value[1].data, "task") == 0) {
        mlcf->route = NGX_HTTP_MESH_ROUTE_TASK;

    } else if (ngx_strcmp(value[1].data, "openai") == 0) {
        mlcf->route = NGX_HTTP_MESH_ROUTE_OPENAI;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"ollama\", \"openai\" or \"task\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mesh_pipelines_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mesh_loc_conf_t *mlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->handler) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected the URI of "
                           "a location with \"mesh_route task\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* mesh_pipelines, or mesh_grpc (its steps run the same way) */

    mlcf->pipeline_uri = value[1];
    mlcf->handler = cmd->post ? (ngx_http_mesh_handler_pt) cmd->post
                              : ngx_http_mesh_pipeline_api_handler;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = mlcf->handler;

    return NGX_CONF_OK;
}
