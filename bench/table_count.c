/* memory-table-count: JSON records in, table[record.user] += 1 per event, on
 * memory:// with the store given by --store (memory:// by default; rocksdb:///dir
 * for RocksDB).  Baseline: the bare loop doing the same work with the same
 * library — jansson decode of the same bytes and an open-addressing hash-map
 * increment — in the same run: after an untimed baseline pass, baseline, rill,
 * rill, baseline (run_babr). */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"
#ifdef RILL_HAVE_SIMDJSON
#include "simd_baseline.h"
#endif

#define CHUNK 4096
#define USERS 1000
#define PARTITIONS 4

typedef bench_clicks_json_t payloads_t;

/* ---- rill
 * ---------------------------------------------------------------------------------- */

typedef struct ctx {
    rill_table_t *table;
    uint64_t done, errors;
    bench_hist_t lat;
} ctx_t;

/* when the chunk being handled was produced */
static uint64_t chunk_stamp;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    if (rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, NULL) != RILL_OK)
        c->errors++;
    if ((++c->done & 15) == 0) bench_hist_add(&c->lat, bench_now_ns() - chunk_stamp);
    return RILL_OK;
}

/* The same records in @p ser's encoding (json: as generated). */
static void payloads_encode(payloads_t *p, const char *ser) {
    if (!strcmp(ser, "json")) return;
    char err[256];
    rill_serializer_t *js = rill_serializer_new("json", NULL, err, sizeof err);
    rill_serializer_t *s = rill_serializer_new(ser, NULL, err, sizeof err);
    if (!js || !s) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    rill_buf_t b = RILL_BUF_INIT;
    for (uint64_t i = 0; i < p->n; i++) {
        bench_click_t c;
        rill_record_init(&bench_click_schema, &c);
        rill_serializer_decode(js, RILL_TYPE_RECORD(&bench_click_schema), p->json[i],
                               p->len[i], &c, err, sizeof err);
        rill_buf_reset(&b);
        rill_serializer_encode(s, RILL_TYPE_RECORD(&bench_click_schema), &c, &b, err,
                               sizeof err);
        rill_record_clear(&bench_click_schema, &c);
        free(p->json[i]);
        p->json[i] = malloc(b.len + 1);
        memcpy(p->json[i], b.data, b.len);
        p->len[i] = b.len;
    }
    rill_buf_free(&b);
    rill_serializer_destroy(js);
    rill_serializer_destroy(s);
}

