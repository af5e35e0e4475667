/* The sliding-window suite (tests/support/window_sliding_suite.c) on kafka://mock
 * (librdkafka's in-process mock cluster; one group, topic and changelog per test):
 * counts per window, late events, emit=update and emit=final, expiry and a restart
 * in the middle of a window, whose windows come back from the changelog. */
#include <stdio.h>

#include "window_sliding_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    snprintf(buf, n, "kafka://mock");
}

int main(void) {
    rill_window_sliding_suite_t s = {
        .name = "window sliding on kafka://mock",
        .broker = broker,
        .wait_ms = 40000, /* the mock forms and rebalances groups in seconds */
    };
    return rill_window_sliding_suite_run(&s);
}
