/* Faust records that rill decodes and encodes again come out as Faust wrote them
 * (issue 15, item 13): a naive datetime stays naive, an offset stays that offset,
 * a Decimal keeps its own digits, while readers see the instant and the amount at
 * the schema's scale.  Vectors: tests/vectors/faust-roundtrip.jsonl.
 * A suite (tests/support/json_roundtrip_suite.h) run with each JSON decoder:
 * test_json_roundtrip.c with the default, test_json_roundtrip_jansson.c with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <rill/rill.h>

#include "json_roundtrip_suite.h"

typedef struct payment {
    char *id;
    rill_datetime_t at;
    rill_decimal_t amount; /* schema scale 2 */
    rill_decimal_t rate;   /* no scale: the text's own */
    rill_array_t seen;     /* of rill_datetime_t */
} payment_t;

RILL_RECORD(payment_schema, payment_t, "shop.Payment", RILL_F(payment_t, id, STRING),
            RILL_F(payment_t, at, DATETIME), RILL_F_DECIMAL(payment_t, amount, 12, 2),
            RILL_F_DECIMAL(payment_t, rate, 18, 0),
            RILL_F_ARRAY(payment_t, seen, &rill_type_datetime_zoned));

/* The same record read by a program that keeps only the instant. */
typedef struct payment_instant {
    char *id;
    int64_t at;
    rill_decimal_t amount;
} payment_instant_t;

RILL_RECORD(payment_instant_schema, payment_instant_t, "shop.Payment",
            RILL_F(payment_instant_t, id, STRING),
            RILL_F(payment_instant_t, at, DATETIME),
            RILL_F_DECIMAL(payment_instant_t, amount, 12, 2));

static const char *decoder; /* json.decoder: "auto", "jansson" */

static rill_serializer_t *json(void) {
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "json.decoder", decoder, err, sizeof err),
                     RILL_CONF_OK);
    rill_serializer_t *s = rill_serializer_new("json", c, err, sizeof err);
    if (!s) fail_msg("%s", err);
    rill_conf_destroy(c);
    return s;
}

static void decode(rill_serializer_t *s, const rill_schema_t *sch, const char *text,
                   void *rec) {
    rill_record_init(sch, rec);
    char err[256] = "";
    rill_err_t rc = rill_serializer_decode(s, RILL_TYPE_RECORD(sch), text, strlen(text),
                                           rec, err, sizeof err);
    if (rc) fail_msg("decoding %s: %s", text, err);
}

/* Encode and compare with @p want byte for byte. */
static void expect_encoded(rill_serializer_t *s, const rill_schema_t *sch,
                           const void *rec, const char *want) {
    rill_buf_t out = RILL_BUF_INIT;
    char err[256] = "";
    rill_err_t rc =
        rill_serializer_encode(s, RILL_TYPE_RECORD(sch), rec, &out, err, sizeof err);
    if (rc) fail_msg("encoding: %s", err);
    if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        fail_msg("encoded differs:\n  want: %s\n  rill: %.*s", want, (int)out.len,
                 out.data);
    rill_buf_free(&out);
}

static void faust_roundtrip_vectors_reencode_byte_for_byte(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tests/vectors/faust-roundtrip.jsonl",
             RILL_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("test vectors not found at %s", path);
    rill_serializer_t *s = json();
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        assert_non_null(row);
        assert_string_equal(json_string_value(json_object_get(row, "record")), "Payment");
        const char *text = json_string_value(json_object_get(row, "faust_json"));
        payment_t p;
        decode(s, &payment_schema, text, &p);
        expect_encoded(s, &payment_schema, &p, text);
        /* a copy is the same value and encodes the same */
        payment_t q;
        assert_int_equal(rill_record_copy(&payment_schema, &q, &p), RILL_OK);
        assert_true(rill_record_equal(&payment_schema, &p, &q));
        expect_encoded(s, &payment_schema, &q, text);
        rill_record_clear(&payment_schema, &q);
        rill_record_clear(&payment_schema, &p);
        json_decref(row);
        n++;
    }
    fclose(f);
    assert_true(n >= 5);
    rill_serializer_destroy(s);
}

#define P(at, amount)                                                                    \
    "{\"id\":\"p\",\"at\":\"" at "\",\"amount\":\"" amount                               \
    "\",\"rate\":\"1\",\"seen\":[],\"__faust\":{\"ns\":\"shop.Payment\"}}"

/* 2024-03-10T08:15:00Z in µs */
#define AT_0815 INT64_C(1710058500000000)

