/* Kafka helpers shared by the kafka-* scenarios (bench/kafka.c), so that they all
 * run against one in-process mock cluster. */
#ifndef RILL_BENCH_KAFKA_COMMON_H
#define RILL_BENCH_KAFKA_COMMON_H

#ifdef RILL_HAVE_KAFKA
#include <librdkafka/rdkafka.h>

#include "bench.h"

#define BENCH_KAFKA_PARTS 16

/* host:port of --broker kafka://..., else of a mock cluster made on first use. */
const char *bench_kafka_bootstrap(const bench_opts_t *o);
/* Create @p name with BENCH_KAFKA_PARTS partitions on the mock (a real broker's
 * topics are created by whoever produces to them). */
void bench_kafka_create_topic(const char *name);
/* A quiet producer (linger.ms=5) or a batched consumer (queued.min.messages=1000000,
 * group bench-raw, no auto commit). */
rd_kafka_t *bench_kafka_client(rd_kafka_type_t type, const char *bs);
#endif

#endif
