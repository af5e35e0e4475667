/* memory-passthrough: N raw 16-byte events produced into an 8-partition memory://
 * topic and consumed by an agent, against a minimal hand-written equivalent of
 * what rill does (bench/README.md): a partitioned in-memory log (values copied
 * into 256 KiB chunks, an entry index per partition, offsets), delivery in
 * batches of up to 1024 from a libevent callback woken by the produce, one call
 * through a function pointer per event, and the consumer's position and committed
 * offset tracked per partition.  Both sides produce in chunks of CHUNK and then
 * run the loop until the handler has seen them, so the latency (produce to
 * handler, one event in 16 sampled) is chunk-bound; the ratio is rill's
 * per-event overhead over that minimum. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "plog.h"

#define CHUNK 4096
#define PARTITIONS 8

typedef struct payload {
    uint64_t sent_ns;
    uint64_t seq;
} payload_t;

typedef struct sink {
    uint64_t count;
    uint64_t sum;
    bench_hist_t lat;
} sink_t;

/* The handler work both sides do: read the payload, record latency. */
static __attribute__((noinline)) void consume(sink_t *s, const void *data, size_t len) {
    payload_t p;
    if (len < sizeof p) return;
    memcpy(&p, data, sizeof p);
    s->sum += p.seq;
    s->count++;
    if ((s->count & 15) == 0) bench_hist_add(&s->lat, bench_now_ns() - p.sent_ns);
}

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    size_t len;
    const void *v = rill_event_value_bytes(ev, &len);
    consume(opaque, v, len);
    return RILL_OK;
}

static int run_rill(uint64_t n, double *secs, sink_t *sink, bench_side_t *side) {
    static unsigned run;
    char url[128], err[512];
    snprintf(url, sizeof url,
             "memory://bench-passthrough-%u?keep=false&max.messages=%llu", ++run,
             (unsigned long long)(n / PARTITIONS + CHUNK));
    bench_side_begin(side);
    rill_conf_t *c = rill_conf_new();
    if (rill_conf_set(c, "broker", url, err, sizeof err) ||
        rill_conf_set(c, "log.level", "error", err, sizeof err) ||
        rill_conf_set(c, "forward.delayed", "off", err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    if (!app) {
        rill_conf_destroy(c);
        return -1;
    }
    rill_topic_opts_t to = {.partitions = PARTITIONS};
    rill_topic_t *t = rill_app_topic(app, "passthrough", &to);
    if (!t || !rill_app_agent(app, "sink", t, on_event, sink, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        fprintf(stderr, "bench: %s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    while (!rill_app_is_ready(app))
        event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK); /* let the assignment land */
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n, stamp = bench_now_ns();
        for (; sent < end; sent++) {
            payload_t p = {stamp, sent};
            if (rill_send(t, NULL, 0, &p, sizeof p, &rill_send_encoded) != RILL_OK) {
                fprintf(stderr, "bench: send: %s\n", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        while (sink->count < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    rill_app_destroy(app);
    bench_side_end(side);
    return 0;
}

static void base_handler(const bench_msg_t *m, void *opaque) {
    consume(opaque, m->value, m->len);
}

static int run_base(uint64_t n, double *secs, sink_t *sink, bench_side_t *side) {
    bench_side_begin(side);
    struct event_base *base = event_base_new();
    bench_plog_t *l = base ? bench_plog_new(base, PARTITIONS, base_handler, sink) : NULL;
    if (!l) return -1;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n, stamp = bench_now_ns();
        for (; sent < end; sent++) {
            payload_t p = {stamp, sent};
            if (bench_plog_produce(l, &p, sizeof p) != 0) return -1;
        }
        while (sink->count < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    int64_t committed = bench_plog_committed(l);
    bench_plog_free(l);
    event_base_free(base);
    bench_side_end(side);
    return committed == (int64_t)n ? 0 : -1;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 5000000;
    static sink_t s, b; /* histograms: too big for the stack */
    memset(&s, 0, sizeof s);
    memset(&b, 0, sizeof b);
    if (run_rill(n, &r->seconds, &s, &r->rill) != 0 || s.count != n) {
        snprintf(r->note, sizeof r->note, "rill run failed (%llu of %llu events)",
                 (unsigned long long)s.count, (unsigned long long)n);
        return -1;
    }
    if (run_base(n, &r->baseline_seconds, &b, &r->base) != 0 || b.count != n) {
        snprintf(r->note, sizeof r->note, "baseline run failed");
        return -1;
    }
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "raw";
    r->events = n;
    r->has_checksum = true;
    r->checksum = s.sum;
    r->baseline_checksum = b.sum;
    bench_result_lat(r, &s.lat, false);
    bench_result_lat(r, &b.lat, true);
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, chunks of %d", CHUNK);
    snprintf(r->note, sizeof r->note,
             "%.0f ns/event rill, %.0f ns/event hand-written partitioned log",
             r->seconds * 1e9 / (double)n, r->baseline_seconds * 1e9 / (double)n);
    return 0;
}

const bench_scenario_t bench_memory_passthrough = {
    .name = "memory-passthrough",
    .description = "raw events through a memory:// topic and an agent vs a minimal "
                   "hand-written partitioned log",
    .run = run,
};
