/* The JSON serializer: Faust's own records byte for byte, every kind, and a clear
 * error naming the field for every kind of bad input.
 * A suite (tests/support/json_suite.h) run with each JSON decoder: test_json.c
 * with the default, test_json_jansson.c with jansson. */
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

#include "json_suite.h"

typedef struct address {
    char *street;
    int64_t zip;
} address_t;

RILL_RECORD(address_schema, address_t, "shop.Address", RILL_F(address_t, street, STRING),
            RILL_F(address_t, zip, INT64));

typedef struct order {
    char *id;
    int64_t amount;
    double price;
    bool paid;
    char *country;
    char *note;
    address_t *address;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, amount, INT64), RILL_F(order_t, price, DOUBLE),
            RILL_F(order_t, paid, BOOL), RILL_F(order_t, country, STRING),
            RILL_F_OPT(order_t, note, STRING, NULL),
            RILL_F_OPT_RECORD(order_t, address, &address_schema));

typedef struct greeting {
    char *from_name;
    char *to_name;
} greeting_t;

RILL_RECORD(greeting_schema, greeting_t, "gen.Greeting",
            RILL_F(greeting_t, from_name, STRING), RILL_F(greeting_t, to_name, STRING));

typedef struct basket {
    rill_array_t items; /* of addresses */
} basket_t;

static const rill_type_t address_type = {.kind = RILL_T_RECORD,
                                         .record = &address_schema};
RILL_RECORD(basket_schema, basket_t, "shop.Basket",
            RILL_F_ARRAY(basket_t, items, &address_type));

/* json.decoder: "auto" from test_json.c (simdjson when rill was built with it),
 * "jansson" from test_json_jansson.c. */
static const char *decoder;

static rill_serializer_t *json_with(const char *k, const char *v) {
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "json.decoder", decoder, err, sizeof err),
                     RILL_CONF_OK);
    if (k) assert_int_equal(rill_conf_set(c, k, v, err, sizeof err), RILL_CONF_OK);
    rill_serializer_t *s = rill_serializer_new("json", c, err, sizeof err);
    if (!s) fail_msg("%s", err);
    rill_conf_destroy(c);
    return s;
}

static const rill_schema_t *schema_named(const char *name) {
    if (!strcmp(name, "Order")) return &order_schema;
    if (!strcmp(name, "Greeting")) return &greeting_schema;
    if (!strcmp(name, "Address")) return &address_schema;
    return NULL;
}

static void faust_vectors_decode_and_reencode_byte_for_byte(void **state) {
    (void)state;
    /* ../shared/vectors is the source; tests/vectors keeps a copy for clones
     * without it beside them. */
    char path[512];
    snprintf(path, sizeof path, "%s/vectors/faust-json.jsonl", RILL_SHARED_DIR);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(path, sizeof path, "%s/tests/vectors/faust-json.jsonl", RILL_SOURCE_DIR);
        f = fopen(path, "r");
    }
    if (!f) fail_msg("test vectors not found at %s", path);
    rill_serializer_t *s = json_with(NULL, NULL);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        assert_non_null(row);
        const char *rec = json_string_value(json_object_get(row, "record"));
        const char *text = json_string_value(json_object_get(row, "faust_json"));
        const rill_schema_t *sch = schema_named(rec);
        assert_non_null(sch);
        const rill_type_t *t = RILL_TYPE_RECORD(sch);
        void *v = rill_record_new(sch);
        char err[256] = "";
        rill_err_t rc =
            rill_serializer_decode(s, t, text, strlen(text), v, err, sizeof err);
        if (rc) fail_msg("%s: %s", rec, err);
        rill_buf_t out = RILL_BUF_INIT;
        assert_int_equal(rill_serializer_encode(s, t, v, &out, err, sizeof err), RILL_OK);
        if (out.len != strlen(text) || memcmp(out.data, text, out.len) != 0)
            fail_msg("re-encoded %s differs:\n  faust: %s\n  rill:  %.*s", rec, text,
                     (int)out.len, out.data);
        rill_buf_free(&out);
        rill_record_free(sch, v);
        json_decref(row);
        n++;
    }
    fclose(f);
    assert_true(n >= 3);
    rill_serializer_destroy(s);
}

