/* kafka-table-count and kafka-faust-greetings: JSON records from Kafka counted
 * into a table by one of their fields, against the bare pipeline doing the same
 * work on the same data: the tuned batched librdkafka consumer
 * (bench_kafka_consume), jansson decode, and an open-addressing hash map.
 *
 *   kafka-table-count      memory-table-count's clicks {"user":..,"amount":..} of
 *                          1,000 users over 16 partitions, counted by user;
 *   kafka-faust-greetings  Faust's own Greeting records ({"from_name":..,"to_name":
 *                          ..,"__faust":{"ns":"hello.Greeting"}}) to 1,000 names
 *                          over 8 partitions, keyed by to_name (murmur2, Kafka's
 *                          default partitioner, as Faust produces them), counted
 *                          by to_name.
 *
 * Each record is on the partition of its key so the table partition written is
 * the event's.  Both sides are timed from the first event to the last (rill has
 * no public "partitions assigned" moment: rill_app_is_ready() is already true
 * during the join), so the group join and the table recovery are outside the
 * window; startup_share says how much of the whole consume went before it.  The checksum
 * is the sum of the table's counts (it must be N on both sides). */
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

#define KEYS 1000
#define TIMEOUT_NS 60000000000ull

typedef struct greeting {
    char *from_name;
    char *to_name;
} greeting_t;

RILL_RECORD(greeting_schema, greeting_t, "hello.Greeting",
            RILL_F(greeting_t, from_name, STRING), RILL_F(greeting_t, to_name, STRING));

typedef struct workload {
    const char *tag;
    int parts;
    const rill_schema_t *schema;
    const char *field; /* counted by */
    /* record @p i: its key (the counted field) and JSON value; lengths returned */
    int (*make)(uint64_t i, char *key, size_t klen, char *v, size_t vlen, int *vout);
    const char *(*field_of)(const void *rec); /* of the decoded record */
} workload_t;

static int make_click(uint64_t i, char *key, size_t klen, char *v, size_t vlen,
                      int *vout) {
    int kl = snprintf(key, klen, "user-%d", (int)(i % KEYS));
    *vout = snprintf(v, vlen, "{\"user\":\"%s\",\"amount\":%llu}", key,
                     (unsigned long long)(i % 97));
    return kl;
}

static const char *click_field(const void *rec) {
    return ((const bench_click_t *)rec)->user;
}

static int make_greeting(uint64_t i, char *key, size_t klen, char *v, size_t vlen,
                         int *vout) {
    int kl = snprintf(key, klen, "name-%d", (int)(i % KEYS));
    *vout =
        snprintf(v, vlen,
                 "{\"from_name\":\"sender-%d\",\"to_name\":\"%s\",\"__faust\":{\"ns\":"
                 "\"hello.Greeting\"}}",
                 (int)(i % 7919), key);
    return kl;
}

static const char *greeting_field(const void *rec) {
    return ((const greeting_t *)rec)->to_name;
}

static int produce_records(const workload_t *w, const char *bs, const char *topic,
                           uint64_t n) {
    rd_kafka_t *p = bench_kafka_client(RD_KAFKA_PRODUCER, bs);
    if (!p) return -1;
    for (uint64_t i = 0; i < n; i++) {
        char key[32], v[192];
        int vl, kl = w->make(i, key, sizeof key, v, sizeof v, &vl);
        int32_t part = rill_partition_for_key(key, (size_t)kl, w->parts);
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                 RD_KAFKA_V_KEY(key, (size_t)kl),
                                 RD_KAFKA_V_VALUE(v, (size_t)vl),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 1);
        if ((i & 1023) == 0) rd_kafka_poll(p, 0);
    }
    int rc = rd_kafka_flush(p, 30000) ? -1 : 0;
    rd_kafka_destroy(p);
    return rc;
}

/* ---- rill
 * ---------------------------------------------------------------------------------- */

typedef struct counter {
    const workload_t *w;
    rill_table_t *table;
    uint64_t got, errors, t0, t1;
    rill_err_t last_err;
} counter_t;

static rill_err_t count_record(rill_event_t *ev, void *opaque) {
    counter_t *c = opaque;
    const char *k = c->w->field_of(rill_event_value(ev));
    if (!c->got++) c->t0 = bench_now_ns();
    rill_err_t rc = rill_table_incr(c->table, ev, k, strlen(k), 1, NULL);
    if (rc != RILL_OK) {
        c->errors++;
        c->last_err = rc;
    }
    c->t1 = bench_now_ns();
    return RILL_OK;
}

