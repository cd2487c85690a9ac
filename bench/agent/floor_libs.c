/*
 * The library floor: a program that only links a set of libraries (the
 * script picks them) and sleeps, so its PSS and private memory are what
 * loading them costs before any agent code runs.  With -DWITH_CURL it
 * references libcurl (so the linker keeps it); with -DCURL_INIT it also
 * calls curl_global_init() as the agent does.  Not a test.
 */

#include <stdio.h>
#include <unistd.h>

#ifdef WITH_CURL
#include <curl/curl.h>
#endif


int
main(void)
{
#ifdef CURL_INIT
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }
#endif

#ifdef WITH_CURL
    printf("%s\n", curl_version());
#else
    printf("ready\n");
#endif
    fflush(stdout);

    pause();
    return 0;
}
