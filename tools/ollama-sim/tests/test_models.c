/*
 * Unit tests: model names and --model specs, the model store, faults.
 */

#include <stdlib.h>

#include "sim_buf.h"
#include "sim_fault.h"
#include "sim_models.h"
#include "sim_test.h"
#include "sim_time.h"


static void test_lifecycle(void);


static void
test_names(void)
{
    char  out[SIM_NAME_MAX + 8];

    CHECK(sim_model_name_norm("llama3.2", 8, out, sizeof(out)) == 0);
    CHECK_STR(out, "llama3.2:latest");
    CHECK(sim_model_name_norm("qwen:7b", 7, out, sizeof(out)) == 0);
    CHECK_STR(out, "qwen:7b");
    CHECK(sim_model_name_norm("ns/model:q4_0", 13, out, sizeof(out)) == 0);
    CHECK_STR(out, "ns/model:q4_0");
    CHECK(sim_model_name_norm("", 0, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm("a b", 3, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm("a:", 2, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm("a:b:c", 5, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm(":x", 2, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm("a//b", 4, out, sizeof(out)) != 0);
    CHECK(sim_model_name_norm("a:x/b", 5, out, sizeof(out)) != 0);
}


static void
test_spec(void)
{
    sim_model_t  m;
    char         err[192];

    CHECK(sim_model_parse_spec("mistral", &m, err, sizeof(err)) == 0);
    CHECK_STR(m.name, "mistral:latest");
    CHECK_STR(m.family, "mistral");
    CHECK(m.caps == SIM_CAP_COMPLETION);
    CHECK(strlen(m.digest) == 64);

    CHECK(sim_model_parse_spec("llava:13b", &m, err, sizeof(err)) == 0);
    CHECK(m.caps == (SIM_CAP_COMPLETION | SIM_CAP_VISION));

    CHECK(sim_model_parse_spec("all-minilm-embed", &m, err, sizeof(err))
          == 0);
    CHECK(m.caps == SIM_CAP_EMBEDDING);

    CHECK(sim_model_parse_spec("code,family=llama,size=123,"
                               "caps=completion+tools+insert", &m, err,
                               sizeof(err)) == 0);
    CHECK_STR(m.family, "llama");
    CHECK(m.size == 123);
    CHECK(m.caps == (SIM_CAP_COMPLETION | SIM_CAP_TOOLS | SIM_CAP_INSERT));

    CHECK(sim_model_parse_spec("x,caps=flying", &m, err, sizeof(err)) != 0);
    CHECK_STR(err, "bad value \"flying\" for model option \"caps\"");
    CHECK(sim_model_parse_spec("x,size=-1", &m, err, sizeof(err)) != 0);
    CHECK(sim_model_parse_spec("x,size=12k", &m, err, sizeof(err)) != 0);
    CHECK(sim_model_parse_spec("x,colour=red", &m, err, sizeof(err)) != 0);
    CHECK_STR(err, "unknown model option \"colour\"");
    CHECK(sim_model_parse_spec("x,family", &m, err, sizeof(err)) != 0);
    CHECK(sim_model_parse_spec("x,caps=", &m, err, sizeof(err)) != 0);
    CHECK(sim_model_parse_spec("bad name", &m, err, sizeof(err)) != 0);
    CHECK(sim_model_parse_spec(",family=x", &m, err, sizeof(err)) != 0);
}


static void
test_store(void)
{
    sim_model_t  m, got;
    sim_buf_t    b;
    int64_t      wait;
    int          loading;

    sim_models_init();
    CHECK(sim_model_defaults(&m, "Llama3", 6) == 0);
    CHECK(sim_models_add(&m) == 0);

    /* name and name:latest are one model; case does not matter */
    CHECK(sim_models_find("llama3", 6, &got) == 0);
    CHECK_STR(got.name, "Llama3:latest");
    CHECK(sim_models_find("LLAMA3:latest", 13, &got) == 0);
    CHECK(sim_models_find("llama3:7b", 9, &got) != 0);
    CHECK(sim_models_find("lla\0ma3", 7, &got) != 0);

    sim_buf_init(&b);
    CHECK(sim_models_write_ps(&b) == 0);
    CHECK_STR(b.data, "{\"models\":[]}");
    sim_buf_free(&b);

    CHECK(sim_models_use("llama3:latest", -1, &wait, &loading)
          == SIM_USE_OK && loading == 1);
    sim_buf_init(&b);
    CHECK(sim_models_write_ps(&b) == 0);
    CHECK(strstr(b.data, "\"name\":\"Llama3:latest\"") != NULL);
    CHECK(strstr(b.data, "\"size_vram\":") != NULL);
    sim_buf_free(&b);

    /* a second request finds it loaded */
    CHECK(sim_models_use("llama3", -1, &wait, &loading) == SIM_USE_OK
          && loading == 0 && wait == 0);
    sim_models_release("llama3:latest", 0);
    sim_models_release("llama3:latest", 0);
    CHECK(sim_models_find("llama3", 6, &got) == 0 && got.loaded
          && got.refs == 0 && got.expires_ns > 0);

    sim_models_expire("llama3:latest");
    sim_buf_init(&b);
    CHECK(sim_models_write_ps(&b) == 0);
    CHECK_STR(b.data, "{\"models\":[]}");
    sim_buf_free(&b);
    CHECK(sim_models_use("ghost", -1, &wait, &loading) == SIM_USE_MISSING);

    CHECK(sim_models_delete("llama3:latest", 13) == 0);
    test_lifecycle();
    CHECK(sim_models_delete("llama3", 6) != 0);
    sim_buf_init(&b);
    CHECK(sim_models_write_tags(&b) == 0);
    CHECK_STR(b.data, "{\"models\":[]}");
    sim_buf_free(&b);
    sim_models_fini();
}


/* Ollama's scheduler: keep_alive, 0 unloads at once, the limit evicts
 * the idle model with the shortest keep_alive, then by name. */
static void
test_lifecycle(void)
{
    sim_model_t  m, got;
    int64_t      wait;
    int          loading;

    sim_models_configure(300 * SIM_NS_PER_SEC, 50 * SIM_NS_PER_MS, 2);
    CHECK(sim_model_defaults(&m, "a", 1) == 0 && sim_models_add(&m) == 0);
    CHECK(sim_model_defaults(&m, "b", 1) == 0 && sim_models_add(&m) == 0);
    CHECK(sim_model_defaults(&m, "c", 1) == 0 && sim_models_add(&m) == 0);

    /* the load phase: the first request waits --load-delay-ms */
    CHECK(sim_models_use("a", 3600 * SIM_NS_PER_SEC, &wait, &loading)
          == SIM_USE_OK && loading && wait == 50 * SIM_NS_PER_MS);
    CHECK(sim_models_use("b", -1, &wait, &loading) == SIM_USE_OK);

    /* both busy: the third waits */
    CHECK(sim_models_use("c", -1, &wait, &loading) == SIM_USE_WAIT);

    /* keep_alive 0 on a busy model: unloaded when its request ends */
    CHECK(sim_models_use("b", 0, &wait, &loading) == SIM_USE_OK
          && !loading);
    sim_models_release("b:latest", 0);
    CHECK(sim_models_find("b", 1, &got) == 0 && got.loaded);
    sim_models_release("b:latest", 0);
    CHECK(sim_models_find("b", 1, &got) == 0 && !got.loaded);

    /* b reloaded with 5m, a idle with 1h: c evicts b (shorter) */
    CHECK(sim_models_use("b", -1, &wait, &loading) == SIM_USE_OK && loading);
    sim_models_release("a:latest", 0);
    sim_models_release("b:latest", 0);
    CHECK(sim_models_use("c", -1, &wait, &loading) == SIM_USE_OK && loading);
    CHECK(sim_models_find("a", 1, &got) == 0 && got.loaded);
    CHECK(sim_models_find("b", 1, &got) == 0 && !got.loaded);

    /* a failed load leaves it unloaded */
    sim_models_release("c:latest", 1);
    CHECK(sim_models_find("c", 1, &got) == 0 && !got.loaded);

    CHECK(sim_models_delete("a", 1) == 0 && sim_models_delete("b", 1) == 0
          && sim_models_delete("c", 1) == 0);
    sim_models_configure(300 * SIM_NS_PER_SEC, 0, 3);
}


static void
test_fault(void)
{
    sim_fault_t  f;
    char         err[128], s[SIM_FAULT_STR_MAX];

    CHECK(sim_fault_parse("none", 4, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_NONE);
    CHECK(sim_fault_parse("hang", 4, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_HANG);
    CHECK(sim_fault_parse("500", 3, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_500);
    CHECK(sim_fault_parse("refuse", 6, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_REFUSE && f.arg == 0);
    CHECK(sim_fault_parse("refuse=250", 10, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_REFUSE && f.arg == 250);
    CHECK(sim_fault_parse("fail-load", 9, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_FAIL_LOAD);
    sim_fault_format(&f, s, sizeof(s));
    CHECK_STR(s, "fail-load");
    CHECK(sim_fault_parse("fail-after=3", 12, &f, err, sizeof(err)) == 0
          && f.kind == SIM_FAULT_FAIL_AFTER && f.arg == 3);
    sim_fault_format(&f, s, sizeof(s));
    CHECK_STR(s, "fail-after=3");

    CHECK(sim_fault_parse("fail-after=", 11, &f, err, sizeof(err)) != 0);
    CHECK(sim_fault_parse("fail-after=-1", 13, &f, err, sizeof(err)) != 0);
    CHECK(sim_fault_parse("fail-after=3x", 13, &f, err, sizeof(err)) != 0);
    CHECK(sim_fault_parse("refuse=0", 8, &f, err, sizeof(err)) != 0);
    CHECK(sim_fault_parse("explode", 7, &f, err, sizeof(err)) != 0);
    CHECK(strstr(err, "unknown fault \"explode\"") != NULL);
}


int
main(void)
{
    test_names();
    test_spec();
    test_store();
    test_fault();
    return sim_test_done("test_models");
}
