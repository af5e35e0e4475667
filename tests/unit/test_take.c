/* take() and the event/ack path without a transport (issue 12, item 5): a batch
 * is delivered when n events are held or when the window passes; a lost
 * partition's batched events are dropped and never acked; completions out of
 * order commit only below the first unfinished event; a completion from before
 * the partition was lost (a stale generation) counts nowhere.  The app, topic,
 * partitions and agent are the core's own structs, filled as the core fills them
 * (no app is started, no transport opened). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "event_int.h"

typedef struct fixture {
    rill_app_t app;
    rill_topic_t topic;
    rill_tpstate_t tp[2];
    rill_agent_t agent;
    int batches;                 /* batch_fn calls */
    size_t last_n;               /* events in the last batch */
    int64_t last_offsets[16];    /* their offsets */
    int32_t last_partitions[16]; /* their partitions */
} fixture_t;

static rill_err_t on_batch(rill_event_t *const *evs, size_t n, void *opaque) {
    fixture_t *f = opaque;
    f->batches++;
    f->last_n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        f->last_offsets[i] = rill_event_offset(evs[i]);
        f->last_partitions[i] = rill_event_partition(evs[i]);
    }
    return RILL_OK;
}

static fixture_t *fixture_new(size_t take_n, double within) {
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->app.base = event_base_new();
    f->app.state = RILL_APP_RUNNING;
    f->topic.app = &f->app;
    f->topic.name = "orders";
    for (int p = 0; p < 2; p++) {
        f->tp[p].topic = &f->topic;
        f->tp[p].partition = p;
        f->tp[p].assigned = true;
        f->tp[p].gen = 1;
        rill__acks_init(&f->tp[p].acks);
    }
    f->agent.app = &f->app;
    f->agent.name = "batcher";
    f->agent.topic = &f->topic;
    f->agent.batch_fn = on_batch;
    f->agent.opaque = f;
    f->agent.take_n = take_n;
    f->agent.take_within = within;
    f->agent.concurrency = 1;
    f->agent.batch = calloc(take_n, sizeof *f->agent.batch);
    f->app.agents = &f->agent;
    return f;
}

static void fixture_free(fixture_t *f) {
    if (f->agent.take_ev) event_free(f->agent.take_ev);
    free(f->agent.batch);
    rill__events_free(&f->app);
    for (int p = 0; p < 2; p++)
        rill__acks_free(&f->tp[p].acks);
    event_base_free(f->app.base);
    free(f);
}

/* An event of partition @p p at @p offset, received as the dispatcher does: its
 * offset entered in the ack tracker with one agent to finish it. */
static rill_event_t *receive(fixture_t *f, int p, int64_t offset) {
    rill_event_t *ev = rill__event_get(&f->app);
    assert_non_null(ev);
    ev->app = &f->app;
    ev->agent = &f->agent;
    ev->tp = &f->tp[p];
    ev->gen = f->tp[p].gen;
    ev->msg = (rill_msg_t){.topic = "orders", .partition = p, .offset = offset};
    rill__acks_add(&f->tp[p].acks, offset, 1);
    return ev;
}

static void take_delivers_a_batch_when_n_events_are_held(void **state) {
    (void)state;
    fixture_t *f = fixture_new(3, 3600); /* the window never passes in this test */
    for (int64_t o = 0; o < 3; o++)
        rill__take_add(receive(f, 0, o));
    assert_int_equal(f->batches, 0); /* delivered from the loop, not inside add */
    assert_int_equal(f->tp[0].inflight, 3);
    event_base_loop(f->app.base, EVLOOP_NONBLOCK);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->last_n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->last_offsets[i], i);
    assert_int_equal(f->tp[0].inflight, 0);
    assert_int_equal(f->tp[0].acks.acked, 3); /* all three committable */
    assert_int_equal(f->agent.processed, 3);
    fixture_free(f);
}

