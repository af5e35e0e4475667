/* Windowed tables on memory://: windows close on stream time (and on the wall
 * clock for idle partitions), emit=update and emit=final to a callback or a topic,
 * and a closed window is emitted once, also across a restart in the middle of an
 * open window. */
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
static const int64_t T0 = 1700000000000; /* a multiple of 10 s */

typedef struct emitted {
    char key[16];
    int64_t start, end, value;
} emitted_t;

typedef struct wapp {
    rill_app_t *app;
    rill_topic_t *clicks, *out;
    rill_table_t *t;
    int handled, nemit, nout;
    emitted_t emit[64];
    emitted_t out_rec[64];
} wapp_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    wapp_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    assert_int_equal(rill_table_incr(w->t, ev, k, len, 1, NULL), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void on_emit(rill_table_t *t, const void *key, size_t klen, int64_t ws, int64_t we,
                    const void *value, void *opaque) {
    (void)t;
    wapp_t *w = opaque;
    assert_true(w->nemit < 64);
    emitted_t *e = &w->emit[w->nemit++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->end = we;
    e->value = *(const int64_t *)value;
}

static rill_err_t on_out(rill_event_t *ev, void *opaque) {
    wapp_t *w = opaque;
    assert_true(w->nout < 64);
    emitted_t *e = &w->out_rec[w->nout++];
    size_t len, hl;
    const char *k = rill_event_key_bytes(ev, &len);
    snprintf(e->key, sizeof e->key, "%.*s", (int)len, k);
    e->value = *(const int64_t *)rill_event_value(ev);
    const char *h = rill_event_header(ev, "rill-window-start", &hl);
    assert_non_null(h);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)hl, h);
    e->start = strtoll(buf, NULL, 10);
    e->end = rill_event_timestamp(ev) + 1;
    return RILL_OK;
}

typedef struct wopts {
    rill_window_emit_t emit;
    bool to_topic;
    int64_t idle_ms, size_ms, grace_ms;
} wopts_t;

static void start(wapp_t *w, struct event_base *base, const wopts_t *wo) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("emit", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 1};
    w->clicks = rill_app_topic(w->app, "clicks", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64,
                           .source = w->clicks,
                           .window_grace_ms = wo->grace_ms ? wo->grace_ms : 2000,
                           .window_emit = wo->emit,
                           .window_idle_ms = wo->idle_ms};
    if (wo->to_topic) {
        rill_topic_opts_t oo = {.partitions = 1, .value_type = &rill_type_int64};
        assert_non_null(w->out = rill_app_topic(w->app, "per_10s_final", &oo));
        o.emit_topic = w->out;
        assert_non_null(rill_app_agent(w->app, "out", w->out, on_out, w, NULL));
    } else {
        o.on_emit = on_emit;
        o.on_emit_opaque = w;
    }
    rill_table_opts_tumbling(&o, wo->size_ms ? wo->size_ms : 10000, 3600000);
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

static void assert_emitted(const emitted_t *e, const char *key, int64_t start,
                           int64_t value) {
    assert_string_equal(e->key, key);
    assert_int_equal(e->start, start);
    assert_int_equal(e->end, start + 10000);
    assert_int_equal(e->value, value);
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://emit-test-%u", ++seq);
    return 0;
}

