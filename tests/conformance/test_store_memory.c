/* The store conformance suite against the memory:// store. */
#include "store_suite.h"

int main(void) {
    return rill_store_conformance("memory://");
}
