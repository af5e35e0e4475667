/* kafka-passthrough and kafka-produce: rill over Kafka against bare librdkafka on
 * the same broker (an in-process librdkafka mock cluster unless --broker names
 * one) with the same data: 100-byte values over 16 partitions.
 *
 * Throughput: each side produces N events (kafka-produce times this, to the last
 * delivery report), then consumes them: rill with an agent in a group, the
 * baseline with the tuned bare consumer (bench_kafka_consume).  Consume rates are
 * timed from the first message to the last (rill has no public "partitions
 * assigned" moment: rill_app_is_ready() is already true during the join);
 * startup_share says how much of the whole consume (client made .. last message)
 * went before the first message (rill's is mostly the group join, ~3 s on the
 * mock; the bare consumer assigns without a group).
 *
 * Latency (produce to handler): after the drain, both sides send LAT_EVENTS more
 * events, one every LAT_GAP_US, with a live consumer, and record when each
 * reaches the handler; kafka-produce reports the send-to-delivery-report latency
 * of the throughput run (under full load, so mostly queueing). */
#ifdef RILL_HAVE_KAFKA
#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rill/rill.h>

#include "bench.h"
#include "kafka_common.h"

#define PARTS BENCH_KAFKA_PARTS
#define VLEN 100
#define LAT_EVENTS 1000
#define LAT_GAP_US 1000
#define TIMEOUT_NS 60000000000ull

/* ---- shared helpers (kafka_common.h)
 * ------------------------------------------------------ */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock_mc;
static char bootstrap[512];

