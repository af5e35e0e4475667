/* memory-table-count-web (issue 16, performance): the memory-table-count workload
 * (JSON click records, table[user] += 1 per event, memory://, the store given by
 * --store: memory:// by default)
 * with the worker's web server on, in one run cut into phases of PHASE_MS: in the
 * "rill" phases a client thread asks GET /metrics every POLL_MS, in the "baseline"
 * phases nobody asks.  Phases go scraped, not, not, scraped (ABBA, so a drift of the
 * machine's speed during the run weighs on both sides alike), after one unmeasured
 * warm-up phase; each side's rate is its events over its phases' time, so the ratio
 * is the cost of being scraped on a machine whose load changes by the second.
 *
 * The run is time-based: GROUPS groups of four phases by default (8 s, about 40
 * scrapes), or with --events N as many groups as it takes to process N events.  The
 * records cycle through a pool of POOL payloads and the broker trims what was
 * committed (max.messages), so memory stays bounded however long it runs. */
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"

#define CHUNK 4096
#define USERS 1000
#define PARTITIONS 4
#define POLL_MS 100
#define PHASE_MS 500
#define GROUPS 4
#define POOL 256000
/* The broker holds MAX_MESSAGES a partition and trims what was committed, so the
 * run commits every COMMIT_MS (the default 1 s is 500k events a partition at 2 M
 * events/s: a partition filled before its commit holds the bench's sends, and the
 * commit waits for those sends, so neither moves on; a shorter interval keeps the
 * log well below full). */
#define MAX_MESSAGES 600000
#define COMMIT_MS "200"

typedef struct poller {
    int port;
    atomic_bool stop, on;
    /* written by the poller, read once it has stopped */
    uint64_t answered, failed;
    double ms_sum, ms_max;
} poller_t;

/* CPU time of the calling thread (the loop's: the scrapes are answered there). */
static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

/* While on: GET /metrics every POLL_MS (from the previous one's start). */
static void *poll_main(void *opaque) {
    poller_t *p = opaque;
    uint64_t next = bench_now_ns();
    while (!atomic_load(&p->stop)) {
        if (!atomic_load(&p->on)) {
            next = bench_now_ns() + 1000000u;
            sleep_until(next);
            continue;
        }
        int64_t ns = bench_http_get(p->port, "/metrics", NULL);
        if (ns < 0) {
            p->failed++;
        } else {
            double ms = (double)ns / 1e6;
            p->answered++;
            p->ms_sum += ms;
            if (ms > p->ms_max) p->ms_max = ms;
        }
        next += POLL_MS * 1000000ull;
        uint64_t now = bench_now_ns();
        if (next < now) next = now;
        sleep_until(next);
    }
    return NULL;
}

typedef struct ctx {
    rill_table_t *table;
    uint64_t done, errors;
} ctx_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    if (rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, NULL) != RILL_OK)
        c->errors++;
    c->done++;
    return RILL_OK;
}

