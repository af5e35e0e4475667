/* memory-filter-map and memory-take: operator pipelines over raw events on a
 * one-partition memory:// topic, against the same operator work done in the
 * handler of memory-passthrough's baseline (the minimal hand-written partitioned
 * log of plog.h, one partition).  Compare their events/s with memory-passthrough's
 * to see what the operators cost.  The baselines' allocations go through a volatile
 * function pointer and their sums are printed (checksum), so the compiler cannot drop the
 * work; latency is produce to handler (one event in 16), chunk-bound as in
 * memory-passthrough. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "plog.h"

#define CHUNK 4000 /* a multiple of TAKE_N: a chunk never leaves a partial batch */
#define TAKE_N 100

typedef struct sink {
    uint64_t seen, kept, sum, batches;
    bench_hist_t lat;
} sink_t;

/* when the chunk being handled was produced */
static uint64_t chunk_stamp;

static void *(*volatile alloc)(size_t) = malloc;
static void (*volatile release)(void *) = free;

static void sample(sink_t *s, uint64_t count) {
    if ((count & 15) == 0) bench_hist_add(&s->lat, bench_now_ns() - chunk_stamp);
}

static __attribute__((noinline)) bool keep(uint64_t seq) {
    return (seq & 1) == 0;
}

static __attribute__((noinline)) int64_t transform(uint64_t seq) {
    return (int64_t)seq * 3;
}

static rill_err_t on_filter(const rill_event_t *ev, bool *kept, void *opaque) {
    sink_t *s = opaque;
    s->seen++;
    uint64_t seq;
    memcpy(&seq, rill_event_value_bytes(ev, NULL), sizeof seq);
    *kept = keep(seq);
    return RILL_OK;
}

static rill_err_t on_map(const rill_event_t *ev, void *out, void *opaque) {
    (void)opaque;
    uint64_t seq;
    memcpy(&seq, rill_event_value_bytes(ev, NULL), sizeof seq);
    *(int64_t *)out = transform(seq);
    return RILL_OK;
}

static rill_err_t on_mapped(rill_event_t *ev, void *opaque) {
    sink_t *s = opaque;
    s->kept++;
    s->sum += (uint64_t) * (const int64_t *)rill_event_value(ev);
    sample(s, s->kept);
    return RILL_OK;
}

static rill_err_t on_batch(rill_event_t *const *evs, size_t n, void *opaque) {
    sink_t *s = opaque;
    s->batches++;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        memcpy(&seq, rill_event_value_bytes(evs[i], NULL), sizeof seq);
        s->sum += seq;
        sample(s, s->seen + i + 1);
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
                double *secs, bench_side_t *side) {
    char err[256];
    if (rill_app_start(app, err, sizeof err) != RILL_OK) return -1;
    struct event_base *base = rill_app_base(app);
    event_base_loop(base, EVLOOP_NONBLOCK);
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++)
            if (rill_send(t, NULL, 0, &sent, sizeof sent, &rill_send_encoded) != RILL_OK)
                return -1;
        while (*progress < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(side);
    return 0;
}

/* ---- baselines: the operator work in plog's handler
 * -------------------------------------- */

static void base_filter_map(const bench_msg_t *m, void *opaque) {
    sink_t *b = opaque;
    uint64_t seq;
    memcpy(&seq, m->value, sizeof seq);
    b->seen++;
    if (!keep(seq)) return;
    int64_t *v = alloc(sizeof *v); /* rill's map allocates its output */
    *v = transform(seq);
    b->kept++;
    b->sum += (uint64_t)*v;
    sample(b, b->kept);
    release(v);
}

typedef struct take_sink {
    sink_t s; /* first: plog_pump's progress is s.seen */
    uint64_t *batch[TAKE_N];
    size_t nb;
} take_sink_t;

