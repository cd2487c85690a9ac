/*
 * Free memory is MemAvailable, not MemFree: the page cache counts as free
 * for a model about to be loaded.  A GPU counts when it can hold a model:
 * an NVIDIA device, or a DRM device that reports its own VRAM (amdgpu).
 * Integrated graphics without VRAM of their own are not a GPU here.
 */

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hardware.h"


#define HW_PATH_MAX  512


static int read_small_file(const char *path, char *out, size_t size);
static uint64_t nvidia_smi_vram(void);


static int
read_small_file(const char *path, char *out, size_t size)
{
    FILE    *f = NULL;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
    return 0;
}


int
hw_read_memory(const char *root, hw_info_t *hw)
{
    FILE      *f = NULL;
    char       path[HW_PATH_MAX], line[256];
    uint64_t   kb;
    int        found = 0;

    snprintf(path, sizeof(path), "%s/proc/meminfo", root);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kb) == 1) {
            hw->mem_total = kb * 1024;
            found |= 1;

        } else if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1) {
            hw->mem_available = kb * 1024;
            found |= 2;
        }
    }

    fclose(f);
    return found == 3 ? 0 : -1;
}


void
hw_detect_gpu(const char *root, int run_nvidia_smi, hw_info_t *hw)
{
    DIR            *dir = NULL;
    struct dirent  *de;
    char            path[HW_PATH_MAX], text[64];
    uint64_t        vram;

    hw->has_gpu = 0;
    hw->vram_total = 0;

    snprintf(path, sizeof(path), "%s/proc/driver/nvidia/gpus", root);
    dir = opendir(path);
    if (dir != NULL) {
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] != '.') {
                hw->has_gpu = 1;
            }
        }
        closedir(dir);
    }

    snprintf(path, sizeof(path), "%s/sys/class/drm", root);
    dir = opendir(path);
    if (dir != NULL) {
        while ((de = readdir(dir)) != NULL) {
            if (strncmp(de->d_name, "card", 4) != 0
                || strchr(de->d_name, '-') != NULL)
            {
                continue;
            }

            snprintf(path, sizeof(path),
                     "%s/sys/class/drm/%.64s/device/vendor", root,
                     de->d_name);
            if (read_small_file(path, text, sizeof(text)) == 0
                && strncmp(text, "0x10de", 6) == 0)
            {
                hw->has_gpu = 1;
            }

            snprintf(path, sizeof(path),
                     "%s/sys/class/drm/%.64s/device/mem_info_vram_total",
                     root, de->d_name);
            if (read_small_file(path, text, sizeof(text)) == 0) {
                vram = strtoull(text, NULL, 10);
                if (vram > 0) {
                    hw->has_gpu = 1;
                    hw->vram_total += vram;
                }
            }
        }
        closedir(dir);
    }

    if (hw->has_gpu && hw->vram_total == 0 && run_nvidia_smi) {
        hw->vram_total = nvidia_smi_vram();
    }
}


/* NVIDIA exposes no VRAM size under /proc or /sys; its tool knows it */
static uint64_t
nvidia_smi_vram(void)
{
    FILE      *p = NULL;
    char       line[64];
    uint64_t   total = 0;

    p = popen("nvidia-smi --query-gpu=memory.total --format=csv,noheader,"
              "nounits 2>/dev/null", "r");
    if (p == NULL) {
        return 0;
    }

    while (fgets(line, sizeof(line), p) != NULL) {
        total += strtoull(line, NULL, 10) * 1024 * 1024;
    }

    pclose(p);
    return total;
}
