/* memory-table-count-web (issue 16, performance): the memory-table-count workload
 * (JSON click records, table[user] += 1 per event, memory://, the store given by
 * --store: memory:// by default)
 * with the worker's web server on, in one run cut into phases of PHASE_MS of three
 * kinds: in the "rill" phases a client thread asks the worker GET /metrics every
 * POLL_MS; in the "baseline" phases nobody asks; in the "control" phases the same
 * client asks a stand-in server instead (its own thread, the same size of answer),
 * so the machine carries the same client and HTTP traffic while the worker's loop
 * serves nothing.  ratio (rill / baseline) is the figure, the cost of
 * being scraped; control_ratio (rill / control) is what serving the scrapes on
 * the loop costs, with the client's own load on a 2-core machine taken out.
 * Phases go rill, baseline, control, control, baseline, rill (a drift of the
 * machine's speed during the run weighs on each kind alike), after one unmeasured
 * warm-up phase; each kind's rate is its events over its phases' time.
 *
 * The run is time-based: GROUPS groups of six phases by default (12 s, about 40
 * scrapes of the worker), or with --events N as many groups as it takes to
 * process N events.  The records cycle through a pool of POOL payloads and the
 * broker trims what was committed (max.messages), so memory stays bounded however
 * long it runs. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
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
    atomic_int port; /* the worker's, or the stand-in's */
    atomic_bool stop, on;
    /* written by the poller, read once it has stopped */
    int worker_port;
    atomic_size_t *bytes; /* the size of the worker's last answer, for the stand-in */
    uint64_t answered, failed;
    double ms_sum, ms_max;
} poller_t;

/* The control phases' server: GET answers a body of @c len bytes (as many as the
 * worker's last /metrics answer; the rill phases come first), from a thread of
 * its own; it stops once @c stop is set (a timer looks every 10 ms). */
#define STANDIN_MAX (1 << 20)
typedef struct standin {
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    char *body; /* STANDIN_MAX bytes */
    atomic_size_t len;
    int port;
    atomic_bool stop;
    pthread_t th;
} standin_t;

