/*
 * Model types: capabilities first, then families, then well-known names.
 */

#include "unit.h"

#include "classify.h"
#include "model.h"


typedef struct {
    const char  *name;
    const char  *family;
    int          caps_known;
    unsigned     caps;
    unsigned     families;
    const char  *want;
} classify_case_t;


static const classify_case_t  cases[] = {
    { "llava:7b", "llama", 1, CAP_COMPLETION | CAP_VISION, FAM_CLIP,
      "vision" },
    { "llama3.2-vision:11b", "mllama", 1, CAP_COMPLETION | CAP_VISION, 0,
      "vision" },
    { "llava:7b", "llama", 0, 0, FAM_CLIP, "vision" },
    { "nomic-embed-text:latest", "nomic-bert", 1, CAP_EMBEDDING, FAM_BERT,
      "embedding" },
    { "nomic-embed-text:latest", "nomic-bert", 0, 0, FAM_BERT,
      "embedding" },
    { "mxbai-embed-large", "bert", 0, 0, 0, "embedding" },
    { "all-minilm:l6-v2", "bert", 0, 0, 0, "embedding" },
    { "codellama:13b", "llama", 1, CAP_COMPLETION | CAP_INSERT, 0, "code" },
    { "qwen2.5-coder:7b", "qwen2", 1, CAP_COMPLETION | CAP_TOOLS, 0,
      "code" },
    { "deepseek-coder-v2:16b", "deepseek2", 0, 0, 0, "code" },
    { "starcoder2:3b", "starcoder2", 1, CAP_COMPLETION, 0, "code" },
    { "my-finetune", "starcoder2", 1, CAP_COMPLETION, 0, "code" },
    { "codegemma:7b", "gemma", 1, CAP_COMPLETION, 0, "code" },
    { "codestral:22b", "llama", 1, CAP_COMPLETION, 0, "code" },
    { "granite-code:8b", "llama", 1, CAP_COMPLETION, 0, "code" },
    { "hf.co/bartowski/Qwen2.5-Coder-7B-GGUF:Q4_K_M", "qwen2", 1,
      CAP_COMPLETION, 0, "code" },
    { "registry.ollama.ai/library/wizardcoder:33b", "llama", 0, 0, 0,
      "code" },
    { "llama3.2:latest", "llama", 1, CAP_COMPLETION | CAP_TOOLS, 0,
      "text" },
    { "mistral:latest", "llama", 0, 0, 0, "text" },
    { "phi3:mini", "phi3", 1, CAP_COMPLETION, 0, "text" },
    /* "coder" only in the tag says nothing about the model */
    { "mistral:coder-tuned", "llama", 1, CAP_COMPLETION, 0, "text" },
    /* embedding and completion together is a chat model that embeds */
    { "some-model", "llama", 1, CAP_COMPLETION | CAP_EMBEDDING, 0, "text" },
    { NULL, NULL, 0, 0, 0, NULL }
};


int
main(void)
{
    const classify_case_t  *c;
    model_t                 m;

    for (c = cases; c->name != NULL; c++) {
        memset(&m, 0, sizeof(m));
        snprintf(m.name, sizeof(m.name), "%s", c->name);
        snprintf(m.family, sizeof(m.family), "%s", c->family);
        m.caps_known = c->caps_known;
        m.caps = c->caps;
        m.families = c->families;

        unit_checks++;
        if (strcmp(model_type_name(classify_model(&m)), c->want) != 0) {
            unit_failures++;
            fprintf(stderr, "%s: classified as %s, want %s\n", c->name,
                    model_type_name(classify_model(&m)), c->want);
        }
    }

    CHECK_INT(model_type_parse("vision"), MODEL_VISION);
    CHECK_INT(model_type_parse("Vision"), -1);
    CHECK_INT(model_type_parse("audio"), -1);
    CHECK_STR(model_type_name(MODEL_EMBEDDING), "embedding");

    CHECK(model_name_equal("llama3", "llama3:latest"));
    CHECK(model_name_equal("Llama3:Latest", "llama3") == 0);
    CHECK(model_name_equal("llama3:8b", "llama3") == 0);
    CHECK(model_name_equal("ns/model:latest", "ns/model"));
    CHECK(model_name_equal("ns/model", "model") == 0);

    return UNIT_DONE();
}
