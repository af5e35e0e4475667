/* The sliding-window tests of test_window_sliding_memory.c on redis://, against a
 * real redis-server (emptied before each test): counts per window, late events,
 * emit=update and emit=final, expiry and a restart in the middle of a window,
 * whose windows come back from the Redis changelog stream.  test_window_sliding_kafka.c
 * runs them on the Kafka mock. */
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

#define SLIDING_BROKER(buf, n, seq)                                                      \
    ((void)(seq), flush_redis(), snprintf(buf, n, "%s", rill_test_redis_url(srv)))
#define SLIDING_EXTRA_CONF(c)                                                            \
    do {                                                                                 \
        char e_[128];                                                                    \
        rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e_, sizeof e_);           \
        rill_conf_set(c, "redis.session.timeout.ms", "2000", e_, sizeof e_);             \
    } while (0)
#define SLIDING_WAIT_MS 15000
#define SLIDING_NO_MAIN
#include "test_window_sliding_memory.c"

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
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
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rill_test_redis_destroy(srv);
    return rc;
}
