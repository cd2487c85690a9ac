/*
 * One table names every setting; its flag (--max-tasks), environment
 * variable (ECHO_AGENT_MAX_TASKS) and config file key (max_tasks) are all
 * derived from the key, so the three sources can never drift apart.
 * Sources are applied lowest first: defaults, file, environment, flags.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "conf.h"
#include "conf_value.h"
#include "log.h"


#define CONF_LINE_MAX   4096
#define CONF_ARGS_MAX   128
#define CONF_ERR_MAX    384


typedef int (*conf_set_pt)(conf_t *c, const char *v, char *err,
    size_t errlen);


typedef struct {
    const char   *key;
    const char   *arg;
    const char   *help;
    conf_set_pt   set;
} conf_opt_t;


typedef struct {
    const conf_opt_t  *opt;
    const char        *val;
    const char        *name;
} conf_setting_t;


static int set_orchestrator(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_listen(conf_t *c, const char *v, char *err, size_t errlen);
static int set_advertise_host(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_advertise_port(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_ollama(conf_t *c, const char *v, char *err, size_t errlen);
static int set_node_id(conf_t *c, const char *v, char *err, size_t errlen);
static int set_secret_file(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_mesh(conf_t *c, const char *v, char *err, size_t errlen);
static int set_mdns(conf_t *c, const char *v, char *err, size_t errlen);
static int set_heartbeat(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_max_tasks(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_max_connections(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_max_body(conf_t *c, const char *v, char *err, size_t errlen);
static int set_drain(conf_t *c, const char *v, char *err, size_t errlen);
static int set_model_type(conf_t *c, const char *v, char *err,
    size_t errlen);
static int set_log_level(conf_t *c, const char *v, char *err,
    size_t errlen);
static void conf_defaults(conf_t *c);
static const conf_opt_t *conf_find(const char *name, char sep);
static int conf_parse_args(conf_t *c, int argc, char *const argv[],
    conf_setting_t *flags, size_t *nflags, const char **config,
    char *err, size_t errlen);
static int conf_parse_env(char *const envp[], conf_setting_t *env,
    size_t *nenv, const char **config, char *err, size_t errlen);
static int conf_read_file(conf_t *c, const char *path, char *err,
    size_t errlen);
static int conf_apply(conf_t *c, const conf_setting_t *s, size_t n,
    char *err, size_t errlen);
static int conf_finish(conf_t *c, char *err, size_t errlen);
static char *trim(char *s);


static const conf_opt_t  conf_opts[] = {
    { "orchestrator", "URL",
      "orchestrator to join, e.g. http://10.0.0.2:8080 [none]",
      set_orchestrator },
    { "listen", "HOST:PORT",
      "task endpoint address [0.0.0.0:50052]", set_listen },
    { "advertise_host", "HOST",
      "host the orchestrator dials [the address that reaches it]",
      set_advertise_host },
    { "advertise_port", "PORT",
      "port the orchestrator dials [the listen port]",
      set_advertise_port },
    { "ollama", "URL",
      "local Ollama [http://127.0.0.1:11434]", set_ollama },
    { "node_id", "ID",
      "this node's name in the mesh [the host name]", set_node_id },
    { "secret_file", "FILE",
      "file holding the mesh secret (required)", set_secret_file },
    { "mesh", "NAME",
      "mesh to find over mDNS when no orchestrator is set [default]",
      set_mesh },
    { "mdns", "on|off",
      "announce this agent and find orchestrators over mDNS [on]",
      set_mdns },
    { "heartbeat_interval", "TIME",
      "heartbeat and Ollama re-read period [3s]", set_heartbeat },
    { "max_tasks", "N",
      "tasks run at once; more get 503 [4]", set_max_tasks },
    { "max_connections", "N",
      "open client connections [128]", set_max_connections },
    { "max_body", "SIZE",
      "largest task request body [16m]", set_max_body },
    { "drain_timeout", "TIME",
      "how long SIGTERM waits for running tasks [30s]", set_drain },
    { "model_type", "MODEL=TYPE",
      "force a type (text|code|vision|embedding); repeatable, "
      "or a comma list", set_model_type },
    { "log_level", "LEVEL",
      "error|warn|info|debug [info]", set_log_level },
    { NULL, NULL, NULL, NULL }
};


conf_result_t
conf_load(conf_t *c, int argc, char *const argv[], char *const envp[],
    char *err, size_t errlen)
{
    size_t           nflags = 0, nenv = 0;
    const char      *config = NULL, *env_config = NULL;
    conf_setting_t   flags[CONF_ARGS_MAX], env[CONF_ARGS_MAX];
    int              rc;

    conf_defaults(c);

    rc = conf_parse_args(c, argc, argv, flags, &nflags, &config, err,
                         errlen);
    if (rc != CONF_OK) {
        return rc;
    }

    if (conf_parse_env(envp, env, &nenv, &env_config, err, errlen) != 0) {
        return CONF_ERROR;
    }

    if (config == NULL) {
        config = env_config;
    }

    if (config != NULL) {
        if (conf_read_file(c, config, err, errlen) != 0) {
            return CONF_ERROR;
        }
    }

    if (conf_apply(c, env, nenv, err, errlen) != 0
        || conf_apply(c, flags, nflags, err, errlen) != 0
        || conf_finish(c, err, errlen) != 0)
    {
        return CONF_ERROR;
    }

    return CONF_OK;
}


void
conf_usage(FILE *f)
{
    const conf_opt_t  *o;
    char               flag[64];
    size_t             i;

    fprintf(f,
        "Usage: echo-agent [OPTION]...\n"
        "Serves the local Ollama to an Echo-System mesh: joins the "
        "orchestrator,\nheartbeats this node's models and load, and relays "
        "tasks to Ollama.\n\n"
        "  -c, --config FILE              config file (or %sCONFIG)\n",
        CONF_ENV_PREFIX);

    for (o = conf_opts; o->key != NULL; o++) {
        snprintf(flag, sizeof(flag), "%s %s", o->key, o->arg);
        for (i = 0; flag[i] != ' '; i++) {
            if (flag[i] == '_') {
                flag[i] = '-';
            }
        }
        fprintf(f, "      --%-27s %s\n", flag, o->help);
    }

    fprintf(f,
        "      --check-config              check the configuration and "
        "exit\n"
        "  -h, --help                     show this help and exit\n"
        "  -V, --version                  show the version and exit\n\n"
        "Every --some-option can also be set by the environment variable\n"
        "%sSOME_OPTION or by the line \"some_option = value\" in the "
        "config\nfile.  Precedence: command-line flag > environment > "
        "config file >\ndefault.  TIME is 300ms, 3s or 1m; SIZE is bytes "
        "or 512k, 16m.\n"
        "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads the "
        "config file.\n", CONF_ENV_PREFIX);
}


int
conf_model_type(const conf_t *c, const char *model)
{
    size_t  i;

    for (i = 0; i < c->ntypes; i++) {
        if (model_name_equal(c->types[i].name, model)) {
            return (int) c->types[i].type;
        }
    }

    return -1;
}


static void
conf_defaults(conf_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "0.0.0.0");
    c->listen_port = 50052;
    snprintf(c->ollama, sizeof(c->ollama), "http://127.0.0.1:11434");
    c->heartbeat_ms = 3000;
    c->drain_ms = 30000;
    c->max_tasks = 4;
    c->max_connections = 128;
    c->max_body = 16 * 1024 * 1024;
    c->log_level = AGENT_LOG_INFO;
    snprintf(c->mesh, sizeof(c->mesh), "default");
    c->mdns = 1;
}


/* sep is '-' for flags and '_' for file keys and environment names */
static const conf_opt_t *
conf_find(const char *name, char sep)
{
    const conf_opt_t  *o;
    size_t             i;

    for (o = conf_opts; o->key != NULL; o++) {
        for (i = 0; o->key[i] != '\0'; i++) {
            if ((o->key[i] == '_' ? sep : o->key[i])
                != tolower((unsigned char) name[i]))
            {
                break;
            }
        }
        if (o->key[i] == '\0' && name[i] == '\0') {
            return o;
        }
    }

    return NULL;
}


