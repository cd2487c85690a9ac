
/*
 * gRPC over HTTP/2, the plain C part of the gRPC door: the 5-byte message
 * prefix, grpc-timeout, grpc-message's percent-encoding, and the reader of
 * the NDJSON lines a task or pipeline writes, which the door turns into
 * messages.  No nginx types: unit-tested in tests/test_grpc.c.
 */


#ifndef _NGX_HTTP_MESH_GRPC_CODEC_H_INCLUDED_
#define _NGX_HTTP_MESH_GRPC_CODEC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_http_mesh_caps.h"


#define NGX_HTTP_MESH_GRPC_PREFIX            5
#define NGX_HTTP_MESH_GRPC_VARINT_MAX        10   /* a 64-bit varint */

/* status codes (grpc/doc/statuscodes.md) */
#define NGX_HTTP_MESH_GRPC_OK                0
#define NGX_HTTP_MESH_GRPC_CANCELLED         1
#define NGX_HTTP_MESH_GRPC_UNKNOWN           2
#define NGX_HTTP_MESH_GRPC_INVALID_ARGUMENT  3
#define NGX_HTTP_MESH_GRPC_DEADLINE_EXCEEDED 4
#define NGX_HTTP_MESH_GRPC_NOT_FOUND         5
#define NGX_HTTP_MESH_GRPC_RESOURCE_EXHAUSTED 8
#define NGX_HTTP_MESH_GRPC_UNIMPLEMENTED     12
#define NGX_HTTP_MESH_GRPC_INTERNAL          13
#define NGX_HTTP_MESH_GRPC_UNAVAILABLE       14
#define NGX_HTTP_MESH_GRPC_UNAUTHENTICATED   16


/* what ngx_http_mesh_grpc_unframe() found */
#define NGX_HTTP_MESH_GRPC_FRAME_OK          0
#define NGX_HTTP_MESH_GRPC_FRAME_SHORT       -1    /* cut, or bytes after */
#define NGX_HTTP_MESH_GRPC_FRAME_LARGE       -2    /* over max */
#define NGX_HTTP_MESH_GRPC_FRAME_COMPRESSED  -3


/* the kinds of line in a task's or a pipeline's NDJSON reply */
typedef enum {
    NGX_HTTP_MESH_GRPC_L_TOKENS = 0,     /* Ollama's: response, done */
    NGX_HTTP_MESH_GRPC_L_STEP,           /* a step has its node */
    NGX_HTTP_MESH_GRPC_L_STEP_DONE,
    NGX_HTTP_MESH_GRPC_L_DONE,           /* pipeline_done */
    NGX_HTTP_MESH_GRPC_L_FAILED,         /* pipeline_failed */
    NGX_HTTP_MESH_GRPC_L_ERROR,          /* {"error":...}: a node failed */
    NGX_HTTP_MESH_GRPC_L_OTHER
} ngx_http_mesh_grpc_line_e;


typedef struct {
    ngx_http_mesh_grpc_line_e    kind;
    uint32_t                     index;
    uint32_t                     tokens;
    uint32_t                     eval_count;
    double                       total_duration;    /* ns */
    uint8_t                      done;
    uint8_t                      has_response;
    ngx_http_mesh_span_t         response;
    ngx_http_mesh_span_t         node;
    ngx_http_mesh_span_t         model;
    ngx_http_mesh_span_t         task_id;
    ngx_http_mesh_span_t         output;
    ngx_http_mesh_span_t         error;
    ngx_http_mesh_span_t         reason;
} ngx_http_mesh_grpc_line_t;


/*
 * One whole message in data (a unary request): its protobuf bytes in
 * *msg, *len.  NGX_HTTP_MESH_GRPC_FRAME_OK or one of the errors above.
 */
int ngx_http_mesh_grpc_unframe(const unsigned char *data, size_t size,
    size_t max, const unsigned char **msg, size_t *len);
/* the 5-byte prefix of an uncompressed message of len bytes */
void ngx_http_mesh_grpc_prefix(unsigned char *p, size_t len);

/* grpc-timeout ("1S", "250m", "2H"...) in ms, rounded up; 0 or -1 */
int ngx_http_mesh_grpc_timeout(const char *s, size_t len, uint64_t *ms);

/*
 * grpc-message's percent-encoding of s into out (NULL: the length only);
 * returns the length written.
 */
size_t ngx_http_mesh_grpc_percent(const char *s, size_t len, char *out);

/* the status name of a code: "UNAVAILABLE" */
const char *ngx_http_mesh_grpc_status_name(int code);

/* one NDJSON line; strings through alloc; 0, or -1 with err set */
int ngx_http_mesh_grpc_line(const char *data, size_t len,
    ngx_http_mesh_grpc_line_t *line, ngx_http_mesh_alloc_pt alloc,
    void *alloc_ctx, char *err);

/* the status a failed pipeline's reason ends a call with */
int ngx_http_mesh_grpc_reason_status(const char *reason, size_t len);


#endif /* _NGX_HTTP_MESH_GRPC_CODEC_H_INCLUDED_ */
