/* GlobalTables on memory:// (issue 14, item 4): three workers of one group each
 * hold the whole table; a value written by the owner of its partition is read on
 * all three, from outside handlers and from an agent of a stream that is not
 * co-partitioned with the table; a write from a non-owner is refused naming the
 * owner's topic; a worker that joins later gets every partition.
 * The tests: tests/support/global_suite.c, with its memory-only ones. */
#include <stdio.h>

#include "global_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://global-test-%u", seq);
}

int main(void) {
    rill_global_suite_t s = {
        .name = "global on memory://", .broker = broker, .memory_transport = true};
    return rill_global_suite_run(&s);
}
