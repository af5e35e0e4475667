/* The transport conformance suite: one set of cmocka tests that every transport
 * (memory, kafka, redis, third-party) must pass, parameterised by URL. */
#ifndef RILL_TRANSPORT_SUITE_H
#define RILL_TRANSPORT_SUITE_H

#include <rill/rill.h>

/* Run the whole suite against the transport at @p url, opened with @p conf (may be
 * NULL; it is copied per instance).  @p group_wait_ms bounds how long membership
 * changes may take (memory: a few ms; kafka mock: ~10 s).  Returns the number of
 * failed tests (cmocka_run_group_tests). */
int rill_transport_conformance(const char *url, const rill_conf_t *conf,
                               int group_wait_ms);

#endif
