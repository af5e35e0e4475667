/* Tables on memory:// with the memory store: the table conformance suite
 * (tests/support/table_suite.c), including its tests that wrap the memory
 * transport (stalls, a pause that leaks, changelog records per commit). */
#include <stdio.h>

#include "table_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://tables-test-%u", seq);
}

int main(void) {
    rill_table_suite_t s = {
        .name = "tables on memory://", .broker = broker, .memory_transport = true};
    return rill_table_suite_run(&s);
}
