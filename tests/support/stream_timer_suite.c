/* Timers on stream time on any transport (issue 14, item 7): a stream timer fires when
 * a partition's stream time crosses a multiple of its interval (once per advance),
 * never on the wall clock alone, not for older events, per partition, in the
 * partition's context (a table write in the callback lands there), and carries on
 * from the last boundary after a restart.
 * The suite of tests/support/stream_timer_suite.h: test_stream_timer_memory.c,
 * test_stream_timer_redis.c and test_stream_timer_kafka.c run it; the tests of memory://
 * only with memory_transport. */
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

#include "stream_timer_suite.h"
#include "run_until.h"

static const rill_stream_timer_suite_t *suite;

#define T0 1700000000000LL /* a fixed event-time origin, a multiple of 1000 */

#define WAIT_MS (suite->wait_ms ? suite->wait_ms : 3000)
#define ST_COMMIT_MS (suite->commit_ms ? suite->commit_ms : 150)
#define ST_SETTLE_MS (suite->settle_ms ? suite->settle_ms : 0)

static unsigned seq;
static char broker[128];

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    return 0;
}

typedef struct fire {
    int32_t partition;
    int64_t boundary, ts; /* relative to T0 */
} fire_t;

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *ticks;
    rill_table_t *counts;
    const char *count_key; /* written by the callback, read by the handler */
    fire_t fires[64];
    int nfires;
    int handled;
    int64_t seen[8]; /* per partition: counts[count_key] the handler last read */
} worker_t;

static rill_err_t on_boundary(const rill_event_t *ev, int64_t boundary, void *opaque) {
    worker_t *w = opaque;
    if (w->nfires < 64)
        w->fires[w->nfires++] = (fire_t){rill_event_partition(ev), boundary - T0,
                                         rill_event_timestamp(ev) - T0};
    if (w->count_key)
        return rill_table_incr(w->counts, ev, w->count_key, strlen(w->count_key), 1,
                               NULL);
    return RILL_OK;
}

static rill_err_t on_tick(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    int32_t p = rill_event_partition(ev);
    if (w->count_key && p < 8) {
        rill_err_t rc = rill_table_get(w->counts, ev, w->count_key, strlen(w->count_key),
                                       &w->seen[p]);
        if (rc != RILL_OK) return rc;
    }
    w->handled++;
    return RILL_OK;
}

static void start(worker_t *w, struct event_base *base, int32_t partitions,
                  int64_t interval_ms) {
    rill_conf_t *c = rill_conf_new();
    char e[256];
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_conf_set(c, "commit.interval.ms", "50", e, sizeof e);
    if (suite->conf) suite->conf(c);
    if (!getenv("RILL_LOG_LEVEL")) rill_conf_set(c, "log.level", "error", e, sizeof e);
    char id[32], tn[32]; /* one group and topic per test (a shared broker) */
    snprintf(id, sizeof id, "st%u", seq);
    snprintf(tn, sizeof tn, "ticks-%u", seq);
    w->app = rill_app_new_with_base(id, c, base, e, sizeof e);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = partitions};
    w->ticks = rill_app_topic(w->app, tn, &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->ticks};
    w->counts = rill_app_table(w->app, "counts", &o);
    rill_agent_t *a = rill_app_agent(w->app, "tick", w->ticks, on_tick, w, NULL);
    assert_non_null(
        rill_app_stream_timer(w->app, "every", a, interval_ms, on_boundary, w));
    char err[512];
    assert_int_equal(rill_app_start(w->app, err, sizeof err), RILL_OK);
    RUN_UNTIL(base, rill_app_is_ready(w->app), WAIT_MS);
    assert_true(rill_app_is_ready(w->app));
    if (ST_SETTLE_MS) RUN_UNTIL(base, false, ST_SETTLE_MS);
}

/* Send an event at T0 + @p ms to partition @p p and wait until it is handled. */
static void tick_at(worker_t *w, struct event_base *base, int32_t p, int64_t ms) {
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = p;
    o.timestamp_ms = T0 + ms;
    int before = w->handled;
    assert_int_equal(rill_send(w->ticks, "k", 1, "t", 1, &o), RILL_OK);
    RUN_UNTIL(base, w->handled > before, WAIT_MS);
    assert_int_equal(w->handled, before + 1);
}

