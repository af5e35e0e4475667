/* web-metrics-scrape (issue 16, performance): the time of one GET /metrics of a
 * worker with 4 agents, each consuming a topic of 64 partitions into a table of 64
 * partitions (1,000 keys each, every partition committed, its watermark read), so
 * 4 x 64 consumed partitions with committed offset, watermark and lag series, 4
 * tables and their changelogs.  The loop has nothing else to do; a client thread
 * asks GET /metrics ("rill") and GET /health ("baseline": the same connection and
 * HTTP work without the metrics) in turn, each on a fresh connection, timed
 * client-side from connect to the last byte.  --events N: scrapes per side (default
 * 200), --store URL: the tables' store (memory:// by default).  The ratio is
 * /health's time over /metrics'; scrape_ms_* is what a scrape costs. */
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"

#define AGENTS 4
#define PARTITIONS 64
#define KEYS 1000
#define EVENTS_PER_TOPIC 8000
#define SCRAPES 200

typedef struct client {
    int port;
    uint64_t n;
    atomic_bool done;
    bench_hist_t lat[2]; /* [0] /metrics, [1] /health */
    uint64_t ns[2], max_ns[2], bytes, failed;
} client_t;

static void *client_main(void *opaque) {
    client_t *c = opaque;
    static const char *const path[2] = {"/metrics", "/health"};
    for (uint64_t i = 0; i < 2 * c->n; i++) {
        int k = (int)(i % 2);
        uint64_t bytes;
        int64_t ns = bench_http_get(c->port, path[k], &bytes);
        if (ns < 0) {
            c->failed++;
            continue;
        }
        bench_hist_add(&c->lat[k], (uint64_t)ns);
        c->ns[k] += (uint64_t)ns;
        if ((uint64_t)ns > c->max_ns[k]) c->max_ns[k] = (uint64_t)ns;
        if (!k) c->bytes = bytes;
    }
    atomic_store(&c->done, true);
    return NULL;
}

typedef struct agent_ctx {
    rill_table_t *table;
    uint64_t done, errors;
} agent_ctx_t;

static rill_err_t count_key(rill_event_t *ev, void *opaque) {
    agent_ctx_t *a = opaque;
    size_t klen;
    const void *key = rill_event_key_bytes(ev, &klen);
    if (rill_table_incr(a->table, ev, key, klen, 1, NULL) != RILL_OK) a->errors++;
    a->done++;
    return RILL_OK;
}

static void loop_for(struct event_base *base, uint64_t ms) {
    uint64_t end = bench_now_ns() + ms * 1000000u;
    while (bench_now_ns() < end)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    char err[512], port[16];
    int wport = bench_free_port();
    snprintf(port, sizeof port, "%d", wport);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://bench-scrape?keep=false", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "web.lag.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "web.port", port, err, sizeof err);
    const char *store = o->store ? o->store : "memory://";
    char st[512];
    bench_fresh_store(store, st, sizeof st, "scrape");
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK) {
        snprintf(r->note, sizeof r->note, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    if (!app) {
        snprintf(r->note, sizeof r->note, "%.200s", err);
        bench_rm_store(st);
        return -1;
    }
    static agent_ctx_t ax[AGENTS];
    rill_topic_t *topics[AGENTS];
    bool ok = true;
    for (int i = 0; i < AGENTS && ok; i++) {
        char name[32];
        snprintf(name, sizeof name, "in-%d", i);
        rill_topic_opts_t to = {.partitions = PARTITIONS};
        topics[i] = rill_app_topic(app, name, &to);
        rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = topics[i]};
        snprintf(name, sizeof name, "counts-%d", i);
        ax[i] = (agent_ctx_t){0};
        ax[i].table = topics[i] ? rill_app_table(app, name, &tab) : NULL;
        snprintf(name, sizeof name, "count-%d", i);
        ok = ax[i].table && rill_app_agent(app, name, topics[i], count_key, &ax[i], NULL);
    }
    if (!ok || rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(r->note, sizeof r->note, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        bench_rm_store(st);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    uint64_t want = 0, got = 0;
    for (int i = 0; i < AGENTS; i++)
        for (int e = 0; e < EVENTS_PER_TOPIC; e++) {
            char key[16];
            int klen = snprintf(key, sizeof key, "user-%d", e % KEYS);
            if (rill_send(topics[i], key, (size_t)klen, "x", 1, &rill_send_encoded) ==
                RILL_OK)
                want++;
        }
    for (uint64_t t0 = bench_now_ns();
         got < want && bench_now_ns() - t0 < 10000000000u;) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        got = 0;
        for (int i = 0; i < AGENTS; i++)
            got += ax[i].done;
    }
    loop_for(base, 400); /* commits, flushes and a watermark read */
    static client_t cl;
    memset(&cl, 0, sizeof cl);
    cl.port = wport;
    cl.n = o->events ? o->events : SCRAPES;
    pthread_t th;
    if (got < want || pthread_create(&th, NULL, client_main, &cl)) {
        snprintf(r->note, sizeof r->note, "%llu of %llu events processed",
                 (unsigned long long)got, (unsigned long long)want);
        rill_app_destroy(app);
        bench_rm_store(st);
        return -1;
    }
    bench_side_begin(&r->rill); /* the whole process: both kinds of request */
    while (!atomic_load(&cl.done))
        event_base_loop(base, EVLOOP_ONCE);
    bench_side_end(&r->rill);
    pthread_join(th, NULL);
    rill_app_stop(app);
    for (int i = 0; i < 1000 && rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    rill_app_destroy(app);
    bench_rm_store(st);
    uint64_t errors = 0;
    for (int i = 0; i < AGENTS; i++)
        errors += ax[i].errors;
    if (cl.failed || errors) {
        snprintf(r->note, sizeof r->note, "%llu requests failed, %llu table errors",
                 (unsigned long long)cl.failed, (unsigned long long)errors);
        return -1;
    }
    r->transport = "memory";
    r->store = strncmp(store, "rocksdb", 7) == 0 ? "rocksdb" : "memory";
    r->serializer = "raw";
    r->events = cl.n;
    r->seconds = (double)cl.ns[0] / 1e9;
    r->baseline_seconds = (double)cl.ns[1] / 1e9;
    bench_result_lat(r, &cl.lat[0], false);
    bench_result_lat(r, &cl.lat[1], true);
    snprintf(r->lat_what, sizeof r->lat_what, "one GET, connect to last byte");
    r->scrapes = cl.n;
    r->scrape_ms_mean = (double)cl.ns[0] / 1e6 / (double)cl.n;
    r->scrape_ms_max = (double)cl.max_ns[0] / 1e6;
    snprintf(r->note, sizeof r->note,
             "events: scrapes; %d agents x %d partitions, %d keys a table; a scrape "
             "%llu bytes; baseline: GET /health; /health max %.3f ms",
             AGENTS, PARTITIONS, KEYS, (unsigned long long)cl.bytes,
             (double)cl.max_ns[1] / 1e6);
    return 0;
}

const bench_scenario_t bench_web_metrics_scrape = {
    .name = "web-metrics-scrape",
    .description = "GET /metrics of 4 agents x 64 partitions + 4 tables vs GET /health",
    .run = run,
};
