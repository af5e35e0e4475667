/* The table-table join tests of test_join_table_memory.c on redis://, against a real
 * redis-server (emptied before each test): inner/left/outer rows, updates and
 * deletes from either side, and a restart after which the joined table is the join
 * of its recovered inputs, on Redis Streams. */
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

#define TJ_BROKER(buf, n, seq)                                                           \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define TJ_EXTRA_CONF(c)                                                                 \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define TJ_WAIT_MS 10000
#define TJ_SETTLE_MS 1500
#define TJ_NO_MAIN
#include "test_join_table_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
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
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
