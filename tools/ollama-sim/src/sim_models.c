#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_json.h"
#include "sim_models.h"
#include "sim_time.h"
#include "sim_tokens.h"

/* What /api/ps can show of "forever": Go prints a year near 2318. */
#define SIM_FOREVER_NS          (100LL * 365 * 86400 * SIM_NS_PER_SEC)


typedef struct {
    const sim_model_t  *m;
    int64_t             expires_ns;
    int64_t             expires_s;
} sim_ps_entry_t;


typedef struct {
    const char  *key;
    int          is_str;
    const char  *str;
    long long    num;
} sim_info_t;


static int sim_models_write_list(sim_buf_t *b, int openai);
static void sim_write_details(sim_buf_t *b, const sim_model_t *m);
static void sim_param_size(const sim_model_t *m, char *out, size_t size);
static long long sim_param_count(const sim_model_t *m);
static int sim_info_cmp(const void *a, const void *b);
static int sim_modified_cmp(const void *a, const void *b);
static sim_model_t *sim_models_lookup(const char *name, size_t n);
static void sim_models_expire_idle(int64_t now);
static sim_model_t *sim_models_victim(void);
static int64_t sim_expiry(const sim_model_t *m, int64_t now);
static int sim_ps_cmp(const void *a, const void *b);


static pthread_mutex_t  sim_models_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_model_t      sim_models[SIM_MODELS_MAX];
static size_t           sim_nmodels;
static int64_t          sim_keep_alive_ns = 300 * SIM_NS_PER_SEC;
static int64_t          sim_load_ns;
static long             sim_max_loaded = 3;


static int
sim_name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}


/*
 * Checks a name the way Ollama's model.ParseName accepts it (a
 * simplified "[host/][namespace/]model[:tag]") and adds ":latest" when
 * the tag is missing.  Returns -1 for an invalid name.
 */
int
sim_model_name_norm(const char *in, size_t n, char *out, size_t size)
{
    size_t  i, colon = 0, ncolon = 0;

    if (n == 0 || n > SIM_NAME_MAX - 7 || n + 8 > size) {
        return -1;
    }

    if (!isalnum((unsigned char) in[0])) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        unsigned char  c = (unsigned char) in[i];

        if (c == '/') {
            if (ncolon > 0 || i + 1 == n || in[i + 1] == '/') {
                return -1;
            }
        } else if (c == ':') {
            ncolon++;
            colon = i;
        } else if (!sim_name_char(c)) {
            return -1;
        }
    }

    if (ncolon > 1 || (ncolon == 1 && colon + 1 == n)) {
        return -1;
    }

    memcpy(out, in, n);
    out[n] = '\0';

    if (ncolon == 0) {
        memcpy(out + n, ":latest", sizeof(":latest"));
    }

    return 0;
}


/* What a model is like when nobody said: guessed from its name. */
int
sim_model_defaults(sim_model_t *m, const char *name, size_t n)
{
    const char  *base = NULL, *p = NULL;
    size_t       i, len;
    uint32_t     h;
    char         lower[SIM_NAME_MAX + 1];

    memset(m, 0, sizeof(*m));

    if (sim_model_name_norm(name, n, m->name, sizeof(m->name)) != 0) {
        return -1;
    }

    base = strrchr(m->name, '/');
    base = (base != NULL) ? base + 1 : m->name;

    len = 0;
    for (p = base; *p != '\0' && isalpha((unsigned char) *p)
         && len < SIM_FAMILY_MAX; p++)
    {
        m->family[len++] = (char) tolower((unsigned char) *p);
    }
    m->family[len] = '\0';
    if (len == 0) {
        snprintf(m->family, sizeof(m->family), "llama");
    }

    for (i = 0; m->name[i] != '\0'; i++) {
        lower[i] = (char) tolower((unsigned char) m->name[i]);
    }
    lower[i] = '\0';

    if (strstr(lower, "embed") != NULL) {
        m->caps = SIM_CAP_EMBEDDING;
        m->size = 274302450;
    } else {
        m->caps = SIM_CAP_COMPLETION;
        m->size = 4000000000LL;
        if (strstr(lower, "llava") != NULL || strstr(lower, "vision") != NULL
            || strstr(lower, "-vl") != NULL)
        {
            m->caps |= SIM_CAP_VISION;
        }
    }

    /* 64 hex digits, shaped like the sha256 Ollama shows */
    for (i = 0; i < 8; i++) {
        h = sim_hash32(lower, strlen(lower), (uint32_t) i + 7u);
        snprintf(m->digest + i * 8, sizeof(m->digest) - i * 8, "%08x", h);
    }

    m->modified_ns = sim_real_ns();
    return 0;
}


