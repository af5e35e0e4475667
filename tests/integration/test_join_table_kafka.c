/* The table-table join tests of test_join_table_memory.c on kafka://mock
 * (librdkafka's in-process mock cluster; one group, pair of topics and tables per
 * test): inner/left/outer rows, updates and deletes from either side, and a restart
 * after which the joined table is the join of its inputs recovered from their
 * changelogs. */
#define TJ_BROKER(buf, n, seq) ((void)(seq), snprintf(buf, n, "kafka://mock"))
#define TJ_WAIT_MS 40000  /* the mock forms and rebalances groups in seconds */
#define TJ_SETTLE_MS 3000 /* a ready group fetches every partition */
#define TJ_NO_MAIN
#include "test_join_table_memory.c"

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(an_inner_join_has_rows_for_keys_of_both_tables, setup),
        cmocka_unit_test_setup(a_left_join_has_rows_for_keys_of_the_left_table, setup),
        cmocka_unit_test_setup(an_outer_join_has_rows_for_keys_of_either_table, setup),
        cmocka_unit_test_setup(an_update_of_either_table_recomputes_the_row, setup),
        cmocka_unit_test_setup(a_delete_in_one_table_removes_or_updates_the_row, setup),
        cmocka_unit_test_setup(the_join_function_can_say_a_key_has_no_row, setup),
        cmocka_unit_test_setup(a_key_expired_by_ttl_leaves_the_join, setup),
        cmocka_unit_test_setup(a_joined_table_can_be_joined_again, setup),
        cmocka_unit_test_setup(after_a_restart_the_joined_table_is_the_join_of_its_inputs,
                               setup),
        cmocka_unit_test_setup(after_a_rebalance_each_worker_holds_the_join_of_its_inputs,
                               setup),
        cmocka_unit_test_setup(tables_of_different_partition_counts_are_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
