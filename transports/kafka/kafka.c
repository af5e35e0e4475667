/* kafka:// — Kafka over librdkafka.
 *
 * kafka://host:port[,host:port...] connects to brokers; kafka://mock[?brokers=N]
 * starts (once per process, shared by every client naming it) librdkafka's mock
 * cluster on 127.0.0.1.  "kafka.<property>" conf keys go to librdkafka unchanged.
 *
 * No thread or timer of rill's own: every librdkafka queue rill reads is wired to
 * the app's libevent loop with rd_kafka_queue_io_event_enable() on a non-blocking
 * pipe, and drained in batches when it signals, so an idle worker sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "kafka_int.h"
/* after rdkafka.h (kafka_int.h), as it requires */
#include <librdkafka/rdkafka_mock.h>

static const rill_prop_t kafka_props[] = {
    {"timeout.ms", RILL_PROP_INT, "10000", offsetof(kctx_t, timeout_ms),
     "Bound of blocking admin and metadata calls (declare, watermarks, open)"},
    {"create.file", RILL_PROP_STR, NULL, offsetof(kctx_t, create_file),
     "rill-kafka-mock --topics-file: topics to create are appended here when the broker "
     "does not implement CreateTopics"},
    {"brokers", RILL_PROP_INT, "1", offsetof(kctx_t, mock_brokers),
     "kafka://mock only: brokers of the in-process mock cluster"},
    {NULL},
};

/* ---- in-process mock clusters
 * ------------------------------------------------------------ */

typedef struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
} mock_t;

static mock_t mock;

static void mock_free(void) {
    if (mock.mc) rd_kafka_mock_cluster_destroy(mock.mc);
    if (mock.rk) rd_kafka_destroy(mock.rk);
    mock.mc = NULL;
    mock.rk = NULL;
}

static const char *mock_bootstrap(int brokers, char *errstr, size_t errlen) {
    if (mock.mc) return rd_kafka_mock_cluster_bootstraps(mock.mc);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    mock.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!mock.rk) {
        snprintf(errstr, errlen, "kafka mock: %s", err);
        return NULL;
    }
    mock.mc = rd_kafka_mock_cluster_new(mock.rk, brokers > 0 ? brokers : 1);
    if (!mock.mc) {
        snprintf(errstr, errlen, "kafka mock: cannot start the mock cluster");
        mock_free();
        return NULL;
    }
    atexit(mock_free);
    return rd_kafka_mock_cluster_bootstraps(mock.mc);
}

/* ---- errors
 * -------------------------------------------------------------------------------- */

rill_err_t rill__kafka_err(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return RILL_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return RILL_EFULL;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return RILL_ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return RILL_ENOENT;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return RILL_EINVAL;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return RILL_ETOOBIG;
    case RD_KAFKA_RESP_ERR__FATAL:
        return RILL_EFATAL;
    default:
        return RILL_ETRANSPORT;
    }
}

static void down_arm(kctx_t *k, uint64_t in_ms) {
    struct timeval tv = {(time_t)(in_ms / 1000), (suseconds_t)(in_ms % 1000) * 1000};
    evtimer_add(k->down_ev, &tv);
    k->down_armed = true;
}

/* Dies only when no broker of any client came up since the outage began: a
 * delivery report is not the only sign of life (a worker with nothing to send has
 * none), librdkafka's broker state is. */
static void on_down_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    kctx_t *k = arg;
    k->down_armed = false;
    if (atomic_load(&k->up_ns) > k->down_ns) return; /* back; a new outage re-arms */
    uint64_t gone_ms = (rill_mono_ns() - k->down_ns) / 1000000u;
    if (gone_ms < (uint64_t)k->broker_timeout_ms) { /* it began later: came up between */
        down_arm(k, (uint64_t)k->broker_timeout_ms - gone_ms);
        return;
    }
    char msg[256];
    snprintf(msg, sizeof msg,
             "all Kafka brokers (%s) unreachable for %lld ms (broker.timeout.ms)",
             k->bootstrap, (long long)k->broker_timeout_ms);
    k->t->h->error(k->t, RILL_ETIMEDOUT, true, msg, k->t->h->opaque);
}

