/*
 * This node's capability report, assembled from the live state.
 */

#ifndef ECHO_AGENT_REPORT_H
#define ECHO_AGENT_REPORT_H

#include "buf.h"
#include "conf.h"


int report_build(buf_t *b, const conf_t *c);


#endif /* ECHO_AGENT_REPORT_H */
