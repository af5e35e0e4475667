/* kafka-passthrough and kafka-produce: rill over Kafka against bare librdkafka on
 * the same broker (an in-process librdkafka mock cluster unless --broker names
 * one) with the same data: 100-byte values over 16 partitions.  The raw consumer
 * is the tuned, batched one (rd_kafka_consume_batch_queue with
 * queued.min.messages=1000000); consume rates are timed from the first message to
 * the last, so the group join (~3 s on the mock) is not counted on either side. */
#ifdef RILL_HAVE_KAFKA
#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "kafka_common.h"

#define PARTS BENCH_KAFKA_PARTS
#define VLEN 100

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock_mc;

const char *bench_kafka_bootstrap(const bench_opts_t *o) {
    if (o->broker && !strncmp(o->broker, "kafka://", 8)) return o->broker + 8;
    if (!mock_mc) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        mock_mc = rd_kafka_mock_cluster_new(mock_rk, 1);
    }
    return rd_kafka_mock_cluster_bootstraps(mock_mc);
}

void bench_kafka_create_topic(const char *name) {
    if (mock_mc) rd_kafka_mock_topic_create(mock_mc, name, PARTS, 1);
}

rd_kafka_t *bench_kafka_client(rd_kafka_type_t type, const char *bs) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    } else {
        rd_kafka_conf_set(c, "group.id", "bench-raw", err, sizeof err);
        rd_kafka_conf_set(c, "queued.min.messages", "1000000", err, sizeof err);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    }
    return rd_kafka_new(type, c, err, sizeof err);
}

static double raw_produce(const char *bs, const char *topic, uint64_t n) {
    rd_kafka_t *p = bench_kafka_client(RD_KAFKA_PRODUCER, bs);
    char v[VLEN];
    memset(v, 'x', sizeof v);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_PARTITION((int32_t)(i % PARTS)),
                                 RD_KAFKA_V_VALUE(v, sizeof v),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 1);
        if ((i & 1023) == 0) rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 60000);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    rd_kafka_destroy(p);
    return s;
}

static double raw_consume(const char *bs, const char *topic, uint64_t n) {
    rd_kafka_t *c = bench_kafka_client(RD_KAFKA_CONSUMER, bs);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    rd_kafka_message_t *ms[1024];
    uint64_t got = 0, t0 = 0, deadline = bench_now_ns() + 60000000000ull, sum = 0;
    while (got < n && bench_now_ns() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 100, ms, 1024);
        for (ssize_t i = 0; i < k; i++) {
            if (!ms[i]->err) {
                if (!got++) t0 = bench_now_ns();
                sum += ms[i]->len;
            }
            rd_kafka_message_destroy(ms[i]);
        }
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got >= n && sum ? s : -1;
}

typedef struct rctx {
    uint64_t got, delivered, t0, t1;
} rctx_t;

static int on_event(rill_event_t *ev, void *opaque) {
    rctx_t *r = opaque;
    size_t len;
    rill_event_value_bytes(ev, &len);
    if (!r->got++) r->t0 = bench_now_ns();
    r->t1 = bench_now_ns();
    return RILL_OK;
}

static void on_dr(rill_err_t err, const char *m, int32_t p, int64_t off, void *opaque) {
    (void)m;
    (void)p;
    (void)off;
    if (!err) ((rctx_t *)opaque)->delivered++;
}

/* rill produces @p n into @p topic (timed), then consumes them with an agent. */
static int run_rill(const char *bs, const char *topic, uint64_t n, double *prod,
                    double *cons, char *note, size_t nlen) {
    char url[512], err[512];
    snprintf(url, sizeof url, "kafka://%s", bs);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    rill_app_t *app = rill_app_new("bench-kafka", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTS};
    rill_topic_t *t = rill_app_topic(app, topic, &to);
    rctx_t r = {0};
    rill_app_agent(app, "count", t, on_event, &r, NULL);
    if (rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", err);
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    char v[VLEN];
    memset(v, 'x', sizeof v);
    rill_send_opts_t o = {.cb = on_dr, .opaque = &r, .use_partition = true};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        o.partition = (int32_t)(i % PARTS);
        while (rill_send_raw(t, NULL, 0, v, sizeof v, &o) == RILL_EFULL)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if ((i & 1023) == 0) event_base_loop(base, EVLOOP_NONBLOCK);
    }
    uint64_t deadline = bench_now_ns() + 60000000000ull;
    while (r.delivered < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *prod = (double)(bench_now_ns() - t0) / 1e9;
    while (r.got < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *cons = (double)(r.t1 - r.t0) / 1e9;
    rill_app_destroy(app);
    if (r.got < n) {
        snprintf(note, nlen, "rill consumed %llu of %llu", (unsigned long long)r.got,
                 (unsigned long long)n);
        return -1;
    }
    return 0;
}

static int run_both(const bench_opts_t *o, bench_result_t *r, bool produce) {
    static unsigned run;
    uint64_t n = o->events ? o->events : 200000;
    const char *bs = bench_kafka_bootstrap(o);
    if (!bs) {
        snprintf(r->note, sizeof r->note, "no Kafka broker");
        return -1;
    }
    double rp[99], rc[99], bp[99], bc[99];
    for (int i = 0; i < o->repeat; i++) {
        char ta[64], tb[64];
        snprintf(ta, sizeof ta, "bench-raw-%u", ++run);
        snprintf(tb, sizeof tb, "bench-rill-%u", run);
        bench_kafka_create_topic(ta);
        bench_kafka_create_topic(tb);
        bp[i] = raw_produce(bs, ta, n);
        bc[i] = raw_consume(bs, ta, n);
        if (bc[i] < 0 ||
            run_rill(bs, tb, n, &rp[i], &rc[i], r->note, sizeof r->note) != 0)
            return -1;
    }
    r->transport = "kafka";
    r->store = "";
    r->serializer = "raw";
    r->events = n;
    double prod = bench_median(rp, o->repeat), cons = bench_median(rc, o->repeat);
    double bprod = bench_median(bp, o->repeat), bcons = bench_median(bc, o->repeat);
    r->seconds = produce ? prod : cons;
    r->baseline_seconds = produce ? bprod : bcons;
    snprintf(r->note, sizeof r->note,
             "produce %.0f/s vs raw %.0f/s (%.2f); consume %.0f/s vs raw %.0f/s (%.2f)",
             n / prod, n / bprod, bprod / prod, n / cons, n / bcons, bcons / cons);
    return 0;
}

static int run_pass(const bench_opts_t *o, bench_result_t *r) {
    return run_both(o, r, false);
}

static int run_prod(const bench_opts_t *o, bench_result_t *r) {
    return run_both(o, r, true);
}

const bench_scenario_t bench_kafka_passthrough = {
    .name = "kafka-passthrough",
    .description =
        "consume 100-byte events through an agent vs a batched bare librdkafka consumer",
    .run = run_pass,
};

const bench_scenario_t bench_kafka_produce = {
    .name = "kafka-produce",
    .description = "rill_send of 100-byte events vs bare rd_kafka_producev",
    .run = run_prod,
};
#endif