static void faust_order_fields_decode_to_c_values(void **state) {
    (void)state;
    const char *text =
        "{\"id\":\"o-2\",\"amount\":-7,\"price\":0.1,\"paid\":false,\"country\":\"SE\","
        "\"note\":\"gift \\u2713\",\"address\":{\"street\":\"\\u00d6degatan\",\"zip\":0,"
        "\"__faust\":{\"ns\":\"shop.Address\"}},\"__faust\":{\"ns\":\"shop.Order\"}}";
    rill_serializer_t *s = json_with(NULL, NULL);
    order_t o;
    rill_record_init(&order_schema, &o);
    char err[256];
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&order_schema), text,
                                            strlen(text), &o, err, sizeof err),
                     RILL_OK);
    assert_string_equal(o.id, "o-2");
    assert_int_equal(o.amount, -7);
    assert_true(o.price == 0.1);
    assert_false(o.paid);
    assert_string_equal(o.note, "gift \xe2\x9c\x93");
    assert_non_null(o.address);
    assert_string_equal(o.address->street, "\xc3\x96"
                                           "degatan");
    assert_int_equal(o.address->zip, 0);
    rill_record_clear(&order_schema, &o);
    rill_serializer_destroy(s);
}

static void encoding_without_faust_metadata_omits_it(void **state) {
    (void)state;
    rill_serializer_t *s = json_with("json.faust", "false");
    greeting_t g = {"a", "b"};
    rill_buf_t out = RILL_BUF_INIT;
    char err[256];
    assert_int_equal(rill_serializer_encode(s, RILL_TYPE_RECORD(&greeting_schema), &g,
                                            &out, err, sizeof err),
                     RILL_OK);
    assert_int_equal(out.len, strlen("{\"from_name\":\"a\",\"to_name\":\"b\"}"));
    assert_memory_equal(out.data, "{\"from_name\":\"a\",\"to_name\":\"b\"}", out.len);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

static void expect_decode_error(rill_serializer_t *s, const char *text, size_t len,
                                rill_err_t want, const char *fragment) {
    order_t o;
    rill_record_init(&order_schema, &o);
    char err[512] = "";
    rill_err_t rc = rill_serializer_decode(s, RILL_TYPE_RECORD(&order_schema), text, len,
                                           &o, err, sizeof err);
    rill_record_clear(&order_schema, &o);
    if (rc != want)
        fail_msg("'%.*s': got %s (%s)", (int)len, text, rill_err_name(rc), err);
    if (!strstr(err, fragment))
        fail_msg("'%.*s': error '%s' lacks '%s'", (int)len, text, err, fragment);
}

#define GOOD "{\"id\":\"o\",\"amount\":1,\"price\":1.5,\"paid\":true,\"country\":\"NO\"}"

static void namespace_check_rejects_another_record(void **state) {
    (void)state;
    rill_serializer_t *s = json_with("json.faust.ns", "check");
    const char *t =
        "{\"id\":\"o\",\"amount\":1,\"price\":1.5,\"paid\":true,\"country\":\"NO\","
        "\"__faust\":{\"ns\":\"other.Thing\"}}";
    expect_decode_error(s, t, strlen(t), RILL_EDECODE,
                        "'other.Thing', expected 'shop.Order'");
    expect_decode_error(s, GOOD, strlen(GOOD), RILL_EDECODE, "missing");
    rill_serializer_destroy(s);
}

static void missing_required_field_is_named(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *t = "{\"id\":\"o\",\"price\":1.5,\"paid\":true,\"country\":\"NO\"}";
    expect_decode_error(s, t, strlen(t), RILL_EDECODE,
                        "field 'amount': missing (required)");
    const char *n =
        "{\"id\":null,\"amount\":1,\"price\":1.5,\"paid\":true,\"country\":\"NO\"}";
    expect_decode_error(s, n, strlen(n), RILL_EDECODE,
                        "field 'id': is null but required");
    rill_serializer_destroy(s);
}

/* The path names array elements by index, inside records inside arrays. */
static void errors_name_the_array_element(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *t = "{\"items\":[{\"street\":\"a\",\"zip\":1},"
                    "{\"street\":\"b\",\"zip\":1},{\"street\":\"c\",\"zip\":\"x\"}]}";
    basket_t b;
    rill_record_init(&basket_schema, &b);
    char err[512] = "";
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&basket_schema), t,
                                            strlen(t), &b, err, sizeof err),
                     RILL_EDECODE);
    rill_record_clear(&basket_schema, &b);
    if (!strstr(err, "field 'items[2].zip': expected integer"))
        fail_msg("error '%s' does not name items[2].zip", err);
    rill_serializer_destroy(s);
}

