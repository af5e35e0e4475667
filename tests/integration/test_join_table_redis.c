/* The table-table join suite (tests/support/join_table_suite.c) on redis://, against a
 * real redis-server (emptied before each test): inner/left/outer rows, updates and
 * deletes from either side, and a restart after which the joined table is the join
 * of its recovered inputs, on Redis Streams. */
#include <hiredis/hiredis.h>
#include <stdio.h>

#include "redis_server.h"
#include "join_table_suite.h"

static rill_test_redis_t *srv;

static void broker(char *buf, size_t n, unsigned seq) {
    (void)seq;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rill_test_redis_port(srv), tv);
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "FLUSHALL");
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    snprintf(buf, n, "%s", rill_test_redis_url(srv));
}

static void conf(rill_conf_t *c) {
    char e[128];
    rill_conf_set(c, "redis.heartbeat.interval.ms", "100", e, sizeof e);
    rill_conf_set(c, "redis.session.timeout.ms", "2000", e, sizeof e);
}

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
    rill_join_table_suite_t s = {
        .name = "join table on redis://",
        .broker = broker,
        .conf = conf,
        .wait_ms = 10000,
        .settle_ms = 1500,
    };
    int rc = rill_join_table_suite_run(&s);
    rill_test_redis_destroy(srv);
    return rc;
}
