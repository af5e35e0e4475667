/* The Avro serializer: derived schemas, schema evolution through the Confluent
 * wire format and a schema-id lookup, and clear errors on bad input. */
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

typedef struct user_v1 {
    char *name;
    int64_t age;
    char *email; /* removed in v2 */
} user_v1_t;

RILL_RECORD(user_v1_schema, user_v1_t, "acme.User", RILL_F(user_v1_t, name, STRING),
            RILL_F(user_v1_t, age, INT64), RILL_F(user_v1_t, email, STRING));

typedef struct user_v2 {
    char *name;
    int64_t age;
    char *nickname; /* new, optional */
    int64_t level;  /* new, optional with a default */
} user_v2_t;

RILL_RECORD(user_v2_schema, user_v2_t, "acme.User", RILL_F(user_v2_t, name, STRING),
            RILL_F(user_v2_t, age, INT64), RILL_F_OPT(user_v2_t, nickname, STRING, NULL),
            RILL_F_OPT(user_v2_t, level, INT64, 3));

static const char *v1_json;

static const char *lookup(int32_t id, void *opaque) {
    (void)opaque;
    return id == 1 ? v1_json : NULL;
}

static rill_serializer_t *avro_ser(bool confluent) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    if (confluent) rill_conf_set(c, "avro.confluent", "true", err, sizeof err);
    rill_serializer_t *s = rill_serializer_new("avro", c, err, sizeof err);
    rill_conf_destroy(c);
    if (!s) fail_msg("%s", err);
    return s;
}

static void derived_schema_is_an_avro_record(void **state) {
    (void)state;
    rill_buf_t js = RILL_BUF_INIT;
    assert_int_equal(rill_avro_schema_json(&user_v2_schema, &js), RILL_OK);
    rill_buf_append(&js, "", 1);
    const char *s = (const char *)js.data;
    assert_non_null(strstr(s, "\"name\":\"User\",\"namespace\":\"acme\""));
    assert_non_null(strstr(
        s, "{\"name\":\"nickname\",\"type\":[\"null\",\"string\"],\"default\":null}"));
    assert_non_null(strstr(s, "{\"name\":\"level\",\"type\":\"long\",\"default\":3}"));
    rill_buf_free(&js);
}

static void new_reader_reads_old_data_with_defaults(void **state) {
    (void)state;
    rill_buf_t js = RILL_BUF_INIT;
    rill_avro_schema_json(&user_v1_schema, &js);
    rill_buf_append(&js, "", 1);
    v1_json = (const char *)js.data;
    rill_avro_set_schema_lookup(lookup, NULL);
    assert_int_equal(rill_avro_set_schema_id(&user_v1_schema, 1), RILL_OK);
    rill_serializer_t *s = avro_ser(true);
    user_v1_t old = {"ann", 33, "ann@example.com"};
    rill_buf_t out = RILL_BUF_INIT;
    char err[256] = "";
    assert_int_equal(rill_serializer_encode(s, RILL_TYPE_RECORD(&user_v1_schema), &old,
                                            &out, err, sizeof err),
                     RILL_OK);
    assert_int_equal(out.data[0], 0); /* magic */
    assert_int_equal(out.data[4], 1); /* schema id */
    user_v2_t now;
    rill_record_init(&user_v2_schema, &now);
    rill_err_t rc = rill_serializer_decode(s, RILL_TYPE_RECORD(&user_v2_schema), out.data,
                                           out.len, &now, err, sizeof err);
    if (rc) fail_msg("%s: %s", rill_err_name(rc), err);
    assert_string_equal(now.name, "ann");
    assert_int_equal(now.age, 33);
    assert_null(now.nickname); /* new optional field: its default */
    assert_int_equal(now.level, 3);
    rill_record_clear(&user_v2_schema, &now);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
    rill_avro_set_schema_lookup(NULL, NULL);
    rill_buf_free(&js);
}

static void unknown_schema_id_is_named(void **state) {
    (void)state;
    rill_serializer_t *s = avro_ser(true);
    const uint8_t data[] = {0, 0, 0, 0, 99, 2, 'x'};
    user_v2_t u;
    rill_record_init(&user_v2_schema, &u);
    char err[256] = "";
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&user_v2_schema), data,
                                            sizeof data, &u, err, sizeof err),
                     RILL_EDECODE);
    assert_non_null(strstr(err, "unknown Avro schema id 99"));
    rill_record_clear(&user_v2_schema, &u);
    rill_serializer_destroy(s);
}

static void wrong_magic_byte_is_rejected(void **state) {
    (void)state;
    rill_serializer_t *s = avro_ser(true);
    const uint8_t data[] = {7, 0, 0, 0, 1, 2, 'x'};
    user_v2_t u;
    rill_record_init(&user_v2_schema, &u);
    char err[256] = "";
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&user_v2_schema), data,
                                            sizeof data, &u, err, sizeof err),
                     RILL_EDECODE);
    assert_non_null(strstr(err, "magic byte"));
    rill_record_clear(&user_v2_schema, &u);
    rill_serializer_destroy(s);
}

static void truncated_avro_is_rejected_with_the_record_name(void **state) {
    (void)state;
    rill_serializer_t *s = avro_ser(false);
    user_v1_t u = {"bob", 40, "b@x"};
    rill_buf_t out = RILL_BUF_INIT;
    char err[256] = "";
    rill_serializer_encode(s, RILL_TYPE_RECORD(&user_v1_schema), &u, &out, err,
                           sizeof err);
    user_v1_t back;
    rill_record_init(&user_v1_schema, &back);
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&user_v1_schema),
                                            out.data, out.len - 2, &back, err,
                                            sizeof err),
                     RILL_EDECODE);
    assert_non_null(strstr(err, "acme.User"));
    rill_record_clear(&user_v1_schema, &back);
    rill_buf_free(&out);
    rill_serializer_destroy(s);
}

static void schema_mismatch_between_writer_and_reader_fails(void **state) {
    (void)state;
    v1_json = "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"acme\",\"fields\":"
              "[{\"name\":\"name\",\"type\":\"long\"}]}";
    rill_avro_set_schema_lookup(lookup, NULL);
    rill_serializer_t *s = avro_ser(true);
    const uint8_t data[] = {0, 0, 0, 0, 1, 2};
    user_v2_t u;
    rill_record_init(&user_v2_schema, &u);
    char err[256] = "";
    assert_int_equal(rill_serializer_decode(s, RILL_TYPE_RECORD(&user_v2_schema), data,
                                            sizeof data, &u, err, sizeof err),
                     RILL_EDECODE);
    assert_true(strlen(err) > 0);
    rill_record_clear(&user_v2_schema, &u);
    rill_serializer_destroy(s);
    rill_avro_set_schema_lookup(NULL, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(derived_schema_is_an_avro_record),
        cmocka_unit_test(new_reader_reads_old_data_with_defaults),
        cmocka_unit_test(unknown_schema_id_is_named),
        cmocka_unit_test(wrong_magic_byte_is_rejected),
        cmocka_unit_test(truncated_avro_is_rejected_with_the_record_name),
        cmocka_unit_test(schema_mismatch_between_writer_and_reader_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
