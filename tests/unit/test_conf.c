/* Configuration: defaults, validation errors naming the key, backend prefixes,
 * and the props tables plugins use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

static void known_keys_have_defaults(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    assert_string_equal(rill_conf_get(c, "broker"), "memory://");
    assert_string_equal(rill_conf_get(c, "store"), "memory://");
    assert_string_equal(rill_conf_get(c, "on_decode_error"), "skip");
    assert_int_equal(rill_conf_get_int(c, "commit.interval.ms", 0), 1000);
    assert_null(rill_conf_get(c, "no.such.key"));
    rill_conf_destroy(c);
}

static void set_then_get_returns_value(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "broker", "kafka://h:9092", err, sizeof err),
                     RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "broker", "memory://x", err, sizeof err),
                     RILL_CONF_OK);
    assert_string_equal(rill_conf_get(c, "broker"), "memory://x");
    rill_conf_destroy(c);
}

static void unknown_key_is_rejected_by_name(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "brokers", "memory://", err, sizeof err),
                     RILL_CONF_UNKNOWN);
    assert_non_null(strstr(err, "'brokers'"));
    assert_int_equal(rill_conf_set(c, "nosuchbackend.x", "1", err, sizeof err),
                     RILL_CONF_UNKNOWN);
    rill_conf_destroy(c);
}

static void malformed_url_is_rejected_with_reason(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "broker", "localhost:9092", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_non_null(strstr(err, "broker"));
    assert_non_null(strstr(err, "://"));
    assert_int_equal(rill_conf_set(c, "store", "rocksdb://h:70000/x", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_non_null(strstr(err, "port"));
    rill_conf_destroy(c);
}

static void bad_numbers_and_enums_are_rejected(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "commit.interval.ms", "soon", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_non_null(strstr(err, "integer"));
    assert_int_equal(rill_conf_set(c, "commit.interval.ms", "0", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_int_equal(rill_conf_set(c, "on_decode_error", "ignore", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_non_null(strstr(err, "skip|dead_letter|crash"));
    assert_int_equal(rill_conf_set(c, "log.level", "loud", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_int_equal(rill_conf_set(c, "web.port", "65536", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_int_equal(rill_conf_set(c, "web.port", "8080", err, sizeof err), RILL_CONF_OK);
    rill_conf_destroy(c);
}

static void backend_prefixed_keys_are_accepted(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "memory.max.messages", "10", err, sizeof err),
                     RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "json.faust", "false", err, sizeof err),
                     RILL_CONF_OK);
    rill_conf_destroy(c);
}

static void unknown_backend_property_fails_at_open(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "memory.bogus", "1", err, sizeof err),
                     RILL_CONF_OK);
    assert_null(rill_transport_new("memory://", c, NULL, NULL, "x", err, sizeof err));
    assert_non_null(strstr(err, "memory.bogus"));
    rill_conf_destroy(c);
}

static void visit(const char *k, const char *v, void *op) {
    char *s = op;
    strcat(s, k);
    strcat(s, "=");
    strcat(s, v);
    strcat(s, ";");
}

static void foreach_visits_prefix_in_set_order(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "memory.partitions", "3", err, sizeof err);
    rill_conf_set(c, "broker", "memory://", err, sizeof err);
    rill_conf_set(c, "memory.max.bytes", "100", err, sizeof err);
    char seen[256] = "";
    rill_conf_foreach(c, "memory.", visit, seen);
    assert_string_equal(seen, "memory.partitions=3;memory.max.bytes=100;");
    rill_conf_t *d = rill_conf_dup(c);
    assert_string_equal(rill_conf_get(d, "memory.max.bytes"), "100");
    rill_conf_destroy(d);
    rill_conf_destroy(c);
}

typedef struct impl {
    char *name;
    int64_t n;
    bool flag;
    double ratio;
} impl_t;

static const rill_prop_t props[] = {
    {"name", RILL_PROP_STR, "anon", offsetof(impl_t, name), ""},
    {"n", RILL_PROP_INT, "5", offsetof(impl_t, n), ""},
    {"flag", RILL_PROP_BOOL, "false", offsetof(impl_t, flag), ""},
    {"ratio", RILL_PROP_DOUBLE, "0.5", offsetof(impl_t, ratio), ""},
    {NULL},
};

static void props_apply_defaults_conf_then_url(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    rill_conf_set(c, "memory.n", "7", err, sizeof err);
    rill_url_t *u;
    assert_int_equal(rill_url_parse("memory://?flag=yes&name=x", &u, err, sizeof err),
                     RILL_OK);
    impl_t im = {0};
    assert_int_equal(rill_props_apply(props, &im, "memory", c, u, true, err, sizeof err),
                     RILL_OK);
    assert_string_equal(im.name, "x");
    assert_int_equal(im.n, 7);
    assert_true(im.flag);
    assert_true(im.ratio == 0.5);
    rill_props_free(props, &im);
    assert_null(im.name);
    rill_url_destroy(u);
    rill_conf_destroy(c);
}

static void props_reject_bad_values_and_unknown_params(void **state) {
    (void)state;
    char err[256] = "";
    rill_url_t *u;
    impl_t im = {0};
    assert_int_equal(rill_url_parse("memory://?n=lots", &u, err, sizeof err), RILL_OK);
    assert_int_equal(
        rill_props_apply(props, &im, "memory", NULL, u, true, err, sizeof err),
        RILL_ECONF);
    assert_non_null(strstr(err, "'n'"));
    rill_props_free(props, &im);
    rill_url_destroy(u);
    assert_int_equal(rill_url_parse("memory://?zzz=1", &u, err, sizeof err), RILL_OK);
    assert_int_equal(
        rill_props_apply(props, &im, "memory", NULL, u, true, err, sizeof err),
        RILL_EURL);
    assert_non_null(strstr(err, "zzz"));
    rill_props_free(props, &im);
    assert_int_equal(
        rill_props_apply(props, &im, "memory", NULL, u, false, err, sizeof err), RILL_OK);
    rill_props_free(props, &im);
    rill_url_destroy(u);
}

static void error_names_and_strings_exist(void **state) {
    (void)state;
    assert_string_equal(rill_err_name(RILL_ENOMEM), "RILL_ENOMEM");
    assert_string_equal(rill_err2str(RILL_OK), "success");
    assert_string_equal(rill_err2str((rill_err_t)-999), "unknown error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_keys_have_defaults),
        cmocka_unit_test(set_then_get_returns_value),
        cmocka_unit_test(unknown_key_is_rejected_by_name),
        cmocka_unit_test(malformed_url_is_rejected_with_reason),
        cmocka_unit_test(bad_numbers_and_enums_are_rejected),
        cmocka_unit_test(backend_prefixed_keys_are_accepted),
        cmocka_unit_test(unknown_backend_property_fails_at_open),
        cmocka_unit_test(foreach_visits_prefix_in_set_order),
        cmocka_unit_test(props_apply_defaults_conf_then_url),
        cmocka_unit_test(props_reject_bad_values_and_unknown_params),
        cmocka_unit_test(error_names_and_strings_exist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