static void standin_answer(struct evhttp_request *req, void *opaque) {
    standin_t *s = opaque;
    struct evbuffer *b = evbuffer_new();
    size_t len = atomic_load(&s->len);
    if (b)
        evbuffer_add_reference(b, s->body, len < STANDIN_MAX ? len : STANDIN_MAX, NULL,
                               NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    if (b) evbuffer_free(b);
}

static void standin_tick(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    standin_t *s = opaque;
    if (atomic_load(&s->stop)) event_base_loopbreak(s->base);
}

static void *standin_main(void *opaque) {
    event_base_dispatch(((standin_t *)opaque)->base);
    return NULL;
}

static void standin_free(standin_t *s) {
    if (s->tick) event_free(s->tick);
    if (s->http) evhttp_free(s->http);
    if (s->base) event_base_free(s->base);
    free(s->body);
}

/* A stand-in, on its thread; 0, or -1 with @p s freed. */
static int standin_start(standin_t *s) {
    memset(s, 0, sizeof *s);
    s->body = malloc(STANDIN_MAX);
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    s->tick = s->base ? event_new(s->base, -1, EV_PERSIST, standin_tick, s) : NULL;
    s->port = bench_free_port();
    struct timeval ten = {0, 10000};
    if (!s->body || !s->tick || !s->http || s->port <= 0 ||
        evhttp_bind_socket(s->http, "127.0.0.1", (uint16_t)s->port) != 0 ||
        event_add(s->tick, &ten) != 0) {
        standin_free(s);
        return -1;
    }
    for (size_t i = 0; i < STANDIN_MAX; i++) /* text lines, as /metrics has */
        s->body[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
    evhttp_set_gencb(s->http, standin_answer, s);
    if (pthread_create(&s->th, NULL, standin_main, s)) {
        standin_free(s);
        return -1;
    }
    return 0;
}

static void standin_stop(standin_t *s) {
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    standin_free(s);
}

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
        int port = atomic_load(&p->port);
        uint64_t bytes = 0;
        int64_t ns = bench_http_get(port, "/metrics", &bytes);
        if (ns < 0) {
            p->failed++;
        } else if (port == p->worker_port) {
            atomic_store(p->bytes, (size_t)bytes);
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

/* Phase @p k (0-based, after the warm-up): 0 rill (the worker scraped), 1
 * baseline (nobody scraped), 2 control (the stand-in scraped); ABCCBA. */
static int kind_of(int k) {
    static const int order[6] = {0, 1, 2, 2, 1, 0};
    return order[k % 6];
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
    standin_t si;
    if (standin_start(&si) != 0) {
        snprintf(r->note, sizeof r->note, "no stand-in server");
        rill_app_destroy(app);
        bench_clicks_json_free(&p);
        bench_rm_store(st);
        return -1;
    }
    poller_t pl = {.worker_port = wport, .bytes = &si.len};
    atomic_store(&pl.port, wport);
    pthread_t th;
    if (pthread_create(&th, NULL, poll_main, &pl)) {
        snprintf(r->note, sizeof r->note, "pthread_create failed");
        standin_stop(&si);
        rill_app_destroy(app);
        bench_clicks_json_free(&p);
        bench_rm_store(st);
        return -1;
    }
    /* k = -1: the warm-up; then groups of six until the events are reached */
    uint64_t sent = 0, ev_kind[3] = {0, 0, 0}, ns_kind[3] = {0, 0, 0},
             cpu_kind[3] = {0, 0, 0};
    bench_side_t control_side = {0};
    int phases = 0, rc = 0;
    for (int k = -1;; k++) {
        if (k >= 0 && k % 6 == 0 &&
            (o->events ? ev_kind[0] + ev_kind[1] + ev_kind[2] >= o->events
                       : k >= 6 * GROUPS))
            break;
        int kind = k >= 0 ? kind_of(k) : 1;
        bench_side_t *side = kind == 0 ? &r->rill : kind == 1 ? &r->base : &control_side;
        atomic_store(&pl.port, kind == 2 ? si.port : wport);
        atomic_store(&pl.on, k >= 0 && kind != 1);
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
        ev_kind[kind] += cx.done - d0;
        ns_kind[kind] += bench_now_ns() - t0;
        cpu_kind[kind] += thread_cpu_ns() - c0;
        phases++;
    }
    atomic_store(&pl.on, false);
    atomic_store(&pl.stop, true); /* the last scrape may be waiting for the loop */
    while (pthread_tryjoin_np(th, NULL))
        event_base_loop(base, EVLOOP_NONBLOCK);
    standin_stop(&si);
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
    double rate[3];
    for (int i = 0; i < 3; i++)
        rate[i] = (double)ev_kind[i] / ((double)ns_kind[i] / 1e9);
    r->transport = "memory";
    r->store = strncmp(store, "rocksdb", 7) == 0 ? "rocksdb" : "memory";
    r->serializer = "json";
    r->events = ev_kind[0] + ev_kind[1] + ev_kind[2];
    r->seconds = (double)r->events / rate[0];
    r->baseline_seconds = (double)r->events / rate[1];
    r->control_seconds = (double)r->events / rate[2];
    r->scrapes = pl.answered;
    if (pl.answered) {
        r->scrape_ms_mean = pl.ms_sum / (double)pl.answered;
        r->scrape_ms_max = pl.ms_max;
    }
    /* the loop thread's CPU per event: what the machine's load disturbs least */
    double cpu[3];
    for (int i = 0; i < 3; i++)
        cpu[i] = (double)cpu_kind[i] / (double)ev_kind[i];
    snprintf(
        r->note, sizeof r->note,
        "%d phases of %d ms, a third each: worker scraped every %d ms (%llu answers, "
        "%llu failed), not scraped, stand-in scraped (%llu bytes); loop-thread "
        "CPU %.0f / %.0f / %.0f ns/event (vs not scraped %.4f, vs stand-in %.4f); "
        "scrape ms client-side, waiting for the busy loop included",
        phases, PHASE_MS, POLL_MS, (unsigned long long)pl.answered,
        (unsigned long long)pl.failed, (unsigned long long)atomic_load(&si.len), cpu[0],
        cpu[1], cpu[2], cpu[1] / cpu[0], cpu[2] / cpu[0]);
    return pl.failed ? -1 : 0;
}

const bench_scenario_t bench_memory_table_count_web = {
    .name = "memory-table-count-web",
    .description = "memory-table-count with /metrics scraped every 100 ms vs not scraped "
                   "(and vs a stand-in server scraped alike)",
    .run = run,
};
