/* The avro serializer's direct codec (serializers/avro_direct.c) against avro-c's
 * path: a record of every kind written and read by both gives the same bytes, the
 * same values, and for bad data (every truncation, random corruption, repeated map
 * keys) the same outcome and the same error message.  Two schemas share one C
 * layout and one name; the second has its derived schema re-registered with a
 * space in it (rill_avro_set_schema), so the serializer takes avro-c's path for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/avro.h>
#include <rill/rill.h>

typedef struct inner {
    char *tag;
    double w;
} inner_t;

RILL_RECORD(inner_schema, inner_t, "t.Inner", RILL_F(inner_t, tag, STRING),
            RILL_F(inner_t, w, DOUBLE));

static const rill_type_t inner_type = {.kind = RILL_T_RECORD, .record = &inner_schema};

typedef struct rich {
    char *s;
    int64_t i;
    double d;
    bool b;
    rill_bytes_t by;
    int64_t when;
    rill_decimal_t price;
    inner_t *rec;
    inner_t *opt_rec;
    char *opt_s;
    rill_bytes_t opt_by;
    int64_t opt_i;
    rill_array_t ints;
    rill_array_t recs;
    rill_map_t names;
} rich_t;

#define RICH_FIELDS                                                                      \
    RILL_F(rich_t, s, STRING), RILL_F(rich_t, i, INT64), RILL_F(rich_t, d, DOUBLE),      \
        RILL_F(rich_t, b, BOOL), RILL_F(rich_t, by, BYTES),                              \
        RILL_F(rich_t, when, DATETIME), RILL_F_DECIMAL(rich_t, price, 12, 2),            \
        RILL_F_RECORD(rich_t, rec, &inner_schema),                                       \
        RILL_F_OPT_RECORD(rich_t, opt_rec, &inner_schema),                               \
        RILL_F_OPT(rich_t, opt_s, STRING, NULL), RILL_F_OPT_BYTES(rich_t, opt_by),       \
        RILL_F_OPT(rich_t, opt_i, INT64, 7),                                             \
        RILL_F_ARRAY(rich_t, ints, &rill_type_int64),                                    \
        RILL_F_ARRAY(rich_t, recs, &inner_type),                                         \
        RILL_F_MAP(rich_t, names, &rill_type_string)

RILL_RECORD(direct_schema, rich_t, "t.Rich", RICH_FIELDS);
RILL_RECORD(generic_schema, rich_t, "t.Rich", RICH_FIELDS);

static rill_serializer_t *ser;

static int setup(void **state) {
    (void)state;
    char err[256];
    rill_buf_t js = RILL_BUF_INIT;
    assert_int_equal(rill_avro_schema_json(&generic_schema, &js), RILL_OK);
    assert_int_equal(rill_buf_append(&js, "", 1), RILL_OK);
    char *spaced = malloc(js.len + 1);
    spaced[0] = '{';
    spaced[1] = ' ';
    memcpy(spaced + 2, js.data + 1, js.len - 1);
    rill_buf_free(&js);
    assert_int_equal(rill_avro_set_schema(&generic_schema, spaced, err, sizeof err),
                     RILL_OK);
    free(spaced);
    ser = rill_serializer_new("avro", NULL, err, sizeof err);
    assert_non_null(ser);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rill_serializer_destroy(ser);
    return 0;
}

static inner_t *inner(const char *tag, double w) {
    inner_t *x = rill_record_new(&inner_schema);
    x->tag = strdup(tag);
    x->w = w;
    return x;
}

/* value number @p k: k selects which optional parts are present */
static void make(rich_t *r, int k) {
    rill_record_init(&direct_schema, r);
    r->s = strdup(k & 1 ? "" : "héllo wörld");
    r->i = k & 2 ? INT64_MIN : (int64_t)k * 1234567 - 99;
    r->d = k & 4 ? -0.0 : 3.25e-7 * k;
    r->b = k & 1;
    r->by.data = malloc(3);
    memcpy(r->by.data, "\x00\xff\x7f", 3);
    r->by.len = k & 2 ? 0 : 3;
    r->when = 1700000000000000LL + k;
    r->price = (rill_decimal_t){k & 4 ? -12345 : 98765, 2};
    r->rec = inner("in", 1.5);
    if (k & 1) r->opt_rec = inner("opt", -2);
    if (k & 2) r->opt_s = strdup("maybe");
    if (k & 4) {
        r->opt_by.data = malloc(1);
        r->opt_by.data[0] = 9;
        r->opt_by.len = 1;
    }
    r->opt_i = k;
    size_t n = (size_t)(k % 4) * 3;
    r->ints.len = n;
    r->ints.items = n ? calloc(n, sizeof(int64_t)) : NULL;
    for (size_t j = 0; j < n; j++)
        ((int64_t *)r->ints.items)[j] = (int64_t)j * (k & 1 ? -1 : 1000000007);
    r->recs.len = (size_t)(k % 3);
    r->recs.items = r->recs.len ? calloc(r->recs.len, sizeof(inner_t *)) : NULL;
    for (size_t j = 0; j < r->recs.len; j++)
        ((inner_t **)r->recs.items)[j] = inner("item", (double)j);
    r->names.len = (size_t)(k % 5);
    if (r->names.len) {
        r->names.keys = calloc(r->names.len, sizeof(char *));
        r->names.values = calloc(r->names.len, sizeof(char *));
    }
    for (size_t j = 0; j < r->names.len; j++) {
        char key[32];
        snprintf(key, sizeof key, "k%zu", j);
        r->names.keys[j] = strdup(key);
        ((char **)r->names.values)[j] = strdup(j & 1 ? "odd" : "");
    }
}