/* Errors from any client: classify; all-brokers-down starts the die-hard clock. */
void rill__kafka_error(kctx_t *k, rd_kafka_resp_err_t err, const char *reason) {
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        /* a new outage when a broker came up since the last one began (another
         * client's notice of the same outage keeps its start) */
        if (atomic_load(&k->up_ns) >= k->down_ns) k->down_ns = rill_mono_ns();
        if (k->down_ev && !k->down_armed) down_arm(k, (uint64_t)k->broker_timeout_ms);
        rill_log(k->t->log, RILL_LOG_WARN, "kafka", "%s", reason);
        return;
    }
    bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    if (fatal) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(k->producer, buf, sizeof buf);
        if (!orig && k->consumer)
            orig = rd_kafka_fatal_error(k->consumer, buf, sizeof buf);
        k->t->h->error(k->t, RILL_EFATAL, true, orig ? buf : reason, k->t->h->opaque);
        return;
    }
    if (k->t->h->error)
        k->t->h->error(k->t, rill__kafka_err(err), false, reason, k->t->h->opaque);
}

/* Per delivery report: an event_del (with libevent's lock) only when armed. */
static void broker_up(kctx_t *k) {
    if (!k->down_armed) return;
    evtimer_del(k->down_ev);
    k->down_armed = false;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    rill__kafka_error(opaque, (rd_kafka_resp_err_t)err, reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    kctx_t *k = rd_kafka_opaque(rk);
    if (!strcmp(fac, "CONFWARN")) level = 7; /* shared settings reach every client type */
    /* A broker failure comes twice: logged as FAIL and reported to error_cb, which
     * logs it (through the app's error handler).  Once is enough: FAIL at debug. */
    if (!strcmp(fac, "FAIL")) level = 7;
    rill_log_level_t l = level <= 3   ? RILL_LOG_ERROR
                         : level <= 5 ? RILL_LOG_WARN
                         : level == 6 ? RILL_LOG_INFO
                                      : RILL_LOG_DEBUG;
    if (k && k->t) rill_log(k->t->log, l, "kafka", "%s: %s", fac, buf);
}

/* ---- loop wiring
 * --------------------------------------------------------------------------- */

static void on_queue(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    kq_t *kq = arg;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    kq->drain(kq);
}

static void on_more(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    kq_t *kq = arg;
    kq->drain(kq);
}

/* A drain stops after its budget; the rest waits for a zero timer, which libevent
 * runs only after polling I/O again, so the other queues (delivery reports above
 * all: they free the producer queue) are served in between.  event_active() would
 * run it again in the same pass, before any I/O. */
void rill__kafka_queue_more(kq_t *kq) {
    static const struct timeval zero = {0, 0};
    if (kq->more) evtimer_add(kq->more, &zero);
}

static rill_err_t queue_wire(kctx_t *k, kq_t *kq, rd_kafka_queue_t *q,
                             void (*drain)(kq_t *kq)) {
    if (pipe(kq->fds) != 0) return RILL_EIO;
    for (int i = 0; i < 2; i++)
        fcntl(kq->fds[i], F_SETFL, O_NONBLOCK);
    kq->q = q;
    kq->k = k;
    kq->drain = drain;
    kq->ev = event_new(k->t->base, kq->fds[0], EV_READ | EV_PERSIST, on_queue, kq);
    kq->more = evtimer_new(k->t->base, on_more, kq);
    if (!kq->ev || !kq->more) return RILL_ENOMEM;
    event_add(kq->ev, NULL);
    rd_kafka_queue_io_event_enable(q, kq->fds[1], "1", 1);
    return RILL_OK;
}

rill_err_t rill__kafka_queue_wire(kctx_t *k, kq_t *kq, rd_kafka_queue_t *q,
                                  void (*drain)(kq_t *kq)) {
    rill_err_t rc = queue_wire(k, kq, q, drain);
    if (rc == RILL_OK) drain(kq); /* anything that arrived before wiring */
    return rc;
}

void rill__kafka_queue_unwire(kq_t *kq) {
    if (kq->q) {
        rd_kafka_queue_io_event_enable(kq->q, -1, NULL, 0);
        rd_kafka_queue_destroy(kq->q);
    }
    if (kq->ev) event_free(kq->ev);
    if (kq->more) event_free(kq->more);
    if (kq->fds[0] > 0) close(kq->fds[0]);
    if (kq->fds[1] > 0) close(kq->fds[1]);
    memset(kq, 0, sizeof *kq);
}

/* ---- clients
 * ---------------------------------------------------------------------------------- */

static bool mock_topics_file(const kctx_t *k, char *out, size_t outlen);

static rill_err_t set(rd_kafka_conf_t *c, const char *k, const char *v, char *errstr,
                      size_t errlen) {
    if (rd_kafka_conf_set(c, k, v, errstr, errlen) != RD_KAFKA_CONF_OK) return RILL_ECONF;
    return RILL_OK;
}

/* librdkafka before 2.3.1 (confluentinc/librdkafka#4684) sleeps its main thread for
 * the whole milliseconds to the next timer, then serves with a zero timeout until
 * the sub-millisecond rest has passed: a busy loop of up to 1 ms before every timer
 * (the 1 s tick, each heartbeat), most of an idle client's CPU (clock_gettime and
 * queue locks in perf).  A timer slack of 2 ms on that thread alone lets the kernel
 * end its timed waits past the timer instead, so it runs the timer at once.  Only
 * timers wait up to 2 ms longer (a heartbeat, the 1 s scan); queue ops (a
 * rebalance, a commit) still wake it at once, and the broker threads (fetch,
 * linger) keep the default slack. */
#define MAIN_SLACK_NS 2000000UL

static rd_kafka_resp_err_t on_thread_start(rd_kafka_t *rk, rd_kafka_thread_type_t type,
                                           const char *name, void *ic_opaque) {
    (void)rk;
    (void)name;
    (void)ic_opaque;
#ifdef PR_SET_TIMERSLACK
    if (type == RD_KAFKA_THREAD_MAIN) prctl(PR_SET_TIMERSLACK, MAIN_SLACK_NS);
#else
    (void)type;
#endif
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* A broker of this client is up (from its thread): the outage, if any, is over. */
static rd_kafka_resp_err_t on_broker_state(rd_kafka_t *rk, int32_t id,
                                           const char *secproto, const char *name,
                                           int port, const char *state, void *ic_opaque) {
    (void)rk;
    (void)id;
    (void)secproto;
    (void)name;
    kctx_t *k = ic_opaque;
    if (port > 0 && !strcmp(state, "UP")) /* port 0: the internal broker */
        atomic_store(&k->up_ns, rill_mono_ns());
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf,
                                  void *ic_opaque, char *errstr, size_t errlen) {
    (void)conf;
    (void)errstr;
    (void)errlen;
    rd_kafka_resp_err_t e = rd_kafka_interceptor_add_on_broker_state_change(
        rk, "rill.broker-up", on_broker_state, ic_opaque);
    if (!e && rd_kafka_version() < 0x020301ff) /* 2.3.1 fixed it */
        e = rd_kafka_interceptor_add_on_thread_start(rk, "rill.main-slack",
                                                     on_thread_start, NULL);
    return e == RD_KAFKA_RESP_ERR__CONFLICT ? RD_KAFKA_RESP_ERR_NO_ERROR : e;
}

/* Create a client from the shared base configuration plus @p conf's settings. */
rill_err_t rill__kafka_client(kctx_t *k, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                              rd_kafka_t **out, char *errstr, size_t errlen) {
    rd_kafka_conf_interceptor_add_on_new(conf, "rill.client", on_new, k);
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char err[512];
    *out = rd_kafka_new(type, conf, err, sizeof err);
    if (!*out) {
        snprintf(errstr, errlen, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return RILL_ETRANSPORT;
    }
    return RILL_OK;
}

typedef struct pass {
    kctx_t *k;
    rd_kafka_conf_t *conf;
    rill_err_t rc;
    char *errstr;
    size_t errlen;
} pass_t;

/* librdkafka properties the user set: rill's defaults keep off them */
static void note_user(kctx_t *k, const char *prop) {
    k->user_reset |= !strcmp(prop, "auto.offset.reset");
    k->user_qmin |= !strcmp(prop, "queued.min.messages");
    k->user_strategy |= !strcmp(prop, "partition.assignment.strategy");
    k->user_linger |=
        !strcmp(prop, "linger.ms") || !strcmp(prop, "queue.buffering.max.ms");
    k->user_msg_timeout |=
        !strcmp(prop, "message.timeout.ms") || !strcmp(prop, "delivery.timeout.ms");
}

static void pass_one(const char *key, const char *value, void *opaque) {
    pass_t *p = opaque;
    const char *prop = key + strlen("kafka.");
    bool ours = false;
    for (const rill_prop_t *r = kafka_props; r->name; r++)
        ours |= !strcmp(r->name, prop);
    if (ours || p->rc) return;
    kctx_t *k = p->k;
    note_user(k, prop);
    char why[256];
    if (rd_kafka_conf_set(p->conf, prop, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(p->errstr, p->errlen, "config key '%s': %s", key, why);
        p->rc = RILL_ECONF;
    }
}

/* A report that is not the common success of a common send: a failure, or a
 * send with its own callback (kafka_produce's struct dr). */
static void delivery_other(kctx_t *k, const rd_kafka_message_t *m, uintptr_t tag) {
    rill_err_t err = rill__kafka_err(m->err);
    const char *why = m->err ? rd_kafka_err2str(m->err) : NULL;
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
        m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        err = RILL_ESHUTDOWN; /* dropped on purpose: an aborted transaction, or close */
        why = "purged: its transaction was aborted, or the producer closed";
    }
    if (tag & 1) { /* the common callback: the opaque itself, tagged */
        k->dr_cb(err, why, m->partition, m->offset, (void *)(tag & ~(uintptr_t)1));
        return;
    }
    struct {
        rill_delivery_cb cb;
        void *opaque;
    } *d = m->_private;
    d->cb(err, why, m->partition, m->offset, d->opaque);
    free(d);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    kctx_t *k = opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    if (!m->err) {
        broker_up(k);
        if (tag & 1) { /* the common case, per report: nothing to classify */
            k->dr_cb(RILL_OK, NULL, m->partition, m->offset,
                     (void *)(tag & ~(uintptr_t)1));
            return;
        }
    }
    if (tag) delivery_other(k, m, tag);
}

static void drain_producer(kq_t *kq) {
    kctx_t *k = kq->k;
    int i = 0;
    for (; i < 64 && rd_kafka_poll(k->producer, 0) > 0; i++) {
    }
    if (i == 64) rill__kafka_queue_more(&k->pq); /* maybe more: the pipe will not say */
    if (k->want_writable && rd_kafka_outq_len(k->producer) < 100000) {
        k->want_writable = false;
        if (k->t->h->writable) k->t->h->writable(k->t, k->t->h->opaque);
    }
}

static rill_err_t check_connect(kctx_t *k, char *errstr, size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(k->producer, 0, NULL, &md, (int)k->timeout_ms);
    if (err) {
        snprintf(errstr, errlen, "kafka: no broker of '%s' answered within %lld ms: %s",
                 k->bootstrap, (long long)k->timeout_ms, rd_kafka_err2str(err));
        return RILL_ETRANSPORT;
    }
    rd_kafka_metadata_destroy(md);
    return RILL_OK;
}

static rill_err_t kafka_open(rill_transport_t *t, const rill_url_t *url,
                             const rill_conf_t *conf, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    k->t = t;
    if (!t->base) {
        snprintf(errstr, errlen, "kafka transport needs an event_base");
        return RILL_EINVAL;
    }
    bool is_mock = !strcmp(url->authority, "mock");
    if (!*url->authority) {
        snprintf(errstr, errlen, "kafka URL '%s' names no broker: kafka://host:9092",
                 url->raw);
        return RILL_EURL;
    }
    const char *bs = url->authority;
    if (is_mock && !(bs = mock_bootstrap((int)k->mock_brokers, errstr, errlen)))
        return RILL_ETRANSPORT;
    if (!(k->bootstrap = strdup(bs))) return RILL_ENOMEM;
    k->broker_timeout_ms = rill_conf_get_int(conf, "broker.timeout.ms", 60000);
    k->down_ev = evtimer_new(t->base, on_down_timeout, k);

    k->base_conf = rd_kafka_conf_new();
    if (set(k->base_conf, "bootstrap.servers", k->bootstrap, errstr, errlen) ||
        set(k->base_conf, "client.id", t->client_id ? t->client_id : "rill", errstr,
            errlen))
        return RILL_ECONF;
    char found[64];
    if (is_mock) { /* the mock's group coordinator needs these (see docs/kafka.md) */
        set(k->base_conf, "session.timeout.ms", "3000", errstr, errlen);
        set(k->base_conf, "heartbeat.interval.ms", "300", errstr, errlen);
    } else if (k->create_file || mock_topics_file(k, found, sizeof found)) {
        /* A standalone rill-kafka-mock (its topics side channel): librdkafka's mock
         * coordinator takes the session from the members, and after a member
         * expires it also waits the session less 1 s for the others to rejoin, so
         * with librdkafka's 45 s a SIGKILLed worker's partitions sat idle ~88 s.
         * Loopback timings instead; kafka.session.timeout.ms still wins. */
        set(k->base_conf, "session.timeout.ms", "6000", errstr, errlen);
        set(k->base_conf, "heartbeat.interval.ms", "500", errstr, errlen);
        rill_log(t->log, RILL_LOG_DEBUG, "kafka",
                 "%s is a rill-kafka-mock: session.timeout.ms=6000, "
                 "heartbeat.interval.ms=500 unless set",
                 k->bootstrap);
    }
    pass_t p = {k, k->base_conf, RILL_OK, errstr, errlen};
    rill_conf_foreach(conf, "kafka.", pass_one, &p);
    if (p.rc) return p.rc;
    for (size_t i = 0; i < url->nparams; i++) {
        bool ours = false;
        for (const rill_prop_t *r = kafka_props; r->name; r++)
            ours |= !strcmp(r->name, url->params[i].key);
        if (!ours) note_user(k, url->params[i].key);
        if (!ours &&
            set(k->base_conf, url->params[i].key, url->params[i].value, errstr, errlen)) {
            char why[256];
            snprintf(why, sizeof why, "%s", errstr);
            snprintf(errstr, errlen, "URL parameter '%s': %s", url->params[i].key, why);
            return RILL_ECONF;
        }
    }
    const char *pg = rill_conf_get(conf, "processing_guarantee");
    rd_kafka_conf_t *pc = rd_kafka_conf_dup(k->base_conf);
    char tid[256];
    size_t tl = sizeof tid;
    if (pg && !strcmp(pg, "exactly_once") &&
        rd_kafka_conf_get(pc, "transactional.id", tid, &tl) != RD_KAFKA_CONF_OK) {
        set(pc, "transactional.id", t->client_id ? t->client_id : "rill", errstr, errlen);
    }
    tl = sizeof tid;
    k->txn =
        rd_kafka_conf_get(pc, "transactional.id", tid, &tl) == RD_KAFKA_CONF_OK && tl > 1;
    if (!k->user_linger) set(pc, "linger.ms", "5", errstr, errlen);
    if (!k->user_msg_timeout) { /* see below */
        char ms[32];
        snprintf(ms, sizeof ms, "%lld", (long long)(rill__kafka_session_ms(k->t) / 2));
        set(pc, "message.timeout.ms", ms, errstr, errlen);
    }
    /* A record librdkafka still holds when the process freezes (SIGSTOP, a VM
     * pause) would be sent when it wakes, after the group gave its partition to
     * another worker: a stale changelog value written over the new owner's (the
     * zombie's loss).  So no record older than the lease (half the session, as
     * lease.stall.ms) is ever sent: librdkafka expires it before it builds a
     * request, the core takes the timeout as a fence (core/lease.c), and the
     * group's confirmation or a new assignment replays it from the last commit. */
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    rill_err_t rc =
        rill__kafka_client(k, RD_KAFKA_PRODUCER, pc, &k->producer, errstr, errlen);
    if (rc) return rc;
    if ((rc = check_connect(k, errstr, errlen))) return rc;
    if (k->txn) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->producer, (int)k->timeout_ms);
        if (e) {
            snprintf(errstr, errlen, "kafka: init_transactions: %s",
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return RILL_ETRANSPORT;
        }
    }
    /* What the producer queued while connecting (a bootstrap broker that refused
     * the connection: an error for the app's handler) is served on the loop, not
     * here: during open the app has no transport yet to handle it with. */
    rill_err_t wrc =
        queue_wire(k, &k->pq, rd_kafka_queue_get_main(k->producer), drain_producer);
    if (wrc != RILL_OK) {
        snprintf(errstr, errlen,
                 "kafka: cannot wire the producer's queue to the loop: %s",
                 rill_err2str(wrc));
        return wrc;
    }
    rill__kafka_queue_more(&k->pq);
    return RILL_OK;
}

/* ---- topics
 * ------------------------------------------------------------------------------------ */

static int32_t topic_partitions(kctx_t *k, const char *name, rill_err_t *rc, char *errstr,
                                size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    /* all topics: asking for one by name may auto-create it */
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(k->producer, 1, NULL, &md, (int)k->timeout_ms);
    if (err) {
        snprintf(errstr, errlen, "metadata: %s", rd_kafka_err2str(err));
        *rc = rill__kafka_err(err);
        return -1;
    }
    int32_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name) && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    *rc = RILL_OK;
    return n;
}

/* A standalone rill-kafka-mock on 127.0.0.1:<port> (tools/) reads the topics to
 * create from /tmp/rill-kafka-mock-<port>.topics: its side channel for CreateTopics,
 * which librdkafka's mock does not implement.  @p out gets that file when the
 * bootstrap broker has one. */
static bool mock_topics_file(const kctx_t *k, char *out, size_t outlen) {
    const char *bs = k->bootstrap;
    size_t hlen = strcspn(bs, ":,");
    if (bs[hlen] != ':' || !((hlen == 9 && !strncmp(bs, "127.0.0.1", 9)) ||
                             (hlen == 9 && !strncmp(bs, "localhost", 9))))
        return false;
    int port = atoi(bs + hlen + 1);
    if (port <= 0) return false;
    snprintf(out, outlen, "/tmp/rill-kafka-mock-%d.topics", port);
    return access(out, W_OK) == 0;
}

static rill_err_t create_topic(kctx_t *k, const rill_topic_spec_t *spec, int32_t parts,
                               char *errstr, size_t errlen) {
    char found[64];
    const char *create_file = k->create_file;
    if (!create_file && mock_topics_file(k, found, sizeof found)) create_file = found;
    if (mock.mc &&
        strstr(k->bootstrap, rd_kafka_mock_cluster_bootstraps(mock.mc)) == k->bootstrap)
        return rd_kafka_mock_topic_create(mock.mc, spec->name, parts,
                                          spec->replication ? spec->replication : 1)
                   ? RILL_ETRANSPORT
                   : RILL_OK;
    if (create_file) { /* rill-kafka-mock --topics-file */
        FILE *f = fopen(create_file, "a");
        if (!f) {
            snprintf(errstr, errlen, "cannot append to %s: %s", create_file,
                     strerror(errno));
            return RILL_EIO;
        }
        fprintf(f, "%s:%d%s\n", spec->name, parts, spec->compacted ? ":compact" : "");
        fclose(f);
        return RILL_OK;
    }
    char why[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        spec->name, parts, spec->replication ? spec->replication : 1, why, sizeof why);
    if (!nt) {
        snprintf(errstr, errlen, "%s", why);
        return RILL_EINVAL;
    }
    if (spec->compacted) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(k->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, (int)k->timeout_ms, why, sizeof why);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->producer);
    rd_kafka_CreateTopics(k->producer, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)k->timeout_ms + 1000);
    rill_err_t rc = RILL_OK;
    if (!ev) {
        snprintf(
            errstr, errlen,
            "the broker did not answer CreateTopics within %lld ms (librdkafka's mock "
            "cluster does not implement it: create the topic with rill-kafka-mock "
            "--topic %s:%d, or set kafka.create.file to its --topics-file)",
            (long long)k->timeout_ms, spec->name, parts);
        rc = RILL_ETIMEDOUT;
    } else {
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && n) e = rd_kafka_topic_result_error(tr[0]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errlen, "CreateTopics: %s", rd_kafka_err2str(e));
            rc = rill__kafka_err(e);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static rill_err_t kafka_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                                int32_t *partitions_out, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    rill_err_t rc;
    int32_t have = topic_partitions(k, spec->name, &rc, errstr, errlen);
    if (rc) return rc;
    if (have > 0) {
        if (spec->partitions > 0 && spec->partitions != have) {
            snprintf(errstr, errlen,
                     "topic '%s' exists with %d partitions, but %d were declared",
                     spec->name, have, spec->partitions);
            return RILL_EPARTITIONS;
        }
        *partitions_out = have;
        return RILL_OK;
    }
    int32_t parts = spec->partitions > 0 ? spec->partitions : 8;
    if ((rc = create_topic(k, spec, parts, errstr, errlen))) return rc;
    uint64_t end = rill_mono_ns() + (uint64_t)k->timeout_ms * 1000000u;
    while ((have = topic_partitions(k, spec->name, &rc, errstr, errlen)) <= 0 && !rc &&
           rill_mono_ns() < end)
        usleep(100000);
    if (have <= 0) {
        if (!rc)
            snprintf(errstr, errlen, "topic '%s' did not appear within %lld ms",
                     spec->name, (long long)k->timeout_ms);
        return rc ? rc : RILL_ETIMEDOUT;
    }
    *partitions_out = have;
    return RILL_OK;
}

