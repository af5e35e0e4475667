/* The transport conformance suite against Kafka with incremental cooperative
 * rebalancing (partition.assignment.strategy=cooperative-sticky): revokes and
 * assignments come as increments, and the contract holds the same way.  rill's
 * default stays range (co-partitioning of topics read together); this shows the
 * cooperative protocol works with librdkafka 2.0.2 for apps that choose it. */
#include "transport_suite.h"

int main(void) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    rill_conf_set(c, "kafka.partition.assignment.strategy", "cooperative-sticky", err,
                  sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    int rc = rill_transport_conformance("kafka://mock", c, 15000);
    rill_conf_destroy(c);
    return rc;
}
