/* memory-join-stream-table: JSON click records keyed by user, each enriched with
 * the user's row of a 100,000-key table (a left stream-table join: the value
 * becomes limit + amount, summed by the agent), on memory://.  The table is filled
 * from a users topic before the timed part.  Baseline: the bare hash join - jansson
 * decode of the same bytes, a lookup of the user in an open-addressing map of the
 * same 100,000 rows, the same sum. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"

#define CHUNK 4096
#define USERS 100000
#define PARTITIONS 4

typedef bench_clicks_json_t payloads_t;

static int64_t limit_of(int u) {
    return u % 1000;
}

/* ---- rill ------------------------------------------------------------------------ */

typedef struct ctx {
    rill_table_t *limits;
    uint64_t loaded, done, errors;
    int64_t sum;
    bench_hist_t lat;
} ctx_t;

static uint64_t chunk_stamp;

static rill_err_t load_user(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    size_t klen, vlen;
    const void *k = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    char buf[24] = "";
    memcpy(buf, v, vlen < sizeof buf - 1 ? vlen : sizeof buf - 1);
    int64_t limit = atoll(buf);
    if (rill_table_set(c->limits, ev, k, klen, &limit) != RILL_OK) c->errors++;
    c->loaded++;
    return RILL_OK;
}

static rill_err_t enrich(const rill_event_t *ev, const void *row, void *out,
                         void *opaque) {
    (void)opaque;
    const bench_click_t *k = rill_event_value(ev);
    *(int64_t *)out = (row ? *(const int64_t *)row : 0) + k->amount;
    return RILL_OK;
}

static rill_err_t on_enriched(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    c->sum += *(const int64_t *)rill_event_value(ev);
    if ((++c->done & 15) == 0) bench_hist_add(&c->lat, bench_now_ns() - chunk_stamp);
    return RILL_OK;
}

static void spin(struct event_base *base, const uint64_t *counter, uint64_t until) {
    while (*counter < until)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static int run_rill(const payloads_t *p, double *secs, bench_result_t *r, char *note,
                    size_t nlen) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-join-st-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(p->n + USERS + CHUNK));
    bench_side_begin(&r->rill);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS};
    rill_topic_t *users = rill_app_topic(app, "users", &to);
    to.value_type = RILL_TYPE_RECORD(&bench_click_schema);
    rill_topic_t *clicks = rill_app_topic(app, "clicks", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = users};
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    cx.limits = rill_app_table(app, "limits", &tab);
    rill_stream_t *s = rill_app_stream(app, clicks);
    s = rill_stream_join_table(s, cx.limits, RILL_JOIN_LEFT, NULL, NULL, &rill_type_int64,
                               enrich, NULL);
    if (!cx.limits || !rill_app_agent(app, "users", users, load_user, &cx, NULL) ||
        !rill_stream_agent(s, "enriched", on_enriched, &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    for (int u = 0; u < USERS; u++) { /* the table: untimed */
        char v[24];
        int n = snprintf(v, sizeof v, "%lld", (long long)limit_of(u));
        rill_send(users, p->user[u], strlen(p->user[u]), v, (size_t)n,
                  &rill_send_encoded);
        if ((u + 1) % CHUNK == 0) spin(base, &cx.loaded, (uint64_t)u + 1);
    }
    spin(base, &cx.loaded, USERS);
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < p->n) {
        uint64_t end = sent + CHUNK < p->n ? sent + CHUNK : p->n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++) {
            const char *u = p->user[(sent * 7919u) % USERS];
            if (rill_send(clicks, u, strlen(u), p->json[sent], p->len[sent],
                          &rill_send_encoded) != RILL_OK) {
                snprintf(note, nlen, "send: %.200s", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        spin(base, &cx.done, sent);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->rill);
    r->checksum = (uint64_t)cx.sum;
    bench_result_lat(r, &cx.lat, false);
    rill_table_stats_t st;
    if (rill_table_stats(cx.limits, &st) == RILL_OK && st.keys != USERS)
        snprintf(note, nlen, "table has %llu keys", (unsigned long long)st.keys);
    rill_app_destroy(app);
    return cx.errors ? -1 : 0;
}

/* ---- baseline: jansson + an open-addressing hash join --------------------------- */

typedef struct row {
    const char *key;
    int64_t limit;
} row_t;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static double run_baseline(const payloads_t *p, bench_result_t *r) {
    static bench_hist_t lat;
    memset(&lat, 0, sizeof lat);
    size_t cap = 1;
    while (cap < 2 * USERS)
        cap <<= 1;
    row_t *rows = calloc(cap, sizeof *rows);
    for (int u = 0; u < USERS; u++) { /* the table: untimed */
        size_t i = fnv(p->user[u]) & (cap - 1);
        while (rows[i].key)
            i = (i + 1) & (cap - 1);
        rows[i] = (row_t){p->user[u], limit_of(u)};
    }
    bench_side_begin(&r->base);
    int64_t sum = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t n = 0; n < p->n; n++) {
        if (n % CHUNK == 0) chunk_stamp = bench_now_ns();
        json_error_t e;
        json_t *j = json_loadb(p->json[n], p->len[n], 0, &e);
        if (!j) continue;
        const char *u = json_string_value(json_object_get(j, "user"));
        int64_t amount = json_integer_value(json_object_get(j, "amount"));
        int64_t limit = 0;
        if (u) {
            size_t i = fnv(u) & (cap - 1);
            while (rows[i].key && strcmp(rows[i].key, u) != 0)
                i = (i + 1) & (cap - 1);
            if (rows[i].key) limit = rows[i].limit;
        }
        sum += limit + amount;
        json_decref(j);
        if (((n + 1) & 15) == 0) bench_hist_add(&lat, bench_now_ns() - chunk_stamp);
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->base);
    free(rows);
    r->baseline_checksum = (uint64_t)sum;
    bench_result_lat(r, &lat, true);
    return s;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 500000;
    payloads_t p;
    /* users in a scrambled order, so lookups do not walk the table in order */
    bench_clicks_json_make(&p, n, USERS, 7919);
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        if (run_rill(&p, &rs[i], r, r->note, sizeof r->note) != 0) {
            bench_clicks_json_free(&p);
            return -1;
        }
        bs[i] = run_baseline(&p, r);
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
    if (!r->note[0])
        snprintf(r->note, sizeof r->note,
                 "left join with a %d-key table; baseline: jansson decode + "
                 "open-addressing hash join",
                 USERS);
    return 0;
}

const bench_scenario_t bench_memory_join_stream_table = {
    .name = "memory-join-stream-table",
    .description = "JSON clicks enriched from a 100k-key table (stream-table join) vs "
                   "jansson + a bare hash join",
    .run = run,
};
