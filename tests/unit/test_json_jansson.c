/* Every test of test_json.c (the Faust vectors byte for byte, the decode-error
 * messages naming the field) with the jansson decoder, which a rill built with
 * simdjson otherwise uses only when simdjson's walk does not take an input. */
#define RILL_TEST_JSON_DECODER "jansson"
#include "test_json.c"
