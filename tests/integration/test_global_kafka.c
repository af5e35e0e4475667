/* The GlobalTable suite (tests/support/global_suite.c) on kafka://mock (librdkafka's
 * in-process mock cluster, shared by the workers of a test; one group and
 * changelog per test): three workers each hold the whole table, non-owners' writes
 * are refused, a late worker gets every partition. */
#include <stdio.h>

#include "global_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    snprintf(buf, n, "kafka://mock");
}

int main(void) {
    rill_global_suite_t s = {
        .name = "global on kafka://mock",
        .broker = broker,
        .wait_ms = 40000, /* the mock forms and rebalances groups in seconds */
    };
    return rill_global_suite_run(&s);
}
