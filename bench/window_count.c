/* memory-window-count: JSON clicks in, a hopping-window count per user (windows of
 * 10 s every 5 s, so each event counts in two windows) on memory://, event times
 * 1 ms apart.  Baseline: the same computation as a bare loop - jansson decode of
 * the same bytes, the event's windows from its timestamp, and a ring of
 * open-addressing hash maps (one per live window start) incremented per window. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"

#define CHUNK 4096
#define USERS 1000
#define PARTITIONS 4
#define SIZE_MS 10000
#define STEP_MS 5000
#define RING 8 /* > SIZE_MS / STEP_MS live windows */

typedef bench_clicks_json_t payloads_t;

static int64_t clicks_t0; /* event i's time: clicks_t0 + i ms */

static void payloads_make(payloads_t *p, uint64_t n) {
    bench_clicks_json_make(p, n, USERS, 1);
    clicks_t0 = (rill_now_ms() - (int64_t)n) / SIZE_MS * SIZE_MS; /* in the past */
}

typedef struct ctx {
    rill_table_t *table;
    uint64_t done, errors;
    bench_hist_t lat;
} ctx_t;

static uint64_t chunk_stamp;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    if (rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, NULL) != RILL_OK)
        c->errors++;
    if ((++c->done & 15) == 0) bench_hist_add(&c->lat, bench_now_ns() - chunk_stamp);
    return RILL_OK;
}

static int run_rill(const payloads_t *p, double *secs, bench_result_t *r, char *note,
                    size_t nlen) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-window-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(p->n + CHUNK));
    bench_side_begin(&r->rill);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS,
                            .value_type = RILL_TYPE_RECORD(&bench_click_schema)};
    rill_topic_t *t = rill_app_topic(app, "clicks", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    rill_table_opts_hopping(&tab, SIZE_MS, STEP_MS, 3600000);
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    cx.table = rill_app_table(app, "per_user", &tab);
    if (!cx.table || !rill_app_agent(app, "count", t, count_click, &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    rill_send_opts_t so = rill_send_encoded;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < p->n) {
        uint64_t end = sent + CHUNK < p->n ? sent + CHUNK : p->n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++) {
            const char *u = p->user[sent % USERS];
            so.timestamp_ms = clicks_t0 + (int64_t)sent;
            if (rill_send(t, u, strlen(u), p->json[sent], p->len[sent], &so) != RILL_OK) {
                snprintf(note, nlen, "send: %.200s", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        while (cx.done < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    rill_app_stop(app); /* flushes the table to the store: part of the work */
    for (int i = 0; i < 1000 && rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->rill);
    if (cx.errors)
        snprintf(note, nlen, "%llu table errors", (unsigned long long)cx.errors);
    uint64_t keys;
    int64_t sum;
    bench_table_total(cx.table, &keys, &sum);
    r->checksum = (uint64_t)sum;
    bench_result_lat(r, &cx.lat, false);
    rill_app_destroy(app);
    return cx.errors ? -1 : 0;
}

/* ---- baseline: jansson + a ring of per-window hash maps
 * ----------------------------------- */

typedef struct ring {
    bench_map_t map[RING];
    int64_t start[RING]; /* INT64_MIN: free */
    int64_t total;
} ring_t;

static void ring_incr(ring_t *g, int64_t ws, const char *user) {
    int64_t idx = ws / STEP_MS % RING;
    if (g->start[idx] != ws) { /* an old window leaves the ring */
        if (g->start[idx] != INT64_MIN) {
            uint64_t keys;
            int64_t sum;
            bench_map_finish(&g->map[idx], &keys, &sum);
            g->total += sum;
        }
        bench_map_init(&g->map[idx], 4096);
        g->start[idx] = ws;
    }
    bench_map_incr(&g->map[idx], user);
}

static double run_baseline(const payloads_t *p, bench_result_t *r) {
    static bench_hist_t lat;
    memset(&lat, 0, sizeof lat);
    bench_side_begin(&r->base);
    ring_t g;
    g.total = 0;
    for (int i = 0; i < RING; i++)
        g.start[i] = INT64_MIN;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < p->n; i++) {
        if (i % CHUNK == 0) chunk_stamp = bench_now_ns();
        json_error_t e;
        json_t *j = json_loadb(p->json[i], p->len[i], 0, &e);
        if (!j) continue;
        const char *u = json_string_value(json_object_get(j, "user"));
        int64_t ts = clicks_t0 + (int64_t)i;
        int64_t last = ts / STEP_MS * STEP_MS;
        for (int64_t ws = last - SIZE_MS + STEP_MS; u && ws <= last; ws += STEP_MS)
            if (ws > ts - SIZE_MS) ring_incr(&g, ws, u);
        json_decref(j);
        if (((i + 1) & 15) == 0) bench_hist_add(&lat, bench_now_ns() - chunk_stamp);
    }
    for (int i = 0; i < RING; i++)
        if (g.start[i] != INT64_MIN) {
            uint64_t keys;
            int64_t sum;
            bench_map_finish(&g.map[i], &keys, &sum);
            g.total += sum;
        }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->base);
    r->baseline_checksum = (uint64_t)g.total;
    bench_result_lat(r, &lat, true);
    return s;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 500000;
    payloads_t p;
    payloads_make(&p, n);
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        if (run_rill(&p, &rs[i], r, r->note, sizeof r->note) != 0) {
            bench_clicks_json_free(&p);
            return -1;
        }
        bs[i] = run_baseline(&p, r);
        if (r->checksum != r->baseline_checksum) {
            snprintf(r->note, sizeof r->note, "counts differ: rill %llu, baseline %llu",
                     (unsigned long long)r->checksum,
                     (unsigned long long)r->baseline_checksum);
            bench_clicks_json_free(&p);
            return -1;
        }
    }
    bench_clicks_json_free(&p);
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "json";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    r->has_checksum = true;
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, chunks of %d", CHUNK);
    snprintf(
        r->note, sizeof r->note,
        "hopping 10 s / 5 s; baseline: jansson decode + ring of per-window hash maps");
    return 0;
}

const bench_scenario_t bench_memory_window_count = {
    .name = "memory-window-count",
    .description = "JSON clicks -> hopping-window count per user vs jansson + ring of "
                   "window hash maps",
    .run = run,
};
