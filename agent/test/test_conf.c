/*
 * Configuration: precedence flag > environment > file > default, value
 * checks, and one clear message for every kind of mistake.
 */

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "conf.h"
#include "model.h"


static char  tmpdir[256];
static char  secret_path[300];


static void
write_file(const char *path, const char *text, int mode)
{
    FILE  *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t) mode);
}


static conf_result_t
load(conf_t *c, char **argv, char **envp, char *err)
{
    int  argc = 0;

    while (argv[argc] != NULL) {
        argc++;
    }

    err[0] = '\0';
    return conf_load(c, argc, argv, envp, err, 512);
}


static void
test_defaults(void)
{
    conf_t   c;
    char     err[512];
    char    *argv[] = { "echo-agent", "--secret-file", secret_path, NULL };
    char    *envp[] = { "PATH=/bin", NULL };

    CHECK_INT(load(&c, argv, envp, err), CONF_OK);
    CHECK_STR(err, "");
    CHECK_STR(c.listen_host, "0.0.0.0");
    CHECK_INT(c.listen_port, 50052);
    CHECK_INT(c.advertise_port, 50052);
    CHECK_STR(c.ollama, "http://127.0.0.1:11434");
    CHECK_STR(c.orchestrator, "");
    CHECK_INT(c.heartbeat_ms, 3000);
    CHECK_INT(c.max_tasks, 4);
    CHECK_INT(c.max_body, 16 * 1024 * 1024);
    CHECK_STR(c.secret, "0123456789abcdef-mesh");
    CHECK_INT(c.secret_len, 21);
    CHECK(c.node_id[0] != '\0');
    CHECK(strchr(c.node_id, '.') == NULL);
    CHECK_STR(c.mesh, "default");
    CHECK_INT(c.mdns, 1);
    CHECK_STR(c.warning, "");
}


static void
test_precedence(void)
{
    conf_t   c;
    char     err[512], file[300], cfg_env[320];
    char    *argv[] = { "echo-agent", "-c", file, "--max-tasks", "9",
                        "--model-type=llava=code", NULL };
    char    *envp[] = { "ECHO_AGENT_MAX_TASKS=7", "ECHO_AGENT_NODE_ID=env-id",
                        "ECHO_AGENT_MODEL_TYPE=mistral=code,phi3=vision",
                        "HOME=/root", NULL };
    char    *envp2[] = { cfg_env, NULL };
    char    *argv2[] = { "echo-agent", NULL };

    snprintf(file, sizeof(file), "%s/agent.conf", tmpdir);
    snprintf(cfg_env, sizeof(cfg_env), "ECHO_AGENT_CONFIG=%s", file);

    {
        char  text[1024];

        snprintf(text, sizeof(text),
                 "# an example\n"
                 "   \n"
                 "orchestrator = http://127.0.0.1:8080/\n"
                 "listen = 127.0.0.1:6000\n"
                 "node_id = file-id\n"
                 "max_tasks = 5\n"
                 "heartbeat_interval = 300ms\n"
                 "secret_file = \"%s\"\n"
                 "model_type = llava=vision, mistral = text\n"
                 "model_type = qwen:7b=embedding\n"
                 "log_level = debug\n", secret_path);
        write_file(file, text, 0600);
    }

    CHECK_INT(load(&c, argv, envp, err), CONF_OK);
    CHECK_STR(err, "");
    CHECK_INT(c.max_tasks, 9);
    CHECK_STR(c.node_id, "env-id");
    CHECK_STR(c.orchestrator, "http://127.0.0.1:8080");
    CHECK_STR(c.listen_host, "127.0.0.1");
    CHECK_INT(c.listen_port, 6000);
    CHECK_INT(c.advertise_port, 6000);
    CHECK_INT(c.heartbeat_ms, 300);
    CHECK_INT(c.log_level, 3);
    CHECK_INT(c.ntypes, 4);
    CHECK_INT(conf_model_type(&c, "llava:latest"), MODEL_CODE);
    CHECK_INT(conf_model_type(&c, "mistral"), MODEL_CODE);
    CHECK_INT(conf_model_type(&c, "phi3"), MODEL_VISION);
    CHECK_INT(conf_model_type(&c, "qwen:7b"), MODEL_EMBEDDING);
    CHECK_INT(conf_model_type(&c, "qwen"), -1);

    /* the file can also come from the environment */
    CHECK_INT(load(&c, argv2, envp2, err), CONF_OK);
    CHECK_INT(c.max_tasks, 5);
    CHECK_STR(c.node_id, "file-id");
    CHECK_STR(c.config_path, file);
}


