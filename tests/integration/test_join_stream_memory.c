/* Stream-stream windowed joins on memory:// (issue 14, item 2): pairs within the
 * window (before/after bounds), inner/left/outer emission of unmatched events once
 * stream time passes their window, late events dropped and counted, buffers freed,
 * a restart in the middle of a join buffer, and the definition errors.
 * The tests: tests/support/join_stream_suite.c, with its memory-only ones. */
#include <stdio.h>

#include "join_stream_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://join-stream-test-%u", seq);
}

int main(void) {
    rill_join_stream_suite_t s = {
        .name = "join stream on memory://", .broker = broker, .memory_transport = true};
    return rill_join_stream_suite_run(&s);
}
