/* The plugin registry: what a transport must provide to register, and that a
 * plugin built against an older ABI runs without its struct being read past. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "legacy_transport.h"
#include "run_until.h"

static struct rill_transport_ops copy_of_memory(const char *scheme) {
    const struct rill_transport_ops *m = rill_transport_find("memory");
    assert_non_null(m);
    struct rill_transport_ops o = *m;
    o.scheme = scheme;
    return o;
}

static void transport_abi_outside_the_supported_range_is_refused(void **state) {
    (void)state;
    static struct rill_transport_ops zero, future;
    zero = copy_of_memory("abi-zero");
    zero.abi = 0;
    future = copy_of_memory("abi-future");
    future.abi = RILL_TRANSPORT_ABI + 1;
    assert_int_equal(rill_register_transport(&zero), RILL_EINVAL);
    assert_int_equal(rill_register_transport(&future), RILL_EINVAL);
    assert_null(rill_transport_find("abi-zero"));
}

static void transport_without_a_required_slot_is_refused(void **state) {
    (void)state;
    static struct rill_transport_ops no_seek, no_declare, no_reader;
    no_seek = copy_of_memory("no-seek");
    no_seek.seek = NULL;
    no_declare = copy_of_memory("no-declare");
    no_declare.declare = NULL;
    no_reader = copy_of_memory("no-reader");
    no_reader.reader_start = NULL;
    assert_int_equal(rill_register_transport(&no_seek), RILL_EINVAL);
    assert_int_equal(rill_register_transport(&no_declare), RILL_EINVAL);
    assert_int_equal(rill_register_transport(&no_reader), RILL_EINVAL);
}

static void feature_bits_need_their_slots(void **state) {
    (void)state;
    static struct rill_transport_ops txn, wm;
    txn = copy_of_memory("txn-without-slots");
    txn.features |= RILL_TRANSPORT_F_TXN; /* memory has no txn_* */
    wm = copy_of_memory("watermarks-without-slot");
    wm.watermarks = NULL; /* memory advertises RILL_TRANSPORT_F_WATERMARKS */
    assert_int_equal(rill_register_transport(&txn), RILL_EINVAL);
    assert_int_equal(rill_register_transport(&wm), RILL_EINVAL);
}

static void complete_transport_registers_once(void **state) {
    (void)state;
    static struct rill_transport_ops ok;
    ok = copy_of_memory("complete");
    assert_int_equal(rill_register_transport(&ok), RILL_OK);
    assert_int_equal(rill_register_transport(&ok), RILL_EEXIST);
    assert_ptr_equal(rill_transport_find("complete"), &ok);
}

/* Stores and serializers go through the same registration rules. */
static void store_registration_checks_abi_slots_and_names(void **state) {
    (void)state;
    static struct rill_store_ops ok, future, no_scan, unnamed, long_name;
    ok = *rill_store_find("memory");
    ok.scheme = "store-ok";
    future = no_scan = unnamed = long_name = ok;
    future.abi = RILL_STORE_ABI + 1;
    no_scan.scheme = "store-no-scan";
    no_scan.scan = NULL;
    unnamed.scheme = "";
    long_name.scheme = "a-store-scheme-of-thirty-two-chars";
    assert_int_equal(rill_register_store(NULL), RILL_EINVAL);
    assert_int_equal(rill_register_store(&future), RILL_EINVAL);
    assert_int_equal(rill_register_store(&no_scan), RILL_EINVAL);
    assert_int_equal(rill_register_store(&unnamed), RILL_EINVAL);
    assert_int_equal(rill_register_store(&long_name), RILL_EINVAL);
    assert_null(rill_store_find("store-no-scan"));
    assert_int_equal(rill_register_store(&ok), RILL_OK);
    assert_int_equal(rill_register_store(&ok), RILL_EEXIST);
    assert_ptr_equal(rill_store_find("store-ok"), &ok);
    /* a built-in name is taken too */
    static struct rill_store_ops dup;
    dup = ok;
    dup.scheme = "memory";
    assert_int_equal(rill_register_store(&dup), RILL_EEXIST);
    assert_ptr_not_equal(rill_store_find("memory"), &dup);
}

static void serializer_registration_checks_abi_slots_and_names(void **state) {
    (void)state;
    static struct rill_serializer_ops ok, zero, no_decode, unnamed;
    ok = *rill_serializer_find("json");
    ok.scheme = "ser-ok";
    zero = no_decode = unnamed = ok;
    zero.abi = 0;
    no_decode.scheme = "ser-no-decode";
    no_decode.decode = NULL;
    unnamed.scheme = NULL;
    assert_int_equal(rill_register_serializer(&zero), RILL_EINVAL);
    assert_int_equal(rill_register_serializer(&no_decode), RILL_EINVAL);
    assert_int_equal(rill_register_serializer(&unnamed), RILL_EINVAL);
    assert_null(rill_serializer_find("ser-no-decode"));
    assert_int_equal(rill_register_serializer(&ok), RILL_OK);
    assert_int_equal(rill_register_serializer(&ok), RILL_EEXIST);
    assert_ptr_equal(rill_serializer_find("ser-ok"), &ok);
    assert_null(rill_serializer_find(NULL));
}