static int
conf_parse_args(conf_t *c, int argc, char *const argv[],
    conf_setting_t *flags, size_t *nflags, const char **config, char *err,
    size_t errlen)
{
    int                 i;
    char                name[64];
    const char         *a, *eq, *val;
    size_t              len;
    const conf_opt_t   *o;

    for (i = 1; i < argc; i++) {
        a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return CONF_HELP;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            return CONF_VERSION;
        }
        if (strcmp(a, "--check-config") == 0) {
            c->check_only = 1;
            continue;
        }

        if (strcmp(a, "-c") == 0) {
            a = "--config";
        } else if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)",
                     a);
            return CONF_ERROR;
        }

        eq = strchr(a, '=');
        len = eq ? (size_t) (eq - a) - 2 : strlen(a) - 2;
        if (len >= sizeof(name)) {
            len = sizeof(name) - 1;
        }
        memcpy(name, a + 2, len);
        name[len] = '\0';

        o = conf_find(name, '-');
        if (o == NULL && strcmp(name, "config") != 0) {
            snprintf(err, errlen, "unknown option \"--%s\" (see --help)",
                     name);
            return CONF_ERROR;
        }

        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "--%s: missing value", name);
            return CONF_ERROR;
        }

        if (o == NULL) {
            *config = val;
            continue;
        }

        if (*nflags >= CONF_ARGS_MAX) {
            snprintf(err, errlen, "too many options");
            return CONF_ERROR;
        }

        flags[*nflags].opt = o;
        flags[*nflags].val = val;
        flags[*nflags].name = a;
        (*nflags)++;
    }

    return CONF_OK;
}


