/* The clicks workload the table-count scenarios share (memory, Kafka, Redis): the
 * record, an agent counting events (into a table for clicks), and the baseline's
 * open-addressing hash map. */
#ifndef RILL_BENCH_CLICKS_H
#define RILL_BENCH_CLICKS_H

#include <rill/rill.h>

typedef struct bench_click {
    char *user;
    int64_t amount;
} bench_click_t;

extern const rill_schema_t bench_click_schema;

/* @p n clicks as JSON, {"user":"user-U","amount":i % 97}, of @p users users: event
 * i's user is (i * @p stride) % users (1: in turn; a large prime: scrambled). */
typedef struct bench_clicks_json {
    char **json;
    size_t *len;
    char **user; /* [users] */
    int users;
    uint64_t n;
} bench_clicks_json_t;

void bench_clicks_json_make(bench_clicks_json_t *p, uint64_t n, int users,
                            uint64_t stride);
void bench_clicks_json_free(bench_clicks_json_t *p);

/* What a counting agent saw, timed from its first event to its last. */
typedef struct bench_counter {
    rill_table_t *table; /* bench_count_click's */
    uint64_t got, bytes, errors, t0, t1;
    rill_err_t last_err; /* of the last failed increment */
} bench_counter_t;

/* Agents: count events and their value bytes; table[click.user] += 1. */
rill_err_t bench_count_event(rill_event_t *ev, void *opaque);
rill_err_t bench_count_click(rill_event_t *ev, void *opaque);

/* The keys of an int64 table and the sum of their values. */
void bench_table_total(rill_table_t *t, uint64_t *keys, int64_t *sum);

typedef struct bench_slot {
    char *key;
    int64_t count;
} bench_slot_t;

typedef struct bench_map {
    bench_slot_t *slots;
    size_t cap; /* a power of two, more than twice the keys: short probes */
} bench_map_t;

int bench_map_init(bench_map_t *m, size_t cap);
/* ++map[key], returning the new count */
int64_t bench_map_incr(bench_map_t *m, const char *key);
/* The keys and the sum of their counts; frees the map. */
void bench_map_finish(bench_map_t *m, uint64_t *keys, int64_t *sum);

#endif
