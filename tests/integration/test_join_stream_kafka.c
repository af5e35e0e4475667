/* The stream-stream join suite (tests/support/join_stream_suite.c) on kafka://mock
 * (librdkafka's in-process mock cluster; one group, pair of topics and join
 * buffers per test): pairs within the window, left/outer emission, freeing, late
 * events and a restart in the middle of a join buffer, whose buffers come back
 * from their changelogs. */
#include <stdio.h>

#include "join_stream_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    snprintf(buf, n, "kafka://mock");
}

int main(void) {
    rill_join_stream_suite_t s = {
        .name = "join stream on kafka://mock",
        .broker = broker,
        .wait_ms = 40000,  /* the mock forms and rebalances groups in seconds */
        .step_ms = 500,    /* sent events are handled before the next are sent */
        .settle_ms = 3000, /* a ready group fetches every partition */
    };
    return rill_join_stream_suite_run(&s);
}
