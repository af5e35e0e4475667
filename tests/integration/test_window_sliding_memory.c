/* Sliding windows on memory:// (Kafka Streams' SlidingWindows): a known event
 * sequence makes a window ending at each event and one starting just after each
 * event that has a later one within the time difference, each counting the events
 * in it; events past grace are dropped and counted; emit=final emits each window
 * once; a restart in the middle of a window recovers its windows from the
 * changelog (new windows derive from them, closed ones are not emitted again);
 * bad definitions are refused.
 * The tests: tests/support/window_sliding_suite.c, with its memory-only ones. */
#include <stdio.h>

#include "window_sliding_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://sliding-test-%u", seq);
}

int main(void) {
    rill_window_sliding_suite_t s = {.name = "window sliding on memory://",
                                     .broker = broker,
                                     .memory_transport = true};
    return rill_window_sliding_suite_run(&s);
}
