/* idle-memory, idle-redis, idle-kafka (issue 13, item 5): the CPU an idle worker
 * uses.  A worker with a topic, an agent and a table starts, waits until it is
 * ready, then its loop runs for 30 s ($BENCH_IDLE_SECONDS) with no events; the
 * CPU time of the whole process over that window (every thread: librdkafka's and
 * hiredis's included, from getrusage) is reported as a share of one core in the
 * note.  The broker is --broker if it is of the scenario's kind, else memory://,
 * a redis-server started here (none on PATH: skipped), or kafka://mock (the
 * in-process mock cluster: its threads are then counted too; pass --broker
 * kafka://<rill-kafka-mock> for the worker alone). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <rill/rill.h>

#include "bench.h"
#ifdef RILL_HAVE_REDIS
#include "redis_server.h"
#endif

static double cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static rill_err_t idle_count(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    return RILL_OK;
}

static void on_done(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static int idle_run(const char *url, const char *kind, bench_result_t *r) {
    char err[512];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_app_t *app = rill_app_new("idle", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 4, .value_type = &rill_type_bytes};
    rill_topic_t *t = rill_app_topic(app, "idle-events", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    rill_table_t *tb = rill_app_table(app, "idle-counts", &tab);
    if (!tb || !rill_app_agent(app, "count", t, idle_count, NULL, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(r->note, sizeof r->note, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    uint64_t t0 = bench_now_ns();
    while (!rill_app_is_ready(app) && bench_now_ns() - t0 < 60000000000ull)
        event_base_loop(base, EVLOOP_ONCE);
    if (!rill_app_is_ready(app)) {
        snprintf(r->note, sizeof r->note, "the worker was not ready within 60 s");
        rill_app_destroy(app);
        return -1;
    }
    /* let the start settle (first commits, a group's join) before measuring */
    struct timeval settle = {3, 0};
    struct event *done = evtimer_new(base, on_done, base);
    evtimer_add(done, &settle);
    event_base_loop(base, 0);
    const char *e = getenv("BENCH_IDLE_SECONDS");
    int secs = e && atoi(e) > 0 ? atoi(e) : 30;
    struct timeval win = {secs, 0};
    evtimer_add(done, &win);
    double c0 = cpu_now();
    uint64_t w0 = bench_now_ns();
    event_base_loop(base, 0);
    double cpu = cpu_now() - c0, wall = (double)(bench_now_ns() - w0) / 1e9;
    event_free(done);
    r->transport = kind;
    r->store = "memory";
    r->serializer = "bytes";
    r->events = 0;
    r->seconds = wall;
    r->rill.cpu_seconds = cpu;
    snprintf(
        r->note, sizeof r->note,
        "idle worker on %s: %.3f s CPU over %.1f s = %.3f %% of a core (all threads)",
        url, cpu, wall, cpu * 100.0 / wall);
    fprintf(stderr, "idle: %s\n", r->note);
    rill_app_destroy(app);
    return 0;
}

static int run_memory(const bench_opts_t *o, bench_result_t *r) {
    (void)o;
    return idle_run("memory://idle", "memory", r);
}

#ifdef RILL_HAVE_KAFKA
static int run_kafka(const bench_opts_t *o, bench_result_t *r) {
    const char *url =
        o->broker && !strncmp(o->broker, "kafka://", 8) ? o->broker : "kafka://mock";
    return idle_run(url, "kafka", r);
}
const bench_scenario_t bench_idle_kafka = {
    "idle-kafka",
    "CPU of an idle worker on Kafka over 30 s (kafka://mock, or --broker), librdkafka's "
    "threads included",
    false, run_kafka};
#endif

#ifdef RILL_HAVE_REDIS
static int run_redis(const bench_opts_t *o, bench_result_t *r) {
    if (o->broker && !strncmp(o->broker, "redis://", 8))
        return idle_run(o->broker, "redis", r);
    rill_test_redis_t *srv = rill_test_redis_start(false);
    if (!srv) {
        snprintf(r->note, sizeof r->note, "no redis-server started (none on PATH?)");
        return BENCH_SKIPPED;
    }
    char url[256];
    snprintf(url, sizeof url, "%s", rill_test_redis_url(srv));
    int rc = idle_run(url, "redis", r);
    rill_test_redis_destroy(srv);
    return rc;
}
const bench_scenario_t bench_idle_redis = {
    "idle-redis",
    "CPU of an idle worker on Redis over 30 s (a redis-server started here)", false,
    run_redis};
#endif

const bench_scenario_t bench_idle_memory = {
    "idle-memory", "CPU of an idle worker on memory:// over 30 s", false, run_memory};
