/*
 * The simulator's names for the shared buffer (common/mesh_buf.h):
 * without a size limit, and with the sticky failure flag, so a writer
 * can chain appends and check once at the end.
 */

#ifndef SIM_BUF_H
#define SIM_BUF_H

#include <stddef.h>

#include "mesh_buf.h"


typedef mesh_buf_t  sim_buf_t;

#define sim_buf_init(b)  mesh_buf_init((b), MESH_BUF_NO_LIMIT)
#define sim_buf_free     mesh_buf_free
#define sim_buf_reset    mesh_buf_reset
#define sim_buf_reserve  mesh_buf_reserve
#define sim_buf_add      mesh_buf_append
#define sim_buf_adds     mesh_buf_puts
#define sim_buf_addc     mesh_buf_putc
#define sim_buf_printf   mesh_buf_printf
#define sim_buf_detach   mesh_buf_detach
#define sim_buf_ok       mesh_buf_ok

#endif /* SIM_BUF_H */
