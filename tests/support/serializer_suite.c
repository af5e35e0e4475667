/* Serializer conformance suite (see serializer_suite.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serializer_suite.h"

static const char *g_name;
static const char *g_key, *g_value; /* one serializer property, or NULL */

typedef struct inner {
    char *label;
    int64_t n;
} inner_t;

RILL_RECORD(inner_schema, inner_t, "suite.Inner", RILL_F(inner_t, label, STRING),
            RILL_F(inner_t, n, INT64));

static const rill_type_t inner_type = {.kind = RILL_T_RECORD, .record = &inner_schema};
static const rill_type_t int64_array = {.kind = RILL_T_ARRAY, .elem = &rill_type_int64};

typedef struct everything {
    char *s;
    int64_t i;
    double d;
    bool b;
    rill_bytes_t raw;
    int64_t when;
    rill_decimal_t price;
    inner_t *inner;
    inner_t *maybe;
    char *note;
    int64_t count;
    rill_array_t tags;
    rill_array_t inners;
    rill_map_t scores;
    rill_map_t lists;
} everything_t;

RILL_RECORD(everything_schema, everything_t, "suite.Everything",
            RILL_F(everything_t, s, STRING), RILL_F(everything_t, i, INT64),
            RILL_F(everything_t, d, DOUBLE), RILL_F(everything_t, b, BOOL),
            RILL_F(everything_t, raw, BYTES), RILL_F(everything_t, when, DATETIME),
            RILL_F_DECIMAL(everything_t, price, 12, 2),
            RILL_F_RECORD(everything_t, inner, &inner_schema),
            RILL_F_OPT_RECORD(everything_t, maybe, &inner_schema),
            RILL_F_OPT(everything_t, note, STRING, NULL),
            RILL_F_OPT(everything_t, count, INT64, 7),
            RILL_F_ARRAY(everything_t, tags, &rill_type_string),
            RILL_F_ARRAY(everything_t, inners, &inner_type),
            RILL_F_MAP(everything_t, scores, &rill_type_int64),
            RILL_F_MAP(everything_t, lists, &int64_array));

static const rill_type_t everything_type = {.kind = RILL_T_RECORD,
                                            .record = &everything_schema};

static void fill(everything_t *e) {
    rill_record_init(&everything_schema, e);
    e->s = strdup("héllo \"wörld\"\n\t✓ 𝄞");
    e->i = INT64_MIN;
    e->d = 0.1;
    e->b = true;
    e->raw.data = malloc(5);
    memcpy(e->raw.data, "\0\1\2\xff\x80", 5);
    e->raw.len = 5;
    e->when = 1700000000123456;
    e->price = (rill_decimal_t){-123456, 2};
    e->inner = calloc(1, sizeof *e->inner);
    e->inner->label = strdup("in");
    e->inner->n = INT64_MAX;
    e->note = NULL;
    e->count = 42;
    e->tags.len = 2;
    e->tags.items = calloc(2, sizeof(char *));
    ((char **)e->tags.items)[0] = strdup("a");
    ((char **)e->tags.items)[1] = strdup("");
    e->inners.len = 1;
    e->inners.items = calloc(1, sizeof(inner_t *));
    inner_t *x = calloc(1, sizeof *x);
    x->label = strdup("x");
    x->n = -1;
    ((inner_t **)e->inners.items)[0] = x;
    e->scores.len = 2;
    e->scores.keys = calloc(2, sizeof(char *));
    e->scores.values = calloc(2, sizeof(int64_t));
    e->scores.keys[0] = strdup("alice");
    e->scores.keys[1] = strdup("bob");
    ((int64_t *)e->scores.values)[0] = 3;
    ((int64_t *)e->scores.values)[1] = -4;
    e->lists.len = 1;
    e->lists.keys = calloc(1, sizeof(char *));
    e->lists.values = calloc(1, sizeof(rill_array_t));
    e->lists.keys[0] = strdup("fib");
    rill_array_t *fib = e->lists.values;
    fib->len = 5;
    fib->items = calloc(5, sizeof(int64_t));
    int64_t f5[] = {1, 1, 2, 3, 5};
    memcpy(fib->items, f5, sizeof f5);
}

