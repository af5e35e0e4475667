/* recovery: how fast a worker rebuilds a 1,000,000-key table from its changelog
 * (store given by --store, memory:// by default).  Baseline: the same key/values
 * written straight into a fresh store of the same kind in write batches (for
 * RocksDB: bare WriteBatch puts), in the same run: after an untimed warm-up,
 * baseline, rill, rill, baseline (run_babr). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <rill/rill.h>

#include "bench.h"

#define BATCH 256

static rill_err_t noop(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    return RILL_OK;
}

static void key_of(uint64_t i, char *k, size_t *klen) {
    *klen = (size_t)snprintf(k, 24, "key-%llu", (unsigned long long)i);
}

static void value_of(uint64_t i, uint8_t v[8]) {
    for (int b = 7; b >= 0; b--, i >>= 8)
        v[b] = (uint8_t)i;
}

static int fill(rill_transport_t *tr, const char *topic, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++) {
        char k[24];
        uint8_t v[8];
        size_t kl;
        key_of(i, k, &kl);
        value_of(i + 1, v);
        rill_produce_t m = {.topic = topic,
                            .partition = 0,
                            .key = k,
                            .key_len = kl,
                            .value = v,
                            .value_len = 8};
        if (tr->ops->produce(tr, &m, NULL, NULL) != RILL_OK) return -1;
    }
    return 0;
}

/* Start a worker on @p store, wait until its table is recovered; stop it cleanly. */
static double recover_once(struct event_base *base, const char *url, const char *store,
                           rill_table_stats_t *out) {
    char err[512];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "store", store, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("bench", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 1};
    rill_topic_t *t = rill_app_topic(app, "input", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    rill_table_t *table = rill_app_table(app, "counts", &tab);
    rill_app_agent(app, "noop", t, noop, NULL, NULL);
    uint64_t t0 = bench_now_ns();
    if (rill_app_start(app, err, sizeof err) != RILL_OK) {
        rill_app_destroy(app);
        return -1;
    }
    rill_table_stats_t s = {0};
    while (rill_app_is_ready(app) && s.owned != 1) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        rill_table_stats(table, &s);
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    rill_table_stats(table, out);
    rill_app_stop(app);
    for (int i = 0; i < 100 && rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    rill_app_destroy(app);
    return secs;
}

/* Hand the heap's free memory back before a side's input is made: what the
 * previous recovery freed (its changelog, ~64 MB) otherwise stayed resident, the
 * next fill did not reuse it, the recovery after it ran ~40 % slower, and the
 * next window counted it in its peak RSS. */
static void trim_heap(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* One timed recovery of an @p n-record changelog filled just before (untimed). */
static int run_rill(uint64_t n, const char *store, double *secs, bench_side_t *side,
                    char *note, size_t nlen) {
    static unsigned run;
    char url[160], err[512], st[512];
    snprintf(url, sizeof url, "memory://bench-recovery-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(n + 16));
    bench_fresh_store(store, st, sizeof st, "rill");
    trim_heap();
    struct event_base *base = event_base_new();
    /* fill the changelog through a plain transport instance */
    rill_transport_handlers_t h = {0};
    rill_transport_t *tr =
        rill_transport_new(url, NULL, base, &h, "filler", err, sizeof err);
    rill_topic_spec_t spec = {
        .name = "bench-counts-changelog", .partitions = 1, .compacted = true};
    int32_t parts;
    if (!tr || tr->ops->declare(tr, &spec, &parts, err, sizeof err) != RILL_OK ||
        fill(tr, spec.name, 0, n) != 0) {
        snprintf(note, nlen, "filling the changelog failed: %.200s", err);
        return -1;
    }
    rill_table_stats_t s = {0};
    bench_side_begin(side);
    *secs = recover_once(base, url, st, &s);
    bench_side_end(side);
    int rc = *secs >= 0 && s.keys == n ? 0 : -1;
    if (rc)
        snprintf(note, nlen, "recovered %llu keys of %llu", (unsigned long long)s.keys,
                 (unsigned long long)n);
    rill_transport_destroy(tr);
    event_base_free(base);
    bench_rm_store(st);
    return rc;
}

/* The baseline's input: the keys and values made before the clock starts, as
 * rill's side finds them ready in the changelog (formatting them was ~10 % of the
 * loop). */
typedef struct bare_input {
    uint64_t n;
    char (*keys)[24];
    uint8_t (*vals)[8];
    size_t *klens;
} bare_input_t;

static void input_free(bare_input_t *in) {
    free(in->keys);
    free(in->vals);
    free(in->klens);
    *in = (bare_input_t){0};
}

static int input_make(bare_input_t *in, uint64_t n) {
    trim_heap();
    in->n = n;
    in->keys = malloc(n * sizeof *in->keys);
    in->vals = malloc(n * sizeof *in->vals);
    in->klens = malloc(n * sizeof *in->klens);
    if (!in->keys || !in->vals || !in->klens) {
        input_free(in);
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        key_of(i, in->keys[i], &in->klens[i]);
        value_of(i + 1, in->vals[i]);
    }
    return 0;
}

/* One timed pass of bare batch puts of @p in into a fresh store. */
static int run_baseline(const bare_input_t *in, const char *store, double *secs,
                        bench_side_t *side) {
    char st[512], err[256];
    bench_fresh_store(store, st, sizeof st, "bare");
    rill_store_t *s = rill_store_new(st, NULL, err, sizeof err);
    if (!s) return -1;
    rill_store_part_t *p;
    if (s->ops->part_open(s, "counts", 0, &p, err, sizeof err) != RILL_OK) return -1;
    rill_store_op_t ops[BATCH];
    uint64_t n = in->n;
    bench_side_begin(side);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < BATCH && i < n; k++, i++)
            ops[k] = (rill_store_op_t){RILL_STORE_PUT, in->keys[i], in->klens[i],
                                       in->vals[i], 8};
        s->ops->write(p, ops, k, (int64_t)i);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(side);
    s->ops->part_close(p);
    rill_store_destroy(s);
    bench_rm_store(st);
    return 0;
}

/* An untimed pass of the baseline first (the first 1M-key store of a process ran
 * ~0.1 s slower than the later ones, whichever side it was), then baseline, rill,
 * rill, baseline: each side's time is the mean of its two windows, so a drift of
 * the machine's speed over the run falls on both. */
static int run_babr(uint64_t n, const char *store, double *rsecs, double *bsecs,
                    bench_result_t *r) {
    double a, b, c, d, w;
    bench_side_t scratch = {0};
    bare_input_t in;
    if (input_make(&in, n) != 0 || run_baseline(&in, store, &w, &scratch) != 0 ||
        run_baseline(&in, store, &a, &r->base) != 0)
        goto bare_failed;
    input_free(&in);
    if (run_rill(n, store, &b, &r->rill, r->note, sizeof r->note) != 0 ||
        run_rill(n, store, &c, &r->rill, r->note, sizeof r->note) != 0)
        return -1;
    if (input_make(&in, n) != 0 || run_baseline(&in, store, &d, &r->base) != 0)
        goto bare_failed;
    input_free(&in);
    *rsecs = (b + c) / 2;
    *bsecs = (a + d) / 2;
    return 0;
bare_failed:
    input_free(&in);
    snprintf(r->note, sizeof r->note, "baseline store failed");
    return -1;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 1000000;
    const char *store = o->store ? o->store : "memory://";
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++)
        if (run_babr(n, store, &rs[i], &bs[i], r) != 0) return -1;
    r->rill.cpu_seconds /= 2; /* each side ran its n records twice */
    r->base.cpu_seconds /= 2;
    r->transport = "memory";
    r->store = strncmp(store, "rocksdb", 7) == 0 ? "rocksdb" : "memory";
    r->serializer = "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    snprintf(r->lat_what, sizeof r->lat_what, "none (one bulk operation)");
    snprintf(r->note, sizeof r->note, "%.0f keys/s recovered from the changelog alone",
             (double)n / r->seconds);
    return 0;
}

const bench_scenario_t bench_recovery = {
    .name = "recovery",
    .description =
        "recover a 1,000,000-key table from its changelog vs bare store batch puts",
    .run = run,
};

/* ---- recovery-checkpoint: restart on the same RocksDB disk, replay a small tail ---- */

static int run_checkpoint(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 1000000, tail = n / 100;
    const char *store = o->store ? o->store : "rocksdb:///tmp/rill-bench-recovery";
    if (strncmp(store, "rocksdb://", 10) != 0) {
        snprintf(r->note, sizeof r->note, "needs --store rocksdb:///dir");
        return -1;
    }
    static unsigned run;
    char url[160], err[256], st[512], fresh[512];
    snprintf(url, sizeof url, "memory://bench-ckpt-%u?keep=false&max.messages=%llu",
             ++run, (unsigned long long)(n + tail + 16));
    bench_fresh_store(store, st, sizeof st, "ckpt");
    bench_fresh_store(store, fresh, sizeof fresh, "full");
    struct event_base *base = event_base_new();
    rill_transport_handlers_t h = {0};
    rill_transport_t *tr =
        rill_transport_new(url, NULL, base, &h, "filler", err, sizeof err);
    rill_topic_spec_t spec = {
        .name = "bench-counts-changelog", .partitions = 1, .compacted = true};
    int32_t parts;
    rill_table_stats_t s1, s2, s3;
    if (!tr || tr->ops->declare(tr, &spec, &parts, err, sizeof err) != RILL_OK ||
        fill(tr, spec.name, 0, n) != 0 || recover_once(base, url, st, &s1) < 0 ||
        fill(tr, spec.name, 0, tail) != 0) {
        snprintf(r->note, sizeof r->note, "setup failed");
        return -1;
    }
    double ckpt = recover_once(base, url, st, &s2);    /* checkpoint + tail */
    double full = recover_once(base, url, fresh, &s3); /* changelog alone */
    rill_transport_destroy(tr);
    event_base_free(base);
    bench_rm_store(st);
    bench_rm_store(fresh);
    if (ckpt < 0 || full < 0 || s2.keys != n || s3.keys != n) {
        snprintf(r->note, sizeof r->note, "recovery failed (%llu / %llu keys)",
                 (unsigned long long)s2.keys, (unsigned long long)s3.keys);
        return -1;
    }
    r->transport = "memory";
    r->store = "rocksdb";
    r->serializer = "raw";
    r->events = n;
    r->seconds = ckpt;
    r->baseline_seconds = full;
    snprintf(
        r->note, sizeof r->note,
        "checkpoint + %llu-message tail in %.3f s (replayed %llu) vs changelog alone "
        "%.3f s; ratio = speed-up",
        (unsigned long long)tail, ckpt, (unsigned long long)s2.recovered, full);
    return 0;
}

const bench_scenario_t bench_recovery_checkpoint = {
    .name = "recovery-checkpoint",
    .description =
        "restart on a RocksDB checkpoint + 1% tail vs recovery from the changelog",
    .needs_server = true, /* writes to disk: only when named */
    .run = run_checkpoint,
};
