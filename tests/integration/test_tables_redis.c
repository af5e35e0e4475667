/* The table tests of test_tables_memory.c on redis://, against a real redis-server
 * (emptied before each test): counting, restarts, crash recovery, standby replicas,
 * rebalance during recovery and windows work unchanged on Redis Streams.  The tests
 * there that wrap the memory transport (stalls, a pause that leaks) stay there. */
#include <hiredis/hiredis.h>

#include "redis_server.h"

static rill_test_redis_t *srv;

static void flush_redis(void) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rill_test_redis_port(srv), tv);
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "FLUSHALL");
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
}

#define TABLES_BROKER(buf, n, seq)                                                       \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define TABLES_EXTRA_CONF(c)                                                             \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define TABLES_SETTLE_MS 1500
#define TABLES_NO_MAIN
#include "test_tables_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
    const struct CMUnitTest tests[] = {
        TABLES_KEY_PARTITION_TESTS,
        cmocka_unit_test_setup(incr_counts_every_key_exactly, setup),
        cmocka_unit_test_setup(foreach_visits_owned_keys, setup),
        cmocka_unit_test_setup(reading_a_partition_not_owned_fails_clearly, setup),
        cmocka_unit_test_setup(writing_another_partitions_key_tells_to_group_by, setup),
        cmocka_unit_test_setup(counts_survive_a_graceful_restart, setup),
        cmocka_unit_test_setup(no_increment_is_lost_after_a_crash, setup),
        cmocka_unit_test_setup(standby_takes_over_replaying_only_the_tail, setup),
        cmocka_unit_test_setup(rebalance_during_recovery_restarts_it_correctly, setup),
        cmocka_unit_test_setup(recovery_does_not_wait_on_a_full_stream_buffer, setup),
        cmocka_unit_test_setup(tumbling_windows_split_at_their_boundaries, setup),
        cmocka_unit_test_setup(hopping_windows_overlap, setup),
        cmocka_unit_test_setup(expired_windows_close_and_free_store_space, setup),
        cmocka_unit_test_setup(table_definitions_are_validated, setup),
    };
    (void)stalled_recovery_fails_loudly_naming_the_table; /* these wrap memory:// */
    (void)changelog_gets_one_record_per_key_per_commit;   /* memory watermarks */
    (void)per_write_changelog_gets_every_write;
    (void)events_during_recovery_are_sought_back_not_processed;
    int rc = cmocka_run_group_tests_name("tables on redis://", tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
