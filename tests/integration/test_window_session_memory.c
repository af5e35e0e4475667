/* Session windows on memory://: a key's events less than the gap apart are one
 * session, a late event that bridges two sessions merges them with their summed
 * value, emit=final emits each session once when it closes (also across a
 * restart), and bad gaps are refused. */
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
static const int64_t T0 = 1700000000000;
#define GAP 5000

typedef struct sess {
    char key[16];
    int64_t start, end, value;
} sess_t;

typedef struct sapp {
    rill_app_t *app;
    rill_topic_t *clicks;
    rill_table_t *t;
    int handled, nemit, nseen;
    sess_t emit[32], seen[32];
} sapp_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    sapp_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    assert_int_equal(rill_table_incr(w->t, ev, k, len, 1, NULL), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void on_emit(rill_table_t *t, const void *key, size_t klen, int64_t ws, int64_t we,
                    const void *value, void *opaque) {
    (void)t;
    sapp_t *w = opaque;
    assert_true(w->nemit < 32);
    sess_t *e = &w->emit[w->nemit++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->end = we;
    e->value = *(const int64_t *)value;
}

static void start(sapp_t *w, struct event_base *base, bool final, int64_t grace) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "20", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("sessions", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 1};
    w->clicks = rill_app_topic(w->app, "clicks", &to);
    rill_table_opts_t o = {
        .value_type = &rill_type_int64, .source = w->clicks, .window_grace_ms = grace};
    if (final) {
        o.window_emit = RILL_EMIT_FINAL;
        o.on_emit = on_emit;
        o.on_emit_opaque = w;
    }
    rill_table_opts_session(&o, GAP, 3600000);
    assert_non_null(w->t = rill_app_table(w->app, "visits", &o));
    assert_non_null(rill_app_agent(w->app, "count", w->clicks, count_click, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void click(sapp_t *w, struct event_base *base, const char *key, int64_t ts) {
    rill_bytes_t kb = {(uint8_t *)key, strlen(key)}, vb = {(uint8_t *)"c", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = ts;
    assert_int_equal(rill_send(w->clicks, kb.data, kb.len, vb.data, vb.len, &o), RILL_OK);
    int want = w->handled + 1;
    RUN_UNTIL(base, w->handled >= want, 3000);
    assert_int_equal(w->handled, want);
}

static int visit(const void *key, size_t klen, int64_t ws, const void *value,
                 void *opaque) {
    sapp_t *w = opaque;
    assert_true(w->nseen < 32);
    sess_t *e = &w->seen[w->nseen++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->value = *(const int64_t *)value;
    return 0;
}

static void sessions_of(sapp_t *w) {
    w->nseen = 0;
    assert_int_equal(rill_table_foreach(w->t, visit, w), RILL_OK);
}

static int64_t session_value(sapp_t *w, const char *key, int64_t start) {
    int64_t v = -1;
    assert_int_equal(rill_table_get_window(w->t, NULL, key, strlen(key), start, &v),
                     RILL_OK);
    return v;
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://session-test-%u", ++seq);
    return 0;
}

static void events_within_the_gap_are_one_session(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 10000);
    click(&w, base, "a", T0);
    click(&w, base, "a", T0 + 3000);
    click(&w, base, "a", T0 + 7000); /* 4 s after the last: same session */
    click(&w, base, "b", T0 + 1000);
    click(&w, base, "a", T0 + 20000); /* 13 s later: a new one */
    sessions_of(&w);
    assert_int_equal(w.nseen, 3);
    assert_int_equal(session_value(&w, "a", T0), 3);
    assert_int_equal(session_value(&w, "a", T0 + 20000), 1);
    assert_int_equal(session_value(&w, "b", T0 + 1000), 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_late_event_bridging_two_sessions_merges_them(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 10000);
    click(&w, base, "a", T0);         /* [T0, T0+5s) */
    click(&w, base, "a", T0 + 1000);  /* [T0, T0+6s): 2 */
    click(&w, base, "a", T0 + 9000);  /* [T0+9s, T0+14s): 1 */
    click(&w, base, "a", T0 + 10000); /* [T0+9s, T0+15s): 2 */
    sessions_of(&w);
    assert_int_equal(w.nseen, 2);
    click(&w, base, "a", T0 + 5000); /* [T0+5s, T0+10s) overlaps both (in grace) */
    sessions_of(&w);
    assert_int_equal(w.nseen, 1);
    assert_int_equal(w.seen[0].start, T0);
    assert_int_equal(w.seen[0].value, 5);
    assert_int_equal(session_value(&w, "a", T0 + 9000), 0); /* merged away */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void emit_final_emits_a_session_once_it_closes_also_after_a_restart(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, true, 1000);
    click(&w, base, "a", T0);
    click(&w, base, "a", T0 + 2000); /* [T0, T0+7s) */
    click(&w, base, "b", T0 + 7500); /* stream time 7.5 s: a's closes at 8 s */
    RUN_UNTIL(base, false, 100);
    assert_int_equal(w.nemit, 0);
    click(&w, base, "b", T0 + 8000);
    RUN_UNTIL(base, w.nemit >= 1, 3000); /* at the next commit */
    assert_int_equal(w.nemit, 1);
    assert_string_equal(w.emit[0].key, "a");
    assert_int_equal(w.emit[0].start, T0);
    assert_int_equal(w.emit[0].end, T0 + 7000);
    assert_int_equal(w.emit[0].value, 2);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);

    sapp_t again = {0}; /* b's session [T0+7.5s, T0+13s) is still open */
    start(&again, base, true, 1000);
    click(&again, base, "b", T0 + 9000);
    RUN_UNTIL(base, false, 100);
    assert_int_equal(again.nemit, 0); /* a's is not emitted again */
    click(&again, base, "c", T0 + 15000);
    RUN_UNTIL(base, again.nemit >= 1, 3000);
    RUN_UNTIL(base, false, 60);
    assert_int_equal(again.nemit, 1);
    assert_string_equal(again.emit[0].key, "b");
    assert_int_equal(again.emit[0].start, T0 + 7500);
    assert_int_equal(again.emit[0].value, 3);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void a_zero_or_negative_gap_is_refused(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://session-def", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    rill_app_t *app = rill_app_new("sessions", c, e, sizeof e);
    assert_non_null(app);
    rill_table_opts_t o = {.value_type = &rill_type_int64};
    rill_table_opts_session(&o, 0, 1000);
    assert_null(rill_app_table(app, "zero", &o));
    assert_non_null(strstr(rill_app_errmsg(app), "window_gap_ms > 0 (got 0)"));
    rill_app_destroy(app);
    c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://session-def", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    app = rill_app_new("sessions", c, e, sizeof e);
    rill_table_opts_t n = {.value_type = &rill_type_int64};
    rill_table_opts_session(&n, -5, 1000);
    assert_null(rill_app_table(app, "negative", &n));
    assert_non_null(strstr(rill_app_errmsg(app), "(got -5)"));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(events_within_the_gap_are_one_session, setup),
        cmocka_unit_test_setup(a_late_event_bridging_two_sessions_merges_them, setup),
        cmocka_unit_test_setup(
            emit_final_emits_a_session_once_it_closes_also_after_a_restart, setup),
        cmocka_unit_test(a_zero_or_negative_gap_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