/* Plugins written before the names were made consistent still build and register. */
static void deprecated_spellings_still_work(void **state) {
    (void)state;
    static struct rill_serializer_ops old;
    old = *rill_serializer_find("json");
    old.name = "old-spelling"; /* the old field name of .scheme */
    assert_string_equal(old.scheme, "old-spelling");
    assert_int_equal(rill_register_serializer(&old), RILL_OK);
    assert_ptr_equal(rill_serializer_find("old-spelling"), &old);
    assert_int_equal(RILL_TF_WATERMARKS, RILL_TRANSPORT_F_WATERMARKS);
    assert_int_equal(RILL_STF_PERSISTENT, RILL_STORE_F_PERSISTENT);
    assert_int_equal(RILL_SF_RECORDS, RILL_SERIALIZER_F_RECORDS);
}

static int got;
static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    got++;
    return RILL_OK;
}

/* An ABI-1 plugin's ops struct ends at close: allocated at exactly that size, so
 * a read of a later slot is a heap overflow under ASan.  It reads by topic name
 * (the ABI 2 test transport, as ABI 1): the core adapts it. */
static void abi1_transport_runs_without_its_appended_slots(void **state) {
    (void)state;
    size_t size = offsetof(struct rill_transport_ops, session_ms);
    struct rill_transport_ops full = rill_test_legacy_transport;
    full.scheme = "abi-one";
    full.abi = 1;
    struct rill_transport_ops *old = malloc(size);
    assert_non_null(old);
    memcpy(old, &full, size);
    assert_int_equal(rill_register_transport(old), RILL_OK);
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", "abi-one://registry-test", err, sizeof err);
    rill_conf_set(c, "lease.stall.ms", "0", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("abi1", c, base, err, sizeof err);
    assert_non_null(app);
    rill_topic_opts_t to = {.partitions = 2};
    rill_topic_t *t = rill_app_topic(app, "in", &to);
    assert_non_null(rill_app_agent(app, "a", t, on_event, NULL, NULL));
    if (rill_app_start(app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    rill_bytes_t v = {(uint8_t *)"x", 1};
    for (int i = 0; i < 10; i++)
        assert_int_equal(rill_send(t, NULL, 0, v.data, v.len, NULL), RILL_OK);
    RUN_UNTIL(base, got >= 10, 3000);
    assert_int_equal(got, 10);
    rill_app_stop(app);
    RUN_UNTIL(base, false, 50);
    rill_app_destroy(app);
    event_base_free(base);
    /* the registry keeps the pointer: the struct lives until the process ends */
}

/* ---- instances: one open/destroy path for transports, stores and serializers ---- */

/* A scheme nobody registered: the error names it and lists what is there, the
 * built-ins and what rill_register_*() added. */
static void unknown_scheme_is_named_with_the_registered_ones(void **state) {
    (void)state;
    static struct rill_store_ops listed;
    listed = *rill_store_find("memory");
    listed.scheme = "listed-store";
    assert_int_equal(rill_register_store(&listed), RILL_OK);
    char err[512] = "";
    assert_null(
        rill_transport_new("nats://h:4222", NULL, NULL, NULL, "c", err, sizeof err));
    assert_non_null(strstr(err, "broker URL 'nats://h:4222'"));
    assert_non_null(strstr(err, "no transport registered for scheme 'nats'"));
    assert_non_null(strstr(err, "(registered: memory"));
    assert_null(rill_store_new("nosuch:///x", NULL, err, sizeof err));
    assert_non_null(strstr(err, "no store registered for scheme 'nosuch'"));
    assert_non_null(strstr(err, "memory"));
    assert_non_null(strstr(err, "listed-store"));
    assert_null(rill_serializer_new("csv", NULL, err, sizeof err));
    assert_non_null(strstr(err, "no serializer registered for scheme 'csv'"));
    assert_non_null(strstr(err, "json"));
}

static int opens, closes;

static rill_err_t store_open_fails(rill_store_t *s, const rill_url_t *url,
                                   const rill_conf_t *conf, char *errstr, size_t errlen) {
    (void)s, (void)url, (void)conf;
    opens++;
    snprintf(errstr, errlen, "disk on fire");
    return RILL_EIO;
}
static void store_close_counted(rill_store_t *s) {
    closes++;
    rill_store_find("memory")->close(s); /* accepts a half-open store */
}
static rill_err_t transport_open_fails(rill_transport_t *t, const rill_url_t *url,
                                       const rill_conf_t *conf, char *errstr,
                                       size_t errlen) {
    (void)t, (void)url, (void)conf;
    opens++;
    snprintf(errstr, errlen, "broker on fire");
    return RILL_EIO;
}
static void transport_close_counted(rill_transport_t *t) {
    closes++;
    rill_transport_find("memory")->close(t);
}
static rill_err_t serializer_open_fails(rill_serializer_t *s, const rill_conf_t *conf,
                                        char *errstr, size_t errlen) {
    (void)s, (void)conf;
    opens++;
    snprintf(errstr, errlen, "codec on fire");
    return RILL_EINVAL;
}
static void serializer_close_counted(rill_serializer_t *s) {
    (void)s;
    closes++;
}

/* A plugin's failed open: its error reaches the caller unchanged, and a store's or
 * transport's half-open instance is closed (their close accepts one); a serializer's
 * close is not called (it sees only what a successful open made). */
static void failed_open_reports_the_plugin_error_and_releases_the_instance(void **state) {
    (void)state;
    static struct rill_store_ops st;
    static struct rill_transport_ops tr;
    static struct rill_serializer_ops se;
    st = *rill_store_find("memory");
    st.scheme = "failing-store";
    st.open = store_open_fails;
    st.close = store_close_counted;
    tr = copy_of_memory("failing-transport");
    tr.open = transport_open_fails;
    tr.close = transport_close_counted;
    se = *rill_serializer_find("json");
    se.scheme = "failing-serializer";
    se.props = NULL;
    se.open = serializer_open_fails;
    se.close = serializer_close_counted;
    assert_int_equal(rill_register_store(&st), RILL_OK);
    assert_int_equal(rill_register_transport(&tr), RILL_OK);
    assert_int_equal(rill_register_serializer(&se), RILL_OK);
    char err[256] = "";
    opens = closes = 0;
    assert_null(rill_store_new("failing-store://", NULL, err, sizeof err));
    assert_string_equal(err, "disk on fire");
    assert_int_equal(opens, 1);
    assert_int_equal(closes, 1);
    opens = closes = 0;
    assert_null(rill_transport_new("failing-transport://", NULL, NULL, NULL, "c", err,
                                   sizeof err));
    assert_string_equal(err, "broker on fire");
    assert_int_equal(opens, 1);
    assert_int_equal(closes, 1);
    opens = closes = 0;
    assert_null(rill_serializer_new("failing-serializer", NULL, err, sizeof err));
    assert_string_equal(err, "codec on fire");
    assert_int_equal(opens, 1);
    assert_int_equal(closes, 0);
}

/* A URL argument the plugin does not declare fails before the plugin's open runs. */
static void unknown_url_property_fails_before_open(void **state) {
    (void)state;
    static struct rill_store_ops st;
    st = *rill_store_find("memory");
    st.scheme = "strict-store";
    st.open = store_open_fails;
    st.close = store_close_counted;
    assert_int_equal(rill_register_store(&st), RILL_OK);
    char err[256] = "";
    opens = closes = 0;
    assert_null(rill_store_new("strict-store://?no.such.key=1", NULL, err, sizeof err));
    assert_non_null(strstr(err, "no.such.key"));
    assert_int_equal(opens, 0);
    assert_int_equal(closes, 1);
}

/* An instance names itself after its plugin's scheme, and destroy closes it once. */
static void opened_instance_is_named_for_its_scheme_and_closed_once(void **state) {
    (void)state;
    static struct rill_serializer_ops se;
    se = *rill_serializer_find("raw");
    se.scheme = "counted-raw";
    se.close = serializer_close_counted;
    assert_int_equal(rill_register_serializer(&se), RILL_OK);
    char err[256] = "";
    closes = 0;
    rill_serializer_t *s = rill_serializer_new("counted-raw", NULL, err, sizeof err);
    assert_non_null(s);
    assert_string_equal(s->name, "counted-raw");
    assert_ptr_equal(s->ops, &se);
    rill_serializer_destroy(s);
    assert_int_equal(closes, 1);
    rill_store_t *st = rill_store_new("memory://", NULL, err, sizeof err);
    assert_non_null(st);
    assert_string_equal(st->name, "memory");
    rill_store_destroy(st);
    rill_store_destroy(NULL);
    rill_serializer_destroy(NULL);
    rill_transport_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transport_abi_outside_the_supported_range_is_refused),
        cmocka_unit_test(transport_without_a_required_slot_is_refused),
        cmocka_unit_test(feature_bits_need_their_slots),
        cmocka_unit_test(complete_transport_registers_once),
        cmocka_unit_test(store_registration_checks_abi_slots_and_names),
        cmocka_unit_test(serializer_registration_checks_abi_slots_and_names),
        cmocka_unit_test(deprecated_spellings_still_work),
        cmocka_unit_test(abi1_transport_runs_without_its_appended_slots),
        cmocka_unit_test(unknown_scheme_is_named_with_the_registered_ones),
        cmocka_unit_test(failed_open_reports_the_plugin_error_and_releases_the_instance),
        cmocka_unit_test(unknown_url_property_fails_before_open),
        cmocka_unit_test(opened_instance_is_named_for_its_scheme_and_closed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
