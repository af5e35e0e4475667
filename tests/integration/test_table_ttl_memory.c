/* State TTL on memory://: a key not written for ttl_ms is deleted, the deletion
 * goes to the changelog (a restarted worker, recovering from it, does not bring
 * the key back), a key written meanwhile stays, and bad TTLs are refused. */
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

#include "run_until.h"

static unsigned seq;
static char broker[128];

typedef struct tapp {
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *t;
    int handled;
} tapp_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    tapp_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    assert_int_equal(rill_table_incr(w->t, ev, k, len, 1, NULL), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void start(tapp_t *w, struct event_base *base, int64_t ttl_ms) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "20", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("ttl", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 1};
    w->words = rill_app_topic(w->app, "words", &to);
    rill_table_opts_t o = {
        .value_type = &rill_type_int64, .source = w->words, .ttl_ms = ttl_ms};
    assert_non_null(w->t = rill_app_table(w->app, "counts", &o));
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void word(tapp_t *w, struct event_base *base, const char *key) {
    assert_int_equal(rill_send(w->words, key, strlen(key), "w", 1, NULL), RILL_OK);
    int want = w->handled + 1;
    RUN_UNTIL(base, w->handled >= want, 3000);
    assert_int_equal(w->handled, want);
}

static rill_table_stats_t stats(tapp_t *w) {
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w->t, &st), RILL_OK);
    return st;
}

static int64_t count_of(tapp_t *w, const char *key) {
    int64_t v = -1;
    assert_int_equal(rill_table_get(w->t, NULL, key, strlen(key), &v), RILL_OK);
    return v;
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://ttl-test-%u", ++seq);
    return 0;
}

static void
a_key_not_written_for_the_ttl_is_deleted_and_stays_deleted_after_a_restart(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    tapp_t w = {0};
    start(&w, base, 300);
    word(&w, base, "old");
    word(&w, base, "old");
    word(&w, base, "kept");
    uint64_t t0 = rill_mono_ns();
    /* "kept" is written every 50 ms, "old" never again */
    while (stats(&w).ttl_expired < 1 && rill_mono_ns() - t0 < 5000000000ull) {
        word(&w, base, "kept");
        RUN_UNTIL(base, false, 50);
    }
    assert_int_equal(stats(&w).ttl_expired, 1);
    assert_int_equal(count_of(&w, "old"), 0);
    assert_true(count_of(&w, "kept") >= 2);
    assert_int_equal(stats(&w).keys, 1);
    int64_t kept = count_of(&w, "kept");
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);

    tapp_t again = {0}; /* a new memory store: recovers from the changelog */
    start(&again, base, 300);
    RUN_UNTIL(base, stats(&again).owned == 1, 3000);
    assert_int_equal(count_of(&again, "old"), 0); /* not resurrected */
    assert_int_equal(count_of(&again, "kept"), kept);
    assert_int_equal(stats(&again).keys, 1);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void a_negative_ttl_or_one_on_a_windowed_table_is_refused(void **state) {
    (void)state;
    char e[256];
    for (int i = 0; i < 2; i++) {
        rill_conf_t *c = rill_conf_new();
        rill_conf_set(c, "broker", "memory://ttl-def", e, sizeof e);
        rill_conf_set(c, "log.level", "fatal", e, sizeof e);
        rill_app_t *app = rill_app_new("ttl", c, e, sizeof e);
        assert_non_null(app);
        rill_table_opts_t o = {.value_type = &rill_type_int64, .ttl_ms = i ? 1000 : -1};
        if (i) rill_table_opts_tumbling(&o, 1000, 1000);
        assert_null(rill_app_table(app, "t", &o));
        assert_non_null(strstr(rill_app_errmsg(app), "ttl_ms must be >= 0"));
        rill_app_destroy(app);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            a_key_not_written_for_the_ttl_is_deleted_and_stays_deleted_after_a_restart,
            setup),
        cmocka_unit_test(a_negative_ttl_or_one_on_a_windowed_table_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
