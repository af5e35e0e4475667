/* The memory transport's seek in a partition log (rill__mem_part_seek): the index
 * of the first live entry at or past an offset, in a dense log (found without a
 * search, issue 17) and in one with gaps a compaction left, where the dense guess
 * misses and the binary search answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

#include "memory_int.h"

#define MAXN 16

typedef struct log {
    mem_entry_t ents[MAXN];
    mem_entry_t *ptrs[MAXN];
    mem_part_t p;
} log_t;

/* A log of the entries at @p offs (ascending), the first @p head of them trimmed. */
static void log_make(log_t *l, const int64_t *offs, size_t n, size_t head) {
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < n; i++) {
        l->ents[i].offset = offs[i];
        l->ptrs[i] = &l->ents[i];
    }
    l->p.entries = l->ptrs;
    l->p.n = n;
    l->p.head = head;
    l->p.next_offset = n ? offs[n - 1] + 1 : 0;
}

/* The first live index with offset >= off, by a scan. */
static size_t lower_bound(const mem_part_t *p, int64_t off) {
    size_t i = p->head;
    while (i < p->n && p->entries[i]->offset < off)
        i++;
    return i;
}

static void assert_seeks_like_a_scan(const log_t *l, int64_t from, int64_t to) {
    for (int64_t off = from; off <= to; off++)
        assert_int_equal(rill__mem_part_seek(&l->p, off), lower_bound(&l->p, off));
}

static void dense_log_seeks_every_offset(void **state) {
    (void)state;
    static log_t l;
    const int64_t offs[] = {3, 4, 5, 6, 7, 8};
    log_make(&l, offs, 6, 0);
    assert_int_equal(rill__mem_part_seek(&l.p, 5), 2);
    assert_seeks_like_a_scan(&l, -2, 12);
}

static void log_with_gaps_seeks_into_and_past_them(void **state) {
    (void)state;
    static log_t l;
    const int64_t offs[] = {0, 1, 2, 5, 6, 9, 10, 14};
    log_make(&l, offs, 8, 0);
    assert_int_equal(rill__mem_part_seek(&l.p, 3), 3); /* in a gap: the next entry */
    assert_int_equal(rill__mem_part_seek(&l.p, 6), 4);
    assert_int_equal(rill__mem_part_seek(&l.p, 13), 7);
    assert_int_equal(rill__mem_part_seek(&l.p, 15), 8); /* past the end */
    assert_seeks_like_a_scan(&l, -1, 16);
}

static void trimmed_log_seeks_from_its_head(void **state) {
    (void)state;
    static log_t l;
    const int64_t offs[] = {0, 1, 2, 3, 7, 8, 9};
    log_make(&l, offs, 7, 2); /* entries 0 and 1 trimmed */
    assert_int_equal(rill__mem_part_seek(&l.p, 0), 2);
    assert_int_equal(rill__mem_part_seek(&l.p, 8), 5);
    assert_seeks_like_a_scan(&l, -1, 11);
}

static void empty_log_seeks_to_its_end(void **state) {
    (void)state;
    static log_t l;
    log_make(&l, NULL, 0, 0);
    assert_int_equal(rill__mem_part_seek(&l.p, 0), 0);
    assert_int_equal(rill__mem_part_seek(&l.p, 5), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dense_log_seeks_every_offset),
        cmocka_unit_test(log_with_gaps_seeks_into_and_past_them),
        cmocka_unit_test(trimmed_log_seeks_from_its_head),
        cmocka_unit_test(empty_log_seeks_to_its_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
