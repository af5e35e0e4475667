/* One property system: the app's own keys and plugins' properties are checked by
 * one validator (same wording for a bad integer, enum or bool, wherever the key is
 * declared), tables built against the old rill_prop_t are still read, and a
 * mistyped key gets a suggestion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

#include "conf_int.h"

/* What rill_conf_set says about @p value for @p key, past "config key '<key>': ". */
static const char *complaint(const char *key, const char *value, char *err, size_t n) {
    rill_conf_t *c = rill_conf_new();
    assert_int_equal(rill_conf_set(c, key, value, err, n), RILL_CONF_INVALID);
    rill_conf_destroy(c);
    char head[128];
    snprintf(head, sizeof head, "config key '%s': ", key);
    assert_memory_equal(err, head, strlen(head));
    return err + strlen(head);
}

static void core_and_plugin_integers_out_of_range_are_refused_alike(void **state) {
    (void)state;
    char a[256], b[256];
    /* topic.partitions: 1 to 100000; json.max.bytes: 1 to INT64_MAX */
    const char *core = complaint("topic.partitions", "0", a, sizeof a);
    const char *plugin = complaint("json.max.bytes", "0", b, sizeof b);
    assert_string_equal(core, "expected an integer from 1 to 100000, got '0'");
    assert_string_equal(plugin, "expected an integer from 1 to 9223372036854775807, "
                                "got '0'");
}

static void core_and_plugin_non_integers_are_refused_alike(void **state) {
    (void)state;
    char a[256], b[256];
    assert_string_equal(complaint("topic.partitions", "lots", a, sizeof a),
                        "expected an integer from 1 to 100000, got 'lots'");
    assert_string_equal(complaint("json.max.bytes", "lots", b, sizeof b),
                        "expected an integer from 1 to 9223372036854775807, got 'lots'");
}

static void core_and_plugin_bad_enum_words_are_refused_alike(void **state) {
    (void)state;
    char a[256], b[256];
    assert_string_equal(complaint("on_decode_error", "ignore", a, sizeof a),
                        "expected one of skip|dead_letter|crash, got 'ignore'");
    assert_string_equal(complaint("json.faust.ns", "ignored", b, sizeof b),
                        "expected one of ignore|check, got 'ignored'");
}

static void core_and_plugin_bad_bools_are_refused_alike(void **state) {
    (void)state;
    char a[256], b[256];
    assert_string_equal(complaint("exactly_once.verify_offsets", "maybe", a, sizeof a),
                        "expected true or false, got 'maybe'");
    assert_string_equal(complaint("json.faust", "maybe", b, sizeof b),
                        "expected true or false, got 'maybe'");
}

static void url_parameters_are_refused_in_the_same_words(void **state) {
    (void)state;
    static const rill_prop_t props[] = {
        {"n", RILL_PROP_INT, "5", 0, "", .min = 1, .max = 100000},
        {NULL},
    };
    char a[256], err[256] = "";
    rill_url_t *u;
    assert_int_equal(rill_url_parse("x://?n=0", &u, err, sizeof err), RILL_OK);
    int64_t n = 0;
    assert_int_equal(rill_props_apply(props, &n, "x", NULL, u, true, err, sizeof err),
                     RILL_ECONF);
    assert_string_equal(err, "URL parameter 'n': expected an integer from 1 to 100000, "
                             "got '0'");
    assert_string_equal(strchr(err, ':') + 2,
                        complaint("topic.partitions", "0", a, sizeof a));
    rill_url_destroy(u);
}

static void enum_and_bool_values_are_stored_canonically(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "on_decode_error", "DEAD_LETTER", err, sizeof err),
                     RILL_CONF_OK);
    assert_string_equal(rill_conf_get(c, "on_decode_error"), "dead_letter");
    assert_int_equal(
        rill_conf_set(c, "exactly_once.verify_offsets", "no", err, sizeof err),
        RILL_CONF_OK);
    assert_string_equal(rill_conf_get(c, "exactly_once.verify_offsets"), "false");
    rill_conf_destroy(c);
}

/* rill_prop_t as plugin.h declared it before min/max/choices (layout 1). */
struct old_prop {
    const char *name;
    int type; /* 1 STR, 2 INT, 3 BOOL, 4 DOUBLE */
    const char *def;
    size_t offset;
    const char *desc;
};

typedef struct old_impl {
    char *name;
    int64_t n;
    bool flag;
    double ratio;
} old_impl_t;

static const struct old_prop old_props[] = {
    {"name", 1, "anon", offsetof(old_impl_t, name), ""},
    {"n", 2, "5", offsetof(old_impl_t, n), ""},
    {"flag", 3, "false", offsetof(old_impl_t, flag), ""},
    {"ratio", 4, "0.5", offsetof(old_impl_t, ratio), ""},
    {NULL},
};

/* The old table copied to a block of exactly its size: a read at the new stride
 * runs past it (ASan) and misreads every entry after the first. */
static rill_prop_t *old_table(void) {
    void *t = malloc(sizeof old_props);
    assert_non_null(t);
    memcpy(t, old_props, sizeof old_props);
    return t;
}

