/* The serializer conformance suite against the avro serializer. */
#include "serializer_suite.h"

int main(void) {
    return rill_serializer_conformance("avro");
}
