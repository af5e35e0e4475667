/* memory-filter-map and memory-take: operator pipelines over raw events on
 * memory://, against the same work done inline on a ring buffer.  Compare their
 * events/s with memory-passthrough's to see what the operators cost. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"

#define CHUNK 4000 /* a multiple of TAKE_N: a chunk never leaves a partial batch */
#define TAKE_N 100

typedef struct sink {
    uint64_t seen, kept, sum, batches;
} sink_t;

static __attribute__((noinline)) bool keep(uint64_t seq) {
    return (seq & 1) == 0;
}

static __attribute__((noinline)) int64_t transform(uint64_t seq) {
    return (int64_t)seq * 3;
}

static bool on_filter(rill_event_t *ev, void *opaque) {
    sink_t *s = opaque;
    s->seen++;
    uint64_t seq;
    memcpy(&seq, rill_event_value_bytes(ev, NULL), sizeof seq);
    return keep(seq);
}

static rill_err_t on_map(rill_event_t *ev, void *out, void *opaque) {
    (void)opaque;
    uint64_t seq;
    memcpy(&seq, rill_event_value_bytes(ev, NULL), sizeof seq);
    *(int64_t *)out = transform(seq);
    return RILL_OK;
}

static int on_mapped(rill_event_t *ev, void *opaque) {
    sink_t *s = opaque;
    s->kept++;
    s->sum += (uint64_t) * (const int64_t *)rill_event_value(ev);
    return RILL_OK;
}

static rill_err_t on_batch(rill_event_t *const *evs, size_t n, void *opaque) {
    sink_t *s = opaque;
    s->batches++;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        memcpy(&seq, rill_event_value_bytes(evs[i], NULL), sizeof seq);
        s->sum += seq;
    }
    s->seen += n;
    return RILL_OK;
}

static rill_app_t *bench_app(const char *name, uint64_t n, rill_topic_t **t) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-%s-%u?keep=false&max.messages=%llu", name,
             ++run, (unsigned long long)(n + CHUNK));
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    if (!app) {
        rill_conf_destroy(c);
        return NULL;
    }
    rill_topic_opts_t to = {.partitions = 1};
    *t = rill_app_topic(app, "in", &to);
    return app;
}

/* Produce n events in chunks, draining the loop until @p done(sink) catches up. */
static int pump(rill_app_t *app, rill_topic_t *t, uint64_t n, const uint64_t *progress,
                double *secs) {
    char err[256];
    if (rill_app_start(app, err, sizeof err) != RILL_OK) return -1;
    struct event_base *base = rill_app_base(app);
    event_base_loop(base, EVLOOP_NONBLOCK);
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n;
        for (; sent < end; sent++)
            if (rill_send_raw(t, NULL, 0, &sent, sizeof sent, NULL) != RILL_OK) return -1;
        while (*progress < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    return 0;
}

static int run_filter_map(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 2000000;
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        sink_t s = {0};
        rill_topic_t *t;
        rill_app_t *app = bench_app("filter-map", n, &t);
        rill_stream_t *st = rill_stream_filter(rill_app_stream(app, t), on_filter, &s);
        st = rill_stream_map(st, &rill_type_int64, on_map, NULL);
        if (!rill_stream_agent(st, "sink", on_mapped, &s, NULL) ||
            pump(app, t, n, &s.seen, &rs[i]) != 0 || s.kept != n / 2) {
            snprintf(r->note, sizeof r->note, "rill run failed: %s",
                     rill_app_errmsg(app));
            rill_app_destroy(app);
            return -1;
        }
        rill_app_destroy(app);
        /* baseline: the same filter and map inline over a ring buffer */
        uint64_t *ring = malloc(CHUNK * sizeof *ring), t0 = bench_now_ns(), sent = 0;
        sink_t b = {0};
        while (sent < n) {
            size_t k = 0;
            for (; k < CHUNK && sent < n; k++)
                ring[k] = sent++;
            for (size_t j = 0; j < k; j++) {
                b.seen++;
                if (!keep(ring[j])) continue;
                int64_t *v = malloc(sizeof *v); /* rill's map allocates its output */
                *v = transform(ring[j]);
                b.kept++;
                b.sum += (uint64_t)*v;
                free(v);
            }
        }
        bs[i] = (double)(bench_now_ns() - t0) / 1e9;
        free(ring);
    }
    r->transport = "memory";
    r->store = "";
    r->serializer = "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    return 0;
}

static int run_take(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 2000000;
    n -= n % TAKE_N;
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        sink_t s = {0};
        rill_topic_t *t;
        rill_app_t *app = bench_app("take", n, &t);
        rill_stream_t *st = rill_stream_take(rill_app_stream(app, t), TAKE_N, 1.0);
        if (!rill_stream_agent_batch(st, "sink", on_batch, &s, NULL) ||
            pump(app, t, n, &s.seen, &rs[i]) != 0) {
            snprintf(r->note, sizeof r->note, "rill run failed: %s",
                     rill_app_errmsg(app));
            rill_app_destroy(app);
            return -1;
        }
        rill_app_destroy(app);
        uint64_t *ring = malloc(CHUNK * sizeof *ring), t0 = bench_now_ns(), sent = 0;
        uint64_t *batch[TAKE_N];
        size_t nb = 0;
        sink_t b = {0};
        while (sent < n) {
            size_t k = 0;
            for (; k < CHUNK && sent < n; k++)
                ring[k] = sent++;
            for (size_t j = 0; j < k; j++) {
                uint64_t *copy = malloc(sizeof *copy); /* batched events are kept */
                *copy = ring[j];
                batch[nb++] = copy;
                if (nb == TAKE_N) {
                    b.batches++;
                    for (size_t m = 0; m < nb; m++) {
                        b.sum += *batch[m];
                        free(batch[m]);
                    }
                    nb = 0;
                }
            }
        }
        bs[i] = (double)(bench_now_ns() - t0) / 1e9;
        free(ring);
    }
    r->transport = "memory";
    r->store = "";
    r->serializer = "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    snprintf(r->note, sizeof r->note, "batches of %d", TAKE_N);
    return 0;
}

const bench_scenario_t bench_memory_filter_map = {
    .name = "memory-filter-map",
    .description = "filter (keep half) + map to int64 on memory:// vs the same inline",
    .run = run_filter_map,
};

const bench_scenario_t bench_memory_take = {
    .name = "memory-take",
    .description = "take(100, 1 s) batches on memory:// vs batching a ring buffer",
    .run = run_take,
};