/* NAME[,family=F][,size=BYTES][,caps=completion+vision+embedding+tools] */
int
sim_model_parse_spec(const char *spec, sim_model_t *m, char *err,
    size_t errlen)
{
    const char  *p = NULL, *end = NULL, *v = NULL, *w = NULL;
    size_t       klen, vlen, wlen, i;
    char        *num_end = NULL;
    char         num[32];
    long long    size;
    unsigned     caps;

    static const struct {
        const char  *name;
        unsigned     cap;
    } cap_names[] = {
        { "completion", SIM_CAP_COMPLETION },
        { "vision", SIM_CAP_VISION },
        { "embedding", SIM_CAP_EMBEDDING },
        { "tools", SIM_CAP_TOOLS },
        { "insert", SIM_CAP_INSERT },
        { "thinking", SIM_CAP_THINKING },
    };

    end = strchr(spec, ',');
    if (end == NULL) {
        end = spec + strlen(spec);
    }

    if (sim_model_defaults(m, spec, (size_t) (end - spec)) != 0) {
        snprintf(err, errlen, "invalid model name \"%.*s\"",
                 (int) (end - spec > 64 ? 64 : end - spec), spec);
        return -1;
    }

    for (p = end; *p == ','; p = end) {
        p++;
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }

        v = memchr(p, '=', (size_t) (end - p));
        if (v == NULL) {
            snprintf(err, errlen, "model option \"%.*s\" needs a value",
                     (int) (end - p > 64 ? 64 : end - p), p);
            return -1;
        }
        klen = (size_t) (v - p);
        v++;
        vlen = (size_t) (end - v);

        if (klen == 6 && memcmp(p, "family", 6) == 0) {
            if (vlen == 0 || vlen > SIM_FAMILY_MAX) {
                goto bad_value;
            }
            for (i = 0; i < vlen; i++) {
                if (!sim_name_char((unsigned char) v[i])) {
                    goto bad_value;
                }
            }
            memcpy(m->family, v, vlen);
            m->family[vlen] = '\0';

        } else if (klen == 4 && memcmp(p, "size", 4) == 0) {
            if (vlen == 0 || vlen >= sizeof(num)) {
                goto bad_value;
            }
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            size = strtoll(num, &num_end, 10);
            if (*num_end != '\0' || size <= 0 || size > SIM_SIZE_MAX) {
                goto bad_value;
            }
            m->size = size;

        } else if (klen == 4 && memcmp(p, "caps", 4) == 0) {
            caps = 0;
            for (w = v; w < end; w += wlen + 1) {
                const char  *plus = memchr(w, '+', (size_t) (end - w));

                wlen = (size_t) ((plus != NULL ? plus : end) - w);
                for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]);
                     i++)
                {
                    if (strlen(cap_names[i].name) == wlen
                        && memcmp(cap_names[i].name, w, wlen) == 0)
                    {
                        break;
                    }
                }
                if (i == sizeof(cap_names) / sizeof(cap_names[0])) {
                    goto bad_value;
                }
                caps |= cap_names[i].cap;
            }
            if (caps == 0) {
                goto bad_value;
            }
            m->caps = caps;

        } else {
            snprintf(err, errlen, "unknown model option \"%.*s\"",
                     (int) (klen > 64 ? 64 : klen), p);
            return -1;
        }
    }

    return 0;