static void wrong_types_name_field_and_types(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *a =
        "{\"id\":\"o\",\"amount\":\"7\",\"price\":1.5,\"paid\":true,\"country\":\"NO\"}";
    expect_decode_error(s, a, strlen(a), RILL_EDECODE,
                        "field 'amount': expected integer, got string");
    const char *b =
        "{\"id\":\"o\",\"amount\":7.5,\"price\":1.5,\"paid\":true,\"country\":\"NO\"}";
    expect_decode_error(s, b, strlen(b), RILL_EDECODE,
                        "field 'amount': expected integer");
    const char *c =
        "{\"id\":\"o\",\"amount\":7,\"price\":1.5,\"paid\":1,\"country\":\"NO\"}";
    expect_decode_error(s, c, strlen(c), RILL_EDECODE,
                        "field 'paid': expected boolean, got integer");
    const char *d =
        "{\"id\":\"o\",\"amount\":7,\"price\":1.5,\"paid\":true,\"country\":\"NO\","
        "\"address\":{\"street\":\"x\",\"zip\":\"0\"}}";
    expect_decode_error(s, d, strlen(d), RILL_EDECODE,
                        "field 'address.zip': expected integer");
    const char *e = "[1,2,3]";
    expect_decode_error(s, e, strlen(e), RILL_EDECODE,
                        "expected a JSON object, got array");
    rill_serializer_destroy(s);
}

static void truncated_and_garbage_input_is_rejected(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    size_t n = strlen(GOOD);
    for (size_t i = 0; i < n; i++) /* every truncation */
        expect_decode_error(s, GOOD, i, RILL_EDECODE, i ? "" : "");
    const char garbage[] = {(char)0xff, (char)0xfe, 0x00, 0x13, 'x', '{'};
    expect_decode_error(s, garbage, sizeof garbage, RILL_EDECODE, "invalid JSON");
    const char *bad_utf8 = "{\"id\":\"\xc3\x28\"}";
    expect_decode_error(s, bad_utf8, strlen(bad_utf8), RILL_EDECODE, "invalid JSON");
    srand(7);
    char buf[64];
    for (int round = 0; round < 2000; round++) { /* random bytes: errors, never crashes */
        size_t len = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)rand();
        order_t o;
        rill_record_init(&order_schema, &o);
        char err[256];
        rill_serializer_decode(s, RILL_TYPE_RECORD(&order_schema), buf, len, &o, err,
                               sizeof err);
        rill_record_clear(&order_schema, &o);
    }
    rill_serializer_destroy(s);
}

static void oversized_value_is_too_big(void **state) {
    (void)state;
    rill_serializer_t *s = json_with("json.max.bytes", "16");
    expect_decode_error(s, GOOD, strlen(GOOD), RILL_ETOOBIG, "json.max.bytes");
    rill_serializer_destroy(s);
}

static void unknown_fields_are_ignored_and_optionals_default(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *t =
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"extra\":[1,{\"deep\":true}]}";
    order_t o;
    rill_record_init(&order_schema, &o);
    char err[256];
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&order_schema), t,
                                            strlen(t), &o, err, sizeof err),
                     RILL_OK);
    assert_null(o.note);
    assert_null(o.address);
    assert_true(o.price == 2.0); /* an integer where a float is expected is fine */
    rill_record_clear(&order_schema, &o);
    rill_serializer_destroy(s);
}

/* "i" and "ids" are not "id", "amounts" is not "amount": a member named like the
 * start of a field, or a field with more after it, is another member. */
static void members_named_like_a_prefix_or_extension_of_a_field_are_not_it(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    /* each after its field: taken for it, it would replace it */
    const char *t = "{\"id\":\"o\",\"i\":\"x\",\"ids\":\"y\",\"amount\":1,\"amounts\":7,"
                    "\"price\":2,\"paid\":true,\"country\":\"NO\",\"countr\":\"SE\"}";
    order_t o;
    rill_record_init(&order_schema, &o);
    char err[256];
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&order_schema), t,
                                            strlen(t), &o, err, sizeof err),
                     RILL_OK);
    assert_string_equal(o.id, "o");
    assert_int_equal(o.amount, 1);
    assert_string_equal(o.country, "NO");
    rill_record_clear(&order_schema, &o);
    rill_serializer_destroy(s);
}