const char *bench_kafka_bootstrap(const bench_opts_t *o, char *why, size_t wlen) {
    if (*bootstrap) return bootstrap;
    if (o->broker) {
        if (strncmp(o->broker, "kafka://", 8) != 0) {
            snprintf(why, wlen, "--broker %.200s is not a kafka:// URL", o->broker);
            return NULL;
        }
        snprintf(bootstrap, sizeof bootstrap, "%.*s", (int)strcspn(o->broker + 8, "?/"),
                 o->broker + 8);
        /* a broker that does not answer fails here, not in a 60 s wait */
        rd_kafka_t *p = bench_kafka_client(RD_KAFKA_PRODUCER, bootstrap);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e =
            p ? rd_kafka_metadata(p, 1, NULL, &md, 5000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (md) rd_kafka_metadata_destroy(md);
        if (p) rd_kafka_destroy(p);
        if (e) {
            snprintf(why, wlen, "no Kafka broker at %.200s answered within 5 s: %s",
                     bootstrap, rd_kafka_err2str(e));
            *bootstrap = 0;
            return NULL;
        }
        return bootstrap;
    }
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    mock_mc = mock_rk ? rd_kafka_mock_cluster_new(mock_rk, 1) : NULL;
    if (!mock_mc) {
        snprintf(why, wlen, "could not start librdkafka's mock cluster: %s", err);
        return NULL;
    }
    snprintf(bootstrap, sizeof bootstrap, "%s",
             rd_kafka_mock_cluster_bootstraps(mock_mc));
    return bootstrap;
}

void bench_kafka_url(const bench_opts_t *o, char *out, size_t n) {
    if (o->broker)
        snprintf(out, n, "%s", o->broker);
    else
        snprintf(out, n, "kafka://%s", bootstrap);
}

/* The partitions @p topic has on the broker (0: none), or -1 on a metadata error. */
static int topic_parts(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md = NULL;
    /* all topics: asking for one by name may auto-create it */
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000)) return -1;
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* The value of @p key in the query of --broker, or NULL. */
static const char *url_param(const char *url, const char *key, char *out, size_t n) {
    const char *q = url ? strchr(url, '?') : NULL;
    size_t kl = strlen(key);
    while (q && *q) {
        q++;
        if (!strncmp(q, key, kl) && q[kl] == '=') {
            snprintf(out, n, "%.*s", (int)strcspn(q + kl + 1, "&"), q + kl + 1);
            return out;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static int create_topics_admin(rd_kafka_t *rk, const char *name, int parts,
                               bool compacted, char *why, size_t wlen) {
    char e2[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, parts, 1, e2, sizeof e2);
    if (!nt) {
        snprintf(why, wlen, "topic %s: %s", name, e2);
        return -1;
    }
    if (compacted) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_AdminOptions_t *ao =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, 5000, e2, sizeof e2);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 6000);
    int rc = 0;
    if (!ev) {
        snprintf(why, wlen,
                 "topic %s does not exist on %s and the broker did not answer "
                 "CreateTopics within 5 s (rill-kafka-mock does not implement it: start "
                 "it with --topics-file FILE and pass --broker 'kafka://%s?create.file="
                 "FILE')",
                 name, bootstrap, bootstrap);
        rc = -1;
    } else {
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result(ev);
        size_t nr = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &nr) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && nr) e = rd_kafka_topic_result_error(tr[0]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(why, wlen,
                     "topic %s does not exist on %s and CreateTopics failed: %s (with "
                     "rill-kafka-mock: start it with --topics-file FILE and pass "
                     "--broker 'kafka://%s?create.file=FILE')",
                     name, bootstrap, rd_kafka_err2str(e), bootstrap);
            rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int bench_kafka_create_topic(const bench_opts_t *o, const char *name, int parts,
                             bool compacted, char *why, size_t wlen) {
    if (mock_mc) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mock_mc, name, parts, 1);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(why, wlen, "mock: topic %s: %s", name, rd_kafka_err2str(e));
            return -1;
        }
        return 0;
    }
    rd_kafka_t *rk = bench_kafka_client(RD_KAFKA_PRODUCER, bootstrap);
    if (!rk) {
        snprintf(why, wlen, "rd_kafka_new failed");
        return -1;
    }
    int have = topic_parts(rk, name), rc = 0;
    char file[512];
    if (have < 0) {
        snprintf(why, wlen, "no metadata from %s within 5 s", bootstrap);
        rc = -1;
    } else if (have == 0 && url_param(o->broker, "create.file", file, sizeof file)) {
        FILE *f = fopen(file, "a");
        if (!f) {
            snprintf(why, wlen, "cannot append to create.file %s", file);
            rc = -1;
        } else {
            fprintf(f, "%s:%d%s\n", name, parts, compacted ? ":compact" : "");
            fclose(f);
        }
    } else if (have == 0) {
        rc = create_topics_admin(rk, name, parts, compacted, why, wlen);
    }
    /* wait for the topic to show in the metadata */
    uint64_t deadline = bench_now_ns() + 10000000000ull;
    while (!rc && (have = topic_parts(rk, name)) <= 0) {
        if (bench_now_ns() > deadline) {
            snprintf(why, wlen,
                     "topic %s did not appear on %s within 10 s (is create.file the "
                     "broker's --topics-file?)",
                     name, bootstrap);
            rc = -1;
        }
        usleep(50000);
    }
    if (!rc && have != parts) {
        snprintf(why, wlen, "topic %s has %d partitions on %s, the scenario needs %d",
                 name, have, bootstrap, parts);
        rc = -1;
    }
    rd_kafka_destroy(rk);
    return rc;
}

rd_kafka_t *bench_kafka_client(rd_kafka_type_t type, const char *bs) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
        rd_kafka_conf_set(c, "message.timeout.ms", "30000", err, sizeof err);
    } else {
        rd_kafka_conf_set(c, "group.id", "bench-raw", err, sizeof err);
        rd_kafka_conf_set(c, "queued.min.messages", "1000000", err, sizeof err);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) rd_kafka_conf_destroy(c);
    return rk;
}

uint64_t bench_kafka_consume(const char *bs, const char *topic, int parts, uint64_t n,
                             bench_kafka_fn fn, void *opaque, bench_kafka_times_t *t) {
    memset(t, 0, sizeof *t);
    t->created = bench_now_ns();
    rd_kafka_t *c = bench_kafka_client(RD_KAFKA_CONSUMER, bs);
    if (!c) return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    t->assigned = bench_now_ns();
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    int fds[2];
    if (pipe(fds) != 0) return 0;
    rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);
    rd_kafka_message_t *ms[1024];
    uint64_t got = 0, deadline = bench_now_ns() + TIMEOUT_NS;
    while (got < n && bench_now_ns() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 0, ms, 1024);
        if (k <= 0) {
            struct pollfd pfd = {fds[0], POLLIN, 0};
            if (poll(&pfd, 1, 100) > 0) {
                char drain[64];
                if (read(fds[0], drain, sizeof drain) < 0) break;
            }
            continue;
        }
        for (ssize_t i = 0; i < k; i++) {
            if (!ms[i]->err) {
                if (!got++) t->first = bench_now_ns();
                fn(ms[i], opaque);
            }
            rd_kafka_message_destroy(ms[i]);
        }
        t->last = bench_now_ns();
    }
    rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got;
}