bad_value:

    snprintf(err, errlen, "bad value \"%.*s\" for model option \"%.*s\"",
             (int) (vlen > 64 ? 64 : vlen), v, (int) (klen > 16 ? 16 : klen),
             p);
    return -1;
}


/* The fully qualified name Ollama puts in some errors. */
const char *
sim_model_full_name(const sim_model_t *m, char *out, size_t size)
{
    const char  *slash = strchr(m->name, '/');
    const char  *last = strrchr(m->name, '/');

    if (slash == NULL) {
        snprintf(out, size, "registry.ollama.ai/library/%s", m->name);
    } else if (slash == last) {
        snprintf(out, size, "registry.ollama.ai/%s", m->name);
    } else {
        snprintf(out, size, "%s", m->name);
    }

    return out;
}


void
sim_models_init(void)
{
    pthread_mutex_lock(&sim_models_lock);
    sim_nmodels = 0;
    pthread_mutex_unlock(&sim_models_lock);
}


void
sim_models_fini(void)
{
    sim_models_init();
}


/* Caller holds the lock. */
static sim_model_t *
sim_models_lookup(const char *name, size_t n)
{
    char    norm[SIM_NAME_MAX + 8];
    size_t  i;

    if (memchr(name, '\0', n) != NULL
        || sim_model_name_norm(name, n, norm, sizeof(norm)) != 0)
    {
        return NULL;
    }

    for (i = 0; i < sim_nmodels; i++) {
        if (strcasecmp(sim_models[i].name, norm) == 0) {
            return &sim_models[i];
        }
    }

    return NULL;
}


/* Adds m, or replaces the model of the same name.  -1 when full. */
int
sim_models_add(const sim_model_t *m)
{
    sim_model_t  *old = NULL;
    int           rc = 0;

    pthread_mutex_lock(&sim_models_lock);

    old = sim_models_lookup(m->name, strlen(m->name));
    if (old != NULL) {
        /* a pull over a loaded model keeps it loaded */
        sim_model_t  keep = *old;

        *old = *m;
        old->loaded = keep.loaded;
        old->refs = keep.refs;
        old->ready_ns = keep.ready_ns;
        old->session_ns = keep.session_ns;
        old->expires_ns = keep.expires_ns;
    } else if (sim_nmodels < SIM_MODELS_MAX) {
        sim_models[sim_nmodels++] = *m;
    } else {
        rc = -1;
    }

    pthread_mutex_unlock(&sim_models_lock);
    return rc;
}


int
sim_models_find(const char *name, size_t n, sim_model_t *out)
{
    sim_model_t  *m = NULL;

    pthread_mutex_lock(&sim_models_lock);
    m = sim_models_lookup(name, n);
    if (m != NULL && out != NULL) {
        *out = *m;
    }
    pthread_mutex_unlock(&sim_models_lock);

    return m != NULL ? 0 : -1;
}


int
sim_models_delete(const char *name, size_t n)
{
    sim_model_t  *m = NULL;
    size_t        i;

    pthread_mutex_lock(&sim_models_lock);

    m = sim_models_lookup(name, n);
    if (m != NULL) {
        i = (size_t) (m - sim_models);
        memmove(m, m + 1, (sim_nmodels - i - 1) * sizeof(sim_model_t));
        sim_nmodels--;
    }

    pthread_mutex_unlock(&sim_models_lock);
    return m != NULL ? 0 : -1;
}


void
sim_models_configure(int64_t keep_alive_ns, int64_t load_ns, long max_loaded)
{
    pthread_mutex_lock(&sim_models_lock);
    sim_keep_alive_ns = keep_alive_ns;
    sim_load_ns = load_ns;
    sim_max_loaded = max_loaded;
    pthread_mutex_unlock(&sim_models_lock);
}


