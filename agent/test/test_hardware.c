/*
 * Memory and GPU detection over recorded /proc and /sys trees.
 */

#include "unit.h"

#include "hardware.h"


typedef struct {
    const char  *root;
    int          mem_rc;
    uint64_t     total_kb;
    uint64_t     available_kb;
    int          has_gpu;
    uint64_t     vram;
} hw_case_t;


/* without MemAvailable the reading is refused, not guessed */
static const hw_case_t  cases[] = {
    { "hw-nvidia", 0, 16314236, 6501200, 1, 0 },
    { "hw-amd", 0, 16314236, 6501200, 1, 8573157376ULL },
    { "hw-intel", 0, 3884024, 1048576, 0, 0 },
    { "hw-none", -1, 0, 0, 0, 0 },
    { "no-such-root", -1, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0 }
};


int
main(void)
{
    const hw_case_t  *c;
    hw_info_t         hw;
    char              root[512];

    for (c = cases; c->root != NULL; c++) {
        memset(&hw, 0, sizeof(hw));
        snprintf(root, sizeof(root), "%s/%s", FIXTURES, c->root);

        CHECK_INT(hw_read_memory(root, &hw), c->mem_rc);
        if (c->mem_rc == 0) {
            CHECK_INT(hw.mem_total, c->total_kb * 1024);
            CHECK_INT(hw.mem_available, c->available_kb * 1024);
        }

        hw_detect_gpu(root, 0, &hw);
        CHECK_INT(hw.has_gpu, c->has_gpu);
        CHECK_INT(hw.vram_total, c->vram);
    }

    /* this machine: must read without failing */
    CHECK_INT(hw_read_memory("", &hw), 0);
    CHECK(hw.mem_available > 0 && hw.mem_available <= hw.mem_total);

    return UNIT_DONE();
}
