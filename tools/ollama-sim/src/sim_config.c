#include <arpa/inet.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_config.h"
#include "sim_time.h"


static int sim_config_long(const char *arg, long min, long max, long *out);
static const char *sim_config_number(sim_config_t *c, int opt,
    const char *arg);
static int sim_config_listen(sim_config_t *c, const char *arg);
static int sim_config_keep_alive(sim_config_t *c, const char *arg);
static int sim_config_add_model(sim_config_t *c, const char *spec,
    char *err, size_t errlen);
static int sim_config_defaults_models(sim_config_t *c);


typedef struct {
    int          opt;
    const char  *flag;
    long         min;
    long         max;
    size_t       offset;        /* of a long in sim_config_t */
} sim_number_opt_t;


sim_config_t  sim_cfg;

static const sim_number_opt_t  sim_number_opts[] = {
    { 't', "--tokens", 0, SIM_TOKENS_MAX, offsetof(sim_config_t, tokens) },
    { 'd', "--token-delay-ms", 0, SIM_DELAY_MAX_MS,
      offsetof(sim_config_t, token_delay_ms) },
    { 'f', "--first-token-delay-ms", 0, SIM_DELAY_MAX_MS,
      offsetof(sim_config_t, first_token_delay_ms) },
    { 'P', "--prompt-delay-ms", 0, SIM_DELAY_MAX_MS,
      offsetof(sim_config_t, first_token_delay_ms) },
    { 'L', "--load-delay-ms", 0, SIM_DELAY_MAX_MS,
      offsetof(sim_config_t, load_delay_ms) },
    { 'M', "--max-loaded-models", 1, SIM_LOADED_MAX,
      offsetof(sim_config_t, max_loaded) },
    { 'p', "--parallel", 1, 1024, offsetof(sim_config_t, parallel) },
    { 'q', "--queue", 0, 100000, offsetof(sim_config_t, queue) },
    { 'e', "--embed-dim", 1, SIM_EMBED_DIM_MAX,
      offsetof(sim_config_t, embed_dim) },
};

static const char  sim_usage[] =
"Usage: ollama-sim [options]\n"
"A stand-in for Ollama that speaks its HTTP API without model weights.\n"
"\n"
"  --listen IPV4:PORT        address to serve, or localhost:PORT (default\n"
"                            127.0.0.1:11434; port 0 picks a free one,\n"
"                            printed on start)\n"
"  --model SPEC              a model to offer, repeatable:\n"
"                            NAME[,family=F][,size=BYTES]"
"[,caps=C1+C2...]\n"
"                            caps: completion vision embedding tools "
"insert\n"
"                            (default: llama3.2 with tools, llava with\n"
"                            vision, nomic-embed-text with embedding)\n"
"  --tokens N                reply length in tokens (default 8)\n"
"  --load-delay-ms MS        load phase: before the first chunk when the\n"
"                            model is not loaded (default 0)\n"
"  --prompt-delay-ms MS      prompt phase: before the first chunk of\n"
"                            every reply (default 0); the reply's status\n"
"                            and headers go out with that first chunk\n"
"  --first-token-delay-ms MS the same as --prompt-delay-ms\n"
"  --token-delay-ms MS       pause before each later token (default 0)\n"
"  --keep-alive D            how long a model stays loaded after its last\n"
"                            request, a Go duration or seconds; negative:\n"
"                            forever (default 5m, OLLAMA_KEEP_ALIVE)\n"
"  --max-loaded-models N     models loaded at once (default 3, Ollama's\n"
"                            default without a GPU)\n"
"  --parallel N              requests generating at once (default 4)\n"
"  --queue N                 requests waiting for a slot (default 16);\n"
"                            beyond that: 503 server busy\n"
"  --embed-dim N             embedding length (default 8)\n"
"  --fault F                 none | refuse[=MS] | hang | 500 |"
" fail-load |\n"
"                            fail-after=N\n"
"  --version-string V        what /api/version reports (default "
SIM_OLLAMA_VERSION ")\n"
"  --verbose                 log connection errors to stderr\n"
"  --help, --version\n"
"\n"
"Replies are deterministic: token 0 is \"[MODEL]\", token i is \" \" and\n"
"the prompt's words in turn (\"...\" for a prompt without words); N is\n"
"--tokens, or options.num_predict when given (done_reason \"length\").\n"
"Test endpoints: GET /_sim/stats, GET|POST /_sim/fault (body: a fault).\n"
"SIGUSR1 (or SIGHUP) clears the fault; SIGTERM or SIGINT stops it.\n";