static rill_err_t enc(const rill_schema_t *s, const rich_t *r, rill_buf_t *out) {
    char err[256];
    rill_buf_reset(out);
    return rill_serializer_encode(ser, RILL_TYPE_RECORD(s), r, out, err, sizeof err);
}

static rill_err_t dec(const rill_schema_t *s, const rill_buf_t *in, size_t len, rich_t *r,
                      char *err, size_t errlen) {
    rill_record_init(s, r);
    err[0] = '\0';
    return rill_serializer_decode(ser, RILL_TYPE_RECORD(s), in->data, len, r, err,
                                  errlen);
}

static void direct_writes_the_bytes_avro_c_writes(void **state) {
    (void)state;
    rill_buf_t a = RILL_BUF_INIT, b = RILL_BUF_INIT;
    for (int k = 0; k < 40; k++) {
        rich_t r;
        make(&r, k);
        assert_int_equal(enc(&direct_schema, &r, &a), RILL_OK);
        assert_int_equal(enc(&generic_schema, &r, &b), RILL_OK);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        rill_record_clear(&direct_schema, &r);
    }
    rill_buf_free(&a);
    rill_buf_free(&b);
}

static void direct_reads_the_values_avro_c_reads(void **state) {
    (void)state;
    rill_buf_t a = RILL_BUF_INIT;
    char err[256];
    for (int k = 0; k < 40; k++) {
        rich_t r, x, y;
        make(&r, k);
        assert_int_equal(enc(&generic_schema, &r, &a), RILL_OK);
        assert_int_equal(dec(&direct_schema, &a, a.len, &x, err, sizeof err), RILL_OK);
        assert_int_equal(dec(&generic_schema, &a, a.len, &y, err, sizeof err), RILL_OK);
        assert_true(rill_record_equal(&direct_schema, &x, &r));
        assert_true(rill_record_equal(&direct_schema, &x, &y));
        rill_record_clear(&direct_schema, &r);
        rill_record_clear(&direct_schema, &x);
        rill_record_clear(&direct_schema, &y);
    }
    rill_buf_free(&a);
}