static int
conf_parse_env(char *const envp[], conf_setting_t *env, size_t *nenv,
    const char **config, char *err, size_t errlen)
{
    size_t             plen, len;
    char               name[64];
    const char        *e, *eq;
    const conf_opt_t  *o;

    plen = strlen(CONF_ENV_PREFIX);

    for ( /* void */ ; envp != NULL && *envp != NULL; envp++) {
        e = *envp;
        if (strncmp(e, CONF_ENV_PREFIX, plen) != 0) {
            continue;
        }

        eq = strchr(e, '=');
        if (eq == NULL) {
            continue;
        }

        len = (size_t) (eq - e) - plen;
        if (len >= sizeof(name)) {
            len = sizeof(name) - 1;
        }
        memcpy(name, e + plen, len);
        name[len] = '\0';

        if (strcmp(name, "CONFIG") == 0) {
            *config = eq + 1;
            continue;
        }

        o = conf_find(name, '_');
        if (o == NULL) {
            snprintf(err, errlen, "unknown environment variable %s%s",
                     CONF_ENV_PREFIX, name);
            return -1;
        }

        if (*nenv >= CONF_ARGS_MAX) {
            snprintf(err, errlen, "too many %s variables", CONF_ENV_PREFIX);
            return -1;
        }

        env[*nenv].opt = o;
        env[*nenv].val = eq + 1;
        env[*nenv].name = e;
        (*nenv)++;
    }

    return 0;
}


static int
conf_apply(conf_t *c, const conf_setting_t *s, size_t n, char *err,
    size_t errlen)
{
    size_t  i, len;
    char    msg[CONF_ERR_MAX];

    for (i = 0; i < n; i++) {
        if (s[i].opt->set(c, s[i].val, msg, sizeof(msg)) != 0) {
            len = strcspn(s[i].name, "=");
            snprintf(err, errlen, "%.*s: %s", (int) len, s[i].name, msg);
            return -1;
        }
    }

    return 0;
}


static int
conf_read_file(conf_t *c, const char *path, char *err, size_t errlen)
{
    FILE              *f = NULL;
    char               line[CONF_LINE_MAX], msg[CONF_ERR_MAX];
    char              *key, *val, *eq;
    size_t             len;
    unsigned           lineno = 0;
    int                rc = -1;
    const conf_opt_t  *o;

    if (strlen(path) >= sizeof(c->config_path)) {
        snprintf(err, errlen, "config file name too long");
        return -1;
    }
    snprintf(c->config_path, sizeof(c->config_path), "%s", path);

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "config file %s: %s", path, strerror(errno));
        return -1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;

        len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%u: line too long", path, lineno);
            goto done;
        }

        key = trim(line);
        if (*key == '\0' || *key == '#') {
            continue;
        }

        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%u: expected \"key = value\"", path,
                     lineno);
            goto done;
        }

        *eq = '\0';
        key = trim(key);
        val = trim(eq + 1);

        len = strlen(val);
        if (len >= 2 && val[0] == '"' && val[len - 1] == '"') {
            val[len - 1] = '\0';
            val++;
        }

        o = conf_find(key, '_');
        if (o == NULL) {
            snprintf(err, errlen, "%s:%u: unknown key \"%s\"", path, lineno,
                     key);
            goto done;
        }

        if (o->set(c, val, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, key, msg);
            goto done;
        }
    }

    if (ferror(f)) {
        snprintf(err, errlen, "config file %s: read error", path);
        goto done;
    }

    rc = 0;

done:

    fclose(f);
    return rc;
}


static int
conf_finish(conf_t *c, char *err, size_t errlen)
{
    char  host[256], msg[CONF_ERR_MAX];

    if (c->node_id[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(err, errlen, "cannot read the host name: %s; set "
                     "node_id", strerror(errno));
            return -1;
        }
        host[sizeof(host) - 1] = '\0';
        host[strcspn(host, ".")] = '\0';

        if (cv_node_id(host, c->node_id, sizeof(c->node_id), msg,
                       sizeof(msg)) != 0)
        {
            snprintf(err, errlen, "host name: %s; set node_id", msg);
            return -1;
        }
    }

    if (c->advertise_port == 0) {
        c->advertise_port = c->listen_port;
    }

    if (c->secret_file[0] == '\0') {
        snprintf(err, errlen, "no mesh secret: set secret_file "
                 "(--secret-file, %sSECRET_FILE)", CONF_ENV_PREFIX);
        return -1;
    }

    return cv_secret_file(c->secret_file, c->secret, sizeof(c->secret),
                          &c->secret_len, c->warning, sizeof(c->warning),
                          err, errlen);
}