static void it_fires_once_per_advance_past_each_boundary(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 1, 1000);
    tick_at(&w, base, 0, 100); /* starts stream time */
    tick_at(&w, base, 0, 500);
    tick_at(&w, base, 0, 999);
    assert_int_equal(w.nfires, 0);
    tick_at(&w, base, 0, 1000); /* reaches 1000 */
    assert_int_equal(w.nfires, 1);
    assert_int_equal(w.fires[0].boundary, 1000);
    assert_int_equal(w.fires[0].ts, 1000);
    tick_at(&w, base, 0, 1500);
    tick_at(&w, base, 0, 3200); /* passes 2000 and 3000: fires once, with 3000 */
    assert_int_equal(w.nfires, 2);
    assert_int_equal(w.fires[1].boundary, 3000);
    assert_int_equal(w.fires[1].ts, 3200);
    tick_at(&w, base, 0, 4100);
    assert_int_equal(w.nfires, 3);
    assert_int_equal(w.fires[2].boundary, 4000);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void wall_clock_time_without_events_does_not_fire(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 1, 50); /* 50 ms of stream time */
    tick_at(&w, base, 0, 10);
    RUN_UNTIL(base, false, 400); /* eight intervals of wall clock, no event */
    assert_int_equal(w.nfires, 0);
    tick_at(&w, base, 0, 60); /* stream time passes 50 */
    assert_int_equal(w.nfires, 1);
    assert_int_equal(w.fires[0].boundary, 50);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void older_events_do_not_move_stream_time_back(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 1, 1000);
    tick_at(&w, base, 0, 1500);
    tick_at(&w, base, 0, 2100); /* fires 2000 */
    tick_at(&w, base, 0, 1200); /* older: stream time stays 2100 */
    tick_at(&w, base, 0, 2500); /* were it 1200, this would fire 2000 again */
    tick_at(&w, base, 0, 1900);
    assert_int_equal(w.nfires, 1);
    tick_at(&w, base, 0, 3000);
    assert_int_equal(w.nfires, 2);
    assert_int_equal(w.fires[0].boundary, 2000);
    assert_int_equal(w.fires[1].boundary, 3000);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void each_partition_has_its_own_stream_time(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 2, 1000);
    tick_at(&w, base, 0, 100);
    tick_at(&w, base, 1, 100);
    tick_at(&w, base, 0, 1100); /* partition 0 passes 1000 */
    assert_int_equal(w.nfires, 1);
    assert_int_equal(w.fires[0].partition, 0);
    tick_at(&w, base, 1, 900); /* partition 1 is still before it */
    assert_int_equal(w.nfires, 1);
    tick_at(&w, base, 1, 1200);
    assert_int_equal(w.nfires, 2);
    assert_int_equal(w.fires[1].partition, 1);
    assert_int_equal(w.fires[1].boundary, 1000);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* An event more than a day ahead of the wall clock is ignored: had it moved stream
 * time, the partition's interval would be days ahead and 1100 would not fire. */
static void an_event_far_in_the_future_does_not_move_stream_time(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 1, 1000);
    tick_at(&w, base, 0, 100);
    tick_at(&w, base, 0, rill_now_ms() + 3 * 86400000LL - T0); /* 3 days ahead */
    assert_int_equal(w.nfires, 0);
    tick_at(&w, base, 0, 1100);
    assert_int_equal(w.nfires, 1);
    assert_int_equal(w.fires[0].boundary, 1000);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* The callback's write with its event goes to the event's partition: a handler of
 * that partition reads it back, one of another partition does not see it. */