static int
sim_config_long(const char *arg, long min, long max, long *out)
{
    char  *end = NULL;
    long   v;

    if (arg[0] < '0' || arg[0] > '9') {
        return -1;
    }

    v = strtol(arg, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        return -1;
    }

    *out = v;
    return 0;
}


/* Sets the numeric option opt; returns NULL, or its flag when arg is
 * bad (or opt is no numeric option). */
static const char *
sim_config_number(sim_config_t *c, int opt, const char *arg)
{
    size_t  i;
    long    v;

    for (i = 0; i < sizeof(sim_number_opts) / sizeof(sim_number_opts[0]);
         i++)
    {
        const sim_number_opt_t  *n = &sim_number_opts[i];

        if (n->opt != opt) {
            continue;
        }
        if (sim_config_long(arg, n->min, n->max, &v) != 0) {
            return n->flag;
        }
        *(long *) ((char *) c + n->offset) = v;
        return NULL;
    }

    return "?";
}


/*
 * As Ollama's envconfig.KeepAlive reads OLLAMA_KEEP_ALIVE: a Go
 * duration, else whole seconds; anything negative means forever.
 */
static int
sim_config_keep_alive(sim_config_t *c, const char *arg)
{
    char       *end = NULL;
    long long   secs;
    int64_t     ns;

    if (arg[0] == '\0') {
        return -1;
    }

    if (sim_duration_parse(arg, strlen(arg), &ns) != 0) {
        secs = strtoll(arg, &end, 10);
        if (*end != '\0' || secs > INT64_MAX / SIM_NS_PER_SEC
            || secs < INT64_MIN / SIM_NS_PER_SEC)
        {
            return -1;
        }
        ns = (int64_t) secs * SIM_NS_PER_SEC;
    }

    c->keep_alive_ns = (ns < 0) ? INT64_MAX : ns;
    return 0;
}


static int
sim_config_listen(sim_config_t *c, const char *arg)
{
    const char      *colon = strrchr(arg, ':');
    size_t           hlen;
    long             port;
    struct in_addr   addr;

    if (colon == NULL) {
        return -1;
    }

    hlen = (size_t) (colon - arg);
    if (hlen == 0 || hlen >= sizeof(c->host)) {
        return -1;
    }

    if (sim_config_long(colon + 1, 0, 65535, &port) != 0) {
        return -1;
    }

    memcpy(c->host, arg, hlen);
    c->host[hlen] = '\0';

    /* an IPv4 address; names are not resolved (only "localhost") */
    if (strcmp(c->host, "localhost") != 0
        && inet_pton(AF_INET, c->host, &addr) != 1)
    {
        return -1;
    }
    c->port = (int) port;
    return 0;
}


static int
sim_config_add_model(sim_config_t *c, const char *spec, char *err,
    size_t errlen)
{
    sim_model_t  *m = NULL;
    size_t        i;

    if (c->nmodels == SIM_MODELS_MAX) {
        snprintf(err, errlen, "too many models (max %d)", SIM_MODELS_MAX);
        return -1;
    }

    m = realloc(c->models, (c->nmodels + 1) * sizeof(sim_model_t));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->models = m;

    if (sim_model_parse_spec(spec, &c->models[c->nmodels], err, errlen)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < c->nmodels; i++) {
        if (strcasecmp(c->models[i].name, c->models[c->nmodels].name) == 0) {
            snprintf(err, errlen, "model \"%s\" given twice",
                     c->models[i].name);
            return -1;
        }
    }

    c->nmodels++;
    return 0;
}


static int
sim_config_defaults_models(sim_config_t *c)
{
    static const char  *specs[] = {
        "llama3.2,family=llama,size=2019393189,caps=completion+tools",
        "llava,family=llama,size=4733363377,caps=completion+vision",
        "nomic-embed-text,family=nomic-bert,size=274302450,caps=embedding",
    };
    char                err[128];
    size_t              i;

    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (sim_config_add_model(c, specs[i], err, sizeof(err)) != 0) {
            return -1;
        }
    }
    return 0;
}


