/*
 * Logging to stderr, one line per message, safe from any thread.
 */

#ifndef ECHO_AGENT_LOG_H
#define ECHO_AGENT_LOG_H


enum {
    AGENT_LOG_ERROR = 0,
    AGENT_LOG_WARN,
    AGENT_LOG_INFO,
    AGENT_LOG_DEBUG
};


void log_set_level(int level);
int log_get_level(void);
int log_level_parse(const char *name);
const char *log_level_name(int level);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)  log_msg(AGENT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)   log_msg(AGENT_LOG_WARN, __VA_ARGS__)
#define log_info(...)   log_msg(AGENT_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(AGENT_LOG_DEBUG, __VA_ARGS__)


#endif /* ECHO_AGENT_LOG_H */
