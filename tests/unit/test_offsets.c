/* The committable offset never passes an event in flight and never waits for
 * offsets that were never received (gaps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "offsets_int.h"

static void in_order_completion_advances_past_each(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    assert_int_equal(a.acked, -1);
    for (int64_t o = 0; o < 5; o++)
        rill__acks_add(&a, o, 0);
    assert_int_equal(a.acked, 5);
    rill__acks_free(&a);
}

static void out_of_order_acks_never_commit_past_unacked(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    for (int64_t o = 10; o < 14; o++)
        rill__acks_add(&a, o, 1); /* 4 in flight */
    assert_int_equal(a.acked, 10);
    assert_true(rill__acks_done(&a, 13));
    assert_true(rill__acks_done(&a, 12));
    assert_true(rill__acks_done(&a, 11));
    assert_int_equal(a.acked, 10); /* 10 (the slow head) still in flight */
    assert_true(rill__acks_done(&a, 10));
    assert_int_equal(a.acked, 14);
    assert_int_equal(rill__acks_pending(&a), 0);
    rill__acks_free(&a);
}

static void synchronous_events_behind_a_pending_one_wait(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    rill__acks_add(&a, 0, 1);
    rill__acks_add(&a, 1, 0);
    rill__acks_add(&a, 2, 0);
    assert_int_equal(a.acked, 0);
    rill__acks_done(&a, 0);
    assert_int_equal(a.acked, 3);
    rill__acks_free(&a);
}

static void gaps_in_offsets_do_not_block(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    rill__acks_add(&a, 3, 1);
    rill__acks_add(&a, 9, 1); /* compacted away: 4..8 */
    rill__acks_add(&a, 20, 0);
    rill__acks_done(&a, 9);
    assert_int_equal(a.acked, 3);
    rill__acks_done(&a, 3);
    assert_int_equal(a.acked, 21);
    rill__acks_free(&a);
}

static void several_agents_need_every_completion(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    rill__acks_add(&a, 0, 2);
    rill__acks_done(&a, 0);
    assert_int_equal(a.acked, 0);
    rill__acks_done(&a, 0);
    assert_int_equal(a.acked, 1);
    assert_false(rill__acks_done(&a, 0)); /* a third completion is not pending */
    rill__acks_free(&a);
}

static void ring_grows_under_many_pending(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    for (int64_t o = 0; o < 10000; o++)
        rill__acks_add(&a, o, 1);
    for (int64_t o = 9999; o >= 1; o--)
        rill__acks_done(&a, o);
    assert_int_equal(a.acked, 0);
    rill__acks_done(&a, 0);
    assert_int_equal(a.acked, 10000);
    rill__acks_free(&a);
}

static void reset_forgets_everything(void **state) {
    (void)state;
    rill_acks_t a;
    rill__acks_init(&a);
    rill__acks_add(&a, 5, 1);
    rill__acks_reset(&a);
    assert_int_equal(a.acked, -1);
    assert_int_equal(rill__acks_pending(&a), 0);
    assert_false(rill__acks_done(&a, 5));
    rill__acks_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_completion_advances_past_each),
        cmocka_unit_test(out_of_order_acks_never_commit_past_unacked),
        cmocka_unit_test(synchronous_events_behind_a_pending_one_wait),
        cmocka_unit_test(gaps_in_offsets_do_not_block),
        cmocka_unit_test(several_agents_need_every_completion),
        cmocka_unit_test(ring_grows_under_many_pending),
        cmocka_unit_test(reset_forgets_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
