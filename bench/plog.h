/* The baseline of the memory scenarios: a minimal hand-written equivalent of
 * what rill does over memory:// (bench/README.md).  A partitioned in-memory log
 * (values copied into 256 KiB chunks, an entry index per partition, offsets),
 * produce round-robin over the partitions, delivery in batches of up to 1024 from
 * a libevent callback woken by the produce (8192 events per loop turn), one call
 * through a function pointer per event, and the consumer's position and committed
 * offset tracked per partition. */
#ifndef RILL_BENCH_PLOG_H
#define RILL_BENCH_PLOG_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_msg {
    int32_t partition;
    int64_t offset;
    const void *value;
    size_t len;
} bench_msg_t;

typedef void (*bench_handler_fn)(const bench_msg_t *m, void *opaque);
typedef struct bench_plog bench_plog_t;

bench_plog_t *bench_plog_new(struct event_base *base, int partitions,
                             bench_handler_fn handler, void *opaque);
int bench_plog_produce(bench_plog_t *l, const void *value, size_t len);
/* The sum of the partitions' committed offsets: the events handled. */
int64_t bench_plog_committed(const bench_plog_t *l);
void bench_plog_free(bench_plog_t *l);

#endif
