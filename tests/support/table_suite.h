/* The table conformance suite: the same table tests (counting, ownership,
 * changelog recovery, restarts, standby replicas, rebalance during recovery,
 * keys on other partitions, windows) on any transport and store.  A
 * test_tables_<backend>.c fills a rill_table_suite_t and runs it:
 *
 *     static void broker(char *buf, size_t n, unsigned seq) {
 *         snprintf(buf, n, "memory://tables-test-%u", seq);
 *     }
 *     int main(void) {
 *         rill_table_suite_t s = {.name = "tables on memory://", .broker = broker,
 *                                 .memory_transport = true};
 *         return rill_table_suite_run(&s);
 *     }
 */
#ifndef RILL_TEST_TABLE_SUITE_H
#define RILL_TEST_TABLE_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include <rill/rill.h>

typedef struct rill_table_suite {
    const char *name; /* the cmocka group's name */
    /* The broker URL for test number @p seq (a fresh namespace, or an emptied
     * server): every app of that test connects to it. */
    void (*broker)(char *buf, size_t n, unsigned seq);
    /* A store URL for one app (NULL: the default memory store).  Called for every
     * app a test makes, so each gets its own (e.g. a new RocksDB directory). */
    void (*store)(char *buf, size_t n);
    /* Extra configuration for every app (NULL: none). */
    void (*conf)(rill_conf_t *c);
    int settle_ms; /* how long a group of three takes to form (0: 100 ms) */
    /* Also run the tests that wrap the memory transport's vtable or read its
     * changelog watermarks (stalls, a leaking pause, records per commit). */
    bool memory_transport;
} rill_table_suite_t;

/* Run every test that fits @p s; cmocka's result (the number of failures). */
int rill_table_suite_run(const rill_table_suite_t *s);

#endif
