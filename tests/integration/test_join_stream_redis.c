/* The stream-stream join tests of test_join_stream_memory.c on redis://, against a
 * real redis-server (emptied before each test): pairs within the window,
 * left/outer emission, freeing, late events and a restart in the middle of a join
 * buffer on Redis Streams. */
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

#define JS_BROKER(buf, n, seq)                                                           \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define JS_EXTRA_CONF(c)                                                                 \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define JS_WAIT_MS 10000
#define JS_STEP_MS 300
#define JS_SETTLE_MS 1500
#define JS_NO_MAIN
#include "test_join_stream_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
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
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