/* Caller holds the lock.  The expiry timers of Ollama's scheduler. */
static void
sim_models_expire_idle(int64_t now)
{
    size_t  i;

    for (i = 0; i < sim_nmodels; i++) {
        sim_model_t  *m = &sim_models[i];

        if (m->loaded && m->refs == 0 && m->expires_ns != 0
            && m->expires_ns <= now)
        {
            m->loaded = 0;
        }
    }
}


/*
 * Caller holds the lock.  sched.go findRunnerToUnload: the idle model
 * with the shortest keep_alive, then the first by name (ByDurationAndName);
 * Ollama does not pick by last use.  NULL when every one is busy: Ollama
 * then waits for the request using it to end.
 */
static sim_model_t *
sim_models_victim(void)
{
    sim_model_t  *best = NULL;
    size_t        i;

    for (i = 0; i < sim_nmodels; i++) {
        sim_model_t  *m = &sim_models[i];

        if (!m->loaded || m->refs > 0) {
            continue;
        }
        if (best == NULL || (uint64_t) m->session_ns
                            < (uint64_t) best->session_ns
            || (m->session_ns == best->session_ns
                && strcmp(m->name, best->name) < 0))
        {
            best = m;
        }
    }

    return best;
}


/*
 * A request begins to use a model (sched.go getRunner, useLoadedRunner
 * and load): *wait_ns is how long it waits for the model to be loaded,
 * *loading says whether this request started the load.  keep_alive_ns
 * is the request's keep_alive, or -1 for none.
 */
sim_use_rc_t
sim_models_use(const char *name, int64_t keep_alive_ns, int64_t *wait_ns,
    int *loading)
{
    sim_model_t  *m = NULL, *victim = NULL;
    int64_t       mono = sim_mono_ns();
    size_t        i;
    long          nloaded = 0;

    *wait_ns = 0;
    *loading = 0;

    pthread_mutex_lock(&sim_models_lock);
    sim_models_expire_idle(sim_real_ns());

    m = sim_models_lookup(name, strlen(name));
    if (m == NULL) {
        pthread_mutex_unlock(&sim_models_lock);
        return SIM_USE_MISSING;
    }

    if (m->loaded) {
        m->refs++;
        if (keep_alive_ns >= 0) {
            m->session_ns = keep_alive_ns;
        }
        *wait_ns = m->ready_ns > mono ? m->ready_ns - mono : 0;
        pthread_mutex_unlock(&sim_models_lock);
        return SIM_USE_OK;
    }

    for (i = 0; i < sim_nmodels; i++) {
        nloaded += sim_models[i].loaded;
    }

    if (nloaded >= sim_max_loaded) {
        victim = sim_models_victim();
        if (victim == NULL) {
            pthread_mutex_unlock(&sim_models_lock);
            return SIM_USE_WAIT;
        }
        victim->loaded = 0;
    }

    m->loaded = 1;
    m->refs = 1;
    m->session_ns = keep_alive_ns >= 0 ? keep_alive_ns : sim_keep_alive_ns;
    m->ready_ns = mono + sim_load_ns;
    m->expires_ns = 0;
    *wait_ns = sim_load_ns;
    *loading = 1;

    pthread_mutex_unlock(&sim_models_lock);
    return SIM_USE_OK;
}


/* The request ends (sched.go processCompleted); a failed load unloads. */
void
sim_models_release(const char *name, int load_failed)
{
    sim_model_t  *m = NULL;
    int64_t       keep;

    pthread_mutex_lock(&sim_models_lock);

    m = sim_models_lookup(name, strlen(name));
    if (m == NULL || !m->loaded) {
        pthread_mutex_unlock(&sim_models_lock);
        return;
    }

    if (m->refs > 0) {
        m->refs--;
    }

    if (load_failed) {
        m->loaded = 0;
        m->refs = 0;
    } else if (m->refs == 0) {
        if (m->session_ns <= 0) {
            m->loaded = 0;
        } else {
            keep = m->session_ns < SIM_FOREVER_NS ? m->session_ns
                                                  : SIM_FOREVER_NS;
            m->expires_ns = sim_real_ns() + keep;
        }
    }

    pthread_mutex_unlock(&sim_models_lock);
}


