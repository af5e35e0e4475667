/* rill-bench: scenarios, their raw baselines, and the result line (DESIGN.md).
 *
 * A scenario runs rill over N events and then its raw baseline (the same work
 * with the bare library: a hand-written partitioned log, librdkafka, hiredis,
 * jansson, RocksDB) over the same data in the same process, so `ratio` compares
 * across noisy machines.  main.c runs every repeat of a scenario in a child
 * process of its own (fork), so that peak RSS and CPU time are that scenario's. */
#ifndef RILL_BENCH_H
#define RILL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts {
    uint64_t events;
    const char *broker;       /* --broker URL, or NULL */
    const char *store;        /* --store URL, or NULL */
    const char *serializer;   /* --serializer NAME (table-count), or NULL: json */
    const char *json_decoder; /* --json-decoder auto|simdjson|jansson, or NULL */
    int repeat;               /* runs per side; 1 inside the child main.c forks */
} bench_opts_t;

/* Latency histogram, HdrHistogram-style: exact below 64 ns, then 32 linear
 * sub-buckets per power of two (under 3.2 % error), up to ~2^40 ns.  Fixed size:
 * recording is an index computation and an increment, no allocation. */
#define BENCH_HIST_SUB 32
#define BENCH_HIST_BUCKETS (64 + 35 * BENCH_HIST_SUB)
typedef struct bench_hist {
    uint64_t n;
    uint64_t count[BENCH_HIST_BUCKETS];
} bench_hist_t;

void bench_hist_add(bench_hist_t *h, uint64_t ns);
/* The @p pct-th percentile in microseconds; NAN when nothing was recorded. */
double bench_hist_pct_us(const bench_hist_t *h, double pct);

/* CPU time (user + system, every thread of the process) and peak RSS of one side
 * of a scenario: bench_side_begin() resets the kernel's peak RSS counter
 * (/proc/self/clear_refs), bench_side_end() reads it back. */
typedef struct bench_side {
    double cpu0;
    double cpu_seconds; /* accumulated over begin/end pairs */
    long peak_rss_kb;   /* the largest seen at an end, -1 if never measured */
} bench_side_t;

void bench_side_begin(bench_side_t *s);
void bench_side_end(bench_side_t *s);

typedef struct bench_result {
    const char *transport, *store, *serializer;
    uint64_t events;
    double seconds;
    double p50_us, p99_us, p999_us; /* NAN (printed null) when not measured */
    double baseline_seconds;
    double baseline_p50_us, baseline_p99_us, baseline_p999_us;
    double simd_seconds;     /* the simdjson baseline's, 0 when none */
    bench_side_t rill, base; /* CPU and RSS of each side; zeroed = not measured */
    double startup_share;    /* of rill's timed window; NAN when none */
    double baseline_startup_share;
    uint64_t checksum, baseline_checksum; /* results consumed, printed */
    bool has_checksum;
    char lat_what[64]; /* what the latency is: "produce-to-handler", ... */
    /* the web scenarios: GET /metrics answered, and their time in ms (NAN, printed
     * null, when not measured) */
    uint64_t scrapes;
    double scrape_ms_mean, scrape_ms_max;
    /* memory-table-count-web: the phases whose client scrapes a stand-in server
     * instead (control_ratio: rill's rate over theirs); 0 when none */
    double control_seconds;
    char note[320];
} bench_result_t;

/* A result with every optional figure unset (NAN / -1). */
void bench_result_init(bench_result_t *r);
/* Fill r's rill (or baseline) percentiles from @p h. */
void bench_result_lat(bench_result_t *r, const bench_hist_t *h, bool baseline);

typedef struct bench_scenario {
    const char *name;
    const char *description;
    bool needs_server; /* skipped when no scenario is named and this needs --broker */
    /* Fill @p r; return 0, BENCH_SKIPPED when what it needs is not here (no
     * redis-server), or -1 when it failed; r->note says why. */
    int (*run)(const bench_opts_t *o, bench_result_t *r);
} bench_scenario_t;

#define BENCH_SKIPPED 1

uint64_t bench_now_ns(void);
/* A fresh store URL of the kind of @p store (a new directory for rocksdb://). */
void bench_fresh_store(const char *store, char *out, size_t n, const char *tag);
/* Remove what bench_fresh_store() made on disk. */
void bench_rm_store(const char *url);
/* GET @p path from 127.0.0.1:@p port on a fresh connection, read to the end: the
 * nanoseconds from connect to the last byte, or -1 unless answered 200.  @p bytes
 * (may be NULL): what was read.  web_http.c */
int64_t bench_http_get(int port, const char *path, uint64_t *bytes);
/* A loopback TCP port free at the time of the call, or -1. */
int bench_free_port(void);
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
extern const bench_scenario_t bench_memory_table_count_web; /* web_poll.c */
extern const bench_scenario_t bench_web_metrics_scrape;     /* web_scrape.c */
#ifdef RILL_HAVE_AVRO
extern const bench_scenario_t bench_codec_avro;
#endif
#ifdef RILL_HAVE_KAFKA
extern const bench_scenario_t bench_kafka_passthrough;
extern const bench_scenario_t bench_kafka_produce;
extern const bench_scenario_t bench_kafka_table_count;
extern const bench_scenario_t bench_kafka_faust_greetings;
#endif
#ifdef RILL_HAVE_REDIS
extern const bench_scenario_t bench_redis_passthrough;
extern const bench_scenario_t bench_redis_table_count;
#endif

#endif
