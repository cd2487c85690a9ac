/*
 * ollama-sim: a stand-in for Ollama for tests, demos and benchmarks.
 * See --help, and tools/ollama-sim/README.md.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_config.h"
#include "sim_fault.h"
#include "sim_http.h"
#include "sim_listener.h"
#include "sim_models.h"
#include "sim_time.h"
#include "sim_slots.h"
#include "sim_wait.h"


static int sim_run(void);


int
main(int argc, char **argv)
{
    int  rc;

    switch (sim_config_parse(&sim_cfg, argc, argv)) {
    case SIM_CONFIG_EXIT_OK:
        sim_config_free(&sim_cfg);
        return 0;
    case SIM_CONFIG_EXIT_USAGE:
        sim_config_free(&sim_cfg);
        return 2;
    default:
        break;
    }

    rc = sim_run();
    sim_config_free(&sim_cfg);
    return rc;
}


static int
sim_run(void)
{
    sigset_t  sigs;
    char      err[256];
    size_t    i;
    int       sig, rc = 1;

    /*
     * Signals are taken by sigwait() in this thread only; the mask is
     * set before any thread starts, so all of them inherit it.
     */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sim_stop_init() != 0) {
        fprintf(stderr, "ollama-sim: cannot create a pipe\n");
        return 1;
    }

    sim_slots_init((int) sim_cfg.parallel, (int) sim_cfg.queue);
    /* one timestamp for all, so /api/tags lists them in command order */
    sim_models_init();
    sim_models_configure(sim_cfg.keep_alive_ns,
                         sim_cfg.load_delay_ms * SIM_NS_PER_MS,
                         sim_cfg.max_loaded);
    for (i = 0; i < sim_cfg.nmodels; i++) {
        sim_cfg.models[i].modified_ns = sim_cfg.models[0].modified_ns;
        sim_models_add(&sim_cfg.models[i]);
    }
    sim_fault_set(&sim_cfg.fault);

    if (sim_listener_open(sim_cfg.host, sim_cfg.port, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "ollama-sim: %s\n", err);
        goto done;
    }

    if (sim_http_start(err, sizeof(err)) != 0
        || sim_listener_start(sim_http_daemon(), err, sizeof(err)) != 0)
    {
        fprintf(stderr, "ollama-sim: %s\n", err);
        goto done;
    }

    printf("ollama-sim: listening on %s:%d (%zu models, version %s)\n",
           sim_cfg.host, sim_listener_port(), sim_cfg.nmodels,
           sim_cfg.version);
    fflush(stdout);

    for ( ;; ) {
        if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        if (sig == SIGUSR1 || sig == SIGHUP) {
            sim_fault_t  none = { SIM_FAULT_NONE, 0 };

            sim_fault_set(&none);
            sim_listener_sync();
            continue;
        }
        break;
    }

    rc = 0;

done:

    sim_stop_trigger();
    sim_slots_wake_all();
    sim_listener_stop();
    sim_http_stop();
    sim_models_fini();
    sim_stop_fini();

    if (rc == 0) {
        printf("ollama-sim: stopped\n");
        fflush(stdout);
    }
    return rc;
}
