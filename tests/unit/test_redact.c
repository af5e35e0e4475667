/* Credentials kept out of messages (rill__url_redact, rill__key_is_secret) and the
 * "did you mean" of an unknown config key (rill__conf_suggest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

#include "conf_int.h"
#include "url_int.h"

static void a_url_password_is_masked(void **state) {
    (void)state;
    char out[128];
    assert_string_equal(
        rill__url_redact("redis://:s3cretpw@127.0.0.1:16499", out, sizeof out),
        "redis://:***@127.0.0.1:16499");
    assert_string_equal(rill__url_redact("kafka://bob:pw@h:9092/x?a=1", out, sizeof out),
                        "kafka://bob:***@h:9092/x?a=1");
}

static void a_user_without_password_is_kept(void **state) {
    (void)state;
    char out[128];
    assert_string_equal(rill__url_redact("redis://bob@h:6379", out, sizeof out),
                        "redis://bob@h:6379");
    assert_string_equal(rill__url_redact("kafka://h1:9092,h2:9092", out, sizeof out),
                        "kafka://h1:9092,h2:9092");
}

static void every_url_in_a_message_is_masked(void **state) {
    (void)state;
    char out[256];
    assert_string_equal(rill__url_redact("URL 'redis://:a@h:0': bad; also redis://u:b@h2",
                                         out, sizeof out),
                        "URL 'redis://:***@h:0': bad; also redis://u:***@h2");
}

static void text_without_urls_is_unchanged(void **state) {
    (void)state;
    char out[64];
    assert_string_equal(rill__url_redact("a: b@c, see memory://", out, sizeof out),
                        "a: b@c, see memory://");
}

static void a_short_buffer_truncates_and_never_shows_the_password(void **state) {
    (void)state;
    char out[14];
    rill__url_redact("redis://:s3cretpw@127.0.0.1", out, sizeof out);
    assert_string_equal(out, "redis://:***@");
    assert_null(strstr(out, "s3c"));
}

static void keys_naming_passwords_or_secrets_are_secret(void **state) {
    (void)state;
    assert_true(rill__key_is_secret("kafka.sasl.password"));
    assert_true(rill__key_is_secret("kafka.ssl.key.PASSWORD"));
    assert_true(rill__key_is_secret("redis.client_secret"));
    assert_false(rill__key_is_secret("kafka.sasl.username"));
    char buf[64];
    assert_string_equal(
        rill__conf_value_shown("kafka.sasl.password", "pw", buf, sizeof buf), "***");
    assert_string_equal(
        rill__conf_value_shown("broker", "redis://:pw@h", buf, sizeof buf),
        "redis://:***@h");
}

static void an_unknown_key_suggests_the_closest_known_one(void **state) {
    (void)state;
    char near[128];
    assert_true(rill__conf_suggest("commit.interval", near, sizeof near));
    assert_string_equal(near, "commit.interval.ms");
    assert_true(rill__conf_suggest("kafak.acks", near, sizeof near));
    assert_string_equal(near, "kafka.acks");
    assert_true(rill__conf_suggest("on_decode_errors", near, sizeof near));
    assert_string_equal(near, "on_decode_error");
    assert_false(rill__conf_suggest("zzz", near, sizeof near));
}

static void rill_conf_set_names_the_suggestion(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "web.prot", "8080", err, sizeof err),
                     RILL_CONF_UNKNOWN);
    assert_string_equal(err, "unknown config key 'web.prot': did you mean 'web.port'?");
    rill_conf_destroy(c);
}

static void a_bad_url_error_masks_the_password(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "broker", "redis://:s3cretpw@h:0", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_null(strstr(err, "s3cretpw"));
    assert_non_null(strstr(err, "redis://:***@h:0"));
    rill_conf_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_url_password_is_masked),
        cmocka_unit_test(a_user_without_password_is_kept),
        cmocka_unit_test(every_url_in_a_message_is_masked),
        cmocka_unit_test(text_without_urls_is_unchanged),
        cmocka_unit_test(a_short_buffer_truncates_and_never_shows_the_password),
        cmocka_unit_test(keys_naming_passwords_or_secrets_are_secret),
        cmocka_unit_test(an_unknown_key_suggests_the_closest_known_one),
        cmocka_unit_test(rill_conf_set_names_the_suggestion),
        cmocka_unit_test(a_bad_url_error_masks_the_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