static void a_table_write_in_the_callback_lands_in_its_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    static char key[16];
    for (int i = 0;; i++) { /* a key that hashes to neither partition 2 nor 3 */
        snprintf(key, sizeof key, "fired%d", i);
        int32_t home = rill_partition_for_key(key, strlen(key), 4);
        if (home != 2 && home != 3) break;
    }
    w.count_key = key;
    start(&w, base, 4, 1000);
    tick_at(&w, base, 2, 100);
    tick_at(&w, base, 3, 100);
    tick_at(&w, base, 2, 1100); /* fires in partition 2, before the handler reads */
    assert_int_equal(w.nfires, 1);
    assert_int_equal(w.seen[2], 1);
    tick_at(&w, base, 3, 200);
    assert_int_equal(w.seen[3], 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* A worker dies after firing 1000; its successor's first event, at 2100, fires
 * 2000: the partition's interval came back from the timer's changelog (a fresh
 * stream time would only start there). */
static void a_restarted_worker_carries_on_from_the_last_boundary(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, 1, 1000);
    tick_at(&w, base, 0, 100);
    tick_at(&w, base, 0, 1100);
    assert_int_equal(w.nfires, 1);
    RUN_UNTIL(base, false, ST_COMMIT_MS); /* a commit */
    rill_app_destroy(w.app);              /* abrupt: no final commit or flush */
    worker_t again = {0};
    start(&again, base, 1, 1000);
    tick_at(&again, base, 0, 2100);
    assert_int_equal(again.nfires, 1);
    assert_int_equal(again.fires[0].boundary, 2000);
    tick_at(&again, base, 0, 2500);
    assert_int_equal(again.nfires, 1);
    rill_app_destroy(again.app);
    event_base_free(base);
}

/* memory_transport: the tests of memory:// only */
static void a_bad_interval_is_a_definition_error(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_app_t *app = rill_app_new("st-def", c, e, sizeof e);
    assert_non_null(app);
    rill_topic_t *t = rill_app_topic(app, "ticks", NULL);
    worker_t w = {0};
    rill_agent_t *a = rill_app_agent(app, "tick", t, on_tick, &w, NULL);
    assert_null(rill_app_stream_timer(app, "every", a, 0, on_boundary, &w));
    assert_non_null(strstr(rill_app_errmsg(app), "interval_ms > 0"));
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    assert_non_null(strstr(err, "stream timer 'every'"));
    rill_app_destroy(app);
}

static void an_agent_of_a_channel_is_refused(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_app_t *app = rill_app_new("st-chan", c, e, sizeof e);
    assert_non_null(app);
    rill_topic_t *ch = rill_app_channel(app, "inproc", NULL);
    worker_t w = {0};
    rill_agent_t *a = rill_app_agent(app, "tick", ch, on_tick, &w, NULL);
    assert_non_null(a);
    assert_null(rill_app_stream_timer(app, "every", a, 1000, on_boundary, &w));
    assert_non_null(strstr(rill_app_errmsg(app), "in-process channel"));
    rill_app_destroy(app);
}

int rill_stream_timer_suite_run(const rill_stream_timer_suite_t *s) {
    suite = s;
    const struct {
        struct CMUnitTest test;
        bool memory_only;
    } all[] = {
        {cmocka_unit_test_setup(it_fires_once_per_advance_past_each_boundary, setup),
         false},
        {cmocka_unit_test_setup(wall_clock_time_without_events_does_not_fire, setup),
         false},
        {cmocka_unit_test_setup(older_events_do_not_move_stream_time_back, setup), false},
        {cmocka_unit_test_setup(each_partition_has_its_own_stream_time, setup), false},
        {cmocka_unit_test_setup(an_event_far_in_the_future_does_not_move_stream_time,
                                setup),
         false},
        {cmocka_unit_test_setup(a_table_write_in_the_callback_lands_in_its_partition,
                                setup),
         false},
        {cmocka_unit_test_setup(a_restarted_worker_carries_on_from_the_last_boundary,
                                setup),
         false},
        {cmocka_unit_test_setup(a_bad_interval_is_a_definition_error, setup), true},
        {cmocka_unit_test_setup(an_agent_of_a_channel_is_refused, setup), true},
    };
    enum { N = sizeof all / sizeof all[0] };
    struct CMUnitTest tests[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (s->memory_transport || !all[i].memory_only) tests[n++] = all[i].test;
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