static void base_take(const bench_msg_t *m, void *opaque) {
    take_sink_t *t = opaque;
    uint64_t *copy = alloc(sizeof *copy); /* batched events are kept */
    memcpy(copy, m->value, sizeof *copy);
    t->batch[t->nb++] = copy;
    if (t->nb < TAKE_N) return;
    t->s.batches++;
    for (size_t i = 0; i < t->nb; i++) {
        t->s.sum += *t->batch[i];
        sample(&t->s, ++t->s.seen);
        release(t->batch[i]);
    }
    t->nb = 0;
}

/* pump()'s loop over a one-partition plog. */
static int plog_pump(bench_handler_fn h, void *sink, uint64_t n, const uint64_t *progress,
                     double *secs) {
    struct event_base *base = event_base_new();
    bench_plog_t *l = base ? bench_plog_new(base, 1, h, sink) : NULL;
    if (!l) return -1;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++)
            if (bench_plog_produce(l, &sent, sizeof sent) != 0) return -1;
        while (*progress < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    int64_t committed = bench_plog_committed(l);
    bench_plog_free(l);
    event_base_free(base);
    return committed == (int64_t)n ? 0 : -1;
}

static int run_filter_map(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 2000000;
    double rs[99], bs[99];
    static sink_t s, b;
    for (int i = 0; i < o->repeat; i++) {
        memset(&s, 0, sizeof s);
        memset(&b, 0, sizeof b);
        rill_topic_t *t;
        bench_side_begin(&r->rill);
        rill_app_t *app = bench_app("filter-map", n, &t);
        rill_stream_t *st = rill_stream_filter(rill_app_stream(app, t), on_filter, &s);
        st = rill_stream_map(st, &rill_type_int64, on_map, NULL);
        if (!rill_stream_agent(st, "sink", on_mapped, &s, NULL) ||
            pump(app, t, n, &s.seen, &rs[i], &r->rill) != 0 || s.kept != n / 2) {
            snprintf(r->note, sizeof r->note, "rill run failed: %s",
                     rill_app_errmsg(app));
            rill_app_destroy(app);
            return -1;
        }
        rill_app_destroy(app);
        /* baseline: the same filter and map inline over a ring buffer */
        bench_side_begin(&r->base);
        if (plog_pump(base_filter_map, &b, n, &b.seen, &bs[i]) != 0) {
            snprintf(r->note, sizeof r->note, "baseline run failed");
            return -1;
        }
        bench_side_end(&r->base);
    }
    r->has_checksum = true;
    r->checksum = s.sum;
    r->baseline_checksum = b.sum;
    bench_result_lat(r, &s.lat, false);
    bench_result_lat(r, &b.lat, true);
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, chunks of %d", CHUNK);
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
    static sink_t s;
    static take_sink_t tb;
    sink_t *bp = &tb.s;
    for (int i = 0; i < o->repeat; i++) {
        memset(&s, 0, sizeof s);
        memset(&tb, 0, sizeof tb);
        rill_topic_t *t;
        bench_side_begin(&r->rill);
        rill_app_t *app = bench_app("take", n, &t);
        rill_stream_t *st = rill_stream_take(rill_app_stream(app, t), TAKE_N, 1.0);
        if (!rill_stream_agent_batch(st, "sink", on_batch, &s, NULL) ||
            pump(app, t, n, &s.seen, &rs[i], &r->rill) != 0) {
            snprintf(r->note, sizeof r->note, "rill run failed: %s",
                     rill_app_errmsg(app));
            rill_app_destroy(app);
            return -1;
        }
        rill_app_destroy(app);
        bench_side_begin(&r->base);
        if (plog_pump(base_take, &tb, n, &bp->seen, &bs[i]) != 0) {
            snprintf(r->note, sizeof r->note, "baseline run failed");
            return -1;
        }
        bench_side_end(&r->base);
    }
    r->has_checksum = true;
    r->checksum = s.sum;
    r->baseline_checksum = bp->sum;
    bench_result_lat(r, &s.lat, false);
    bench_result_lat(r, &bp->lat, true);
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, chunks of %d", CHUNK);
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