/* keep_alive 0 with nothing to do (sched.go expireRunner): unload now,
 * or as soon as the requests using it end. */
void
sim_models_expire(const char *name)
{
    sim_model_t  *m = NULL;

    pthread_mutex_lock(&sim_models_lock);
    m = sim_models_lookup(name, strlen(name));
    if (m != NULL && m->loaded) {
        m->session_ns = 0;
        m->expires_ns = sim_real_ns();
        if (m->refs == 0) {
            m->loaded = 0;
        }
    }
    pthread_mutex_unlock(&sim_models_lock);
}


/* PsHandler's expires_at; a model not yet released has none set, so
 * Ollama's loadedModels estimates it from its keep_alive. */
static int64_t
sim_expiry(const sim_model_t *m, int64_t now)
{
    if (m->expires_ns != 0) {
        return m->expires_ns;
    }
    return now + (m->session_ns < SIM_FOREVER_NS ? m->session_ns
                                                 : SIM_FOREVER_NS);
}


static int
sim_ps_cmp(const void *a, const void *b)
{
    const sim_ps_entry_t  *x = a;
    const sim_ps_entry_t  *y = b;

    if (x->expires_s != y->expires_s) {
        return x->expires_s > y->expires_s ? -1 : 1;
    }
    return x->m < y->m ? -1 : (x->m > y->m);
}


static long long
sim_param_count(const sim_model_t *m)
{
    /* F16 is 2 bytes a parameter, Q4_0 about 4.5 bits */
    if (m->caps & SIM_CAP_EMBEDDING) {
        return m->size / 2;
    }
    return (long long) ((double) m->size / 0.5625);
}


static void
sim_param_size(const sim_model_t *m, char *out, size_t size)
{
    double  params = (double) sim_param_count(m);

    if (params >= 1e9) {
        snprintf(out, size, "%.1fB", params / 1e9);
    } else {
        snprintf(out, size, "%.0fM", params / 1e6);
    }
}


static void
sim_write_details(sim_buf_t *b, const sim_model_t *m)
{
    char  psize[32];

    sim_param_size(m, psize, sizeof(psize));

    sim_json_key(b, "details");
    sim_buf_addc(b, '{');
    sim_json_kcstr(b, "parent_model", "");
    sim_json_kcstr(b, "format", "gguf");
    sim_json_kcstr(b, "family", m->family);
    sim_json_key(b, "families");
    sim_buf_addc(b, '[');
    sim_json_cstr(b, m->family);
    sim_buf_addc(b, ']');
    sim_json_kcstr(b, "parameter_size", psize);
    sim_json_kcstr(b, "quantization_level",
                   (m->caps & SIM_CAP_EMBEDDING) ? "F16" : "Q4_0");
    sim_buf_addc(b, '}');
}


/* Newest first, as Ollama lists them; ties keep their order. */
static int
sim_modified_cmp(const void *a, const void *b)
{
    const sim_model_t  *x = *(const sim_model_t * const *) a;
    const sim_model_t  *y = *(const sim_model_t * const *) b;

    if (x->modified_ns != y->modified_ns) {
        return x->modified_ns > y->modified_ns ? -1 : 1;
    }
    return x < y ? -1 : (x > y);
}


int
sim_models_write_tags(sim_buf_t *b)
{
    return sim_models_write_list(b, 0);
}


int
sim_models_write_openai(sim_buf_t *b)
{
    return sim_models_write_list(b, 1);
}