typedef struct {
    const char  *file;
    const char  *arg;
    const char  *env;
    const char  *want;
} bad_case_t;


/* a flag wins over the environment, as for every key */
static void
test_mdns_keys(void)
{
    conf_t   c;
    char     err[512];
    char    *argv[] = { "echo-agent", "--secret-file", secret_path,
                        "--mesh", "lab-2", "--mdns", "off", NULL };
    char    *envp[] = { "ECHO_AGENT_MDNS=on", "ECHO_AGENT_MESH=x", NULL };

    CHECK_INT(load(&c, argv, envp, err), CONF_OK);
    CHECK_STR(c.mesh, "lab-2");
    CHECK_INT(c.mdns, 0);
}


static void
test_errors(void)
{
    static const bad_case_t  cases[] = {
        { "bogus = 1\n", NULL, NULL, "agent.conf:2: unknown key \"bogus\"" },
        { "\nlisten\n", NULL, NULL,
          "agent.conf:3: expected \"key = value\"" },
        { "max_tasks = lots\n", NULL, NULL,
          "agent.conf:2: max_tasks: invalid number \"lots\"" },
        { "max_tasks = 0\n", NULL, NULL,
          "agent.conf:2: max_tasks: 0 is out of range 1..1024" },
        { "ollama = ftp://x\n", NULL, NULL,
          "agent.conf:2: ollama: invalid URL \"ftp://x\" (http:// or "
          "https://)" },
        { "orchestrator = not a url\n", NULL, NULL,
          "orchestrator: invalid URL \"not a url\"" },
        { "listen = 1.2.3.4\n", NULL, NULL,
          "listen: invalid address \"1.2.3.4\" (HOST:PORT)" },
        { "listen = 1.2.3.4:70000\n", NULL, NULL,
          "listen: invalid address \"1.2.3.4:70000\" (HOST:PORT)" },
        { "heartbeat_interval = 5 s\n", NULL, NULL,
          "heartbeat_interval: invalid duration \"5 s\" (e.g. 300ms, 3s, "
          "1m)" },
        { "heartbeat_interval = 10ms\n", NULL, NULL,
          "heartbeat_interval: 10ms is out of range 100ms..600000ms" },
        { "node_id = bad/id\n", NULL, NULL,
          "node_id: invalid node id \"bad/id\"" },
        { "model_type = llava\n", NULL, NULL,
          "model_type: expected MODEL=TYPE, got \"llava\"" },
        { "model_type = llava=audio\n", NULL, NULL,
          "model_type: invalid \"llava=audio\" (TYPE is text, code, vision "
          "or embedding)" },
        { "log_level = loud\n", NULL, NULL,
          "log_level: invalid level \"loud\" (error|warn|info|debug)" },
        { "max_body = 12q\n", NULL, NULL,
          "max_body: invalid size \"12q\"" },
        { "mesh = my mesh\n", NULL, NULL,
          "mesh: invalid mesh name \"my mesh\" (1..63 of" },
        { "mesh = "
          "m123456789m123456789m123456789m123456789m123456789m123456789"
          "m123\n", NULL, NULL, "mesh: invalid mesh name" },
        { "mdns = yes\n", NULL, NULL,
          "mdns: invalid mdns \"yes\" (on|off)" },
        { "", "--bogus", NULL, "unknown option \"--bogus\" (see --help)" },
        { "", "--max_tasks=3", NULL,
          "unknown option \"--max_tasks\" (see --help)" },
        { "", "stray", NULL, "unexpected argument \"stray\" (see --help)" },
        { "", "--max-tasks=x", NULL,
          "--max-tasks: invalid number \"x\"" },
        { "", "--max-tasks", NULL, "--max-tasks: missing value" },
        { "", NULL, "ECHO_AGENT_MAX_TASKS=-1",
          "ECHO_AGENT_MAX_TASKS: invalid number \"-1\"" },
        { "", NULL, "ECHO_AGENT_COLOUR=red",
          "unknown environment variable ECHO_AGENT_COLOUR" },
        { NULL, NULL, NULL, NULL }
    };
    const bad_case_t  *bc;
    conf_t             c;
    char               err[512], file[300], text[600], env[320];
    char              *argv[6], *envp[3];
    int                argc;

    snprintf(file, sizeof(file), "%s/agent.conf", tmpdir);

    for (bc = cases; bc->file != NULL; bc++) {
        snprintf(text, sizeof(text), "secret_file = %s\n%s", secret_path,
                 bc->file);
        write_file(file, text, 0600);

        argc = 0;
        argv[argc++] = "echo-agent";
        argv[argc++] = "--config";
        argv[argc++] = file;
        if (bc->arg != NULL) {
            argv[argc++] = (char *) bc->arg;
        }
        argv[argc] = NULL;

        snprintf(env, sizeof(env), "%s", bc->env ? bc->env : "X=1");
        envp[0] = env;
        envp[1] = NULL;

        unit_checks++;
        if (load(&c, argv, envp, err) != CONF_ERROR
            || strstr(err, bc->want) == NULL)
        {
            unit_failures++;
            fprintf(stderr, "bad config %s%s: got \"%s\", want \"%s\"\n",
                    bc->file, bc->arg ? bc->arg : "", err, bc->want);
        }
    }
}


