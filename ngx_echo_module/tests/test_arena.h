
/*
 * A throwaway allocator for the parser tests: every block is freed at once,
 * like an nginx pool, and allocation can be made to fail after N blocks.
 */


#ifndef _TEST_ARENA_H_INCLUDED_
#define _TEST_ARENA_H_INCLUDED_


#include <stddef.h>


typedef struct test_block_s  test_block_t;

typedef struct {
    test_block_t  *head;
    int            limit;       /* blocks allowed, -1: no limit */
    int            count;       /* blocks handed out */
} test_arena_t;


void test_arena_init(test_arena_t *a, int limit);
void *test_arena_alloc(void *ctx, size_t size);
void test_arena_free(test_arena_t *a);


#endif /* _TEST_ARENA_H_INCLUDED_ */
