/* Tables on memory:// with the RocksDB store: the table conformance suite
 * (tests/support/table_suite.c), each app on its own new RocksDB directory (so a
 * restarted worker recovers from the changelog, as on a new machine; the
 * restart on the same disk is test_tables_rocksdb.c's). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "table_suite.h"

static char root[64];

static void broker(char *buf, size_t n, unsigned seq) {
    snprintf(buf, n, "memory://tables-rocksdb-%u", seq);
}

static void store(char *buf, size_t n) {
    static unsigned apps;
    snprintf(buf, n, "rocksdb://%s/%u", root, ++apps);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/rill-table-suite-XXXXXX");
    if (!mkdtemp(root)) return 1;
    rill_table_suite_t s = {
        .name = "tables on memory:// with rocksdb://", .broker = broker, .store = store};
    int rc = rill_table_suite_run(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
