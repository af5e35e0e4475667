/* The stream-time timer tests of test_stream_timer_memory.c on redis://, against a
 * real redis-server (emptied before each test): boundaries, no wall-clock firing,
 * older and far-future events, per-partition independence, a table write in the
 * callback, and a restart that carries on from the last boundary. */
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

#define ST_BROKER(buf, n, seq)                                                           \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define ST_EXTRA_CONF(c)                                                                 \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define WAIT_MS 10000
#define ST_COMMIT_MS 500
#define ST_SETTLE_MS 1500
#define ST_NO_MAIN
#include "test_stream_timer_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
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
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