static int run_rill(const payloads_t *p, const char *store, const char *ser,
                    const char *decoder, double *secs, bench_result_t *r, char *note,
                    size_t nlen) {
    static unsigned run;
    char url[160], err[512];
    snprintf(url, sizeof url, "memory://bench-table-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(p->n + CHUNK));
    bench_side_begin(&r->rill);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    if (decoder && rill_conf_set(c, "json.decoder", decoder, err, sizeof err)) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    char st[512];
    bench_fresh_store(store, st, sizeof st, "count");
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS,
                            .value_type = RILL_TYPE_RECORD(&bench_click_schema),
                            .value_serializer = ser};
    rill_topic_t *t = rill_app_topic(app, "clicks", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    cx.table = rill_app_table(app, "counts", &tab);
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
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < p->n) {
        uint64_t end = sent + CHUNK < p->n ? sent + CHUNK : p->n;
        chunk_stamp = bench_now_ns();
        for (; sent < end; sent++) {
            const char *u = p->user[sent % USERS];
            if (rill_send(t, u, strlen(u), p->json[sent], p->len[sent],
                          &rill_send_encoded) != RILL_OK) {
                snprintf(note, nlen, "send: %.200s", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        while (cx.done < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
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
    bench_rm_store(st);
    return cx.errors ? -1 : 0;
}

/* ---- baseline: jansson + open addressing
 * -------------------------------------------------- */

static double run_baseline(const payloads_t *p, bench_result_t *r) {
    static bench_hist_t lat;
    memset(&lat, 0, sizeof lat);
    bench_side_begin(&r->base);
    bench_map_t m;
    bench_map_init(&m, 4096);
    uint64_t t0 = bench_now_ns();
    /* the rill side's chunks, so that the latencies compare */
    for (uint64_t i = 0; i < p->n; i++) {
        if (i % CHUNK == 0) chunk_stamp = bench_now_ns();
        json_error_t e;
        json_t *j = json_loadb(p->json[i], p->len[i], 0, &e);
        if (!j) continue;
        const char *u = json_string_value(json_object_get(j, "user"));
        if (u) bench_map_incr(&m, u);
        json_decref(j);
        if (((i + 1) & 15) == 0) bench_hist_add(&lat, bench_now_ns() - chunk_stamp);
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->base);
    uint64_t keys;
    int64_t total;
    bench_map_finish(&m, &keys, &total);
    r->baseline_checksum = (uint64_t)total;
    bench_result_lat(r, &lat, true);
    return total == (int64_t)p->n ? s : -1;
}

/* An untimed baseline pass first (a process's first pass ran slower, whichever
 * side it was), then baseline, rill, rill, baseline: each side's time is the mean
 * of its two windows, so a drift of the machine's speed over the run (another
 * process starting) falls on both sides. */
static int run_babr(const payloads_t *p, const payloads_t *bp, const char *store,
                    const char *ser, const char *decoder, double *rsecs, double *bsecs,
                    bench_result_t *r) {
    bench_result_t scratch;
    bench_result_init(&scratch);
    double b0 = run_baseline(bp, &scratch), b1 = run_baseline(bp, r), r1, r2;
    if (b0 < 0 || b1 < 0) goto miscounted;
    if (run_rill(p, store, ser, decoder, &r1, r, r->note, sizeof r->note) != 0 ||
        run_rill(p, store, ser, decoder, &r2, r, r->note, sizeof r->note) != 0)
        return -1;
    double b2 = run_baseline(bp, r);
    if (b2 < 0) goto miscounted;
    *rsecs = (r1 + r2) / 2;
    *bsecs = (b1 + b2) / 2;
    return 0;
miscounted:
    snprintf(r->note, sizeof r->note, "baseline miscounted");
    return -1;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 500000;
    const char *store = o->store ? o->store : "memory://";
    const char *ser = o->serializer ? o->serializer : "json";
    payloads_t p, baseline;
    bench_clicks_json_make(&p, n, USERS, 1);
    bench_clicks_json_make(&baseline, n, USERS,
                           1); /* the baseline always decodes the JSON */
    payloads_encode(&p, ser);
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        if (run_babr(&p, &baseline, store, ser, o->json_decoder, &rs[i], &bs[i], r) !=
            0) {
            bench_clicks_json_free(&p);
            bench_clicks_json_free(&baseline);
            return -1;
        }
#ifdef RILL_HAVE_SIMDJSON
        int64_t total = 0;
        r->simd_seconds = bench_simd_click_count(baseline.json, baseline.len, n, &total);
        if (total != (int64_t)n) {
            snprintf(r->note, sizeof r->note, "simdjson baseline miscounted");
            return -1;
        }
#endif
    }
    r->rill.cpu_seconds /= 2; /* each side ran the n events twice */
    r->base.cpu_seconds /= 2;
    bench_clicks_json_free(&baseline);
    bench_clicks_json_free(&p);
    r->transport = "memory";
    r->store = strncmp(store, "rocksdb", 7) == 0 ? "rocksdb" : "memory";
    r->serializer = !strcmp(ser, "json") && o->json_decoder ? o->json_decoder : ser;
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    r->has_checksum = true;
    snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, chunks of %d", CHUNK);
    snprintf(r->note, sizeof r->note, "baseline: jansson decode + hash-map increment%s",
#ifdef RILL_HAVE_SIMDJSON
             "; also simdjson on-demand + hash map"
#else
             ""
#endif
    );
    return 0;
}

const bench_scenario_t bench_memory_table_count = {
    .name = "memory-table-count",
    .description =
        "JSON records -> table increment per event (--store URL) vs jansson+hashmap",
    .run = run,
};
