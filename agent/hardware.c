/*
 * Free memory is MemAvailable, not MemFree: the page cache counts as free
 * for a model about to be loaded.  A GPU counts when it can hold a model:
 * an NVIDIA device, or a DRM device that reports its own VRAM (amdgpu).
 * Integrated graphics without VRAM of their own are not a GPU here.
 *
 * External probes (nvidia-smi) run with a deadline in a process group of
 * their own, with every signal at its default and none blocked (the
 * agent blocks SIGTERM/SIGHUP and ignores SIGPIPE, and a child would
 * inherit both), and with their output bounded.  A probe that hangs is
 * killed, with whatever it started, and the last known value is kept.
 */

#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hardware.h"


#define HW_PATH_MAX  512


extern char **environ;


static int read_small_file(const char *path, char *out, size_t size);
static int nvidia_smi_vram(unsigned timeout_ms, uint64_t *total);
static double probe_now_ms(void);


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
hw_detect_gpu(const char *root, unsigned probe_ms, hw_info_t *hw)
{
    DIR            *dir = NULL;
    struct dirent  *de;
    char            path[HW_PATH_MAX], text[64];
    uint64_t        vram, last_vram;
    int             had_gpu;

    had_gpu = hw->has_gpu;
    last_vram = hw->vram_total;
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

    if (!hw->has_gpu || hw->vram_total != 0) {
        return;
    }

    if (probe_ms > 0 && nvidia_smi_vram(probe_ms, &vram) == 0) {
        hw->vram_total = vram;

    } else if (had_gpu) {
        /* not probed, or the probe failed or hung: the last size stands */
        hw->vram_total = last_vram;
    }
}


/* NVIDIA exposes no VRAM size under /proc or /sys; its tool knows it */
static int
nvidia_smi_vram(unsigned timeout_ms, uint64_t *total)
{
    static char *const  argv[] = {
        "nvidia-smi", "--query-gpu=memory.total",
        "--format=csv,noheader,nounits", NULL
    };

    char   out[1024], *p, *end;

    *total = 0;

    if (hw_probe_run(argv, timeout_ms, out, sizeof(out)) != 0) {
        return -1;
    }

    /* one line per GPU, in MiB */
    for (p = out; *p != '\0'; p = end) {
        *total += strtoull(p, &end, 10) * 1024 * 1024;
        if (end == p) {
            end++;
        }
    }

    return 0;
}


static double
probe_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


/*
 * Runs argv[0] (found in PATH) and returns 0 when it exits 0 within
 * timeout_ms with at most size - 1 bytes of output, NUL-terminated in
 * out; -1 otherwise (then the probe and its children are killed).
 */
int
hw_probe_run(char *const argv[], unsigned timeout_ms, char *out,
    size_t size)
{
    posix_spawn_file_actions_t   fa;
    posix_spawnattr_t            attr;
    sigset_t                     none, all;
    struct pollfd                pfd;
    struct timespec              step = { 0, 10 * 1000000L };
    siginfo_t                    info;
    double                       deadline, left;
    size_t                       len = 0;
    ssize_t                      n;
    pid_t                        pid = -1;
    int                          fds[2], status, rc = -1, done = 0;

    out[0] = '\0';

    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -1;
    }

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK
                             | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

    if (posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ) != 0) {
        pid = -1;
    }

    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);

    if (pid < 0) {
        close(fds[0]);
        return -1;
    }

    deadline = probe_now_ms() + timeout_ms;
    pfd.fd = fds[0];
    pfd.events = POLLIN;

    while (!done) {
        left = deadline - probe_now_ms();
        if (left <= 0) {
            break;
        }

        if (poll(&pfd, 1, (int) left + 1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd.revents == 0) {
            continue;
        }

        n = read(fds[0], out + len, size - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            done = n == 0;
            break;
        }

        len += (size_t) n;
        if (len == size - 1) {
            /* more than a probe ever prints: not trusted */
            break;
        }
    }

    close(fds[0]);
    out[len] = '\0';

    /* its output closed, the probe must still exit within the deadline;
     * waited for without reaping, so its process group stays valid */
    memset(&info, 0, sizeof(info));
    while (done && probe_now_ms() < deadline
           && waitid(P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT)
              == 0
           && info.si_pid == 0)
    {
        nanosleep(&step, NULL);
    }

    /* whatever it left running goes with it */
    kill(-pid, SIGKILL);

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        /* retry */
    }

    if (done && info.si_pid == pid && WIFEXITED(status)
        && WEXITSTATUS(status) == 0)
    {
        rc = 0;
    } else {
        out[0] = '\0';
    }

    return rc;
}