/* jansson refuses a whole document holding an integer beyond int64 (simdjson
 * reads it as uint64), wherever it is: in a field the record does not have, deep
 * in one, in a duplicate the last one replaces, in a double field. */
static void integers_beyond_int64_are_refused_wherever_they_are(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *docs[] = {
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"extra\":9223372036854775808}",
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"extra\":[1,{\"deep\":18446744073709551615}]}",
        "{\"id\":\"o\",\"amount\":9223372036854775808,\"amount\":1,\"price\":2,"
        "\"paid\":true,\"country\":\"NO\"}",
        "{\"id\":\"o\",\"amount\":1,\"price\":9223372036854775808,\"paid\":true,"
        "\"country\":\"NO\"}",
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"address\":{\"street\":\"x\",\"zip\":1,\"plus4\":9223372036854775808}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        expect_decode_error(s, docs[i], strlen(docs[i]), RILL_EDECODE, "integer");
    rill_serializer_destroy(s);
}

/* jansson refuses an object key holding a NUL (JSON_ALLOW_NUL covers values
 * only), in whichever object it is. */
static void object_keys_holding_nul_are_refused_wherever_they_are(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    const char *docs[] = {
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"ex\\u0000tra\":1}",
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"extra\":[{\"a\\u0000\":1}]}",
        "{\"id\":\"o\",\"amount\":1,\"price\":2,\"paid\":true,\"country\":\"NO\","
        "\"address\":{\"street\":\"x\",\"zip\":1,\"\\u0000\":2}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        expect_decode_error(s, docs[i], strlen(docs[i]), RILL_EDECODE, "NUL");
    rill_serializer_destroy(s);
}

static void doubles_use_pythons_shortest_form(void **state) {
    (void)state;
    rill_serializer_t *s = json_with(NULL, NULL);
    struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "0.1"},
                 {9.5, "9.5"},
                 {10.0, "10.0"},
                 {-2.5, "-2.5"},
                 {1e300, "1e+300"},
                 {1e-5, "1e-05"},
                 {0.0001, "0.0001"},
                 {1e16, "1e+16"},
                 {123456789.125, "123456789.125"},
                 {1.0 / 3, "0.3333333333333333"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rill_buf_t out = RILL_BUF_INIT;
        char err[128];
        assert_int_equal(rill_serializer_encode(s, &rill_type_double, &cases[i].v, &out,
                                                err, sizeof err),
                         RILL_OK);
        if (out.len != strlen(cases[i].text) || memcmp(out.data, cases[i].text, out.len))
            fail_msg("%g encoded as %.*s, Python writes %s", cases[i].v, (int)out.len,
                     out.data, cases[i].text);
        rill_buf_free(&out);
    }
    rill_serializer_destroy(s);
}

int rill_json_suite_run(const char *name, const char *json_decoder) {
    decoder = json_decoder;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faust_vectors_decode_and_reencode_byte_for_byte),
        cmocka_unit_test(faust_order_fields_decode_to_c_values),
        cmocka_unit_test(members_named_like_a_prefix_or_extension_of_a_field_are_not_it),
        cmocka_unit_test(encoding_without_faust_metadata_omits_it),
        cmocka_unit_test(namespace_check_rejects_another_record),
        cmocka_unit_test(missing_required_field_is_named),
        cmocka_unit_test(wrong_types_name_field_and_types),
        cmocka_unit_test(errors_name_the_array_element),
        cmocka_unit_test(truncated_and_garbage_input_is_rejected),
        cmocka_unit_test(oversized_value_is_too_big),
        cmocka_unit_test(unknown_fields_are_ignored_and_optionals_default),
        cmocka_unit_test(integers_beyond_int64_are_refused_wherever_they_are),
        cmocka_unit_test(object_keys_holding_nul_are_refused_wherever_they_are),
        cmocka_unit_test(doubles_use_pythons_shortest_form),
    };
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL,
                                   NULL);
}