/* ---- producing
 * ---------------------------------------------------------------------------------- */

/* The producer's handle of the topic @p name points to, made on its first send:
 * producev by name looks the topic up under librdkafka's topic lock on every send
 * (rd_kafka_topic_new0, ~240 instructions in callgrind), by handle it takes a
 * reference.  NULL when librdkafka refuses the topic: the send goes by name and
 * fails there as before. */
static rd_kafka_topic_t *topic_add(kctx_t *k, const char *name) {
    if (2 * (k->ntopics + 1) > k->captopics) {
        size_t cap = k->captopics ? 2 * k->captopics : 16;
        ktopic_t *nt = calloc(cap, sizeof *nt);
        if (!nt) return NULL;
        for (size_t i = 0; i < k->captopics; i++) {
            if (!k->topics[i].name) continue;
            size_t j = ((uintptr_t)k->topics[i].name >> 4) & (cap - 1);
            while (nt[j].name)
                j = (j + 1) & (cap - 1);
            nt[j] = k->topics[i];
        }
        free(k->topics);
        k->topics = nt;
        k->captopics = cap;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->producer, name, NULL);
    if (!rkt) return NULL;
    size_t j = ((uintptr_t)name >> 4) & (k->captopics - 1);
    while (k->topics[j].name)
        j = (j + 1) & (k->captopics - 1);
    k->topics[j] = (ktopic_t){name, rkt};
    k->ntopics++;
    return rkt;
}

