/* kafka-table-count: memory-table-count's work (JSON clicks in, table[user] += 1)
 * over Kafka: N clicks of USERS users on a 16-partition topic of the broker of
 * kafka-passthrough (the in-process mock unless --broker names one).  Baseline:
 * the batched bare librdkafka consumer of kafka-passthrough doing the same work
 * as memory-table-count's baseline (jansson decode + open-addressing hash map).
 * Both sides are timed from the first event to the last, so the group join and
 * the table recovery are not counted. */
#ifdef RILL_HAVE_KAFKA
#include <event2/event.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"
#include "kafka_common.h"

#define PARTS BENCH_KAFKA_PARTS
#define USERS 1000
#define TIMEOUT_NS 60000000000ull

/* The clicks of memory-table-count, each on the partition of its user's key so
 * that the table partition written is the one of the event being handled. */
static int produce_clicks(const char *bs, const char *topic, uint64_t n) {
    rd_kafka_t *p = bench_kafka_client(RD_KAFKA_PRODUCER, bs);
    if (!p) return -1;
    for (uint64_t i = 0; i < n; i++) {
        char user[16], v[128];
        int ulen = snprintf(user, sizeof user, "user-%d", (int)(i % USERS));
        int vlen = snprintf(v, sizeof v, "{\"user\":\"%s\",\"amount\":%llu}", user,
                            (unsigned long long)(i % 97));
        int32_t part = rill_partition_for_key(user, (size_t)ulen, PARTS);
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                 RD_KAFKA_V_KEY(user, (size_t)ulen),
                                 RD_KAFKA_V_VALUE(v, (size_t)vlen),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 1);
        if ((i & 1023) == 0) rd_kafka_poll(p, 0);
    }
    int rc = rd_kafka_flush(p, 60000) ? -1 : 0;
    rd_kafka_destroy(p);
    return rc;
}

/* ---- rill
 * ---------------------------------------------------------------------------------- */