static void naive_datetime_stays_naive_and_reads_as_its_wall_time(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    decode(s, &payment_schema, P("2024-03-10T08:15:00", "1"), &p);
    assert_int_equal(p.at.zone, RILL_DATETIME_NAIVE);
    assert_int_equal(p.at.us, AT_0815);
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00", "1"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void offset_datetime_keeps_its_offset_and_reads_as_the_instant(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    decode(s, &payment_schema, P("2024-03-10T10:15:00+02:00", "1"), &p);
    assert_int_equal(p.at.zone, RILL_DATETIME_OFFSET);
    assert_int_equal(p.at.offset_min, 120);
    assert_int_equal(p.at.us, AT_0815);
    /* a new instant is written in the same offset */
    p.at.us += INT64_C(3600000000);
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T11:15:00+02:00", "1"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void decimal_keeps_its_digits_and_reads_at_the_schema_scale(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    decode(s, &payment_schema, P("2024-03-10T08:15:00Z", "100"), &p);
    assert_int_equal(p.amount.unscaled, 10000);
    assert_int_equal(p.amount.scale, 2);
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00Z", "100"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void changed_amount_that_no_longer_fits_its_digits_uses_the_scale(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    decode(s, &payment_schema, P("2024-03-10T08:15:00Z", "100"), &p);
    p.amount.unscaled = 10050; /* 100.50 has digits "100" cannot show */
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00Z", "100.50"));
    p.amount.unscaled = 20000; /* 200 fits them */
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00Z", "200"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void values_a_program_makes_are_written_in_utc_at_the_scale(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    rill_record_init(&payment_schema, &p);
    p.id = strdup("p");
    p.at.us = AT_0815;
    p.amount = (rill_decimal_t){12345, 2};
    p.rate = (rill_decimal_t){1, 0};
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00Z", "123.45"));
    p.amount = (rill_decimal_t){1, 0}; /* rescaled to the schema's 2 */
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00Z", "1.00"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void int64_datetime_member_keeps_only_the_instant(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_instant_t p;
    decode(s, &payment_instant_schema, P("2024-03-10T10:15:00+02:00", "100"), &p);
    assert_int_equal(p.at, AT_0815);
    assert_int_equal(p.amount.unscaled, 10000);
    rill_buf_t out = RILL_BUF_INIT;
    char err[256];
    assert_int_equal(rill_serializer_encode(s, RILL_TYPE_RECORD(&payment_instant_schema),
                                            &p, &out, err, sizeof err),
                     RILL_OK);
    const char *want = "{\"id\":\"p\",\"at\":\"2024-03-10T08:15:00Z\",\"amount\":\"100\","
                       "\"__faust\":{\"ns\":\"shop.Payment\"}}";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    rill_buf_free(&out);
    rill_record_clear(&payment_instant_schema, &p);
    rill_serializer_destroy(s);
}

static void fraction_digits_other_writers_use_are_kept(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    decode(s, &payment_schema, P("2024-03-10T08:15:00.250Z", "1"), &p);
    assert_int_equal(p.at.us, AT_0815 + 250000);
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00.250Z", "1"));
    p.at.us += 1; /* needs all six digits now */
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00.250001Z", "1"));
    rill_record_clear(&payment_schema, &p); /* decode() starts from an empty record */
    decode(s, &payment_schema, P("2024-03-10T08:15:00+00:00", "1"), &p);
    expect_encoded(s, &payment_schema, &p, P("2024-03-10T08:15:00+00:00", "1"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

static void decimal_text_reads_back_as_pythons_str(void **state) {
    (void)state;
    /* str(Decimal(x)) == x for each */
    const char *same[] = {"100",   "100.00",  "-12.5",    "1E+2",    "1E-7",   "0.000001",
                          "-0",    "-0.00",   "0E+2",     "1.23E+5", "1.5E+3", "0.0",
                          "-1E-8", "123.450", "9.99E+17", "0"};
    int scaled = 0;
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        rill_decimal_t d;
        assert_int_equal(rill_decimal_parse(same[i], &d), RILL_OK);
        char out[48];
        rill_decimal_format(d, out);
        if (strcmp(out, same[i])) fail_msg("'%s' formatted back as '%s'", same[i], out);
        /* held at a schema's scale (where the amount fits it) */
        if (rill_decimal_parse_scaled(same[i], 8, &d) != RILL_OK) {
            assert_string_equal(same[i], "9.99E+17"); /* 10^25 is beyond int64 */
            continue;
        }
        scaled++;
        assert_int_equal(d.scale, 8);
        rill_decimal_format(d, out);
        if (strcmp(out, same[i]))
            fail_msg("'%s' at scale 8 formatted back as '%s'", same[i], out);
    }
    assert_int_equal(scaled, 15);
    /* other spellings come out as Python writes the same Decimal */
    rill_decimal_t d;
    char out[48];
    assert_int_equal(rill_decimal_parse("1.5e3", &d), RILL_OK);
    assert_int_equal(d.unscaled, 1500);
    assert_int_equal(d.scale, 0);
    rill_decimal_format(d, out);
    assert_string_equal(out, "1.5E+3");
    assert_int_equal(rill_decimal_parse("+2.5", &d), RILL_OK);
    rill_decimal_format(d, out);
    assert_string_equal(out, "2.5");
}

static void decimal_that_does_not_fit_the_scale_is_a_decode_error(void **state) {
    (void)state;
    rill_serializer_t *s = json();
    payment_t p;
    rill_record_init(&payment_schema, &p);
    const char *t = P("2024-03-10T08:15:00Z", "1.005");
    char err[256] = "";
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&payment_schema), t,
                                            strlen(t), &p, err, sizeof err),
                     RILL_EDECODE);
    assert_non_null(strstr(err, "field 'amount'"));
    rill_record_clear(&payment_schema, &p);
    rill_serializer_destroy(s);
}

int rill_json_roundtrip_suite_run(const char *name, const char *json_decoder) {
    decoder = json_decoder;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faust_roundtrip_vectors_reencode_byte_for_byte),
        cmocka_unit_test(naive_datetime_stays_naive_and_reads_as_its_wall_time),
        cmocka_unit_test(offset_datetime_keeps_its_offset_and_reads_as_the_instant),
        cmocka_unit_test(decimal_keeps_its_digits_and_reads_at_the_schema_scale),
        cmocka_unit_test(changed_amount_that_no_longer_fits_its_digits_uses_the_scale),
        cmocka_unit_test(values_a_program_makes_are_written_in_utc_at_the_scale),
        cmocka_unit_test(int64_datetime_member_keeps_only_the_instant),
        cmocka_unit_test(fraction_digits_other_writers_use_are_kept),
        cmocka_unit_test(decimal_text_reads_back_as_pythons_str),
        cmocka_unit_test(decimal_that_does_not_fit_the_scale_is_a_decode_error),
    };
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL,
                                   NULL);
}
