/* The serializer conformance suite against the json serializer with the jansson
 * decoder forced (test_serializer_json runs the default: simdjson when built). */
#include "serializer_suite.h"

int main(void) {
    return rill_serializer_conformance_with("json", "json.decoder", "jansson");
}