static rill_serializer_t *open_ser(void) {
    char err[256] = "";
    rill_conf_t *c = NULL;
    if (g_key) {
        c = rill_conf_new();
        if (rill_conf_set(c, g_key, g_value, err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s=%s: %s", g_key, g_value, err);
    }
    rill_serializer_t *s = rill_serializer_new(g_name, c, err, sizeof err);
    rill_conf_destroy(c);
    if (!s) fail_msg("serializer %s: %s", g_name, err);
    return s;
}

static void roundtrip_of_every_field_kind(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    everything_t a, b;
    fill(&a);
    rill_buf_t out = RILL_BUF_INIT;
    char err[512] = "";
    if (rill_serializer_encode(s, &everything_type, &a, &out, err, sizeof err))
        fail_msg("encode: %s", err);
    rill_record_init(&everything_schema, &b);
    if (rill_serializer_decode(s, &everything_type, out.data, out.len, &b, err,
                               sizeof err))
        fail_msg("decode: %s", err);
    assert_true(rill_record_equal(&everything_schema, &a, &b));
    assert_null(b.maybe);
    assert_null(b.note);
    assert_int_equal(b.count, 42);
    rill_record_clear(&everything_schema, &a);
    rill_record_clear(&everything_schema, &b);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

static void roundtrip_of_optionals_present(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    everything_t a, b;
    fill(&a);
    a.note = strdup("");
    a.maybe = calloc(1, sizeof *a.maybe);
    a.maybe->label = strdup("m");
    rill_buf_t out = RILL_BUF_INIT;
    char err[512] = "";
    assert_int_equal(
        rill_serializer_encode(s, &everything_type, &a, &out, err, sizeof err), 0);
    rill_record_init(&everything_schema, &b);
    assert_int_equal(rill_serializer_decode(s, &everything_type, out.data, out.len, &b,
                                            err, sizeof err),
                     0);
    assert_true(rill_record_equal(&everything_schema, &a, &b));
    assert_string_equal(b.note, "");
    assert_string_equal(b.maybe->label, "m");
    rill_record_clear(&everything_schema, &a);
    rill_record_clear(&everything_schema, &b);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

static void roundtrip_of_extreme_doubles(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    double vals[] = {0.0, -0.5, 1e300, 1e-300, 123456.789, 5e-324};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        rill_buf_t out = RILL_BUF_INIT;
        char err[256];
        double back = 0;
        assert_int_equal(
            rill_serializer_encode(s, &rill_type_double, &vals[i], &out, err, sizeof err),
            0);
        assert_int_equal(rill_serializer_decode(s, &rill_type_double, out.data, out.len,
                                                &back, err, sizeof err),
                         0);
        assert_true(back == vals[i]);
        rill_buf_free(&out);
    }
    rill_serializer_destroy(s);
}

static void required_null_string_fails_to_encode(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    inner_t in = {NULL, 1};
    rill_buf_t out = RILL_BUF_INIT;
    char err[256] = "";
    assert_int_equal(rill_serializer_encode(s, &inner_type, &in, &out, err, sizeof err),
                     RILL_EENCODE);
    assert_non_null(strstr(err, "label"));
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

static void every_truncation_fails_cleanly(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    everything_t a;
    fill(&a);
    rill_buf_t out = RILL_BUF_INIT;
    char err[512];
    assert_int_equal(
        rill_serializer_encode(s, &everything_type, &a, &out, err, sizeof err), 0);
    for (size_t n = 0; n < out.len; n++) {
        everything_t b;
        rill_record_init(&everything_schema, &b);
        rill_err_t rc =
            rill_serializer_decode(s, &everything_type, out.data, n, &b, err, sizeof err);
        rill_record_clear(&everything_schema, &b);
        if (rc == RILL_OK) fail_msg("a %zu-byte prefix of %zu decoded", n, out.len);
        assert_true(strlen(err) > 0);
    }
    rill_record_clear(&everything_schema, &a);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

/* Garbage: refused (a non-OK code with a message saying why), never a crash.  A
 * binary format without framing (Avro) can read some random bytes as a value, so
 * the check is that refusals carry a message and that nearly all garbage is
 * refused, not that every buffer is. */
static void random_bytes_are_refused_with_a_message_never_crash(void **state) {
    (void)state;
    rill_serializer_t *s = open_ser();
    srand(11);
    uint8_t buf[96];
    int rounds = 3000, refused = 0;
    for (int round = 0; round < rounds; round++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        everything_t b;
        rill_record_init(&everything_schema, &b);
        char err[256] = "";
        rill_err_t rc =
            rill_serializer_decode(s, &everything_type, buf, n, &b, err, sizeof err);
        rill_record_clear(&everything_schema, &b);
        if (rc != RILL_OK) {
            refused++;
            if (!err[0])
                fail_msg("%s: garbage of %zu bytes refused (%s) without a message",
                         g_name, n, rill_err_name(rc));
        }
        inner_t in;
        rill_record_init(&inner_schema, &in);
        err[0] = '\0';
        rc = rill_serializer_decode(s, &inner_type, buf, n, &in, err, sizeof err);
        rill_record_clear(&inner_schema, &in);
        if (rc != RILL_OK && !err[0])
            fail_msg("%s: garbage of %zu bytes refused (%s) without a message", g_name, n,
                     rill_err_name(rc));
    }
    printf("%s: %d of %d garbage buffers refused as a full record\n", g_name, refused,
           rounds);
    if (refused < rounds * 9 / 10)
        fail_msg("%s: only %d of %d garbage buffers refused", g_name, refused, rounds);
    rill_serializer_destroy(s);
}

int rill_serializer_conformance_with(const char *name, const char *key,
                                     const char *value) {
    g_key = key;
    g_value = value;
    return rill_serializer_conformance(name);
}

int rill_serializer_conformance(const char *name) {
    g_name = name;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_of_every_field_kind),
        cmocka_unit_test(roundtrip_of_optionals_present),
        cmocka_unit_test(roundtrip_of_extreme_doubles),
        cmocka_unit_test(required_null_string_fails_to_encode),
        cmocka_unit_test(every_truncation_fails_cleanly),
        cmocka_unit_test(random_bytes_are_refused_with_a_message_never_crash),
    };
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
