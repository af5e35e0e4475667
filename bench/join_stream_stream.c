/* memory-join-stream-stream: views and clicks of 10,000 users (half the events
 * each, keyed by user, raw bytes), joined on the user within 100 ms (grace 1 s) by
 * a stream-stream join on memory://; every view meets the one click of its user
 * and time.  Baseline: the bare loop over the same events - per key and side a
 * buffer of (time, value) in an open-addressing map, a scan of the other side's
 * buffer within the window, rows freed once past window + grace. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"

#define CHUNK 4096
#define USERS 10000
#define PARTITIONS 4
#define WITHIN 100
#define GRACE 1000
#define T0 1700000000000LL

/* event i: side i & 1 (0 view, 1 click) of user (i / 2) % USERS at T0 + i / 64 */
static int64_t ts_of(uint64_t i) {
    return T0 + (int64_t)(i / 64);
}

typedef struct ctx {
    uint64_t pairs;
    bench_hist_t lat;
} ctx_t;

static uint64_t chunk_stamp;

static rill_err_t on_pair(rill_event_t *ev, const rill_join_pair_t *p, void *opaque) {
    (void)ev;
    ctx_t *c = opaque;
    if (p->left && p->right && (++c->pairs & 15) == 0)
        bench_hist_add(&c->lat, bench_now_ns() - chunk_stamp);
    return RILL_OK;
}

static int run_rill(char **users, uint64_t n, double *secs, bench_result_t *r, char *note,
                    size_t nlen) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-join-ss-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(n + CHUNK));
    bench_side_begin(&r->rill);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS};
    rill_topic_t *t[2] = {rill_app_topic(app, "views", &to),
                          rill_app_topic(app, "clicks", &to)};
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    rill_stream_join_opts_t o = {.grace_ms = GRACE, .fn = on_pair, .opaque = &cx};
    rill_stream_join_within(&o, WITHIN);
    if (rill_stream_join_stream(rill_app_stream(app, t[0]), rill_app_stream(app, t[1]),
                                "vc", &o) != RILL_OK ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    rill_send_opts_t so = RILL_SEND_OPTS_INIT;
    so.encoded = true;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < n) {
        uint64_t end = sent + CHUNK < n ? sent + CHUNK : n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++) {
            const char *u = users[(sent / 2) % USERS];
            so.timestamp_ms = ts_of(sent);
            if (rill_send(t[sent & 1], u, strlen(u), "payload-0123456789", 18, &so) !=
                RILL_OK) {
                snprintf(note, nlen, "send: %.200s", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        rill_stream_join_stats_t st;
        do {
            event_base_loop(base, EVLOOP_NONBLOCK);
            rill_stream_join_stats(app, "vc", &st);
        } while (cx.pairs + st.late_dropped < sent / 2);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->rill);
    rill_stream_join_stats_t st;
    rill_stream_join_stats(app, "vc", &st);
    if (st.late_dropped)
        snprintf(note, nlen, "%llu late events dropped",
                 (unsigned long long)st.late_dropped);
    r->checksum = cx.pairs;
    bench_result_lat(r, &cx.lat, false);
    rill_app_destroy(app);
    return 0;
}

/* ---- baseline ------------------------------------------------------------------- */

typedef struct ent {
    int64_t ts;
    const char *val;
} ent_t;

typedef struct side {
    ent_t *e;
    size_t head, n, cap; /* e[head .. n): live, oldest first */
} side_t;

typedef struct slot {
    const char *key;
    side_t s[2];
} slot_t;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static double run_baseline(char **users, uint64_t n, bench_result_t *r) {
    static bench_hist_t lat;
    memset(&lat, 0, sizeof lat);
    bench_side_begin(&r->base);
    size_t cap = 1;
    while (cap < 2 * USERS)
        cap <<= 1;
    slot_t *map = calloc(cap, sizeof *map);
    uint64_t pairs = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (i % CHUNK == 0) chunk_stamp = bench_now_ns();
        const char *u = users[(i / 2) % USERS];
        int s = (int)(i & 1);
        int64_t ts = ts_of(i);
        size_t h = fnv(u) & (cap - 1);
        while (map[h].key && strcmp(map[h].key, u) != 0)
            h = (h + 1) & (cap - 1);
        slot_t *sl = &map[h];
        sl->key = u;
        for (int k = 0; k < 2; k++) { /* free what passed window + grace */
            side_t *b = &sl->s[k];
            while (b->head < b->n && b->e[b->head].ts + WITHIN + GRACE < ts)
                b->head++;
        }
        side_t *o = &sl->s[1 - s];
        for (size_t k = o->head; k < o->n; k++)
            if (o->e[k].ts >= ts - WITHIN && o->e[k].ts <= ts + WITHIN &&
                (++pairs & 15) == 0)
                bench_hist_add(&lat, bench_now_ns() - chunk_stamp);
        side_t *b = &sl->s[s];
        if (b->head && b->head == b->n) b->head = b->n = 0;
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 4;
            b->e = realloc(b->e, b->cap * sizeof *b->e);
        }
        b->e[b->n++] = (ent_t){ts, "payload-0123456789"};
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->base);
    for (size_t h = 0; h < cap; h++)
        for (int k = 0; k < 2; k++)
            free(map[h].s[k].e);
    free(map);
    r->baseline_checksum = pairs;
    bench_result_lat(r, &lat, true);
    return secs;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 200000;
    char **users = malloc(USERS * sizeof *users);
    for (int u = 0; u < USERS; u++) {
        users[u] = malloc(16);
        snprintf(users[u], 16, "user-%d", u);
    }
    double rs[99], bs[99];
    int rc = 0;
    for (int i = 0; i < o->repeat && rc == 0; i++) {
        rc = run_rill(users, n, &rs[i], r, r->note, sizeof r->note);
        if (rc == 0) bs[i] = run_baseline(users, n, r);
    }
    for (int u = 0; u < USERS; u++)
        free(users[u]);
    free(users);
    if (rc) return -1;
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    r->has_checksum = true;
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-pair, chunks of %d", CHUNK);
    if (!r->note[0])
        snprintf(r->note, sizeof r->note,
                 "inner join within %d ms, grace %d ms; baseline: per-key buffers in a "
                 "hash map",
                 WITHIN, GRACE);
    return 0;
}

const bench_scenario_t bench_memory_join_stream_stream = {
    .name = "memory-join-stream-stream",
    .description = "views x clicks of 10k users joined within 100 ms (stream-stream "
                   "join) vs per-key buffers in a bare hash map",
    .run = run,
};
