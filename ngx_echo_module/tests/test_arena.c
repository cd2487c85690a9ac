
/*
 * A throwaway allocator for the parser tests (see test_arena.h).
 */


#include <stdlib.h>

#include "test_arena.h"


typedef union {
    long double     ld;
    long long       ll;
    void           *p;
} test_align_t;


struct test_block_s {
    test_block_t   *next;
    test_align_t    data[];     /* what the caller gets, aligned */
};


void
test_arena_init(test_arena_t *a, int limit)
{
    a->head = NULL;
    a->limit = limit;
    a->count = 0;
}


void *
test_arena_alloc(void *ctx, size_t size)
{
    test_arena_t  *a;
    test_block_t  *b;

    a = ctx;

    if (a->limit >= 0 && a->count >= a->limit) {
        return NULL;
    }

    b = malloc(sizeof(test_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = a->head;
    a->head = b;
    a->count++;

    return b->data;
}


void
test_arena_free(test_arena_t *a)
{
    test_block_t  *b, *next;

    for (b = a->head; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    a->head = NULL;
    a->count = 0;
}
