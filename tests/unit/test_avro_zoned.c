/* What Avro keeps of a datetime and a decimal read from Faust's JSON (issue 15,
 * item 13): timestamp-micros holds the instant only, so a rill_datetime_t comes
 * back in UTC ("Z"); decimal bytes hold the amount at the schema's scale, so the
 * digits as written are not kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

typedef struct stamp {
    rill_datetime_t at;
    rill_decimal_t amount;
    rill_array_t seen; /* of rill_datetime_t */
} stamp_t;

RILL_RECORD(stamp_schema, stamp_t, "shop.Stamp", RILL_F(stamp_t, at, DATETIME),
            RILL_F_DECIMAL(stamp_t, amount, 12, 2),
            RILL_F_ARRAY(stamp_t, seen, &rill_type_datetime_zoned));

static void avro_keeps_the_instant_and_the_amount_at_the_schema_scale(void **state) {
    (void)state;
    char err[256] = "";
    rill_serializer_t *json = rill_serializer_new("json", NULL, err, sizeof err);
    rill_serializer_t *avro = rill_serializer_new("avro", NULL, err, sizeof err);
    if (!json || !avro) fail_msg("%s", err);
    const rill_type_t *t = RILL_TYPE_RECORD(&stamp_schema);
    const char *text = "{\"at\":\"2024-03-10T10:15:00+02:00\",\"amount\":\"100\","
                       "\"seen\":[\"2024-03-10T08:15:00\",\"2024-03-10T09:15:00Z\"]}";
    stamp_t in, out;
    rill_record_init(&stamp_schema, &in);
    assert_int_equal(
        rill_serializer_decode(json, t, text, strlen(text), &in, err, sizeof err),
        RILL_OK);
    rill_buf_t b = RILL_BUF_INIT;
    assert_int_equal(rill_serializer_encode(avro, t, &in, &b, err, sizeof err), RILL_OK);
    rill_record_init(&stamp_schema, &out);
    assert_int_equal(
        rill_serializer_decode(avro, t, b.data, b.len, &out, err, sizeof err), RILL_OK);
    assert_int_equal(out.at.us, in.at.us);
    assert_int_equal(out.at.zone, RILL_DATETIME_Z);
    assert_int_equal(out.amount.unscaled, 10000);
    assert_int_equal(out.amount.scale, 2);
    assert_int_equal(out.amount.written, 0);
    assert_int_equal(out.seen.len, 2);
    const rill_datetime_t *s = out.seen.items, *w = in.seen.items;
    assert_int_equal(s[0].us, w[0].us);
    assert_int_equal(s[1].us, w[1].us);
    /* written again as JSON: UTC and the schema's scale */
    rill_buf_reset(&b);
    assert_int_equal(rill_serializer_encode(json, t, &out, &b, err, sizeof err), RILL_OK);
    const char *want = "{\"at\":\"2024-03-10T08:15:00Z\",\"amount\":\"100.00\","
                       "\"seen\":[\"2024-03-10T08:15:00Z\",\"2024-03-10T09:15:00Z\"],"
                       "\"__faust\":{\"ns\":\"shop.Stamp\"}}";
    if (b.len != strlen(want) || memcmp(b.data, want, b.len))
        fail_msg("want %s\n got %.*s", want, (int)b.len, b.data);
    rill_buf_free(&b);
    rill_record_clear(&stamp_schema, &in);
    rill_record_clear(&stamp_schema, &out);
    rill_serializer_destroy(json);
    rill_serializer_destroy(avro);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(avro_keeps_the_instant_and_the_amount_at_the_schema_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
