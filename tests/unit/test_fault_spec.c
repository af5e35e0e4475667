/* Fault specs (core/fault_spec.c): the keys of a faulty+<scheme>:// URL, the inner
 * URL left over, and decisions that replay from the seed. */
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

#include "fault_int.h"

static rill_err_t parse(const char *url, rill__fault_kind_t kind, rill__fault_spec_t *fs,
                        char **inner, char *err, size_t errlen) {
    *inner = NULL;
    err[0] = '\0';
    return rill__fault_spec_from_url(url, kind, fs, inner, err, errlen);
}

static void fault_keys_come_off_and_the_rest_opens_the_inner_backend(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse("faulty+memory://x?a=1&fail.commit=0.1&b=2&seed=7",
                           RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                     RILL_OK);
    assert_string_equal(inner, "memory://x?a=1&b=2");
    assert_int_equal(fs.seed, 7);
    assert_true(fs.seeded);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].mode, RILL__FR_FRACTION);
    assert_true(fs.rule[RILL__FS_COMMIT].p == 0.1);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].err, RILL_ERETRY);
    free(inner);
    assert_int_equal(parse("faulty+rocksdb:///var/lib/app?fail.put=0.01",
                           RILL__FAULT_STORE, &fs, &inner, err, sizeof err),
                     RILL_OK);
    assert_string_equal(inner, "rocksdb:///var/lib/app");
    assert_false(fs.seeded); /* chosen at open and printed */
    free(inner);
}

static void every_kind_of_value_parses(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(
        parse(
            "faulty+kafka://127.0.0.1:9092?fail.produce=nth:3&fail.seek=every:2&"
            "fail.commit=after:4&fail.commit.err=ETIMEDOUT&fail.declare.err=RILL_EFATAL&"
            "fail.declare.fatal=true&delay.produce.ms=5-50&delay.commit.ms=7&"
            "delay.delivery.ms=1-3&drop.delivery=0.2&dup.produce=0.3&"
            "reorder.delivery=0.4&revoke.lost=true&late.pause=0.5&stall.ms=300&"
            "stall.at.ms=100&stall.every.ms=1000&fail.after=1000&commit.ahead=1",
            RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
        RILL_OK);
    assert_string_equal(inner, "kafka://127.0.0.1:9092");
    free(inner);
    assert_int_equal(fs.rule[RILL__FS_PRODUCE].mode, RILL__FR_NTH);
    assert_int_equal(fs.rule[RILL__FS_PRODUCE].n, 3);
    assert_int_equal(fs.rule[RILL__FS_SEEK].mode, RILL__FR_EVERY);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].mode, RILL__FR_AFTER);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].err, RILL_ETIMEDOUT);
    assert_int_equal(fs.rule[RILL__FS_DECLARE].err, RILL_EFATAL);
    assert_true(fs.rule[RILL__FS_DECLARE].fatal);
    assert_int_equal(fs.rule[RILL__FS_PRODUCE].delay_lo, 5);
    assert_int_equal(fs.rule[RILL__FS_PRODUCE].delay_hi, 50);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].delay_lo, 7);
    assert_int_equal(fs.rule[RILL__FS_COMMIT].delay_hi, 7);
    assert_int_equal(fs.delivery_lo, 1);
    assert_int_equal(fs.delivery_hi, 3);
    assert_true(fs.drop_delivery == 0.2 && fs.dup_produce == 0.3);
    assert_true(fs.reorder_delivery == 0.4 && fs.revoke_lost == 1.0);
    assert_true(fs.late_pause == 0.5);
    assert_int_equal(fs.stall_ms, 300);
    assert_int_equal(fs.stall_at_ms, 100);
    assert_int_equal(fs.stall_every_ms, 1000);
    assert_int_equal(fs.warmup, 1000);
    assert_int_equal(fs.commit_ahead, 1);
}

static void an_unknown_fault_key_is_refused_by_name(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse("faulty+memory://x?fail.comit=0.1", RILL__FAULT_TRANSPORT, &fs,
                           &inner, err, sizeof err),
                     RILL_ECONF);
    assert_null(inner);
    assert_non_null(strstr(err, "unknown fault key 'fail.comit'"));
    assert_non_null(strstr(err, "commit")); /* the slots are listed */
    assert_int_equal(parse("faulty+memory://x?delay.produce=5", RILL__FAULT_TRANSPORT,
                           &fs, &inner, err, sizeof err),
                     RILL_ECONF);
    assert_non_null(strstr(err, "'delay.produce'"));
    /* a store slot on a transport, and a transport fault on a store */
    assert_int_equal(parse("faulty+memory://?fail.put=0.1", RILL__FAULT_TRANSPORT, &fs,
                           &inner, err, sizeof err),
                     RILL_ECONF);
    assert_non_null(strstr(err, "'fail.put'"));
    assert_int_equal(parse("faulty+memory://?stall.ms=5", RILL__FAULT_STORE, &fs, &inner,
                           err, sizeof err),
                     RILL_ECONF);
    assert_non_null(strstr(err, "'stall.ms' applies to transports"));
}

