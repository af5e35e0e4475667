/* memory-window-sliding: JSON clicks in, a sliding-window count per user (Kafka
 * Streams' SlidingWindows of 5 s: each user clicks every second, so a window holds
 * about 5 clicks and a click writes about 10 windows) on memory://, event times 1 ms
 * apart; the checksum is the sum, over the events, of the count of the window
 * ending at each (rill_table_incr's result).  Baseline: that number as a bare loop
 * - jansson decode of the same bytes and, per user, a ring of its recent click
 * times counted back to t - 5 s.  (rill also keeps every other window, the ones
 * starting just after each click, in a changelog-backed table: the baseline does
 * not, so the ratio is the price of the whole window set and its durability.) */
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
#define DIFF_MS 5000
#define RING 16 /* > the clicks of a user within DIFF_MS */

typedef bench_clicks_json_t payloads_t;

static int64_t clicks_t0; /* event i's time: clicks_t0 + i ms */

static void payloads_make(payloads_t *p, uint64_t n) {
    bench_clicks_json_make(p, n, USERS, 1);
    clicks_t0 = (rill_now_ms() - (int64_t)n) / DIFF_MS * DIFF_MS; /* in the past */
}

typedef struct ctx {
    rill_table_t *table;
    uint64_t done, errors;
    int64_t sum; /* of the counts of the windows ending at each event */
    bench_hist_t lat;
} ctx_t;

static uint64_t chunk_stamp;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    int64_t n = 0;
    if (rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, &n) != RILL_OK)
        c->errors++;
    c->sum += n;
    if ((++c->done & 15) == 0) bench_hist_add(&c->lat, bench_now_ns() - chunk_stamp);
    return RILL_OK;
}

static int run_rill(const payloads_t *p, double *secs, bench_result_t *r, char *note,
                    size_t nlen) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-sliding-%u?keep=false&max.messages=%llu",
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
    rill_table_opts_sliding(&tab, DIFF_MS, 3600000);
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
    r->checksum = (uint64_t)cx.sum;
    bench_result_lat(r, &cx.lat, false);
    rill_app_destroy(app);
    return cx.errors ? -1 : 0;
}

/* ---- baseline: jansson + per user, a ring of its recent click times
 * ---------------------- */

typedef struct recent {
    int64_t t[RING];
    unsigned head, n;
} recent_t;

/* Add a click at @p ts (times ascending); the clicks in [ts - DIFF_MS, ts]. */
static int64_t recent_add(recent_t *g, int64_t ts) {
    g->t[g->head] = ts;
    g->head = (g->head + 1) % RING;
    if (g->n < RING) g->n++;
    int64_t c = 0;
    for (unsigned i = 0; i < g->n; i++)
        if (g->t[(g->head + RING - 1 - i) % RING] >= ts - DIFF_MS)
            c++;
        else
            break;
    return c;
}

static double run_baseline(const payloads_t *p, bench_result_t *r) {
    static bench_hist_t lat;
    memset(&lat, 0, sizeof lat);
    bench_side_begin(&r->base);
    recent_t *users = calloc(USERS, sizeof *users);
    int64_t total = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < p->n; i++) {
        if (i % CHUNK == 0) chunk_stamp = bench_now_ns();
        json_error_t e;
        json_t *j = json_loadb(p->json[i], p->len[i], 0, &e);
        if (!j) continue;
        const char *u = json_string_value(json_object_get(j, "user"));
        int idx = u && !strncmp(u, "user-", 5) ? atoi(u + 5) : -1;
        if (idx >= 0 && idx < USERS)
            total += recent_add(&users[idx], clicks_t0 + (int64_t)i);
        json_decref(j);
        if (((i + 1) & 15) == 0) bench_hist_add(&lat, bench_now_ns() - chunk_stamp);
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->base);
    free(users);
    r->baseline_checksum = (uint64_t)total;
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
        "sliding 5 s; checksum: sum of the counts of the windows ending at each event; "
        "baseline: jansson decode + per-user ring of click times");
    return 0;
}

const bench_scenario_t bench_memory_window_sliding = {
    .name = "memory-window-sliding",
    .description = "JSON clicks -> sliding-window count per user vs jansson + per-user "
                   "ring of click times",
    .run = run,
};
