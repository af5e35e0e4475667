/* The GlobalTable tests of test_global_memory.c on redis://, against a real
 * redis-server (emptied before each test): three workers each hold the whole
 * table, non-owners' writes are refused, a late worker gets every partition. */
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

#define GLOBAL_BROKER(buf, n, seq)                                                       \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define GLOBAL_EXTRA_CONF(c)                                                             \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define GLOBAL_WAIT_MS 15000
#define GLOBAL_NO_MAIN
#include "test_global_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
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
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
