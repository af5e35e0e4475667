/* Every test of tests/support/json_suite.c (the Faust vectors byte for
 * byte, the decode-error messages naming the field) with the jansson decoder, which a
 * rill built with simdjson otherwise uses only when simdjson's walk does not take an
 * input. */
#include "json_suite.h"

int main(void) {
    return rill_json_suite_run("json (jansson decoder)", "jansson");
}