static char *
trim(char *s)
{
    size_t  len;

    while (isspace((unsigned char) *s)) {
        s++;
    }

    len = strlen(s);
    while (len > 0 && isspace((unsigned char) s[len - 1])) {
        s[--len] = '\0';
    }

    return s;
}


static int
set_orchestrator(conf_t *c, const char *v, char *err, size_t errlen)
{
    /* an empty value runs the agent without joining a mesh */
    if (*v == '\0') {
        c->orchestrator[0] = '\0';
        return 0;
    }

    return cv_url(v, c->orchestrator, sizeof(c->orchestrator), err, errlen);
}


static int
set_listen(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_host_port(v, c->listen_host, sizeof(c->listen_host),
                        &c->listen_port, err, errlen);
}


static int
set_advertise_host(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_host(v, c->advertise_host, sizeof(c->advertise_host), err,
                   errlen);
}


static int
set_advertise_port(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_uint(v, 1, 65535, &c->advertise_port, err, errlen);
}


static int
set_ollama(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_url(v, c->ollama, sizeof(c->ollama), err, errlen);
}


static int
set_node_id(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_node_id(v, c->node_id, sizeof(c->node_id), err, errlen);
}


static int
set_secret_file(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_text(v, c->secret_file, sizeof(c->secret_file), err, errlen);
}


static int
set_mesh(conf_t *c, const char *v, char *err, size_t errlen)
{
    /* the rule of node ids: it travels in a TXT record and in logs */
    if (cv_node_id(v, c->mesh, sizeof(c->mesh), err, errlen) != 0) {
        snprintf(err, errlen, "invalid mesh name \"%.64s\" (1..%d of "
                 "A-Z a-z 0-9 . _ -)", v, CONF_MESH_MAX);
        return -1;
    }

    return 0;
}


static int
set_mdns(conf_t *c, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
        c->mdns = (v[1] == 'n');
        return 0;
    }

    snprintf(err, errlen, "invalid mdns \"%.64s\" (on|off)", v);
    return -1;
}


static int
set_heartbeat(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_duration_ms(v, 100, 600000, &c->heartbeat_ms, err, errlen);
}


static int
set_drain(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_duration_ms(v, 0, 3600000, &c->drain_ms, err, errlen);
}


static int
set_max_tasks(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_uint(v, 1, 1024, &c->max_tasks, err, errlen);
}


static int
set_max_connections(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_uint(v, 1, 1024, &c->max_connections, err, errlen);
}


static int
set_max_body(conf_t *c, const char *v, char *err, size_t errlen)
{
    return cv_size(v, 1024, (size_t) 1024 * 1024 * 1024, &c->max_body, err,
                   errlen);
}


static int
set_log_level(conf_t *c, const char *v, char *err, size_t errlen)
{
    int  level;

    level = log_level_parse(v);
    if (level < 0) {
        snprintf(err, errlen, "invalid level \"%s\" "
                 "(error|warn|info|debug)", v);
        return -1;
    }

    c->log_level = level;
    return 0;
}


/* "name=type[,name=type]..."; a later entry for a model replaces it */
static int
set_model_type(conf_t *c, const char *v, char *err, size_t errlen)
{
    char          item[MODEL_NAME_MAX + 32];
    char         *eq, *name, *type;
    const char   *p, *end;
    size_t        len, i;
    int           t;

    for (p = v; *p != '\0'; p = *end ? end + 1 : end) {
        end = p + strcspn(p, ",");
        len = (size_t) (end - p);

        if (len >= sizeof(item)) {
            snprintf(err, errlen, "entry too long in \"%.64s\"", v);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';

        eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "expected MODEL=TYPE, got \"%s\"", item);
            return -1;
        }
        *eq = '\0';
        name = trim(item);
        type = trim(eq + 1);

        t = model_type_parse(type);
        if (t < 0 || *name == '\0' || strlen(name) > MODEL_NAME_MAX) {
            snprintf(err, errlen, "invalid \"%s=%s\" (TYPE is text, code, "
                     "vision or embedding)", name, type);
            return -1;
        }

        for (i = 0; i < c->ntypes; i++) {
            if (model_name_equal(c->types[i].name, name)) {
                break;
            }
        }

        if (i == CONF_TYPES_MAX) {
            snprintf(err, errlen, "more than %d model types",
                     CONF_TYPES_MAX);
            return -1;
        }

        snprintf(c->types[i].name, sizeof(c->types[i].name), "%s", name);
        c->types[i].type = (model_type_t) t;
        if (i == c->ntypes) {
            c->ntypes++;
        }
    }

    return 0;
}