/* ---- the values: seq and send time first, then padding to VLEN
 * ------------------------------ */

typedef struct stamp {
    uint64_t seq, sent_ns;
} stamp_t;

static void value_of(char v[VLEN], uint64_t seq, uint64_t sent_ns) {
    stamp_t s = {seq, sent_ns};
    memcpy(v, &s, sizeof s);
}

static stamp_t stamp_of(const void *v, size_t len) {
    stamp_t s = {0, 0};
    if (len >= sizeof s) memcpy(&s, v, sizeof s);
    return s;
}

/* ---- baseline
 * ---------------------------------------------------------------------------- */

typedef struct raw_ctx {
    uint64_t sum;
    bench_hist_t lat; /* produce: send to delivery report */
} raw_ctx_t;

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    raw_ctx_t *x = opaque;
    if (!m->err)
        bench_hist_add(&x->lat, bench_now_ns() - (uint64_t)(uintptr_t)m->_private);
}

static double raw_produce(const char *bs, const char *topic, uint64_t n, raw_ctx_t *x) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(c, "message.timeout.ms", "30000", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(c, raw_dr);
    rd_kafka_conf_set_opaque(c, x);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!p) return -1;
    /* the topic's handle made once, as rill's transport does: by name, producev
     * looks the topic up under librdkafka's topic lock on every send */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, topic, NULL);
    if (!rkt) {
        rd_kafka_destroy(p);
        return -1;
    }
    char v[VLEN];
    memset(v, 'x', sizeof v);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t now = bench_now_ns();
        value_of(v, i, now);
        while (rd_kafka_producev(p, RD_KAFKA_V_RKT(rkt),
                                 RD_KAFKA_V_PARTITION((int32_t)(i % PARTS)),
                                 RD_KAFKA_V_VALUE(v, sizeof v),
                                 RD_KAFKA_V_OPAQUE((void *)(uintptr_t)now),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 1);
        if ((i & 1023) == 0) rd_kafka_poll(p, 0);
    }
    int left = rd_kafka_flush(p, 30000) ? rd_kafka_outq_len(p) : 0;
    double s = (double)(bench_now_ns() - t0) / 1e9;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(p);
    return left ? -1 : s;
}

static void raw_sum(const rd_kafka_message_t *m, void *opaque) {
    ((raw_ctx_t *)opaque)->sum += stamp_of(m->payload, m->len).seq;
}

/* The paced latency phase: a live consumer from the beginning of @p topic (empty)
 * and a producer sending one event every LAT_GAP_US after a warm-up. */
