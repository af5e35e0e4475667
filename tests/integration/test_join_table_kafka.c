/* The table-table join suite (tests/support/join_table_suite.c) on kafka://mock
 * (librdkafka's in-process mock cluster; one group, pair of topics and tables per
 * test): inner/left/outer rows, updates and deletes from either side, and a restart
 * after which the joined table is the join of its inputs recovered from their
 * changelogs. */
#include <stdio.h>

#include "join_table_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    snprintf(buf, n, "kafka://mock");
}

int main(void) {
    rill_join_table_suite_t s = {
        .name = "join table on kafka://mock",
        .broker = broker,
        .wait_ms = 40000,  /* the mock forms and rebalances groups in seconds */
        .settle_ms = 3000, /* a ready group fetches every partition */
    };
    return rill_join_table_suite_run(&s);
}
