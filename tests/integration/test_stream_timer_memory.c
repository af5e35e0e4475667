/* Timers on stream time on memory:// (issue 14, item 7): a stream timer fires when
 * a partition's stream time crosses a multiple of its interval (once per advance),
 * never on the wall clock alone, not for older events, per partition, in the
 * partition's context (a table write in the callback lands there), and carries on
 * from the last boundary after a restart.
 * The tests: tests/support/stream_timer_suite.c, with its memory-only ones. */
#include <stdio.h>

#include "stream_timer_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://stream-timer-test-%u", seq);
}

int main(void) {
    rill_stream_timer_suite_t s = {
        .name = "stream timer on memory://", .broker = broker, .memory_transport = true};
    return rill_stream_timer_suite_run(&s);
}
