/* Faust records that rill decodes and encodes again come out as Faust wrote them
 * (issue 15, item 13): a naive datetime stays naive, an offset stays that offset,
 * a Decimal keeps its own digits, while readers see the instant and the amount at
 * the schema's scale.  Vectors: tests/vectors/faust-roundtrip.jsonl. */
#include "json_roundtrip_suite.h"

int main(void) {
    return rill_json_roundtrip_suite_run("json roundtrip (auto decoder)", "auto");
}
