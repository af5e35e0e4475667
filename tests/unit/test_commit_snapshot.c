/* The commit snapshot (core/commit.c), without a transport: it holds the acked
 * offset of every assigned partition acked past its last commit, and nothing else;
 * once recorded as committed, the next snapshot starts from there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "commit_int.h"

/* An app with topic "t" of @p n partitions, as declare would leave it. */
static rill_app_t *app_with_parts(rill_topic_t **out, int32_t n) {
    char err[256];
    rill_app_t *app = rill_app_new("snap", NULL, err, sizeof err);
    assert_non_null(app);
    rill_topic_t *t = rill_app_topic(app, "t", &(rill_topic_opts_t){.partitions = n});
    assert_non_null(t);
    t->partitions = n;
    t->parts = calloc((size_t)n, sizeof *t->parts);
    assert_non_null(t->parts);
    for (int32_t p = 0; p < n; p++) {
        t->parts[p].topic = t;
        t->parts[p].partition = p;
        t->parts[p].committed = -1;
        rill__acks_init(&t->parts[p].acks);
    }
    *out = t;
    return app;
}

/* @p p assigned, events 0..acked-1 received and done */
static void acked_up_to(rill_topic_t *t, int32_t p, int64_t acked) {
    t->parts[p].assigned = true;
    for (int64_t o = 0; o < acked; o++)
        assert_int_equal(rill__acks_add(&t->parts[p].acks, o, 0), 0);
    assert_int_equal(t->parts[p].acks.acked, acked);
}

static void only_assigned_partitions_acked_past_their_commit_are_taken(void **state) {
    (void)state;
    rill_topic_t *t;
    rill_app_t *app = app_with_parts(&t, 4);
    acked_up_to(t, 0, 5);
    acked_up_to(t, 1, 3);
    t->parts[1].committed = 3;               /* nothing new since its commit */
    t->parts[2].assigned = true;             /* nothing acked yet */
    rill__acks_add(&t->parts[3].acks, 0, 0); /* acked, but not ours */
    rill__commit_snap_acked(app);
    assert_int_equal(app->ncommit_snap, 1);
    assert_string_equal(app->commit_snap[0].topic, "t");
    assert_int_equal(app->commit_snap[0].partition, 0);
    assert_int_equal(app->commit_snap[0].offset, 5);
    rill_app_destroy(app);
}

static void an_event_in_flight_holds_the_snapshot_below_it(void **state) {
    (void)state;
    rill_topic_t *t;
    rill_app_t *app = app_with_parts(&t, 1);
    t->parts[0].assigned = true;
    rill__acks_add(&t->parts[0].acks, 0, 0);
    rill__acks_add(&t->parts[0].acks, 1, 1); /* in flight */
    rill__acks_add(&t->parts[0].acks, 2, 0);
    rill__commit_snap_acked(app);
    assert_int_equal(app->ncommit_snap, 1);
    assert_int_equal(app->commit_snap[0].offset, 1); /* not past offset 1 */
    rill_app_destroy(app);
}

static void recorded_as_committed_the_next_snapshot_starts_there(void **state) {
    (void)state;
    rill_topic_t *t;
    rill_app_t *app = app_with_parts(&t, 2);
    acked_up_to(t, 0, 4);
    acked_up_to(t, 1, 2);
    rill__commit_snap_acked(app);
    assert_int_equal(app->ncommit_snap, 2);
    rill__commit_snap_done(app);
    assert_int_equal(t->parts[0].committed, 4);
    assert_int_equal(t->parts[1].committed, 2);
    rill__commit_snap_acked(app);
    assert_int_equal(app->ncommit_snap, 0);
    rill__acks_add(&t->parts[1].acks, 2, 0);
    rill__commit_snap_acked(app);
    assert_int_equal(app->ncommit_snap, 1);
    assert_int_equal(app->commit_snap[0].offset, 3);
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_assigned_partitions_acked_past_their_commit_are_taken),
        cmocka_unit_test(an_event_in_flight_holds_the_snapshot_below_it),
        cmocka_unit_test(recorded_as_committed_the_next_snapshot_starts_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
