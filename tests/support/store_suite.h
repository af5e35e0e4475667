/* The store conformance suite: one set of cmocka tests that every store (memory,
 * rocksdb, third-party) must pass. */
#ifndef RILL_STORE_SUITE_H
#define RILL_STORE_SUITE_H

#include <rill/rill.h>

/* Run the suite.  @p url_template is the store URL; for stores on disk it holds
 * one "%s" that each test replaces with a fresh temporary directory (removed after
 * the test), e.g. "rocksdb://%s".  Returns the number of failed tests. */
int rill_store_conformance(const char *url_template);

#endif
