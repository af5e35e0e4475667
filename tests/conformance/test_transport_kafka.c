/* The transport conformance suite against Kafka: librdkafka's mock cluster,
 * started in-process (kafka://mock), with group timings it accepts. */
#include "transport_suite.h"

int main(void) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    int rc = rill_transport_conformance("kafka://mock", c, 15000);
    rill_conf_destroy(c);
    return rc;
}
