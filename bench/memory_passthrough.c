/* memory-passthrough: N raw events produced into a memory:// topic and consumed by
 * an agent, against the same N events pushed through and popped from a plain
 * ring buffer by the same handler.  Both sides produce in chunks and then drain,
 * so the latency is chunk-bound and the ratio is rill's per-event overhead. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"

#define CHUNK 4096
#define PARTITIONS 8

typedef struct payload {
    uint64_t sent_ns;
    uint64_t seq;
} payload_t;

typedef struct sink {
    uint64_t count;
    uint64_t sum;
    bench_lat_t lat;
} sink_t;

/* The handler work both sides do: read the payload, record latency. */
static __attribute__((noinline)) void consume(sink_t *s, const void *data, size_t len) {
    payload_t p;
    if (len < sizeof p) return;
    memcpy(&p, data, sizeof p);
    s->sum += p.seq;
    s->count++;
    if ((s->count & 15) == 0) bench_lat_add(&s->lat, bench_now_ns() - p.sent_ns);
}

static int on_event(rill_event_t *ev, void *opaque) {
    size_t len;
    const void *v = rill_event_value_bytes(ev, &len);
    consume(opaque, v, len);
    return RILL_OK;
}

static int run_rill(uint64_t n, double *secs, sink_t *sink) {
    static unsigned run;
    char url[128], err[512];
    snprintf(url, sizeof url,
             "memory://bench-passthrough-%u?keep=false&max.messages=%llu", ++run,
             (unsigned long long)(n / PARTITIONS + CHUNK));
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
            if (rill_send_raw(t, NULL, 0, &p, sizeof p, NULL) != RILL_OK) {
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
    return 0;
}

static int run_ring(uint64_t n, double *secs, sink_t *sink) {
    payload_t *ring = malloc(CHUNK * sizeof *ring);
    if (!ring) return -1;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        size_t k = 0;
        uint64_t stamp = bench_now_ns();
        for (; k < CHUNK && sent < n; k++, sent++)
            ring[k] = (payload_t){stamp, sent};
        for (size_t i = 0; i < k; i++)
            consume(sink, &ring[i], sizeof ring[i]);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    free(ring);
    return 0;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 5000000;
    double rs[99], bs[99];
    sink_t keep = {0};
    for (int i = 0; i < o->repeat; i++) {
        sink_t s = {0}, b = {0};
        if (run_rill(n, &rs[i], &s) != 0 || s.count != n) {
            snprintf(r->note, sizeof r->note, "rill run failed (%llu of %llu events)",
                     (unsigned long long)s.count, (unsigned long long)n);
            bench_lat_free(&s.lat);
            return -1;
        }
        run_ring(n, &bs[i], &b);
        bench_lat_free(&b.lat);
        if (i == 0)
            keep = s;
        else
            bench_lat_free(&s.lat);
    }
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    r->p50_us = bench_lat_pct_us(&keep.lat, 50);
    r->p99_us = bench_lat_pct_us(&keep.lat, 99);
    bench_lat_free(&keep.lat);
    snprintf(r->note, sizeof r->note, "%.0f ns/event rill, %.0f ns/event ring",
             r->seconds * 1e9 / (double)n, r->baseline_seconds * 1e9 / (double)n);
    return 0;
}

const bench_scenario_t bench_memory_passthrough = {
    .name = "memory-passthrough",
    .description = "raw events through a memory:// topic and an agent vs a ring buffer",
    .run = run,
};
