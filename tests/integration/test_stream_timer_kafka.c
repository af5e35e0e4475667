/* The stream-time timer tests of test_stream_timer_memory.c on kafka://mock
 * (librdkafka's in-process mock cluster; one group and topic per test):
 * boundaries, no wall-clock firing, older and far-future events, per-partition
 * independence, a table write in the callback, and a restart that carries on from
 * the boundary kept in the timer's changelog. */
#define ST_BROKER(buf, n, seq) ((void)(seq), snprintf(buf, n, "kafka://mock"))
#define WAIT_MS 40000     /* the mock forms and rebalances groups in seconds */
#define ST_COMMIT_MS 1000 /* a commit reaches the mock */
#define ST_SETTLE_MS 3000 /* a ready group fetches every partition */
#define ST_NO_MAIN
#include "test_stream_timer_memory.c"

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(it_fires_once_per_advance_past_each_boundary, setup),
        cmocka_unit_test_setup(wall_clock_time_without_events_does_not_fire, setup),
        cmocka_unit_test_setup(older_events_do_not_move_stream_time_back, setup),
        cmocka_unit_test_setup(each_partition_has_its_own_stream_time, setup),
        cmocka_unit_test_setup(an_event_far_in_the_future_does_not_move_stream_time,
                               setup),
        cmocka_unit_test_setup(a_table_write_in_the_callback_lands_in_its_partition,
                               setup),
        cmocka_unit_test_setup(a_restarted_worker_carries_on_from_the_last_boundary,
                               setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