/* Phase @p k (0-based, after the warm-up) is scraped: ABBA. */
static bool scraped(int k) {
    return k % 4 == 0 || k % 4 == 3;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    bench_clicks_json_t p;
    bench_clicks_json_make(&p, POOL, USERS, 1);
    char url[160], err[512], port[16];
    snprintf(url, sizeof url, "memory://bench-web?keep=false&max.messages=%d",
             MAX_MESSAGES);
    int wport = bench_free_port();
    snprintf(port, sizeof port, "%d", wport);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "web.port", port, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", COMMIT_MS, err, sizeof err);
    const char *store = o->store ? o->store : "memory://";
    char st[512];
    bench_fresh_store(store, st, sizeof st, "web");
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK) {
        snprintf(r->note, sizeof r->note, "%.200s", err);
        rill_conf_destroy(c);
        bench_clicks_json_free(&p);
        return -1;
    }
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS,
                            .value_type = RILL_TYPE_RECORD(&bench_click_schema)};
    rill_topic_t *t = app ? rill_app_topic(app, "clicks", &to) : NULL;
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    cx.table = t ? rill_app_table(app, "counts", &tab) : NULL;
    if (!cx.table || !rill_app_agent(app, "count", t, count_click, &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(r->note, sizeof r->note, "%.200s",
                 !app   ? err
                 : *err ? err
                        : rill_app_errmsg(app));
        rill_app_destroy(app);
        bench_clicks_json_free(&p);
        bench_rm_store(st);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    poller_t pl = {.port = wport};
    pthread_t th;
    if (pthread_create(&th, NULL, poll_main, &pl)) {
        snprintf(r->note, sizeof r->note, "pthread_create failed");
        rill_app_destroy(app);
        bench_clicks_json_free(&p);
        bench_rm_store(st);
        return -1;
    }
    /* k = -1: the warm-up; then groups of four until the events are reached */
    uint64_t sent = 0, ev_side[2] = {0, 0}, ns_side[2] = {0, 0}, cpu_side[2] = {0, 0};
    int phases = 0, rc = 0;
    for (int k = -1;; k++) {
        if (k >= 0 && k % 4 == 0 &&
            (o->events ? ev_side[0] + ev_side[1] >= o->events : k >= 4 * GROUPS))
            break;
        bool on = k >= 0 && scraped(k);
        bench_side_t *side = on ? &r->rill : &r->base;
        atomic_store(&pl.on, on);
        if (k >= 0) bench_side_begin(side);
        uint64_t t0 = bench_now_ns(), d0 = cx.done, c0 = thread_cpu_ns();
        uint64_t end_ns = t0 + PHASE_MS * 1000000ull;
        while (rc == 0 && bench_now_ns() < end_ns) {
            for (uint64_t end = sent + CHUNK; sent < end; sent++) {
                uint64_t i = sent % POOL;
                const char *u = p.user[i % USERS];
                rill_err_t e;
                while ((e = rill_send(t, u, strlen(u), p.json[i], p.len[i],
                                      &rill_send_encoded)) == RILL_EFULL)
                    event_base_loop(base, EVLOOP_ONCE);
                if (e != RILL_OK) {
                    snprintf(r->note, sizeof r->note, "send: %.200s",
                             rill_app_errmsg(app));
                    rc = -1;
                    break;
                }
            }
            while (rc == 0 && cx.done < sent)
                event_base_loop(base, EVLOOP_NONBLOCK);
        }
        if (rc) break;
        if (k < 0) continue;
        bench_side_end(side);
        ev_side[on ? 0 : 1] += cx.done - d0;
        ns_side[on ? 0 : 1] += bench_now_ns() - t0;
        cpu_side[on ? 0 : 1] += thread_cpu_ns() - c0;
        phases++;
    }
    atomic_store(&pl.on, false);
    atomic_store(&pl.stop, true); /* the last scrape may be waiting for the loop */
    while (pthread_tryjoin_np(th, NULL))
        event_base_loop(base, EVLOOP_NONBLOCK);
    rill_app_stop(app);
    for (int i = 0; i < 1000 && rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    rill_app_destroy(app);
    bench_clicks_json_free(&p);
    bench_rm_store(st);
    if (rc) return -1;
    if (cx.errors) {
        snprintf(r->note, sizeof r->note, "%llu table errors",
                 (unsigned long long)cx.errors);
        return -1;
    }
    double on_rate = (double)ev_side[0] / ((double)ns_side[0] / 1e9);
    double off_rate = (double)ev_side[1] / ((double)ns_side[1] / 1e9);
    r->transport = "memory";
    r->store = strncmp(store, "rocksdb", 7) == 0 ? "rocksdb" : "memory";
    r->serializer = "json";
    r->events = ev_side[0] + ev_side[1];
    r->seconds = (double)r->events / on_rate;
    r->baseline_seconds = (double)r->events / off_rate;
    r->scrapes = pl.answered;
    if (pl.answered) {
        r->scrape_ms_mean = pl.ms_sum / (double)pl.answered;
        r->scrape_ms_max = pl.ms_max;
    }
    /* the loop thread's CPU per event: what the machine's load disturbs least */
    double cpu_on = (double)cpu_side[0] / (double)ev_side[0];
    double cpu_off = (double)cpu_side[1] / (double)ev_side[1];
    snprintf(r->note, sizeof r->note,
             "rill: /metrics every %d ms (%llu answers, %llu failed) in %d of %d "
             "phases of %d ms; baseline: the others, not scraped; loop-thread CPU "
             "%.0f vs %.0f ns/event (ratio %.4f); scrape ms: client-side, waiting "
             "for the busy loop included",
             POLL_MS, (unsigned long long)pl.answered, (unsigned long long)pl.failed,
             phases / 2, phases, PHASE_MS, cpu_on, cpu_off, cpu_off / cpu_on);
    return pl.failed ? -1 : 0;
}

const bench_scenario_t bench_memory_table_count_web = {
    .name = "memory-table-count-web",
    .description = "memory-table-count with /metrics scraped every 100 ms vs not scraped",
    .run = run,
};