static void emit_final_emits_each_window_once_when_stream_time_closes_it(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wopts_t wo = {.emit = RILL_EMIT_FINAL};
    start(&w, base, &wo);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "a", T0 + 200);
    click(&w, base, "b", T0 + 5000);
    click(&w, base, "b", T0 + 11000); /* window over, within its grace: nothing yet */
    RUN_UNTIL(base, false, 150);      /* commits pass: still nothing */
    assert_int_equal(w.nemit, 0);
    click(&w, base, "c", T0 + 12000); /* end + grace: [T0, T0+10s) closes */
    assert_int_equal(w.nemit, 2);
    assert_emitted(&w.emit[0], "a", T0, 2);
    assert_emitted(&w.emit[1], "b", T0, 1);
    click(&w, base, "a", T0 + 300); /* late: dropped, nothing emitted again */
    click(&w, base, "c", T0 + 19000);
    RUN_UNTIL(base, false, 150);
    assert_int_equal(w.nemit, 2);
    click(&w, base, "c", T0 + 22000); /* closes [T0+10s, T0+20s) */
    assert_int_equal(w.nemit, 4);
    assert_emitted(&w.emit[2], "b", T0 + 10000, 1);
    assert_emitted(&w.emit[3], "c", T0 + 10000, 2);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void emit_update_emits_every_change(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wopts_t wo = {.emit = RILL_EMIT_UPDATE};
    start(&w, base, &wo);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "a", T0 + 200);
    click(&w, base, "a", T0 + 10100);
    assert_int_equal(w.nemit, 3);
    assert_emitted(&w.emit[0], "a", T0, 1);
    assert_emitted(&w.emit[1], "a", T0, 2);
    assert_emitted(&w.emit[2], "a", T0 + 10000, 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void emit_final_to_a_topic_sends_one_record_per_window(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wopts_t wo = {.emit = RILL_EMIT_FINAL, .to_topic = true};
    start(&w, base, &wo);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "a", T0 + 200);
    click(&w, base, "a", T0 + 300);
    click(&w, base, "z", T0 + 12000);
    RUN_UNTIL(base, w.nout >= 1, 3000);
    RUN_UNTIL(base, false, 100);
    assert_int_equal(w.nout, 1);
    assert_emitted(&w.out_rec[0], "a", T0, 3);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void an_idle_stream_closes_its_windows_on_the_wall_clock(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wopts_t wo = {.emit = RILL_EMIT_FINAL,
                  .idle_ms = 100,
                  .size_ms = 10000,
                  .grace_ms = RILL_WINDOW_NO_GRACE};
    start(&w, base, &wo);
    /* 9.8 s into a window: 200 ms of wall clock after the idle period close it */
    int64_t now = rill_now_ms();
    int64_t ws = now / 10000 * 10000;
    click(&w, base, "a", ws + 9800);
    assert_int_equal(w.nemit, 0);
    RUN_UNTIL(base, w.nemit >= 1, 5000); /* no more events */
    assert_int_equal(w.nemit, 1);
    assert_emitted(&w.emit[0], "a", ws, 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_restart_in_an_open_window_emits_each_window_once(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wopts_t wo = {.emit = RILL_EMIT_FINAL};
    start(&w, base, &wo);
    click(&w, base, "a", T0 + 100);
    click(&w, base, "a", T0 + 12000); /* closes [T0, T0+10s): a=1 */
    click(&w, base, "b", T0 + 13000); /* [T0+10s, T0+20s) is open: a=1, b=1 */
    assert_int_equal(w.nemit, 1);
    assert_emitted(&w.emit[0], "a", T0, 1);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);

    wapp_t again = {0}; /* a new memory store: recovers from the changelog */
    start(&again, base, &wo);
    click(&again, base, "a", T0 + 500);   /* late for the closed window: dropped */
    click(&again, base, "b", T0 + 15000); /* the open window goes on: b=2 */
    assert_int_equal(again.nemit, 0);     /* [T0, T0+10s) is not emitted again */
    click(&again, base, "c", T0 + 22000); /* closes [T0+10s, T0+20s) */
    assert_int_equal(again.nemit, 2);
    assert_emitted(&again.emit[0], "a", T0 + 10000, 1);
    assert_emitted(&again.emit[1], "b", T0 + 10000, 2);
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(again.t, &st), RILL_OK);
    assert_int_equal(st.late_dropped, 1);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static rill_app_t *def_app(void) {
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://emit-def", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    rill_app_t *app = rill_app_new("emit", c, e, sizeof e);
    assert_non_null(app);
    return app;
}

static void emit_final_without_a_target_is_refused(void **state) {
    (void)state;
    rill_app_t *app = def_app();
    rill_table_opts_t o = {.value_type = &rill_type_int64,
                           .window_emit = RILL_EMIT_FINAL};
    rill_table_opts_tumbling(&o, 1000, 1000);
    assert_null(rill_app_table(app, "t", &o));
    assert_non_null(strstr(rill_app_errmsg(app), "needs on_emit or emit_topic"));
    rill_app_destroy(app);
}

static void emit_options_on_a_plain_table_are_refused(void **state) {
    (void)state;
    rill_app_t *app = def_app();
    rill_table_opts_t o = {.value_type = &rill_type_int64, .window_idle_ms = 100};
    assert_null(rill_app_table(app, "t", &o));
    assert_non_null(strstr(rill_app_errmsg(app), "need a windowed table"));
    rill_app_destroy(app);
}

static void a_negative_idle_time_is_refused(void **state) {
    (void)state;
    rill_app_t *app = def_app();
    rill_table_opts_t o = {.value_type = &rill_type_int64, .window_idle_ms = -5};
    rill_table_opts_tumbling(&o, 1000, 1000);
    assert_null(rill_app_table(app, "t", &o));
    assert_non_null(strstr(rill_app_errmsg(app), "window_idle_ms must be >= 0"));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            emit_final_emits_each_window_once_when_stream_time_closes_it, setup),
        cmocka_unit_test_setup(emit_update_emits_every_change, setup),
        cmocka_unit_test_setup(emit_final_to_a_topic_sends_one_record_per_window, setup),
        cmocka_unit_test_setup(an_idle_stream_closes_its_windows_on_the_wall_clock,
                               setup),
        cmocka_unit_test_setup(a_restart_in_an_open_window_emits_each_window_once, setup),
        cmocka_unit_test(emit_final_without_a_target_is_refused),
        cmocka_unit_test(emit_options_on_a_plain_table_are_refused),
        cmocka_unit_test(a_negative_idle_time_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
