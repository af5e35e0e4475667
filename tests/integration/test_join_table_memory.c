/* Table-table joins on memory:// (issue 14, item 3): inner/left/outer rows, updates
 * from either side, deletes on one side, the join function deleting a row, a
 * restart after which the joined table equals the join of its recovered inputs,
 * and the definition errors.  Two agents write tables "names" and "langs" from
 * topics users and prefs (a tombstone deletes); "profiles" joins them into
 * "name/lang" ("-" for a missing side).
 * The tests: tests/support/join_table_suite.c, with its memory-only ones. */
#include <stdio.h>

#include "join_table_suite.h"

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://join-table-test-%u", seq);
}

int main(void) {
    rill_join_table_suite_t s = {
        .name = "join table on memory://", .broker = broker, .memory_transport = true};
    return rill_join_table_suite_run(&s);
}