static void a_bad_value_is_refused_naming_key_and_value(void **state) {
    (void)state;
    static const char *const bad[][2] = {
        {"fail.commit=1.5", "fail.commit"},
        {"fail.commit=nth:0", "nth:0"},
        {"fail.commit=twice:2", "twice"},
        {"delay.produce.ms=50-5", "50-5"},
        {"fail.commit.err=EBOGUS", "EBOGUS"},
        {"fail.commit.fatal=0.5", "0.5"},
        {"seed=abc", "abc"},
        {"revoke.lost=yes", "yes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char url[128], *inner, err[512];
        rill__fault_spec_t fs;
        snprintf(url, sizeof url, "faulty+memory://x?%s", bad[i][0]);
        assert_int_equal(parse(url, RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                         RILL_ECONF);
        if (!strstr(err, bad[i][1])) fail_msg("%s: '%s' does not name it", url, err);
    }
}

static void nth_every_and_after_fail_exactly_those_calls(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse("faulty+memory://?fail.produce=nth:3&fail.seek=every:2&"
                           "fail.commit=after:4&fail.commit.err=ETIMEDOUT",
                           RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                     RILL_OK);
    free(inner);
    for (int i = 1; i <= 6; i++) {
        assert_int_equal(rill__fault_decide(&fs, RILL__FS_PRODUCE),
                         i == 3 ? RILL_ERETRY : RILL_OK);
        assert_int_equal(rill__fault_decide(&fs, RILL__FS_SEEK),
                         i % 2 == 0 ? RILL_ERETRY : RILL_OK);
        assert_int_equal(rill__fault_decide(&fs, RILL__FS_COMMIT),
                         i > 4 ? RILL_ETIMEDOUT : RILL_OK);
        assert_int_equal(rill__fault_decide(&fs, RILL__FS_DECLARE), RILL_OK);
    }
    assert_int_equal(fs.injected, 1 + 3 + 2);
}

static void fail_after_holds_every_fault_back_for_that_many_calls(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse("faulty+memory://?fail.commit=1&fail.after=10&dup.produce=1",
                           RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                     RILL_OK);
    free(inner);
    for (int i = 1; i <= 10; i++) {
        assert_false(rill__fault_chance(&fs, fs.dup_produce));
        assert_int_equal(rill__fault_decide(&fs, RILL__FS_COMMIT), RILL_OK);
    }
    assert_int_equal(rill__fault_decide(&fs, RILL__FS_COMMIT), RILL_ERETRY);
    assert_true(rill__fault_chance(&fs, fs.dup_produce));
}

/* The decisions of @p url's spec over @p n calls of produce, as a bit string. */
static void decisions(const char *url, char *out, int n) {
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse(url, RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                     RILL_OK);
    free(inner);
    for (int i = 0; i < n; i++) {
        bool a = rill__fault_decide(&fs, RILL__FS_PRODUCE) != RILL_OK;
        bool b = rill__fault_chance(&fs, fs.reorder_delivery);
        int ms = rill__fault_pick_ms(&fs, 5, 50);
        assert_true(ms >= 5 && ms <= 50);
        out[i] = (char)('0' + a + 2 * b + 4 * (ms > 27));
    }
    out[n] = '\0';
}

static void the_same_seed_replays_the_same_faults(void **state) {
    (void)state;
    char a[501], b[501], c[501];
    decisions("faulty+memory://?seed=7&fail.produce=0.3&reorder.delivery=0.5", a, 500);
    decisions("faulty+memory://?seed=7&fail.produce=0.3&reorder.delivery=0.5", b, 500);
    decisions("faulty+memory://?seed=8&fail.produce=0.3&reorder.delivery=0.5", c, 500);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static void a_fraction_fails_about_that_share_of_calls(void **state) {
    (void)state;
    rill__fault_spec_t fs;
    char *inner, err[512];
    assert_int_equal(parse("faulty+memory://?seed=1&fail.commit=0.1",
                           RILL__FAULT_TRANSPORT, &fs, &inner, err, sizeof err),
                     RILL_OK);
    free(inner);
    int failed = 0;
    for (int i = 0; i < 10000; i++)
        failed += rill__fault_decide(&fs, RILL__FS_COMMIT) != RILL_OK;
    assert_in_range(failed, 850, 1150);
}

/* ---- through the registry ---------------------------------------------------------- */

static void an_unknown_key_in_a_broker_url_fails_the_open(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    static const rill_transport_handlers_t h = {0};
    char err[512] = "";
    rill_transport_t *t = rill_transport_new("faulty+memory://fs?fail.comitt=0.5", NULL,
                                             base, &h, "c", err, sizeof err);
    assert_null(t);
    assert_non_null(strstr(err, "'fail.comitt'"));
    rill_store_t *s =
        rill_store_new("faulty+memory://?fail.gett=1", NULL, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "'fail.gett'"));
    /* the inner backend still checks its own keys */
    t = rill_transport_new("faulty+memory://fs?nonsense=1&seed=3", NULL, base, &h, "c",
                           err, sizeof err);
    assert_null(t);
    assert_non_null(strstr(err, "nonsense"));
    event_base_free(base);
}

static void a_wrapped_transport_fails_the_nth_call_with_a_clear_message(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    static const rill_transport_handlers_t h = {0};
    char err[512] = "";
    rill_transport_t *t = rill_transport_new(
        "faulty+memory://fs2?fail.declare=nth:1&fail.declare.err=ETIMEDOUT&seed=42", NULL,
        base, &h, "c", err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_string_equal(t->ops->scheme, "faulty+memory");
    assert_int_equal(t->ops->features, rill_transport_find("memory")->features);
    rill_topic_spec_t spec = {.name = "t", .partitions = 2};
    int32_t got = 0;
    assert_int_equal(t->ops->declare(t, &spec, &got, err, sizeof err), RILL_ETIMEDOUT);
    assert_non_null(strstr(err, "injected RILL_ETIMEDOUT into declare call 1 (seed 42)"));
    assert_int_equal(t->ops->declare(t, &spec, &got, err, sizeof err), RILL_OK);
    assert_int_equal(got, 2);
    rill_transport_destroy(t);
    event_base_free(base);
}

static void a_wrapped_store_fails_writes_whole(void **state) {
    (void)state;
    char err[512] = "";
    rill_store_t *s =
        rill_store_new("faulty+memory://?fail.put=nth:1&seed=5", NULL, err, sizeof err);
    if (!s) fail_msg("%s", err);
    assert_string_equal(s->ops->scheme, "faulty+memory");
    rill_store_part_t *p = NULL;
    assert_int_equal(s->ops->part_open(s, "t", 0, &p, err, sizeof err), RILL_OK);
    rill_store_op_t ops[] = {
        {.kind = RILL_STORE_PUT, .key = "a", .klen = 1, .val = "1", .vlen = 1},
        {.kind = RILL_STORE_PUT, .key = "b", .klen = 1, .val = "2", .vlen = 1}};
    assert_int_equal(s->ops->write(p, ops, 2, 10), RILL_ERETRY);
    rill_buf_t buf = {0};
    assert_int_equal(s->ops->get(p, "a", 1, &buf), RILL_ENOENT); /* nothing applied */
    int64_t off = 0;
    assert_int_equal(s->ops->offset(p, &off), RILL_OK);
    assert_int_equal(off, RILL_OFFSET_INVALID);
    assert_int_equal(s->ops->write(p, ops, 2, 10), RILL_OK);
    assert_int_equal(s->ops->get(p, "b", 1, &buf), RILL_OK);
    assert_int_equal(s->ops->offset(p, &off), RILL_OK);
    assert_int_equal(off, 10);
    rill_buf_free(&buf);
    s->ops->part_close(p);
    rill_store_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_keys_come_off_and_the_rest_opens_the_inner_backend),
        cmocka_unit_test(every_kind_of_value_parses),
        cmocka_unit_test(an_unknown_fault_key_is_refused_by_name),
        cmocka_unit_test(a_bad_value_is_refused_naming_key_and_value),
        cmocka_unit_test(nth_every_and_after_fail_exactly_those_calls),
        cmocka_unit_test(fail_after_holds_every_fault_back_for_that_many_calls),
        cmocka_unit_test(the_same_seed_replays_the_same_faults),
        cmocka_unit_test(a_fraction_fails_about_that_share_of_calls),
        cmocka_unit_test(an_unknown_key_in_a_broker_url_fails_the_open),
        cmocka_unit_test(a_wrapped_transport_fails_the_nth_call_with_a_clear_message),
        cmocka_unit_test(a_wrapped_store_fails_writes_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