/* @p len bytes of @p in read both ways: the same outcome, value or message */
static void same_outcome(const rill_buf_t *in, size_t len) {
    char e1[256], e2[256];
    rich_t x, y;
    rill_err_t r1 = dec(&direct_schema, in, len, &x, e1, sizeof e1);
    rill_err_t r2 = dec(&generic_schema, in, len, &y, e2, sizeof e2);
    assert_int_equal(r1, r2);
    if (r1 == RILL_OK)
        assert_true(rill_record_equal(&direct_schema, &x, &y));
    else
        assert_string_equal(e1, e2);
    rill_record_clear(&direct_schema, &x);
    rill_record_clear(&direct_schema, &y);
}

static void every_truncation_fails_as_in_avro_c(void **state) {
    (void)state;
    rill_buf_t a = RILL_BUF_INIT;
    rich_t r;
    make(&r, 7);
    assert_int_equal(enc(&direct_schema, &r, &a), RILL_OK);
    rill_record_clear(&direct_schema, &r);
    for (size_t len = 0; len < a.len; len++) {
        char err[256];
        rich_t x;
        assert_int_equal(dec(&direct_schema, &a, len, &x, err, sizeof err), RILL_EDECODE);
        rill_record_clear(&direct_schema, &x);
        same_outcome(&a, len);
    }
    rill_buf_free(&a);
}

static void corrupted_data_reads_as_in_avro_c(void **state) {
    (void)state;
    rill_buf_t a = RILL_BUF_INIT, m = RILL_BUF_INIT;
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        rich_t r;
        make(&r, round % 40);
        assert_int_equal(enc(&direct_schema, &r, &a), RILL_OK);
        rill_record_clear(&direct_schema, &r);
        rill_buf_reset(&m);
        assert_int_equal(rill_buf_append(&m, a.data, a.len), RILL_OK);
        int flips = 1 + round % 3;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % m.len;
            seed = seed * 1103515245u + 12345u;
            m.data[at] = (uint8_t)(seed >> 16);
        }
        same_outcome(&m, m.len);
    }
    rill_buf_free(&a);
    rill_buf_free(&m);
}

static void repeated_map_keys_as_in_avro_c(void **state) {
    (void)state;
    rich_t r;
    make(&r, 4); /* 4 names */
    free(r.names.keys[2]);
    r.names.keys[2] = strdup("k0");
    rill_buf_t a = RILL_BUF_INIT, b = RILL_BUF_INIT;
    assert_int_equal(enc(&direct_schema, &r, &a), RILL_OK);
    assert_int_equal(enc(&generic_schema, &r, &b), RILL_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    rill_record_clear(&direct_schema, &r);
    /* the same key twice on the wire (written as "dup", "dux", then patched):
     * avro-c keeps one entry */
    make(&r, 0);
    r.names.len = 2;
    r.names.keys = calloc(2, sizeof(char *));
    r.names.values = calloc(2, sizeof(char *));
    r.names.keys[0] = strdup("dup");
    r.names.keys[1] = strdup("dux");
    ((char **)r.names.values)[0] = strdup("first");
    ((char **)r.names.values)[1] = strdup("second");
    char err[256];
    rill_buf_reset(&a);
    assert_int_equal(rill_serializer_encode(ser, RILL_TYPE_RECORD(&generic_schema), &r,
                                            &a, err, sizeof err),
                     RILL_OK);
    rill_record_clear(&direct_schema, &r);
    uint8_t *dux = NULL;
    for (size_t j = 0; j + 3 <= a.len; j++)
        if (!memcmp(a.data + j, "dux", 3)) dux = a.data + j;
    assert_non_null(dux);
    dux[2] = 'p';
    same_outcome(&a, a.len);
    rill_buf_free(&a);
    rill_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(direct_writes_the_bytes_avro_c_writes),
        cmocka_unit_test(direct_reads_the_values_avro_c_reads),
        cmocka_unit_test(every_truncation_fails_as_in_avro_c),
        cmocka_unit_test(corrupted_data_reads_as_in_avro_c),
        cmocka_unit_test(repeated_map_keys_as_in_avro_c),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
