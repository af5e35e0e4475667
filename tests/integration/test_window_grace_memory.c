/* Windowed tables on memory://: the grace period after a window's end, the
 * late-event policy past it (dropped, counted, callback), and events whose
 * timestamps a windowed table refuses. */
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
static const int64_t T0 = 1700000000000; /* a multiple of 10 s */

typedef struct wapp {
    rill_app_t *app;
    rill_topic_t *clicks;
    rill_table_t *t;
    int handled, late;
    int64_t late_start, late_ts;
} wapp_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    wapp_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    assert_int_equal(rill_table_incr(w->t, ev, k, len, 1, NULL), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void on_late(rill_table_t *t, const void *key, size_t klen, int64_t ws, int64_t ts,
                    void *opaque) {
    (void)t;
    wapp_t *w = opaque;
    assert_int_equal(klen, 1);
    assert_memory_equal(key, "a", 1);
    w->late++;
    w->late_start = ws;
    w->late_ts = ts;
}

static void start(wapp_t *w, struct event_base *base, int64_t grace) {
    rill_conf_t *c = rill_conf_new();
    char broker[128], err[256];
    snprintf(broker, sizeof broker, "memory://grace-test-%u", ++seq);
    rill_conf_set(c, "broker", broker, err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("grace", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 1};
    w->clicks = rill_app_topic(w->app, "clicks", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64,
                           .source = w->clicks,
                           .window_grace_ms = grace,
                           .on_late = on_late,
                           .on_late_opaque = w};
    rill_table_opts_tumbling(&o, 10000, 3600000);
    assert_non_null(w->t = rill_app_table(w->app, "per_10s", &o));
    assert_non_null(rill_app_agent(w->app, "count", w->clicks, count_click, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void click(wapp_t *w, struct event_base *base, const char *key, int64_t ts) {
    rill_bytes_t kb = {(uint8_t *)key, strlen(key)}, vb = {(uint8_t *)"c", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = ts;
    assert_int_equal(rill_send(w->clicks, kb.data, kb.len, vb.data, vb.len, &o), RILL_OK);
    int want = w->handled + 1;
    RUN_UNTIL(base, w->handled >= want, 3000);
    assert_int_equal(w->handled, want);
}

static int64_t window_value(wapp_t *w, const char *key, int64_t start) {
    int64_t v = -1;
    assert_int_equal(rill_table_get_window(w->t, NULL, key, strlen(key), start, &v),
                     RILL_OK);
    return v;
}

static rill_table_stats_t stats(wapp_t *w) {
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w->t, &st), RILL_OK);
    return st;
}

static void a_late_event_within_grace_still_counts(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    start(&w, base, 2000);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "b", T0 + 11999); /* past the end, within grace */
    click(&w, base, "a", T0 + 500);
    assert_int_equal(window_value(&w, "a", T0), 2);
    assert_int_equal(stats(&w).late_dropped, 0);
    assert_int_equal(w.late, 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_late_event_past_grace_is_dropped_counted_and_reported(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    start(&w, base, 2000);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "b", T0 + 12000); /* grace of [T0, T0+10s) over */
    click(&w, base, "a", T0 + 600);
    assert_int_equal(window_value(&w, "a", T0), 1);
    assert_int_equal(stats(&w).late_dropped, 1);
    assert_int_equal(w.late, 1);
    assert_int_equal(w.late_start, T0);
    assert_int_equal(w.late_ts, T0 + 600);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void no_grace_closes_a_window_at_its_end(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    start(&w, base, RILL_WINDOW_NO_GRACE);
    click(&w, base, "b", T0 + 10000);
    click(&w, base, "a", T0 + 9999);
    assert_int_equal(window_value(&w, "a", T0), 0);
    assert_int_equal(stats(&w).late_dropped, 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_far_future_timestamp_is_counted_and_moves_no_window(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    start(&w, base, 2000);
    click(&w, base, "a", rill_now_ms() + 3LL * 24 * 3600 * 1000);
    click(&w, base, "a", T0 + 100); /* stream time was not moved: still counts */
    assert_int_equal(stats(&w).bad_timestamps, 1);
    assert_int_equal(stats(&w).late_dropped, 0);
    assert_int_equal(window_value(&w, "a", T0), 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void grace_on_a_table_without_windows_is_refused(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://grace-def", e, sizeof e);
    rill_app_t *app = rill_app_new("grace", c, e, sizeof e);
    assert_non_null(app);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .window_grace_ms = 5};
    assert_null(rill_app_table(app, "plain", &o));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_late_event_within_grace_still_counts),
        cmocka_unit_test(a_late_event_past_grace_is_dropped_counted_and_reported),
        cmocka_unit_test(no_grace_closes_a_window_at_its_end),
        cmocka_unit_test(a_far_future_timestamp_is_counted_and_moves_no_window),
        cmocka_unit_test(grace_on_a_table_without_windows_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