/* openai.ToModel: the name's namespace owns it ("library" if bare) */
void
sim_models_write_oa_model(sim_buf_t *b, const char *name, int64_t ns)
{
    const char  *slash, *ns_start;

    slash = strrchr(name, '/');
    ns_start = name;

    if (slash != NULL) {
        /* host/namespace/model: the part just before the model */
        for (ns_start = slash; ns_start > name && ns_start[-1] != '/';
             ns_start--)
        {
            /* void */
        }
    }

    sim_buf_addc(b, '{');
    sim_json_kcstr(b, "id", name);
    sim_json_kcstr(b, "object", "model");
    sim_json_kint(b, "created", ns / 1000000000LL);
    if (slash != NULL) {
        sim_json_kstr(b, "owned_by", ns_start, (size_t) (slash - ns_start));
    } else {
        sim_json_kcstr(b, "owned_by", "library");
    }
    sim_buf_addc(b, '}');
}


/* ListHandler's order, in Ollama's shape or the OpenAI middleware's */
static int
sim_models_write_list(sim_buf_t *b, int openai)
{
    const sim_model_t  *order[SIM_MODELS_MAX];
    size_t              i, n;

    pthread_mutex_lock(&sim_models_lock);

    n = sim_nmodels;
    for (i = 0; i < n; i++) {
        order[i] = &sim_models[i];
    }
    qsort(order, n, sizeof(order[0]), sim_modified_cmp);

    if (openai && n == 0) {
        /* Go marshals the empty slice it never made as null */
        sim_buf_adds(b, "{\"object\":\"list\",\"data\":null}");
        pthread_mutex_unlock(&sim_models_lock);
        return sim_buf_ok(b) ? 0 : -1;
    }

    sim_buf_adds(b, openai ? "{\"object\":\"list\",\"data\":["
                           : "{\"models\":[");
    for (i = 0; i < n; i++) {
        const sim_model_t  *m = order[i];

        sim_json_sep(b);
        if (openai) {
            sim_models_write_oa_model(b, m->name, m->modified_ns);
            continue;
        }
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "name", m->name);
        sim_json_kcstr(b, "model", m->name);
        sim_json_ktime(b, "modified_at", m->modified_ns);
        sim_json_kint(b, "size", m->size);
        sim_json_kcstr(b, "digest", m->digest);
        sim_write_details(b, m);
        sim_buf_addc(b, '}');
    }
    sim_buf_adds(b, "]}");

    pthread_mutex_unlock(&sim_models_lock);
    return sim_buf_ok(b) ? 0 : -1;
}


/* PsHandler: the longest time left first (seconds, a stable sort). */
int
sim_models_write_ps(sim_buf_t *b)
{
    sim_ps_entry_t  order[SIM_MODELS_MAX];
    size_t          i, n = 0;
    int64_t         now = sim_real_ns();

    pthread_mutex_lock(&sim_models_lock);
    sim_models_expire_idle(now);

    for (i = 0; i < sim_nmodels; i++) {
        if (sim_models[i].loaded) {
            order[n].m = &sim_models[i];
            order[n].expires_ns = sim_expiry(&sim_models[i], now);
            order[n].expires_s = order[n].expires_ns / SIM_NS_PER_SEC;
            n++;
        }
    }
    qsort(order, n, sizeof(order[0]), sim_ps_cmp);

    sim_buf_adds(b, "{\"models\":[");
    for (i = 0; i < n; i++) {
        const sim_model_t  *m = order[i].m;

        sim_json_sep(b);
        sim_buf_addc(b, '{');
        sim_json_kcstr(b, "name", m->name);
        sim_json_kcstr(b, "model", m->name);
        sim_json_kint(b, "size", m->size);
        sim_json_kcstr(b, "digest", m->digest);
        sim_write_details(b, m);
        sim_json_ktime(b, "expires_at", order[i].expires_ns);
        sim_json_kint(b, "size_vram", m->size);
        sim_json_kint(b, "context_length", 4096);
        sim_buf_addc(b, '}');
    }
    sim_buf_adds(b, "]}");

    pthread_mutex_unlock(&sim_models_lock);
    return sim_buf_ok(b) ? 0 : -1;
}


