/* The transport conformance suite against a real redis-server started for the run. */
#include <stdio.h>
#include <stdlib.h>

#include "redis_server.h"
#include "transport_suite.h"

int main(void) {
    /* RILL_TEST_REDIS_URL: use that server instead (to watch it with MONITOR) */
    const char *url = getenv("RILL_TEST_REDIS_URL");
    rill_test_redis_t *srv = url ? NULL : rill_test_redis_start(false);
    if (!url && !srv) return 1;
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "redis.heartbeat.interval.ms", "200", err, sizeof err);
    rill_conf_set(c, "redis.session.timeout.ms", "2000", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    int rc = rill_transport_conformance(url ? url : rill_test_redis_url(srv), c, 5000);
    rill_conf_destroy(c);
    rill_test_redis_destroy(srv);
    return rc;
}
