/* The GlobalTable tests of test_global_memory.c on kafka://mock (librdkafka's
 * in-process mock cluster, shared by the workers of a test; one group and
 * changelog per test): three workers each hold the whole table, non-owners' writes
 * are refused, a late worker gets every partition. */
#define GLOBAL_BROKER(buf, n, seq) ((void)(seq), snprintf(buf, n, "kafka://mock"))
#define GLOBAL_WAIT_MS 40000 /* the mock forms and rebalances groups in seconds */
#define GLOBAL_NO_MAIN
#include "test_global_memory.c"

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_value_written_on_one_worker_is_read_on_all_three, setup),
        cmocka_unit_test_setup(an_agent_of_another_stream_reads_the_table_on_any_worker,
                               setup),
        cmocka_unit_test_setup(
            a_write_from_a_non_owner_is_refused_naming_the_owners_topic, setup),
        cmocka_unit_test_setup(a_worker_that_joins_later_holds_the_whole_table, setup),
        cmocka_unit_test_setup(
            a_worker_is_ready_only_once_its_copies_of_every_partition_caught_up, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
