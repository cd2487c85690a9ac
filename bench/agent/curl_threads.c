/*
 * What the relay's curl handles cost per connection thread: N threads
 * with the agent's 512 KiB stacks, each keeping a curl multi and easy
 * handle after one POST to URL (as a relay keeps them between tasks), or,
 * with "none", doing nothing.  Prints this process's private dirty memory
 * before the threads and while they all hold their handles.  Not a test.
 *
 *   curl_threads URL N curl|none
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>


#define CT_THREADS_MAX  256
#define CT_STACK        (512 * 1024)


static const char         *ct_url;
static int                 ct_curl;
static pthread_barrier_t   ct_held, ct_done;


static size_t
ct_sink(char *p, size_t size, size_t n, void *ud)
{
    (void) p;
    (void) ud;
    return size * n;
}


static void *
ct_thread(void *arg)
{
    CURLM  *multi = NULL;
    CURL   *easy = NULL;
    int     running = 1;

    (void) arg;

    if (ct_curl) {
        multi = curl_multi_init();
        easy = curl_easy_init();
        if (multi == NULL || easy == NULL) {
            exit(1);
        }
        curl_easy_setopt(easy, CURLOPT_URL, ct_url);
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS,
                         "{\"model\":\"llama3.2\",\"prompt\":\"hi\"}");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, ct_sink);
        curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 16384L);
        curl_multi_add_handle(multi, easy);
        while (running) {
            curl_multi_perform(multi, &running);
            if (running) {
                curl_multi_poll(multi, NULL, 0, 1000, NULL);
            }
        }
        curl_multi_remove_handle(multi, easy);
    }

    pthread_barrier_wait(&ct_held);
    pthread_barrier_wait(&ct_done);

    if (easy != NULL) {
        curl_easy_cleanup(easy);
    }
    if (multi != NULL) {
        curl_multi_cleanup(multi);
    }
    return NULL;
}


static long
ct_private_dirty(void)
{
    FILE  *f;
    char   line[256];
    long   v = -1;

    f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "Private_Dirty: %ld", &v) == 1) {
            break;
        }
    }
    fclose(f);
    return v;
}


int
main(int argc, char **argv)
{
    pthread_t       t[CT_THREADS_MAX];
    pthread_attr_t  attr;
    long            before, held;
    int             n, i;

    if (argc != 4 || (n = atoi(argv[2])) < 1 || n > CT_THREADS_MAX) {
        fprintf(stderr, "usage: curl_threads URL N curl|none\n");
        return 2;
    }
    ct_url = argv[1];
    ct_curl = strcmp(argv[3], "curl") == 0;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CT_STACK);
    pthread_barrier_init(&ct_held, NULL, n + 1);
    pthread_barrier_init(&ct_done, NULL, n + 1);

    before = ct_private_dirty();
    for (i = 0; i < n; i++) {
        if (pthread_create(&t[i], &attr, ct_thread, NULL) != 0) {
            return 1;
        }
    }
    pthread_barrier_wait(&ct_held);
    held = ct_private_dirty();
    pthread_barrier_wait(&ct_done);

    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }

    printf("%d threads, %s: private dirty %ld -> %ld KiB (+%ld, %.1f per"
           " thread)\n", n, ct_curl ? "each holding curl handles"
           : "doing nothing", before, held, held - before,
           (double) (held - before) / n);
    curl_global_cleanup();
    return 0;
}
