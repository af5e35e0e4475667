/* rill-bench: scenarios, their raw baselines, and the result line (DESIGN.md).
 *
 * A scenario runs rill over N events and then its raw baseline (the same work
 * with the bare library: a ring buffer, librdkafka, hiredis, jansson, RocksDB)
 * over the same data in the same process, so `ratio` compares across noisy
 * machines. */
#ifndef RILL_BENCH_H
#define RILL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts {
    uint64_t events;
    const char *broker;     /* --broker URL, or NULL */
    const char *store;      /* --store URL, or NULL */
    const char *serializer; /* --serializer NAME (table-count), or NULL: json */
    int repeat;             /* runs per side; the median is reported */
} bench_opts_t;

typedef struct bench_result {
    const char *transport, *store, *serializer;
    uint64_t events;
    double seconds;
    double p50_us, p99_us;
    double baseline_seconds;
    char note[256];
} bench_result_t;

typedef struct bench_scenario {
    const char *name;
    const char *description;
    bool needs_server; /* skipped when no scenario is named and this needs --broker */
    /* Fill @p r; return 0, or -1 with r->note saying why (skipped/failed). */
    int (*run)(const bench_opts_t *o, bench_result_t *r);
} bench_scenario_t;

/* latency recorder: nanosecond samples -> percentiles */
typedef struct bench_lat {
    uint32_t *ns;
    size_t n, cap;
} bench_lat_t;

void bench_lat_add(bench_lat_t *l, uint64_t ns);
double bench_lat_pct_us(bench_lat_t *l, double pct);
void bench_lat_free(bench_lat_t *l);
uint64_t bench_now_ns(void);
/* A fresh store URL of the kind of @p store (a new directory for rocksdb://). */
void bench_fresh_store(const char *store, char *out, size_t n, const char *tag);
/* Remove what bench_fresh_store() made on disk. */
void bench_rm_store(const char *url);
/* median of @p n doubles (sorted in place) */
double bench_median(double *v, int n);

/* scenarios */
extern const bench_scenario_t bench_memory_passthrough;
extern const bench_scenario_t bench_memory_filter_map;
extern const bench_scenario_t bench_memory_take;
extern const bench_scenario_t bench_memory_table_count;
extern const bench_scenario_t bench_recovery;
extern const bench_scenario_t bench_recovery_checkpoint;
extern const bench_scenario_t bench_codec_json;
#ifdef RILL_HAVE_AVRO
extern const bench_scenario_t bench_codec_avro;
#endif
#ifdef RILL_HAVE_KAFKA
extern const bench_scenario_t bench_kafka_passthrough;
extern const bench_scenario_t bench_kafka_produce;
extern const bench_scenario_t bench_kafka_table_count;
#endif
#ifdef RILL_HAVE_REDIS
extern const bench_scenario_t bench_redis_passthrough;
extern const bench_scenario_t bench_redis_table_count;
#endif

#endif