static inline rd_kafka_topic_t *topic_of(kctx_t *k, const char *name) {
    if (k->captopics) {
        size_t mask = k->captopics - 1;
        for (size_t j = ((uintptr_t)name >> 4) & mask; k->topics[j].name;
             j = (j + 1) & mask)
            if (k->topics[j].name == name) return k->topics[j].rkt;
    }
    return topic_add(k, name);
}

static void topics_free(kctx_t *k) {
    for (size_t i = 0; i < k->captopics; i++)
        if (k->topics[i].name) rd_kafka_topic_destroy(k->topics[i].rkt);
    free(k->topics);
    k->topics = NULL;
    k->ntopics = k->captopics = 0;
}

static rill_err_t kafka_produce(rill_transport_t *t, const rill_produce_t *m,
                                rill_delivery_cb cb, void *opaque) {
    kctx_t *k = t->impl;
    struct dr {
        rill_delivery_cb cb;
        void *opaque;
    } *d = NULL;
    void *tag = NULL;
    if (cb) {
        if (!k->dr_cb) k->dr_cb = cb;
        if (cb == k->dr_cb && !((uintptr_t)opaque & 1)) {
            /* One callback serves (almost) every send: no allocation per message. */
            tag = (void *)((uintptr_t)opaque | 1);
        } else {
            if (!(d = malloc(sizeof *d))) return RILL_ENOMEM;
            d->cb = cb;
            d->opaque = opaque;
            tag = d;
        }
    }
    rd_kafka_headers_t *hs = NULL;
    if (m->nheaders) {
        hs = rd_kafka_headers_new(m->nheaders);
        for (size_t i = 0; i < m->nheaders; i++)
            rd_kafka_header_add(hs, m->headers[i].name, -1, m->headers[i].value,
                                (ssize_t)m->headers[i].value_len);
    }
    rd_kafka_topic_t *rkt = topic_of(k, m->topic);
    void *value = (void *)m->value;
    size_t vlen = m->value ? m->value_len : 0;
    rd_kafka_resp_err_t err;
    if (rkt && !m->key && !hs && !m->timestamp_ms) /* most sends: fewer vtags to walk */
        err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_VALUE(value, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
    else if (rkt)
        err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_KEY(m->key, m->key ? m->key_len : 0),
            RD_KAFKA_V_VALUE(value, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP(m->timestamp_ms), RD_KAFKA_V_HEADERS(hs),
            RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
    else
        err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_KEY(m->key, m->key ? m->key_len : 0),
            RD_KAFKA_V_VALUE(value, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP(m->timestamp_ms), RD_KAFKA_V_HEADERS(hs),
            RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
    if (err) {
        if (hs) rd_kafka_headers_destroy(hs);
        free(d);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) k->want_writable = true;
        return rill__kafka_err(err);
    }
    return RILL_OK;
}

static rill_err_t kafka_flush(rill_transport_t *t, int timeout_ms) {
    kctx_t *k = t->impl;
    rd_kafka_resp_err_t err = rd_kafka_flush(k->producer, timeout_ms);
    return rill__kafka_err(err);
}

static rill_err_t kafka_watermarks(rill_transport_t *t, const char *topic,
                                   int32_t partition, int64_t *low, int64_t *high,
                                   int timeout_ms) {
    kctx_t *k = t->impl;
    return rill__kafka_err(rd_kafka_query_watermark_offsets(k->producer, topic, partition,
                                                            low, high, timeout_ms));
}

/* ---- transactions
 * ---------------------------------------------------------------------------- */

static rill_err_t txn_result(rd_kafka_error_t *e, const char *what, char *errstr,
                             size_t errlen) {
    if (!e) return RILL_OK;
    snprintf(errstr, errlen, "kafka %s: %s", what, rd_kafka_error_string(e));
    rill_err_t rc =
        rd_kafka_error_is_fatal(e) || rd_kafka_error_txn_requires_abort(e) == 0
            ? (rd_kafka_error_is_retriable(e) ? RILL_ERETRY : RILL_ETRANSPORT)
            : RILL_ETRANSPORT;
    if (rd_kafka_error_is_fatal(e)) rc = RILL_EFATAL;
    rd_kafka_error_destroy(e);
    return rc;
}

static rill_err_t kafka_txn_begin(rill_transport_t *t, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    if (!k->txn) {
        snprintf(errstr, errlen, "kafka: transactions need kafka.transactional.id");
        return RILL_ESTATE;
    }
    return txn_result(rd_kafka_begin_transaction(k->producer), "begin_transaction",
                      errstr, errlen);
}

static rill_err_t kafka_txn_offsets(rill_transport_t *t, const char *group,
                                    const rill_tp_offset_t *offs, size_t n, char *errstr,
                                    size_t errlen) {
    kctx_t *k = t->impl;
    (void)group;
    if (!k->consumer) {
        snprintf(errstr, errlen, "kafka: offsets in a transaction need a group member");
        return RILL_ESTATE;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition)->offset =
            offs[i].offset;
    rd_kafka_consumer_group_metadata_t *md =
        rd_kafka_consumer_group_metadata(k->consumer);
    rd_kafka_error_t *e =
        rd_kafka_send_offsets_to_transaction(k->producer, l, md, (int)k->timeout_ms);
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(l);
    return txn_result(e, "send_offsets_to_transaction", errstr, errlen);
}

static rill_err_t kafka_txn_commit(rill_transport_t *t, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    return txn_result(rd_kafka_commit_transaction(k->producer, (int)k->timeout_ms),
                      "commit_transaction", errstr, errlen);
}

static rill_err_t kafka_txn_abort(rill_transport_t *t, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    return txn_result(rd_kafka_abort_transaction(k->producer, (int)k->timeout_ms),
                      "abort_transaction", errstr, errlen);
}

/* ---- close
 * ---------------------------------------------------------------------------------------
 */

static void kafka_close(rill_transport_t *t) {
    kctx_t *k = t->impl;
    rill__kafka_consumer_close(k);
    rill__kafka_queue_unwire(&k->pq);
    if (k->producer) {
        rd_kafka_flush(k->producer, 2000);
        rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (rd_kafka_poll(k->producer, 0) > 0) { /* free the purged reports' opaques */
        }
        topics_free(k);
        rd_kafka_destroy(k->producer);
    }
    if (k->down_ev) event_free(k->down_ev);
    if (k->base_conf) rd_kafka_conf_destroy(k->base_conf);
    free(k->bootstrap);
    free(k->batch);
    free(k->lazy);
}

const struct rill_transport_ops rill_transport_kafka = {
    .abi = RILL_TRANSPORT_ABI,
    .scheme = "kafka",
    .description =
        "Apache Kafka (librdkafka); kafka://mock for an in-process mock cluster",
    .features = RILL_TRANSPORT_F_GROUPS | RILL_TRANSPORT_F_TXN |
                RILL_TRANSPORT_F_PASSTHROUGH | RILL_TRANSPORT_F_WATERMARKS |
                RILL_TRANSPORT_F_PERSISTENT,
    .props = kafka_props,
    .impl_size = sizeof(kctx_t),
    .open = kafka_open,
    .declare = kafka_declare,
    .produce = kafka_produce,
    .flush = kafka_flush,
    .subscribe = rill__kafka_subscribe,
    .unsubscribe = rill__kafka_unsubscribe,
    .pause = rill__kafka_pause,
    .resume = rill__kafka_resume,
    .seek = rill__kafka_seek,
    .commit = rill__kafka_commit,
    .committed = rill__kafka_committed,
    .watermarks = kafka_watermarks,
    .txn_begin = kafka_txn_begin,
    .txn_offsets = kafka_txn_offsets,
    .txn_commit = kafka_txn_commit,
    .txn_abort = kafka_txn_abort,
    .close = kafka_close,
    .session_ms = rill__kafka_session_ms,
    .poll_ms = rill__kafka_poll_ms,
    .confirm = rill__kafka_confirm,
    .reader_start = rill__kafka_reader_start,
    .reader_stop = rill__kafka_reader_stop,
    .revoke_answer = rill__kafka_revoke_answer,
};