static int run_rill(const bench_opts_t *o, const char *bs, const char *topic, uint64_t n,
                    double *secs, char *note, size_t nlen) {
    static unsigned run;
    char id[64], cl[128], url[512], err[512], st[512];
    /* a fresh app per run: another run's changelog would be recovered into the table */
    snprintf(id, sizeof id, "bench-ktc-%d-%u", (int)getpid(), ++run);
    snprintf(cl, sizeof cl, "%s-counts-changelog", id);
    bench_kafka_create_topic(cl); /* the mock does not implement CreateTopics */
    snprintf(url, sizeof url, "kafka://%s", bs);
    bench_fresh_store(o->store ? o->store : "memory://", st, sizeof st, "kcount");
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new(id, c, err, sizeof err);
    if (!app) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        bench_rm_store(st);
        return -1;
    }
    rill_topic_opts_t to = {.partitions = PARTS,
                            .value_type = RILL_TYPE_RECORD(&bench_click_schema),
                            .value_serializer = "json"};
    rill_topic_t *t = rill_app_topic(app, topic, &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    bench_counter_t cx = {.table = t ? rill_app_table(app, "counts", &tab) : NULL};
    *err = 0;
    if (!cx.table || !rill_app_agent(app, "count", t, bench_count_click, &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        bench_rm_store(st);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    uint64_t deadline = bench_now_ns() + TIMEOUT_NS;
    while (cx.got < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *secs = (double)(cx.t1 - cx.t0) / 1e9;
    uint64_t keys;
    int64_t sum;
    bench_table_total(cx.table, &keys, &sum);
    int rc = 0;
    if (cx.got != n || cx.errors || sum != (int64_t)n || keys != USERS) {
        snprintf(note, nlen,
                 "rill handled %llu of %llu events (%llu table errors, last %s); the "
                 "table counts %lld over %llu keys",
                 (unsigned long long)cx.got, (unsigned long long)n,
                 (unsigned long long)cx.errors,
                 cx.errors ? rill_err_name(cx.last_err) : "none", (long long)sum,
                 (unsigned long long)keys);
        rc = -1;
    }
    rill_app_stop(app);
    event_base_dispatch(base); /* returns once the stop is done */
    rill_app_destroy(app);
    bench_rm_store(st);
    return rc;
}

/* ---- baseline: batched librdkafka + jansson + open addressing
 * ----------------------------- */

static int run_raw(const char *bs, const char *topic, uint64_t n, double *secs,
                   char *note, size_t nlen) {
    rd_kafka_t *c = bench_kafka_client(RD_KAFKA_CONSUMER, bs);
    if (!c) {
        snprintf(note, nlen, "raw consumer: rd_kafka_new failed");
        return -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    bench_map_t m;
    bench_map_init(&m, 4096); /* > 2 * USERS, as in memory-table-count */
    rd_kafka_message_t *ms[1024];
    uint64_t got = 0, bad = 0, t0 = 0, t1 = 0, deadline = bench_now_ns() + TIMEOUT_NS;
    while (got + bad < n && bench_now_ns() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 100, ms, 1024);
        for (ssize_t i = 0; i < k; i++) {
            if (!ms[i]->err) {
                if (!got && !bad) t0 = bench_now_ns();
                json_error_t e;
                json_t *j = json_loadb(ms[i]->payload, ms[i]->len, 0, &e);
                const char *u = j ? json_string_value(json_object_get(j, "user")) : NULL;
                if (u) {
                    bench_map_incr(&m, u);
                    got++;
                } else {
                    bad++;
                }
                json_decref(j);
                t1 = bench_now_ns();
            }
            rd_kafka_message_destroy(ms[i]);
        }
    }
    *secs = (double)(t1 - t0) / 1e9;
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    uint64_t keys;
    int64_t sum;
    bench_map_finish(&m, &keys, &sum);
    if (got != n || sum != (int64_t)n || keys != USERS) {
        snprintf(note, nlen,
                 "raw counted %llu of %llu events (%llu undecodable) over %llu keys",
                 (unsigned long long)sum, (unsigned long long)n, (unsigned long long)bad,
                 (unsigned long long)keys);
        return -1;
    }
    return 0;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    static unsigned run;
    uint64_t n = o->events ? o->events : 200000;
    if (n > 400000 && !o->broker) {
        /* the mock keeps ~44k messages of 100 B per partition: more would be lost */
        snprintf(r->note, sizeof r->note, "--events at most 400000 (mock retention)");
        return -1;
    }
    const char *bs = bench_kafka_bootstrap(o);
    if (!bs) {
        snprintf(r->note, sizeof r->note, "no Kafka broker");
        return -1;
    }
    double rs[99], bsec[99];
    for (int i = 0; i < o->repeat; i++) {
        char ta[64], tb[64];
        snprintf(ta, sizeof ta, "bench-ktc-raw-%u", ++run);
        snprintf(tb, sizeof tb, "bench-ktc-rill-%u", run);
        bench_kafka_create_topic(ta);
        bench_kafka_create_topic(tb);
        if (produce_clicks(bs, ta, n) != 0 || produce_clicks(bs, tb, n) != 0) {
            snprintf(r->note, sizeof r->note, "producing the clicks failed");
            return -1;
        }
        if (run_raw(bs, ta, n, &bsec[i], r->note, sizeof r->note) != 0 ||
            run_rill(o, bs, tb, n, &rs[i], r->note, sizeof r->note) != 0) {
            fprintf(stderr, "kafka-table-count: error: %s\n", r->note);
            return -1;
        }
    }
    r->transport = "kafka";
    r->store = o->store && !strncmp(o->store, "rocksdb", 7) ? "rocksdb" : "memory";
    r->serializer = "json";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bsec, o->repeat);
    snprintf(r->note, sizeof r->note,
             "baseline: batched librdkafka + jansson decode + hash-map increment");
    return 0;
}

const bench_scenario_t bench_kafka_table_count = {
    .name = "kafka-table-count",
    .description = "JSON records from Kafka -> table increment vs batched "
                   "librdkafka+jansson+hashmap",
    .run = run,
};
#endif
