/* The sliding-window tests of test_window_sliding_memory.c on kafka://mock
 * (librdkafka's in-process mock cluster; one group, topic and changelog per test):
 * counts per window, late events, emit=update and emit=final, expiry and a restart
 * in the middle of a window, whose windows come back from the changelog. */
#define SLIDING_BROKER(buf, n, seq) ((void)(seq), snprintf(buf, n, "kafka://mock"))
#define SLIDING_WAIT_MS 40000 /* the mock forms and rebalances groups in seconds */
#define SLIDING_NO_MAIN
#include "test_window_sliding_memory.c"

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(each_window_counts_the_events_within_the_time_difference,
                               setup),
        cmocka_unit_test_setup(an_event_past_grace_is_dropped_and_counted, setup),
        cmocka_unit_test_setup(emit_final_emits_each_window_once_when_it_closes, setup),
        cmocka_unit_test_setup(a_restart_mid_window_recovers_its_windows, setup),
        cmocka_unit_test_setup(emit_update_emits_every_window_an_event_writes, setup),
        cmocka_unit_test_setup(expired_windows_are_closed_and_forgotten, setup),
        cmocka_unit_test_setup(
            set_gives_each_window_the_value_of_its_last_event_processed, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