static int run_rill(const workload_t *w, const bench_opts_t *o, const char *topic,
                    uint64_t n, bench_result_t *r, char *note, size_t nlen) {
    static unsigned run;
    char id[64], cl[128], url[600], err[512], st[512];
    /* a fresh app per run: another run's changelog would be recovered into the table */
    snprintf(id, sizeof id, "bench-%s-%d-%u", w->tag, (int)getpid(), ++run);
    snprintf(cl, sizeof cl, "%s-counts-changelog", id);
    if (bench_kafka_create_topic(o, cl, w->parts, true, note, nlen)) return -1;
    bench_kafka_url(o, url, sizeof url);
    bench_fresh_store(o->store ? o->store : "memory://", st, sizeof st, "kcount");
    bench_side_begin(&r->rill);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK ||
        (o->json_decoder &&
         rill_conf_set(c, "json.decoder", o->json_decoder, err, sizeof err))) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new(id, c, err, sizeof err);
    if (!app) {
        snprintf(note, nlen, "%.200s", err);
        bench_rm_store(st);
        return -1;
    }
    rill_topic_opts_t to = {.partitions = w->parts,
                            .value_type = RILL_TYPE_RECORD(w->schema),
                            .value_serializer = "json"};
    rill_topic_t *t = rill_app_topic(app, topic, &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    counter_t cx = {.w = w, .table = t ? rill_app_table(app, "counts", &tab) : NULL};
    *err = 0;
    uint64_t created = bench_now_ns();
    if (!cx.table || !rill_app_agent(app, "count", t, count_record, &cx, NULL) ||
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
    bench_side_end(&r->rill);
    r->seconds = (double)(cx.t1 - cx.t0) / 1e9;
    r->startup_share =
        cx.t1 > created ? (double)(cx.t0 - created) / (double)(cx.t1 - created) : 0;
    uint64_t keys;
    int64_t sum;
    bench_table_total(cx.table, &keys, &sum);
    r->checksum = (uint64_t)sum;
    int rc = 0;
    if (cx.got != n || cx.errors || sum != (int64_t)n || keys != KEYS) {
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

typedef struct raw {
    const char *field;
    bench_map_t m;
    uint64_t bad;
} raw_t;

static void raw_count(const rd_kafka_message_t *msg, void *opaque) {
    raw_t *x = opaque;
    json_error_t e;
    json_t *j = json_loadb(msg->payload, msg->len, 0, &e);
    const char *u = j ? json_string_value(json_object_get(j, x->field)) : NULL;
    if (u)
        bench_map_incr(&x->m, u);
    else
        x->bad++;
    json_decref(j);
}

static int run_raw(const workload_t *w, const char *bs, const char *topic, uint64_t n,
                   bench_result_t *r, char *note, size_t nlen) {
    raw_t x = {.field = w->field};
    bench_map_init(&x.m, 4096); /* > 2 * KEYS, as in memory-table-count */
    bench_kafka_times_t t;
    bench_side_begin(&r->base);
    uint64_t got = bench_kafka_consume(bs, topic, w->parts, n, raw_count, &x, &t);
    bench_side_end(&r->base);
    r->baseline_seconds = (double)(t.last - t.first) / 1e9;
    r->baseline_startup_share =
        t.last > t.created ? (double)(t.first - t.created) / (double)(t.last - t.created)
                           : 0;
    uint64_t keys;
    int64_t sum;
    bench_map_finish(&x.m, &keys, &sum);
    r->baseline_checksum = (uint64_t)sum;
    if (got != n || sum != (int64_t)n || keys != KEYS) {
        snprintf(note, nlen,
                 "raw counted %llu of %llu events (%llu undecodable) over %llu keys",
                 (unsigned long long)sum, (unsigned long long)n,
                 (unsigned long long)x.bad, (unsigned long long)keys);
        return -1;
    }
    return 0;
}

static int run_workload(const workload_t *w, uint64_t dflt, const bench_opts_t *o,
                        bench_result_t *r) {
    static unsigned run;
    uint64_t n = o->events ? o->events : dflt;
    if (n > 400000 && !o->broker) {
        /* the mock keeps ~44k messages of 100 B per partition: more would be lost */
        snprintf(r->note, sizeof r->note, "--events at most 400000 (mock retention)");
        return -1;
    }
    const char *bs = bench_kafka_bootstrap(o, r->note, sizeof r->note);
    if (!bs) return -1;
    char ta[64], tb[64];
    snprintf(ta, sizeof ta, "bench-%s-raw-%d-%u", w->tag, (int)getpid(), ++run);
    snprintf(tb, sizeof tb, "bench-%s-rill-%d-%u", w->tag, (int)getpid(), run);
    if (bench_kafka_create_topic(o, ta, w->parts, false, r->note, sizeof r->note) ||
        bench_kafka_create_topic(o, tb, w->parts, false, r->note, sizeof r->note))
        return -1;
    if (produce_records(w, bs, ta, n) != 0 || produce_records(w, bs, tb, n) != 0) {
        snprintf(r->note, sizeof r->note, "producing the records failed");
        return -1;
    }
    if (run_raw(w, bs, ta, n, r, r->note, sizeof r->note) != 0 ||
        run_rill(w, o, tb, n, r, r->note, sizeof r->note) != 0)
        return -1;
    r->transport = "kafka";
    r->store = o->store && !strncmp(o->store, "rocksdb", 7) ? "rocksdb" : "memory";
    r->serializer = o->json_decoder ? o->json_decoder : "json";
    r->events = n;
    r->has_checksum = true;
    snprintf(r->lat_what, sizeof r->lat_what, "not measured (backlog drain)");
    snprintf(r->note, sizeof r->note,
             "baseline: tuned batched librdkafka + jansson decode + hash-map increment");
    return 0;
}

static const workload_t clicks = {"ktc",  BENCH_KAFKA_PARTS, &bench_click_schema,
                                  "user", make_click,        click_field};
static const workload_t greetings = {
    "faust", 8, &greeting_schema, "to_name", make_greeting, greeting_field};

static int run_clicks(const bench_opts_t *o, bench_result_t *r) {
    return run_workload(&clicks, 200000, o, r);
}

static int run_greetings(const bench_opts_t *o, bench_result_t *r) {
    return run_workload(&greetings, 200000, o, r);
}

const bench_scenario_t bench_kafka_table_count = {
    .name = "kafka-table-count",
    .description = "JSON records from Kafka -> table increment vs batched "
                   "librdkafka+jansson+hashmap",
    .run = run_clicks,
};

const bench_scenario_t bench_kafka_faust_greetings = {
    .name = "kafka-faust-greetings",
    .description = "Faust's Greeting records from Kafka counted by to_name vs batched "
                   "librdkafka+jansson+hashmap",
    .run = run_greetings,
};
#endif
