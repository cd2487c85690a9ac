/*
 * Reading recorded Ollama replies (/api/tags, /api/ps, /api/show), fed in
 * chunks of every size so no field depends on where a read ends.
 */

#include "unit.h"

#include "model.h"
#include "ollama_json.h"


static int
parse_fixture(const char *name, ollama_reply_t kind, size_t chunk,
    model_list_t *list, model_t *show, int *dropped)
{
    ollama_json_t   oj;
    char           *data = NULL;
    size_t          len = 0, off, n;
    int             rc = -1;

    data = unit_read_file(name, &len);
    if (data == NULL) {
        return -1;
    }

    ollama_json_init(&oj, kind, list, show);
    rc = 0;
    for (off = 0; off < len && rc == 0; off += n) {
        n = len - off < chunk ? len - off : chunk;
        rc = ollama_json_feed(&oj, data + off, n);
    }
    if (rc == 0) {
        rc = ollama_json_finish(&oj);
    }

    if (dropped != NULL) {
        *dropped = oj.dropped;
    }

    ollama_json_free(&oj);
    free(data);
    return rc;
}


static void
test_tags(void)
{
    model_list_t   l;
    model_t       *m;
    size_t         chunk;
    int            dropped;

    for (chunk = 1; chunk < 5000; chunk = chunk * 5 + 3) {
        model_list_init(&l);
        CHECK_INT(parse_fixture("tags.json", OLLAMA_TAGS, chunk, &l, NULL,
                                &dropped), 0);
        CHECK_INT(l.n, 6);
        CHECK_INT(dropped, 0);

        if (l.n == 6) {
            CHECK_STR(l.items[0].name, "llama3.2:latest");
            CHECK_INT(l.items[0].size, 2019393189ULL);
            CHECK_STR(l.items[0].family, "llama");
            CHECK_INT(l.items[0].families, 0);
            CHECK_INT(l.items[0].loaded, 0);
            CHECK_STR(l.items[1].name, "llava:7b");
            CHECK_INT(l.items[1].families, FAM_CLIP);
            CHECK_STR(l.items[2].family, "nomic-bert");
            CHECK_INT(l.items[2].families, FAM_BERT);
            CHECK_STR(l.items[4].family, "starcoder2");
            CHECK_STR(l.items[5].digest, "f974a74358d62a017b37c6f424fcdf2744c"
                      "a02926c4f952513ddf474b2fa5091");
        }

        m = model_list_find(&l, "mistral");
        CHECK(m != NULL && strcmp(m->name, "mistral:latest") == 0);
        CHECK(model_list_find(&l, "LLaVA:7b") != NULL);
        CHECK(model_list_find(&l, "llava") == NULL);
        CHECK(model_list_find(&l, "llama3.2:1b") == NULL);

        model_list_free(&l);
    }
}


static void
test_tags_odd(void)
{
    model_list_t  l;
    int           dropped = 0;

    model_list_init(&l);
    CHECK_INT(parse_fixture("tags-odd.json", OLLAMA_TAGS, 9, &l, NULL,
                            &dropped), 0);
    CHECK_INT(l.n, 1);
    CHECK_INT(dropped, 3);
    CHECK_STR(l.n ? l.items[0].name : "", "ok:1b");
    CHECK_INT(l.n ? l.items[0].size : 0, 1200000000ULL);
    model_list_free(&l);

    model_list_init(&l);
    CHECK_INT(parse_fixture("tags-empty.json", OLLAMA_TAGS, 3, &l, NULL,
                            NULL), 0);
    CHECK_INT(l.n, 0);
    model_list_free(&l);

    /* a truncated reply is an error, never a shorter model list */
    model_list_init(&l);
    {
        ollama_json_t  oj;
        const char    *cut = "{\"models\":[{\"name\":\"a\"},{\"name\":\"b\"";

        ollama_json_init(&oj, OLLAMA_TAGS, &l, NULL);
        CHECK_INT(ollama_json_feed(&oj, cut, strlen(cut)), 0);
        CHECK_INT(ollama_json_finish(&oj), -1);
        ollama_json_free(&oj);
    }
    model_list_free(&l);
}


static void
test_ps(void)
{
    model_list_t  l;

    model_list_init(&l);
    CHECK_INT(parse_fixture("ps.json", OLLAMA_PS, 17, &l, NULL, NULL), 0);
    CHECK_INT(l.n, 1);
    if (l.n == 1) {
        CHECK_STR(l.items[0].name, "mistral:latest");
        CHECK_INT(l.items[0].loaded, 1);
        CHECK_INT(l.items[0].size_vram, 5137025024ULL);
    }
    model_list_free(&l);
}


static void
test_show(void)
{
    model_t  m;

    memset(&m, 0, sizeof(m));
    CHECK_INT(parse_fixture("show-llava.json", OLLAMA_SHOW, 11, NULL, &m,
                            NULL), 0);
    CHECK_INT(m.caps_known, 1);
    CHECK_INT(m.caps, CAP_COMPLETION | CAP_VISION);
    CHECK_INT(m.families, FAM_CLIP);
    CHECK_STR(m.family, "llama");

    memset(&m, 0, sizeof(m));
    CHECK_INT(parse_fixture("show-nomic.json", OLLAMA_SHOW, 1, NULL, &m,
                            NULL), 0);
    CHECK_INT(m.caps, CAP_EMBEDDING);
    CHECK_INT(m.families, FAM_BERT);

    memset(&m, 0, sizeof(m));
    CHECK_INT(parse_fixture("show-qwen-coder.json", OLLAMA_SHOW, 64, NULL,
                            &m, NULL), 0);
    CHECK_INT(m.caps, CAP_COMPLETION | CAP_TOOLS | CAP_INSERT);

    memset(&m, 0, sizeof(m));
    CHECK_INT(parse_fixture("show-old-llava.json", OLLAMA_SHOW, 64, NULL,
                            &m, NULL), 0);
    CHECK_INT(m.caps_known, 0);
    CHECK_INT(m.families, FAM_CLIP);
}


int
main(void)
{
    test_tags();
    test_tags_odd();
    test_ps();
    test_show();
    return UNIT_DONE();
}