static int
sim_info_cmp(const void *a, const void *b)
{
    return strcmp(((const sim_info_t *) a)->key, ((const sim_info_t *) b)->key);
}


/* Go writes map keys sorted, so model_info is sorted too. */
int
sim_models_write_show(sim_buf_t *b, const sim_model_t *m, int embed_dim)
{
    char         k_ctx[SIM_FAMILY_MAX + 32], k_emb[SIM_FAMILY_MAX + 32];
    char         k_blk[SIM_FAMILY_MAX + 32];
    sim_info_t   info[7];
    size_t       i;

    static const struct {
        unsigned     cap;
        const char  *name;
    } caps[] = {
        { SIM_CAP_COMPLETION, "completion" },
        { SIM_CAP_EMBEDDING, "embedding" },
        { SIM_CAP_VISION, "vision" },
        { SIM_CAP_TOOLS, "tools" },
        { SIM_CAP_INSERT, "insert" },
        { SIM_CAP_THINKING, "thinking" },
    };

    snprintf(k_ctx, sizeof(k_ctx), "%s.context_length", m->family);
    snprintf(k_emb, sizeof(k_emb), "%s.embedding_length", m->family);
    snprintf(k_blk, sizeof(k_blk), "%s.block_count", m->family);

    info[0] = (sim_info_t) { "general.architecture", 1, m->family, 0 };
    info[1] = (sim_info_t) { "general.file_type", 0, NULL,
                             (m->caps & SIM_CAP_EMBEDDING) ? 1 : 2 };
    info[2] = (sim_info_t) { "general.parameter_count", 0, NULL,
                             sim_param_count(m) };
    info[3] = (sim_info_t) { "general.quantization_version", 0, NULL, 2 };
    info[4] = (sim_info_t) { k_ctx, 0, NULL, 4096 };
    info[5] = (sim_info_t) { k_emb, 0, NULL,
                             (m->caps & SIM_CAP_EMBEDDING) ? embed_dim : 4096 };
    info[6] = (sim_info_t) { k_blk, 0, NULL, 32 };
    qsort(info, 7, sizeof(info[0]), sim_info_cmp);

    sim_buf_addc(b, '{');
    sim_json_key(b, "modelfile");
    sim_buf_adds(b, "\"# Modelfile generated by \\\"ollama show\\\"\\n"
                 "# To build a new Modelfile based on this, replace "
                 "FROM with:\\n# FROM ");
    sim_buf_adds(b, m->name);
    sim_buf_adds(b, "\\n\\nFROM ");
    sim_buf_adds(b, m->name);
    sim_buf_adds(b, "\\nTEMPLATE {{ .Prompt }}\\n\"");
    sim_json_kcstr(b, "parameters", "num_ctx                        4096");
    sim_json_kcstr(b, "template", "{{ .Prompt }}");
    sim_write_details(b, m);

    sim_json_key(b, "model_info");
    sim_buf_addc(b, '{');
    for (i = 0; i < 7; i++) {
        if (info[i].is_str) {
            sim_json_kcstr(b, info[i].key, info[i].str);
        } else {
            sim_json_kint(b, info[i].key, info[i].num);
        }
    }
    sim_buf_addc(b, '}');

    sim_json_key(b, "capabilities");
    sim_buf_addc(b, '[');
    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        if (m->caps & caps[i].cap) {
            sim_json_sep(b);
            sim_json_cstr(b, caps[i].name);
        }
    }
    sim_buf_addc(b, ']');

    sim_json_ktime(b, "modified_at", m->modified_ns);
    sim_buf_addc(b, '}');

    return sim_buf_ok(b) ? 0 : -1;
}
