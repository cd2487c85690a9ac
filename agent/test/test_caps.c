/*
 * The capability report's JSON, node status, and the metrics text.
 */

#include "unit.h"

#include "caps.h"
#include "classify.h"
#include "conf.h"
#include "metrics.h"


static void
test_caps_json(void)
{
    conf_t        c;
    model_list_t  l;
    model_t      *m;
    hw_info_t     hw;
    caps_view_t   v;
    buf_t         b;

    memset(&c, 0, sizeof(c));
    snprintf(c.node_id, sizeof(c.node_id), "pi-4");
    c.advertise_port = 50052;
    c.max_tasks = 2;
    snprintf(c.types[0].name, sizeof(c.types[0].name), "mistral");
    c.types[0].type = MODEL_CODE;
    c.ntypes = 1;

    model_list_init(&l);
    m = model_list_add(&l);
    snprintf(m->name, sizeof(m->name), "llava:7b");
    m->size = 4733363377ULL;
    m->type = MODEL_VISION;
    m = model_list_add(&l);
    snprintf(m->name, sizeof(m->name), "mistral:latest");
    m->size = 4113301824ULL;
    m->type = MODEL_TEXT;
    m->loaded = 1;
    m = model_list_add(&l);
    snprintf(m->name, sizeof(m->name), "we\"ird\\name");
    m->type = MODEL_EMBEDDING;

    memset(&hw, 0, sizeof(hw));
    hw.mem_total = 16ULL << 30;
    hw.mem_available = (uint64_t) (6.25 * (1 << 30));
    hw.has_gpu = 1;
    hw.vram_total = 8ULL << 30;

    memset(&v, 0, sizeof(v));
    v.conf = &c;
    v.host = "192.168.1.10";
    v.models = &l;
    v.hw = &hw;
    v.status = caps_status(1, 0, 1, 2);
    v.active = 1;
    v.tokens_per_sec = 41.25;

    buf_init(&b, 65536);
    CHECK_INT(caps_write_json(&b, &v), 0);
    CHECK_STR(b.data,
        "{\"node_id\":\"pi-4\",\"host\":\"192.168.1.10\",\"port\":50052,"
        "\"models\":[{\"name\":\"llava:7b\",\"type\":\"vision\","
        "\"size_gb\":4.7,\"loaded\":false},{\"name\":\"mistral:latest\","
        "\"type\":\"code\",\"size_gb\":4.1,\"loaded\":true},"
        "{\"name\":\"we\\\"ird\\\\name\",\"type\":\"embedding\","
        "\"size_gb\":0.0,\"loaded\":false}],"
        "\"hardware\":{\"ram_total_gb\":16.0,\"ram_free_gb\":6.2,"
        "\"has_gpu\":true,\"gpu_vram_gb\":8.0},\"status\":\"idle\","
        "\"active_tasks\":1,\"max_tasks\":2,\"queued\":0,"
        "\"tokens_per_sec\":41.2,\"agent_version\":\"" AGENT_VERSION "\"}");

    /* a report that does not fit is refused, never cut */
    b.max = 64;
    buf_reset(&b);
    CHECK_INT(caps_write_json(&b, &v), -1);

    buf_free(&b);
    model_list_free(&l);
}


static void
test_status(void)
{
    CHECK_STR(caps_status(1, 0, 0, 4), "idle");
    CHECK_STR(caps_status(1, 0, 3, 4), "idle");
    CHECK_STR(caps_status(1, 0, 4, 4), "busy");
    CHECK_STR(caps_status(0, 0, 0, 4), "degraded");
    CHECK_STR(caps_status(0, 1, 4, 4), "draining");
}


static void
test_metrics(void)
{
    buf_t             b;
    metrics_gauges_t  g = { 1, 4, 1, 3, 1000, 4096 };

    metrics_task_done(EP_CHAT, OUTCOME_OK, 1.5, 0.01, 100, 2.0);
    metrics_task_done(EP_CHAT, OUTCOME_CANCELLED, 0.2, -1, 0, 0);
    metrics_reject(REJECT_BUSY);
    metrics_reject(REJECT_BUSY);
    metrics_heartbeat(HB_OK);
    metrics_heartbeat(HB_REFUSED);
    metrics_heartbeat(HB_REFUSED);
    metrics_reject(REJECT_NO_MEMORY);

    CHECK(metrics_tokens_per_sec() > 49.9 && metrics_tokens_per_sec() < 50.1);

    buf_init(&b, 1 << 20);
    CHECK_INT(metrics_render(&b, &g), 0);
    CHECK(strstr(b.data, "echo_agent_tasks_total{endpoint=\"chat\","
                 "outcome=\"ok\"} 1\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_tasks_total{endpoint=\"chat\","
                 "outcome=\"cancelled\"} 1\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_tasks_total{endpoint=\"embed\","
                 "outcome=\"ok\"} 0\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_rejected_total{reason=\"busy\"} 2\n")
          != NULL);
    CHECK(strstr(b.data, "echo_agent_rejected_total{reason=\"out_of_memory\"}"
                 " 1\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_rejected_total{reason=\"bad_json\"} "
                 "0\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_heartbeats_total{result=\"ok\"} 1\n")
          != NULL);
    CHECK(strstr(b.data, "echo_agent_heartbeats_total{result=\"refused\"} "
                 "2\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_heartbeats_total{result=\"unreachable"
                 "\"} 0\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_body_bytes 1000\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_body_bytes_max 4096\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_tokens_total 100\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_active_tasks 1\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_task_duration_seconds_bucket"
                 "{le=\"0.25\"} 1\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_task_duration_seconds_bucket"
                 "{le=\"2.5\"} 2\n") != NULL);
    CHECK(strstr(b.data, "echo_agent_task_duration_seconds_count 2\n")
          != NULL);
    CHECK(strstr(b.data, "echo_agent_first_byte_seconds_count 1\n")
          != NULL);
    buf_free(&b);
}


int
main(void)
{
    test_caps_json();
    test_status();
    test_metrics();
    return UNIT_DONE();
}
