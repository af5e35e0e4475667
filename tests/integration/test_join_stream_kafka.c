/* The stream-stream join tests of test_join_stream_memory.c on kafka://mock
 * (librdkafka's in-process mock cluster; one group, pair of topics and join
 * buffers per test): pairs within the window, left/outer emission, freeing, late
 * events and a restart in the middle of a join buffer, whose buffers come back
 * from their changelogs. */
#define JS_BROKER(buf, n, seq) ((void)(seq), snprintf(buf, n, "kafka://mock"))
#define JS_WAIT_MS 40000  /* the mock forms and rebalances groups in seconds */
#define JS_STEP_MS 500    /* sent events are handled before the next are sent */
#define JS_SETTLE_MS 3000 /* a ready group fetches every partition */
#define JS_NO_MAIN
#include "test_join_stream_memory.c"

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(inner_join_pairs_events_within_the_window_bounds, setup),
        cmocka_unit_test_setup(a_left_event_pairs_with_every_right_event_and_back, setup),
        cmocka_unit_test_setup(
            left_join_emits_an_unmatched_left_event_when_its_window_passes, setup),
        cmocka_unit_test_setup(outer_join_emits_unmatched_events_of_both_sides, setup),
        cmocka_unit_test_setup(expired_buffers_are_freed_and_late_events_counted, setup),
        cmocka_unit_test_setup(a_restart_in_the_middle_of_a_join_buffer_keeps_it, setup),
        cmocka_unit_test_setup(join_of_streams_with_different_partition_counts_is_refused,
                               setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
