/* The store conformance suite against the RocksDB store, in temporary directories. */
#include "store_suite.h"

int main(void) {
    return rill_store_conformance("rocksdb://%s");
}