static int raw_latency(const char *bs, const char *topic, bench_hist_t *h) {
    rd_kafka_t *c = bench_kafka_client(RD_KAFKA_CONSUMER, bs);
    rd_kafka_t *p = bench_kafka_client(RD_KAFKA_PRODUCER, bs);
    if (!c || !p) return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int i = 0; i < PARTS; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    rd_kafka_message_t *ms[1024];
    uint64_t start = bench_now_ns() + 300000000ull, next = start, sent = 0, got = 0;
    uint64_t deadline = start + 10000000000ull;
    char v[VLEN];
    memset(v, 'x', sizeof v);
    while (got < LAT_EVENTS && bench_now_ns() < deadline) {
        uint64_t now = bench_now_ns();
        if (sent < LAT_EVENTS && now >= next) {
            value_of(v, sent, now);
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_PARTITION((int32_t)(sent % PARTS)),
                              RD_KAFKA_V_VALUE(v, sizeof v),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            sent++;
            next += LAT_GAP_US * 1000ull;
        }
        rd_kafka_poll(p, 0);
        ssize_t k = rd_kafka_consume_batch_queue(q, 0, ms, 1024);
        for (ssize_t i = 0; i < k; i++) {
            if (!ms[i]->err) {
                stamp_t s = stamp_of(ms[i]->payload, ms[i]->len);
                bench_hist_add(h, bench_now_ns() - s.sent_ns);
                got++;
            }
            rd_kafka_message_destroy(ms[i]);
        }
        if (k <= 0) usleep(20); /* the bare loop's idle wait, well under the gap */
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_flush(p, 5000);
    rd_kafka_destroy(p);
    return got == LAT_EVENTS ? 0 : -1;
}

/* ---- rill
 * -------------------------------------------------------------------------------- */

typedef struct rctx {
    uint64_t n, got, delivered, t0, t1, sum, lat_got;
    bench_hist_t lat;    /* the paced phase's produce-to-handler */
    bench_hist_t dr_lat; /* send to delivery report */
} rctx_t;

static rctx_t *rill_ctx;

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    rctx_t *r = opaque;
    size_t len;
    const void *v = rill_event_value_bytes(ev, &len);
    stamp_t s = stamp_of(v, len);
    if (r->got >= r->n) { /* the paced latency phase */
        bench_hist_add(&r->lat, bench_now_ns() - s.sent_ns);
        r->lat_got++;
        return RILL_OK;
    }
    r->sum += s.seq;
    /* the clock at the first and the last event only, as the baseline reads it per
     * batch, not per message (a read per event cost rill ~5 % of its window) */
    if (!r->got++) r->t0 = bench_now_ns();
    if (r->got == r->n) r->t1 = bench_now_ns();
    return RILL_OK;
}

static void on_dr(rill_err_t err, const char *m, int32_t p, int64_t off, void *opaque) {
    (void)m;
    (void)p;
    (void)off;
    if (err) return;
    rill_ctx->delivered++;
    bench_hist_add(&rill_ctx->dr_lat, bench_now_ns() - (uint64_t)(uintptr_t)opaque);
}

/* rill produces @p n into @p topic (timed), then consumes them with an agent, then
 * the paced latency phase. */
