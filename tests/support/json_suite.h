/* The JSON serializer tests (tests/support/json_suite.c), run with one JSON decoder:
 * test_json.c with the default ("auto": simdjson when built, jansson otherwise),
 * test_json_jansson.c with "jansson". */
#ifndef RILL_TEST_JSON_SUITE_H
#define RILL_TEST_JSON_SUITE_H

/* Run every test with the json serializer's json.decoder set to @p json_decoder,
 * as cmocka group @p name; the number of failures. */
int rill_json_suite_run(const char *name, const char *json_decoder);

#endif
