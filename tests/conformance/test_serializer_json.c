/* The serializer conformance suite against the json serializer. */
#include "serializer_suite.h"

int main(void) {
    return rill_serializer_conformance("json");
}