static void take_delivers_a_partial_batch_when_the_window_passes(void **state) {
    (void)state;
    fixture_t *f = fixture_new(100, 0.01);
    rill__take_add(receive(f, 0, 0));
    rill__take_add(receive(f, 0, 1));
    assert_int_equal(f->batches, 0);
    event_base_loop(f->app.base, EVLOOP_ONCE); /* waits for the window's timer */
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->last_n, 2);
    assert_int_equal(f->tp[0].acks.acked, 2);
    fixture_free(f);
}

static void a_lost_partitions_batched_events_are_dropped_unacked(void **state) {
    (void)state;
    fixture_t *f = fixture_new(4, 3600);
    rill__take_add(receive(f, 0, 0));
    rill__take_add(receive(f, 1, 0));
    rill__take_add(receive(f, 0, 1));
    f->tp[0].gen++; /* lost, as consumer.c does it */
    rill__take_drop(&f->app, &f->tp[0]);
    assert_int_equal(f->agent.nbatch, 1);
    assert_int_equal(f->tp[0].inflight, 0);
    rill__take_add(receive(f, 1, 1));
    rill__take_flush_all(&f->app);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->last_n, 2);
    assert_int_equal(f->last_partitions[0], 1);
    assert_int_equal(f->last_partitions[1], 1);
    assert_int_equal(f->tp[1].acks.acked, 2);
    assert_int_equal(f->tp[0].acks.acked, 0); /* nothing of the lost one is done */
    assert_int_equal(f->app.inflight_total, 0);
    fixture_free(f);
}

/* Pending events (a handler returned RILL_PENDING) acked in another order. */
static void out_of_order_acks_commit_only_below_the_first_unacked(void **state) {
    (void)state;
    fixture_t *f = fixture_new(1, 3600);
    rill_event_t *ev[3];
    for (int o = 0; o < 3; o++) {
        ev[o] = receive(f, 0, o);
        assert_int_equal(rill__event_own(ev[o]), RILL_OK);
        rill__event_hold(ev[o]);
    }
    rill_event_ack(ev[2], RILL_OK);
    rill_event_ack(ev[1], RILL_OK);
    assert_int_equal(f->tp[0].acks.acked, 0); /* offset 0 is still in flight */
    rill_event_ack(ev[0], RILL_OK);
    assert_int_equal(f->tp[0].acks.acked, 3);
    assert_int_equal(f->agent.processed, 3);
    assert_int_equal(f->tp[0].inflight, 0);
    fixture_free(f);
}

static void an_ack_from_before_the_partition_was_lost_is_ignored(void **state) {
    (void)state;
    fixture_t *f = fixture_new(1, 3600);
    rill_event_t *old = receive(f, 0, 0);
    assert_int_equal(rill__event_own(old), RILL_OK);
    rill__event_hold(old);
    /* lost and assigned again: a new generation starts from the commit */
    f->tp[0].gen++;
    rill__acks_reset(&f->tp[0].acks);
    rill_event_t *now = receive(f, 0, 0);
    assert_int_equal(rill__event_own(now), RILL_OK);
    rill__event_hold(now);
    rill_event_ack(old, RILL_EHANDLER); /* stale: neither an error nor a done offset */
    assert_int_equal(f->agent.errors, 0);
    assert_int_equal(f->agent.processed, 0);
    assert_int_equal(f->tp[0].acks.acked, 0); /* the new event at 0 still holds it */
    assert_int_equal(f->tp[0].inflight, 1);
    rill_event_ack(now, RILL_OK);
    assert_int_equal(f->agent.processed, 1);
    assert_int_equal(f->tp[0].acks.acked, 1);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(take_delivers_a_batch_when_n_events_are_held),
        cmocka_unit_test(take_delivers_a_partial_batch_when_the_window_passes),
        cmocka_unit_test(a_lost_partitions_batched_events_are_dropped_unacked),
        cmocka_unit_test(out_of_order_acks_commit_only_below_the_first_unacked),
        cmocka_unit_test(an_ack_from_before_the_partition_was_lost_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