static void
test_secret(void)
{
    conf_t   c;
    char     err[512], path[300];
    char    *argv[] = { "echo-agent", "--secret-file", path, NULL };
    char    *envp[] = { NULL };

    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    CHECK_INT(load(&c, argv, envp, err), CONF_ERROR);
    CHECK(strstr(err, "No such file or directory") != NULL);

    snprintf(path, sizeof(path), "%s/short", tmpdir);
    write_file(path, "tooshort\n", 0600);
    CHECK_INT(load(&c, argv, envp, err), CONF_ERROR);
    CHECK(strstr(err, "the secret must be 16..512 characters, found 8")
          != NULL);

    snprintf(path, sizeof(path), "%s/spaces", tmpdir);
    write_file(path, "a secret with spaces in it\n", 0600);
    CHECK_INT(load(&c, argv, envp, err), CONF_ERROR);
    CHECK(strstr(err, "printable ASCII without spaces") != NULL);

    snprintf(path, sizeof(path), "%s/unreadable", tmpdir);
    write_file(path, "0123456789abcdef0123\n", 0000);
    if (geteuid() != 0) {
        CHECK_INT(load(&c, argv, envp, err), CONF_ERROR);
        CHECK(strstr(err, "Permission denied") != NULL);
    }

    snprintf(path, sizeof(path), "%s/open", tmpdir);
    write_file(path, "0123456789abcdef0123\r\n", 0644);
    CHECK_INT(load(&c, argv, envp, err), CONF_OK);
    CHECK_STR(c.secret, "0123456789abcdef0123");
    CHECK(strstr(c.warning, "readable by other users") != NULL);

    {
        char  *none[] = { "echo-agent", NULL };

        CHECK_INT(load(&c, none, envp, err), CONF_ERROR);
        CHECK(strstr(err, "no mesh secret") != NULL);
    }
}


static void
test_help(void)
{
    conf_t   c;
    char     err[512];
    char    *help[] = { "echo-agent", "--bogus", "-h", NULL };
    char    *version[] = { "echo-agent", "--version", NULL };
    char    *envp[] = { NULL };
    FILE    *f;
    char     text[4096];
    size_t   n;

    /* a flag before --help that is wrong is reported first */
    CHECK_INT(load(&c, help, envp, err), CONF_ERROR);
    help[1] = "-V";
    CHECK_INT(load(&c, help, envp, err), CONF_VERSION);
    help[1] = "--max-tasks=1";
    CHECK_INT(load(&c, help, envp, err), CONF_HELP);
    CHECK_INT(load(&c, version, envp, err), CONF_VERSION);

    f = tmpfile();
    conf_usage(f);
    rewind(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);

    CHECK(strstr(text, "--heartbeat-interval TIME") != NULL);
    CHECK(strstr(text, "--model-type MODEL=TYPE") != NULL);
    CHECK(strstr(text, "command-line flag > environment > config file")
          != NULL);
}


int
main(void)
{
    char  cmd[300];

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/echo-agent-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(secret_path, sizeof(secret_path), "%s/secret", tmpdir);
    write_file(secret_path, "0123456789abcdef-mesh\n", 0600);

    test_defaults();
    test_precedence();
    test_mdns_keys();
    test_errors();
    test_secret();
    test_help();

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }

    return UNIT_DONE();
}
