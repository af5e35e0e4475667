/* The sliding-window suite (tests/support/window_sliding_suite.c): the same tests on any
 * transport.  A test_window_sliding_<backend>.c fills a rill_window_sliding_suite_t and
 * runs it:
 *
 *     static void broker(char *buf, size_t n, unsigned seq) {
 *         snprintf(buf, n, "memory://sliding-test-%u", seq);
 *     }
 *     int main(void) {
 *         rill_window_sliding_suite_t s = {.name = "window sliding on memory://", .broker
 * = broker, .memory_transport = true}; return rill_window_sliding_suite_run(&s);
 *     }
 */
#ifndef RILL_TEST_WINDOW_SLIDING_SUITE_H
#define RILL_TEST_WINDOW_SLIDING_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include <rill/rill.h>

typedef struct rill_window_sliding_suite {
    const char *name; /* the cmocka group's name */
    /* The broker URL for test number @p seq (a fresh namespace, or an emptied
     * server): every app of that test connects to it. */
    void (*broker)(char *buf, size_t n, unsigned seq);
    /* Extra configuration for every app (NULL: none). */
    void (*conf)(rill_conf_t *c);
    int wait_ms; /* for an event to be handled (a group to form) (0: 3000) */
    /* Also run the tests of memory:// only (definition errors on an app of their
     * own, the web page). */
    bool memory_transport;
} rill_window_sliding_suite_t;

/* Run every test that fits @p s; cmocka's result (the number of failures). */
int rill_window_sliding_suite_run(const rill_window_sliding_suite_t *s);

#endif
