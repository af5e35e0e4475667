/* Kafka helpers shared by the kafka-* scenarios (bench/kafka.c), so that they all
 * run against one in-process mock cluster, or the broker --broker names, the same
 * way: topics made before use (or a clear error within seconds), and the tuned,
 * batched bare consumer every baseline uses. */
#ifndef RILL_BENCH_KAFKA_COMMON_H
#define RILL_BENCH_KAFKA_COMMON_H

#ifdef RILL_HAVE_KAFKA
#include <librdkafka/rdkafka.h>

#include "bench.h"

#define BENCH_KAFKA_PARTS 16

/* host:port of --broker kafka://host:port[?...], else of a mock cluster made on
 * first use; NULL with @p why when no broker answers within a few seconds. */
const char *bench_kafka_bootstrap(const bench_opts_t *o, char *why, size_t wlen);
/* The broker URL rill is given (--broker as it is, or the mock's). */
void bench_kafka_url(const bench_opts_t *o, char *out, size_t n);
/* Make @p name exist with @p parts partitions: on the in-process mock directly;
 * on another broker by appending to the create.file of the --broker URL
 * (rill-kafka-mock --topics-file), else with CreateTopics.  0 once the topic's
 * metadata shows it, or -1 with @p why within ~10 s. */
int bench_kafka_create_topic(const bench_opts_t *o, const char *name, int parts,
                             bool compacted, char *why, size_t wlen);
/* A quiet producer (linger.ms=5) or a batched consumer (queued.min.messages=1000000,
 * group bench-raw, no auto commit). */
rd_kafka_t *bench_kafka_client(rd_kafka_type_t type, const char *bs);

/* When the bare consumer was made, had its partitions, saw its first message and
 * its last. */
typedef struct bench_kafka_times {
    uint64_t created, assigned, first, last;
} bench_kafka_times_t;

typedef void (*bench_kafka_fn)(const rd_kafka_message_t *m, void *opaque);

/* The tuned bare consumer: assign all @p parts partitions of @p topic from the
 * beginning, rd_kafka_consume_batch_queue without blocking, and poll() on the
 * queue's wake-up fd when it is empty (a blocking batch call waits its whole
 * timeout for a full batch).  Calls @p fn for each message until @p n were seen
 * or 60 s passed; returns how many. */
uint64_t bench_kafka_consume(const char *bs, const char *topic, int parts, uint64_t n,
                             bench_kafka_fn fn, void *opaque, bench_kafka_times_t *t);
#endif

#endif
