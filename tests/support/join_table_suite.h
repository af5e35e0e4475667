/* The table-table join suite (tests/support/join_table_suite.c): the same tests on any
 * transport.  A test_join_table_<backend>.c fills a rill_join_table_suite_t and runs it:
 *
 *     static void broker(char *buf, size_t n, unsigned seq) {
 *         snprintf(buf, n, "memory://join-table-test-%u", seq);
 *     }
 *     int main(void) {
 *         rill_join_table_suite_t s = {.name = "join table on memory://", .broker =
 * broker, .memory_transport = true}; return rill_join_table_suite_run(&s);
 *     }
 */
#ifndef RILL_TEST_JOIN_TABLE_SUITE_H
#define RILL_TEST_JOIN_TABLE_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include <rill/rill.h>

typedef struct rill_join_table_suite {
    const char *name; /* the cmocka group's name */
    /* The broker URL for test number @p seq (a fresh namespace, or an emptied
     * server): every app of that test connects to it. */
    void (*broker)(char *buf, size_t n, unsigned seq);
    /* Extra configuration for every app (NULL: none). */
    void (*conf)(rill_conf_t *c);
    int wait_ms;   /* for an event to be handled, a group to form (0: 3000) */
    int settle_ms; /* for a group to be assigned its partitions once ready (0: none) */
    /* Also run the tests of memory:// only (definition errors on an app of their
     * own). */
    bool memory_transport;
} rill_join_table_suite_t;

/* Run every test that fits @p s; cmocka's result (the number of failures). */
int rill_join_table_suite_run(const rill_join_table_suite_t *s);

#endif
