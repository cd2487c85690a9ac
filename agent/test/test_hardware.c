/*
 * Memory and GPU detection over recorded /proc and /sys trees, and the
 * nvidia-smi probe run against stand-in scripts put first in PATH: its
 * output read, its signals at their defaults although the caller blocks
 * and ignores some, a hung or failing probe killed and the last VRAM
 * kept.  Deadlines only catch a hang (the watchdog).
 */

#define _GNU_SOURCE

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "hardware.h"


#define WATCHDOG_SECS  60
#define GiB            (1024ULL * 1024 * 1024)


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


static char  probe_dir[64];


static void
stand_in(const char *script)
{
    char   path[128];
    FILE  *f = NULL;

    snprintf(path, sizeof(path), "%s/nvidia-smi", probe_dir);
    unlink(path);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    fprintf(f, "#!/bin/sh\n%s\n", script);
    fclose(f);
    chmod(path, 0755);
}


/* a process that is gone, or dead and waiting for its parent */
static int
process_gone(const char *pidfile)
{
    char   path[64], stat[256], *p;
    FILE  *f = NULL;
    long   pid = 0;
    int    i;

    f = fopen(pidfile, "r");
    if (f == NULL || fscanf(f, "%ld", &pid) != 1) {
        if (f != NULL) {
            fclose(f);
        }
        return 0;
    }
    fclose(f);

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    for (i = 0; i < 1000; i++) {
        f = fopen(path, "r");
        if (f == NULL) {
            return 1;
        }
        p = fgets(stat, sizeof(stat), f);
        fclose(f);
        p = p ? strrchr(stat, ')') : NULL;
        if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) {
            return 1;
        }
        usleep(10000);
    }
    return 0;
}


static void
test_probe(void)
{
    hw_info_t   hw;
    sigset_t    set;
    char        root[512], path[600], pidfile[128], out[16];
    char       *argv[] = { "nvidia-smi", NULL };

    snprintf(probe_dir, sizeof(probe_dir), "/tmp/echo-agent-probe-XXXXXX");
    CHECK(mkdtemp(probe_dir) != NULL);
    snprintf(path, sizeof(path), "%s:/usr/bin:/bin", probe_dir);
    setenv("PATH", path, 1);
    snprintf(root, sizeof(root), "%s/hw-nvidia", FIXTURES);
    snprintf(pidfile, sizeof(pidfile), "%s/child.pid", probe_dir);

    /* as in the agent: these blocked, SIGPIPE ignored */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* one line per GPU, in MiB */
    stand_in("printf '8192\\n4096\\n'");
    memset(&hw, 0, sizeof(hw));
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.has_gpu, 1);
    CHECK_INT(hw.vram_total, 12 * GiB);

    /* the probe is not run when not asked for */
    memset(&hw, 0, sizeof(hw));
    hw_detect_gpu(root, 0, &hw);
    CHECK_INT(hw.vram_total, 0);

    /* nothing blocked, none of signals 1-31 ignored in the child (glibc
     * keeps its own two, 32 and 33, ignored across posix_spawn); read
     * with shell builtins only, before the shell forks anything (it
     * blocks signals of its own around a fork) */
    stand_in("while read -r k v; do\n"
             "    case $k in SigBlk:) blk=$v ;; SigIgn:) ign=$v ;; esac\n"
             "done < /proc/$$/status\n"
             "[ \"$blk\" = 0000000000000000 ] || exit 1\n"
             "case $ign in *[08]0000000) ;; *) exit 1 ;; esac\n"
             "echo 1024");
    memset(&hw, 0, sizeof(hw));
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.vram_total, 1 * GiB);

    /* hung (with a child of its own): killed, the last value kept */
    snprintf(path, sizeof(path), "sleep 600 &\necho $! > %s\nwait", pidfile);
    stand_in(path);
    hw.has_gpu = 1;
    hw.vram_total = 12 * GiB;
    hw_detect_gpu(root, 300, &hw);
    CHECK_INT(hw.has_gpu, 1);
    CHECK_INT(hw.vram_total, 12 * GiB);
    CHECK(process_gone(pidfile));

    /* its output closed but still running: killed too */
    snprintf(path, sizeof(path), "exec >&-\nsleep 600 &\necho $! > %s\n"
             "wait", pidfile);
    stand_in(path);
    hw_detect_gpu(root, 300, &hw);
    CHECK_INT(hw.vram_total, 12 * GiB);
    CHECK(process_gone(pidfile));

    /* a good answer, and a child left behind: the answer taken, the
     * child killed */
    snprintf(path, sizeof(path), "sleep 600 >/dev/null &\necho $! > %s\n"
             "echo 2048",
             pidfile);
    stand_in(path);
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.vram_total, 2 * GiB);
    CHECK(process_gone(pidfile));
    hw.vram_total = 12 * GiB;

    /* failing, babbling, missing: the last value kept */
    stand_in("echo 2048; exit 3");
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.vram_total, 12 * GiB);

    stand_in("exec yes 1");
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.vram_total, 12 * GiB);

    CHECK_INT(hw_probe_run(argv, 5000, out, sizeof(out)), -1);
    CHECK_STR(out, "");

    snprintf(path, sizeof(path), "%s/nvidia-smi", probe_dir);
    unlink(path);
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.vram_total, 12 * GiB);

    /* a GPU gone is gone, whatever was known before */
    snprintf(root, sizeof(root), "%s/hw-none", FIXTURES);
    hw_detect_gpu(root, 5000, &hw);
    CHECK_INT(hw.has_gpu, 0);
    CHECK_INT(hw.vram_total, 0);

    unlink(pidfile);
    rmdir(probe_dir);
}


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

    unit_watchdog(WATCHDOG_SECS);
    test_probe();

    return UNIT_DONE();
}
