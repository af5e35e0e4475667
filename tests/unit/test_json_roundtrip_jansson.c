/* Every test of tests/support/json_roundtrip_suite.c (Faust's
 * datetimes and decimals kept as written) with the jansson decoder. */
#include "json_roundtrip_suite.h"

int main(void) {
    return rill_json_roundtrip_suite_run("json roundtrip (jansson decoder)", "jansson");
}
