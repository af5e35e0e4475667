/* Table operations take the event they belong to (issue 12, API item 3): a write
 * made after the handler returned RILL_PENDING, from a later callback, goes to the
 * event's table partition and to the window of the event's time, not to whatever
 * was being handled at that moment or to the wall clock. */
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

#define PARTS 4
#define HOUR_MS 3600000LL

typedef struct fx {
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *in;
    rill_table_t *counts, *hourly;
    rill_event_t *held[8];
    int nheld, acked;
} fx_t;

/* Hold every event: the table writes happen later, in finish_held(). */
static rill_err_t hold(rill_event_t *ev, void *opaque) {
    fx_t *f = opaque;
    f->held[f->nheld++] = ev;
    return RILL_PENDING;
}

static void finish_held(fx_t *f) {
    for (int i = 0; i < f->nheld; i++) {
        rill_event_t *ev = f->held[i];
        rill_err_t rc = rill_table_incr(f->counts, ev, "total", 5, 1, NULL);
        if (rc == RILL_OK) rc = rill_table_incr(f->hourly, ev, "total", 5, 1, NULL);
        rill_event_ack(ev, rc);
        f->acked++;
    }
    f->nheld = 0;
}

static int setup(void **state) {
    static unsigned seq;
    fx_t *f = calloc(1, sizeof *f);
    char err[256], broker[64];
    snprintf(broker, sizeof broker, "memory://tev-%u", ++seq);
    f->base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    f->app = rill_app_new_with_base("tev", c, f->base, err, sizeof err);
    assert_non_null(f->app);
    rill_topic_opts_t to = {.partitions = PARTS};
    f->in = rill_app_topic(f->app, "in", &to);
    rill_table_opts_t co = {.value_type = &rill_type_int64, .source = f->in};
    f->counts = rill_app_table(f->app, "counts", &co);
    rill_table_opts_t ho = {.value_type = &rill_type_int64, .source = f->in};
    rill_table_opts_tumbling(&ho, HOUR_MS, 48 * HOUR_MS);
    f->hourly = rill_app_table(f->app, "hourly", &ho);
    rill_agent_opts_t ao = {.concurrency = 8};
    rill_app_agent(f->app, "hold", f->in, hold, f, &ao);
    if (rill_app_start(f->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    rill_app_destroy(f->app);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* A partition that "total" does not hash to. */
static int32_t other_partition(void) {
    return (rill_partition_for_key("total", 5, PARTS) + 1) % PARTS;
}

static void a_write_after_pending_goes_to_the_events_partition(void **state) {
    fx_t *f = *state;
    int32_t p = other_partition();
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = p;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rill_send(f->in, "k", 1, "v", 1, &o), RILL_OK);
    RUN_UNTIL(f->base, f->nheld == 3, 5000);
    assert_int_equal(f->nheld, 3);
    RUN_UNTIL(f->base, false, 20); /* the handlers have long returned */
    finish_held(f);
    assert_int_equal(f->acked, 3);
    /* counted in the event's partition p (which the worker owns): a lookup of no
     * event goes to the key's murmur2 partition, where nothing was written */
    int64_t v = -1;
    assert_int_equal(rill_table_get(f->counts, NULL, "total", 5, &v), RILL_OK);
    assert_int_equal(v, 0);
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(f->counts, &st), RILL_OK);
    assert_int_equal(st.keys, 1);
}

static void a_write_after_pending_goes_to_the_window_of_the_events_time(void **state) {
    fx_t *f = *state;
    int64_t then = (rill_now_ms() / HOUR_MS - 5) * HOUR_MS + 60000; /* 5 hours ago */
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = then;
    o.partition = rill_partition_for_key("total", 5, PARTS);
    assert_int_equal(rill_send(f->in, "total", 5, "v", 1, &o), RILL_OK);
    RUN_UNTIL(f->base, f->nheld == 1, 5000);
    RUN_UNTIL(f->base, false, 20);
    finish_held(f);
    int64_t in_then = -1, now = -1;
    int64_t start = then - then % HOUR_MS;
    assert_int_equal(rill_table_get_window(f->hourly, NULL, "total", 5, start, &in_then),
                     RILL_OK);
    assert_int_equal(rill_table_get_now(f->hourly, NULL, "total", 5, &now), RILL_OK);
    assert_int_equal(in_then, 1); /* the event's hour, not the wall clock's */
    assert_int_equal(now, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_write_after_pending_goes_to_the_events_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_write_after_pending_goes_to_the_window_of_the_events_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
