/* The transport conformance suite against an ABI 2 plugin ("memv2",
 * tests/support/legacy_transport.c): readers routed by topic name, one per
 * partition, revoked() without an identifier.  The core's adapter (core/backend.c)
 * turns it into reader handles and identified revokes, so every reader and revoke
 * test of the suite runs through the adapter: a reader gets only its partition,
 * two readers of one partition both get it, closing one leaves the other, a stale
 * revoke answer releases nothing. */
#include <stdio.h>

#include "legacy_transport.h"
#include "transport_suite.h"

int main(void) {
    if (rill_register_transport(&rill_test_legacy_transport) != RILL_OK) {
        fprintf(stderr, "an ABI 2 transport was refused\n");
        return 1;
    }
    return rill_transport_conformance("memv2://conformance-abi2", NULL, 100);
}