static void table_of_the_old_layout_is_still_applied(void **state) {
    (void)state;
    rill_prop_t *props = old_table();
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    rill_conf_set(c, "memory.n", "7", err, sizeof err);
    rill_url_t *u;
    assert_int_equal(rill_url_parse("memory://?flag=yes&ratio=2.5", &u, err, sizeof err),
                     RILL_OK);
    old_impl_t im = {0};
    assert_int_equal(rill_props_apply(props, &im, "memory", c, u, true, err, sizeof err),
                     RILL_OK);
    assert_string_equal(im.name, "anon");
    assert_int_equal(im.n, 7);
    assert_true(im.flag);
    assert_true(im.ratio == 2.5);
    rill_props_free(props, &im);
    assert_null(im.name);
    rill_url_destroy(u);
    rill_conf_destroy(c);
    free(props);
}

static void old_layout_values_are_refused_in_the_same_words(void **state) {
    (void)state;
    rill_prop_t *props = old_table();
    char err[256] = "";
    rill_url_t *u;
    assert_int_equal(rill_url_parse("memory://?flag=perhaps", &u, err, sizeof err),
                     RILL_OK);
    old_impl_t im = {0};
    assert_int_equal(
        rill_props_apply(props, &im, "memory", NULL, u, true, err, sizeof err),
        RILL_ECONF);
    assert_string_equal(err,
                        "URL parameter 'flag': expected true or false, got 'perhaps'");
    rill_props_free(props, &im);
    rill_url_destroy(u);
    free(props);
}

static rill_err_t enc(rill_serializer_t *s, const rill_type_t *t, const void *v,
                      rill_buf_t *out, char *e, size_t n) {
    (void)s, (void)t, (void)v, (void)out, (void)e, (void)n;
    return RILL_ENOTSUP;
}
static rill_err_t dec(rill_serializer_t *s, const rill_type_t *t, const void *d,
                      size_t len, void *v, char *e, size_t n) {
    (void)s, (void)t, (void)d, (void)len, (void)v, (void)e, (void)n;
    return RILL_ENOTSUP;
}

/* A serializer built against the old header: rill_conf_set reads its table to check
 * "<name>.<prop>" values, and the registry applies it at open. */
static void old_layout_plugin_keys_are_checked_and_applied(void **state) {
    (void)state;
    static struct rill_serializer_ops ops = {.abi = 1,
                                             .scheme = "oldprops",
                                             .impl_size = sizeof(old_impl_t),
                                             .encode = enc,
                                             .decode = dec};
    ops.props = old_table();
    assert_int_equal(rill_register_serializer(&ops), RILL_OK);
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "oldprops.n", "x", err, sizeof err),
                     RILL_CONF_INVALID);
    assert_string_equal(err, "config key 'oldprops.n': expected an integer, got 'x'");
    assert_int_equal(rill_conf_set(c, "oldprops.ratio", "0.25", err, sizeof err),
                     RILL_CONF_OK);
    rill_serializer_t *s = rill_serializer_new("oldprops", c, err, sizeof err);
    assert_non_null(s);
    old_impl_t *im = s->impl;
    assert_true(im->ratio == 0.25);
    assert_string_equal(im->name, "anon");
    assert_int_equal(im->n, 5);
    rill_serializer_destroy(s);
    rill_conf_destroy(c);
    /* the registry keeps ops.props until the process ends */
}

static void table_of_a_newer_layout_is_refused(void **state) {
    (void)state;
    struct old_prop future[] = {{"n", (RILL_PROP_LAYOUT + 1) << 8 | 2, "5", 0, ""},
                                {NULL}};
    int64_t n = 0;
    char err[256] = "";
    assert_int_equal(rill_props_apply((const rill_prop_t *)future, &n, "x", NULL, NULL,
                                      true, err, sizeof err),
                     RILL_EINVAL);
    assert_non_null(strstr(err, "layout"));
}

static void mistyped_core_and_plugin_keys_get_suggestions(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    assert_int_equal(rill_conf_set(c, "topic.partition", "3", err, sizeof err),
                     RILL_CONF_UNKNOWN);
    assert_string_equal(err, "unknown config key 'topic.partition': did you mean "
                             "'topic.partitions'?");
    assert_int_equal(rill_conf_set(c, "jsno.max.bytes", "3", err, sizeof err),
                     RILL_CONF_UNKNOWN);
    assert_string_equal(err, "unknown config key 'jsno.max.bytes': did you mean "
                             "'json.max.bytes'?");
    rill_conf_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(core_and_plugin_integers_out_of_range_are_refused_alike),
        cmocka_unit_test(core_and_plugin_non_integers_are_refused_alike),
        cmocka_unit_test(core_and_plugin_bad_enum_words_are_refused_alike),
        cmocka_unit_test(core_and_plugin_bad_bools_are_refused_alike),
        cmocka_unit_test(url_parameters_are_refused_in_the_same_words),
        cmocka_unit_test(enum_and_bool_values_are_stored_canonically),
        cmocka_unit_test(table_of_the_old_layout_is_still_applied),
        cmocka_unit_test(old_layout_values_are_refused_in_the_same_words),
        cmocka_unit_test(old_layout_plugin_keys_are_checked_and_applied),
        cmocka_unit_test(table_of_a_newer_layout_is_refused),
        cmocka_unit_test(mistyped_core_and_plugin_keys_get_suggestions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
