/* The transport conformance suite against the in-process memory:// transport. */
#include "transport_suite.h"

int main(void) {
    return rill_transport_conformance("memory://conformance", NULL, 100);
}