static int run_rill(const bench_opts_t *bo, const char *topic, uint64_t n, rctx_t *r,
                    double *prod, double *cons, double *startup, bench_side_t *side,
                    char *note, size_t nlen) {
    char url[600], err[512];
    bench_kafka_url(bo, url, sizeof url);
    bench_side_begin(side);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    rill_app_t *app = rill_app_new("bench-kafka", c, err, sizeof err);
    if (!app) {
        snprintf(note, nlen, "%.200s", err);
        return -1;
    }
    rill_topic_opts_t to = {.partitions = PARTS};
    rill_topic_t *t = rill_app_topic(app, topic, &to);
    r->n = n;
    rill_ctx = r;
    rill_app_agent(app, "count", t, on_event, r, NULL);
    uint64_t created = bench_now_ns();
    if (rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", err);
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    char v[VLEN];
    memset(v, 'x', sizeof v);
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.encoded = true;
    o.cb = on_dr;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t now = bench_now_ns();
        value_of(v, i, now);
        o.partition = (int32_t)(i % PARTS);
        o.opaque = (void *)(uintptr_t)now;
        while (rill_send(t, NULL, 0, v, sizeof v, &o) == RILL_EFULL)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if ((i & 1023) == 0) event_base_loop(base, EVLOOP_NONBLOCK);
    }
    uint64_t deadline = bench_now_ns() + TIMEOUT_NS;
    while (r->delivered < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *prod = (double)(bench_now_ns() - t0) / 1e9;
    while (r->got < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *cons = (double)(r->t1 - r->t0) / 1e9;
    *startup =
        r->t1 > created ? (double)(r->t0 - created) / (double)(r->t1 - created) : 0;
    bench_side_end(side);
    /* paced: one event every LAT_GAP_US, the loop run in between */
    o.cb = NULL;
    uint64_t next = bench_now_ns(), sent = 0;
    deadline = next + 10000000000ull;
    while (r->lat_got < LAT_EVENTS && bench_now_ns() < deadline) {
        uint64_t now = bench_now_ns();
        if (sent < LAT_EVENTS && now >= next) {
            value_of(v, n + sent, now);
            o.partition = (int32_t)(sent % PARTS);
            rill_send(t, NULL, 0, v, sizeof v, &o);
            sent++;
            next += LAT_GAP_US * 1000ull;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (now < next) usleep(20);
    }
    rill_app_destroy(app);
    if (r->got < n) {
        snprintf(note, nlen, "rill consumed %llu of %llu", (unsigned long long)r->got,
                 (unsigned long long)n);
        return -1;
    }
    return 0;
}

static int run_both(const bench_opts_t *o, bench_result_t *r, bool produce) {
    static unsigned run;
    uint64_t n = o->events ? o->events : 600000;
    if (n > 600000 && !o->broker) {
        /* the mock keeps ~44k messages of 100 B per partition: more would be lost */
        snprintf(r->note, sizeof r->note, "--events at most 600000 (mock retention)");
        return -1;
    }
    const char *bs = bench_kafka_bootstrap(o, r->note, sizeof r->note);
    if (!bs) return -1;
    char ta[64], tb[64], tl[64];
    snprintf(ta, sizeof ta, "bench-raw-%d-%u", (int)getpid(), ++run);
    snprintf(tb, sizeof tb, "bench-rill-%d-%u", (int)getpid(), run);
    snprintf(tl, sizeof tl, "bench-lat-%d-%u", (int)getpid(), run);
    if (bench_kafka_create_topic(o, ta, PARTS, false, r->note, sizeof r->note) ||
        bench_kafka_create_topic(o, tb, PARTS, false, r->note, sizeof r->note) ||
        bench_kafka_create_topic(o, tl, PARTS, false, r->note, sizeof r->note))
        return -1;
    static raw_ctx_t x;
    static rctx_t rc;
    static bench_hist_t raw_lat;
    memset(&x, 0, sizeof x);
    memset(&rc, 0, sizeof rc);
    memset(&raw_lat, 0, sizeof raw_lat);
    double bp, bc, rp, rcons, rsu;
    bench_kafka_times_t bt;
    bench_side_begin(&r->base);
    bp = raw_produce(bs, ta, n, &x);
    uint64_t got = bp < 0 ? 0 : bench_kafka_consume(bs, ta, PARTS, n, raw_sum, &x, &bt);
    bench_side_end(&r->base);
    if (got < n) {
        snprintf(r->note, sizeof r->note, "baseline consumed %llu of %llu",
                 (unsigned long long)got, (unsigned long long)n);
        return -1;
    }
    bc = (double)(bt.last - bt.first) / 1e9;
    if (raw_latency(bs, tl, &raw_lat) != 0) {
        snprintf(r->note, sizeof r->note, "baseline latency phase lost events");
        return -1;
    }
    if (run_rill(o, tb, n, &rc, &rp, &rcons, &rsu, &r->rill, r->note, sizeof r->note))
        return -1;
    r->transport = "kafka";
    r->store = "";
    r->serializer = "raw";
    r->events = n;
    r->seconds = produce ? rp : rcons;
    r->baseline_seconds = produce ? bp : bc;
    r->has_checksum = !produce;
    r->checksum = rc.sum;
    r->baseline_checksum = x.sum;
    if (produce) {
        bench_result_lat(r, &rc.dr_lat, false);
        bench_result_lat(r, &x.lat, true);
        snprintf(r->lat_what, sizeof r->lat_what, "send-to-delivery-report, full load");
    } else {
        bench_result_lat(r, &rc.lat, false);
        bench_result_lat(r, &raw_lat, true);
        snprintf(r->lat_what, sizeof r->lat_what, "produce-to-handler, 1 per %d us",
                 LAT_GAP_US);
        r->startup_share = rsu;
        r->baseline_startup_share =
            (double)(bt.first - bt.created) / (double)(bt.last - bt.created);
    }
    snprintf(r->note, sizeof r->note,
             "produce %.0f/s vs raw %.0f/s (%.2f); consume %.0f/s vs raw %.0f/s (%.2f); "
             "cpu covers both",
             (double)n / rp, (double)n / bp, bp / rp, (double)n / rcons, (double)n / bc,
             bc / rcons);
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
        "consume 100-byte events through an agent vs a tuned batched bare consumer",
    .run = run_pass,
};

const bench_scenario_t bench_kafka_produce = {
    .name = "kafka-produce",
    .description = "rill_send of 100-byte events vs bare rd_kafka_producev",
    .run = run_prod,
};
#endif
