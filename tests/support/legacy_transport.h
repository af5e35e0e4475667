/* "memv2": a transport written to the ABI 2 contract (readers routed by topic
 * name, one per partition, handlers->reader_messages / reader_eof, revoked()
 * without an identifier, revoke_done()) on top of a memory:// instance of the same
 * name.  Registered by the tests of the core's ABI 1-2 adapter (core/backend.c):
 * test_transport_abi2_memory runs the conformance suite on it, test_registry an
 * app on an ABI 1 copy. */
#ifndef RILL_TEST_LEGACY_TRANSPORT_H
#define RILL_TEST_LEGACY_TRANSPORT_H

#include <rill/rill.h>

extern const struct rill_transport_ops rill_test_legacy_transport;

#endif