sim_config_rc_t
sim_config_parse(sim_config_t *c, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "model", required_argument, NULL, 'm' },
        { "tokens", required_argument, NULL, 't' },
        { "token-delay-ms", required_argument, NULL, 'd' },
        { "first-token-delay-ms", required_argument, NULL, 'f' },
        { "prompt-delay-ms", required_argument, NULL, 'P' },
        { "load-delay-ms", required_argument, NULL, 'L' },
        { "max-loaded-models", required_argument, NULL, 'M' },
        { "keep-alive", required_argument, NULL, 'K' },
        { "parallel", required_argument, NULL, 'p' },
        { "queue", required_argument, NULL, 'q' },
        { "embed-dim", required_argument, NULL, 'e' },
        { "fault", required_argument, NULL, 'F' },
        { "version-string", required_argument, NULL, 'V' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };

    char         err[192];
    const char  *what = NULL;
    int          opt;

    memset(c, 0, sizeof(*c));
    snprintf(c->host, sizeof(c->host), "127.0.0.1");
    c->port = 11434;
    c->tokens = 8;
    c->parallel = 4;
    c->queue = 16;
    c->embed_dim = 8;
    c->max_loaded = 3;
    c->keep_alive_ns = 300 * SIM_NS_PER_SEC;
    snprintf(c->version, sizeof(c->version), "%s", SIM_OLLAMA_VERSION);

    err[0] = '\0';
    opterr = 0;
    optind = 1;

    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (sim_config_listen(c, optarg) != 0) {
                snprintf(err, sizeof(err), "bad --listen \"%.64s\" "
                         "(want IPV4:PORT)", optarg);
            }
            break;
        case 'm':
            if (sim_config_add_model(c, optarg, err, sizeof(err)) != 0) {
                what = "--model";
            }
            break;
        case 't':
        case 'd':
        case 'f':
        case 'p':
        case 'q':
        case 'e':
        case 'P':
        case 'L':
        case 'M':
            what = sim_config_number(c, opt, optarg);
            break;
        case 'K':
            if (sim_config_keep_alive(c, optarg) != 0) {
                what = "--keep-alive";
            }
            break;
        case 'F':
            if (sim_fault_parse(optarg, strlen(optarg), &c->fault, err,
                                sizeof(err)) != 0)
            {
                what = "--fault";
            }
            break;
        case 'V':
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(c->version)) {
                what = "--version-string";
            } else {
                snprintf(c->version, sizeof(c->version), "%s", optarg);
            }
            break;
        case 'v':
            c->verbose = 1;
            break;
        case 'h':
            fputs(sim_usage, stdout);
            return SIM_CONFIG_EXIT_OK;
        case 'r':
            printf("ollama-sim %s\n", SIM_VERSION);
            return SIM_CONFIG_EXIT_OK;
        case ':':
            snprintf(err, sizeof(err), "option %.64s needs a value",
                     argv[optind - 1]);
            break;
        default:
            snprintf(err, sizeof(err), "unknown option \"%.64s\"",
                     argv[optind - 1]);
            break;
        }

        if (what != NULL || err[0] != '\0') {
            goto usage;
        }
    }

    if (optind < argc) {
        snprintf(err, sizeof(err), "unexpected argument \"%.64s\"",
                 argv[optind]);
        goto usage;
    }

    if (c->nmodels == 0 && sim_config_defaults_models(c) != 0) {
        snprintf(err, sizeof(err), "out of memory");
        goto usage;
    }

    return SIM_CONFIG_RUN;

usage:

    if (what != NULL && err[0] != '\0') {
        fprintf(stderr, "ollama-sim: %s: %s (see --help)\n", what, err);
    } else if (what != NULL) {
        fprintf(stderr, "ollama-sim: bad value \"%.64s\" for %s "
                "(see --help)\n", optarg, what);
    } else {
        fprintf(stderr, "ollama-sim: %s (see --help)\n", err);
    }

    return SIM_CONFIG_EXIT_USAGE;
}


void
sim_config_free(sim_config_t *c)
{
    free(c->models);
    c->models = NULL;
    c->nmodels = 0;
}
