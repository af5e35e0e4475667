/* Every test of test_json_roundtrip.c (Faust's datetimes and decimals kept as
 * written) with the jansson decoder. */
#define RILL_TEST_JSON_DECODER "jansson"
#include "test_json_roundtrip.c"
