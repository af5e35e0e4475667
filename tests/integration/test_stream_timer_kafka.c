/* The stream-time timer suite (tests/support/stream_timer_suite.c) on kafka://mock
 * (librdkafka's in-process mock cluster; one group and topic per test):
 * boundaries, no wall-clock firing, older and far-future events, per-partition
 * independence, a table write in the callback, and a restart that carries on from
 * the boundary kept in the timer's changelog. */
#include <stdio.h>

#include "stream_timer_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    snprintf(buf, n, "kafka://mock");
}

int main(void) {
    rill_stream_timer_suite_t s = {
        .name = "stream timer on kafka://mock",
        .broker = broker,
        .wait_ms = 40000,  /* the mock forms and rebalances groups in seconds */
        .commit_ms = 1000, /* a commit reaches the mock */
        .settle_ms = 3000, /* a ready group fetches every partition */
    };
    return rill_stream_timer_suite_run(&s);
}
