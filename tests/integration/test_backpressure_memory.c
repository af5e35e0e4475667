/* Backpressure from a full transport queue (issue 12): a send the transport refuses
 * with RILL_EFULL is held in order and handed over again on `writable`, while the
 * agents start no new events; nothing spins on flush, nothing is lost.  memory://
 * refuses produces into a partition holding max.messages unconsumed messages, so a
 * slow consumer of the output topic is what fills it here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

#define NKEYS 5

typedef struct forwarder {
    rill_app_t *app;
    rill_topic_t *in, *out;
    rill_table_t *counts;
    int forwarded, send_errors, table_errors;
    int waits_logged; /* "paused ... while sends wait for room" lines */
    int refused;      /* forwards whose delivery report said RILL_ENOTOWNER */
    bool stopped;
} forwarder_t;

typedef struct reader {
    rill_app_t *app;
    int n;
    int64_t last[NKEYS]; /* last sequence number seen per key */
    int out_of_order;
    int with_header; /* events carrying the header "origin: timer" */
    int distinct;    /* different key:sequence pairs seen */
    unsigned char seen[NKEYS][1024];
} reader_t;

static char broker[64];

static void on_log(rill_log_level_t level, const char *component, const char *msg,
                   void *opaque) {
    (void)level, (void)component;
    forwarder_t *f = opaque;
    if (strstr(msg, "while sends wait for room")) f->waits_logged++;
}

static rill_conf_t *conf(const char *url, const char *const *kv) {
    rill_conf_t *c = rill_conf_new();
    char err[512];
    if (rill_conf_set(c, "broker", url, err, sizeof err) != RILL_CONF_OK)
        fail_msg("broker %s: %s", url, err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "10", err, sizeof err);
    for (; kv && kv[0]; kv += 2)
        if (rill_conf_set(c, kv[0], kv[1], err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s: %s", kv[0], err);
    return c;
}

/* The forwarder: counts each event's key into a table and forwards it to "out". */
static void on_forwarded(rill_err_t err, const char *errmsg, int32_t partition,
                         int64_t offset, void *opaque) {
    (void)errmsg, (void)partition, (void)offset;
    if (err == RILL_ENOTOWNER) ((forwarder_t *)opaque)->refused++;
}

static rill_err_t forward(rill_event_t *ev, void *opaque) {
    forwarder_t *f = opaque;
    size_t kl, vl;
    const void *k = rill_event_key_bytes(ev, &kl);
    const void *v = rill_event_value_bytes(ev, &vl);
    if (rill_table_incr(f->counts, ev, k, kl, 1, NULL) != RILL_OK) f->table_errors++;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.event = ev;
    o.cb = on_forwarded;
    o.opaque = f;
    if (rill_send(f->out, k, kl, v, vl, &o) != RILL_OK)
        f->send_errors++;
    else
        f->forwarded++;
    return RILL_OK;
}

static void on_stopped(rill_app_t *app, void *opaque) {
    (void)app;
    ((forwarder_t *)opaque)->stopped = true;
}

static void forwarder_start(forwarder_t *f, struct event_base *base, const char *limits,
                            const char *const *kv) {
    char url[128], err[512];
    snprintf(url, sizeof url, "%s?%s", broker, limits);
    rill_conf_t *c = conf(url, kv);
    rill_conf_set(c, "log.level", "debug", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, f);
    f->app = rill_app_new_with_base("bp-forwarder", c, base, err, sizeof err);
    if (!f->app) fail_msg("app: %s", err);
    f->in = rill_app_topic(f->app, "in", &(rill_topic_opts_t){.partitions = 4});
    f->out = rill_app_topic(f->app, "out", &(rill_topic_opts_t){.partitions = 2});
    f->counts = rill_app_table(
        f->app, "counts",
        &(rill_table_opts_t){.value_type = &rill_type_int64, .source = f->in});
    assert_non_null(rill_app_agent(f->app, "forward", f->in, forward, f, NULL));
    rill_app_on_stopped(f->app, on_stopped, f);
    if (rill_app_start(f->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static rill_err_t read_out(rill_event_t *ev, void *opaque) {
    reader_t *r = opaque;
    size_t vl;
    const char *v = rill_event_value_bytes(ev, &vl);
    int key = -1;
    long long seq = -1;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)vl, v);
    if (sscanf(buf, "%d:%lld", &key, &seq) != 2 || key < 0 || key >= NKEYS) {
        r->out_of_order++;
        return RILL_OK;
    }
    size_t hl = 0;
    const char *h = rill_event_header(ev, "origin", &hl);
    if (h && hl == 5 && !memcmp(h, "timer", 5)) r->with_header++;
    if (seq < 1024 && !r->seen[key][seq]) {
        r->seen[key][seq] = 1;
        r->distinct++;
    }
    if (seq <= r->last[key]) r->out_of_order++;
    r->last[key] = seq;
    r->n++;
    return RILL_OK;
}

static void reader_start(reader_t *r, struct event_base *base) {
    char err[512];
    for (int i = 0; i < NKEYS; i++)
        r->last[i] = -1;
    r->app =
        rill_app_new_with_base("bp-reader", conf(broker, NULL), base, err, sizeof err);
    if (!r->app) fail_msg("app: %s", err);
    rill_topic_t *out =
        rill_app_topic(r->app, "out", &(rill_topic_opts_t){.partitions = 2});
    assert_non_null(rill_app_agent(r->app, "read", out, read_out, r, NULL));
    if (rill_app_start(r->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

/* The name of key @p i: one whose murmur2 partition of 4 is i % 4, so every
 * partition of "in" gets keys. */
static int key_name(int i, char *buf, size_t len) {
    for (int j = 0;; j++) {
        int kl = snprintf(buf, len, "k%d-%d", i, j);
        if (rill_partition_for_key(buf, (size_t)kl, 4) == i % 4) return kl;
    }
}

/* Events 0..@p n-1 over NKEYS keys into "in", from an app without limits, those
 * whose key's partition is in @p parts (a bit mask); the value is "key:sequence".
 * Returns how many were sent. */
static int feed_parts(struct event_base *base, int n, unsigned parts) {
    char err[512], k[16], v[32];
    rill_app_t *app =
        rill_app_new_with_base("bp-feeder", conf(broker, NULL), base, err, sizeof err);
    assert_non_null(app);
    rill_topic_t *in = rill_app_topic(app, "in", &(rill_topic_opts_t){.partitions = 4});
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (!(parts & (1u << ((i % NKEYS) % 4)))) continue;
        int kl = key_name(i % NKEYS, k, sizeof k);
        int vl = snprintf(v, sizeof v, "%d:%d", i % NKEYS, i / NKEYS);
        assert_int_equal(rill_send(in, k, (size_t)kl, v, (size_t)vl, NULL), RILL_OK);
        sent++;
    }
    RUN_UNTIL(base, false, 20);
    rill_app_stop(app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(app);
    return sent;
}

static void feed(struct event_base *base, int n) {
    feed_parts(base, n, 0xf);
}

static int setup(void **state) {
    static unsigned seq;
    snprintf(broker, sizeof broker, "memory://backpressure-%u", ++seq);
    *state = event_base_new();
    return 0;
}

static int teardown(void **state) {
    event_base_free(*state);
    return 0;
}

static void stop_destroy(rill_app_t *app, struct event_base *base) {
    rill_app_stop(app);
    RUN_UNTIL(base, false, 50);
    rill_app_destroy(app);
}

/* "out" holds 20 messages per partition until the reader commits past them: the
 * forwarder waits (its partitions paused) instead of failing sends, and every
 * event arrives, in order per key, and is counted once in the table. */
static void a_full_topic_slows_the_forwarder_and_loses_nothing(void **state) {
    struct event_base *base = *state;
    const int n = 2000;
    forwarder_t f = {0};
    reader_t r = {0};
    feed(base, n);
    reader_start(&r, base);
    forwarder_start(&f, base, "max.messages=20", NULL);
    RUN_UNTIL(base, r.n >= n || f.stopped, 30000);
    assert_false(f.stopped);
    assert_int_equal(f.send_errors, 0);
    assert_int_equal(f.table_errors, 0);
    assert_int_equal(r.n, n);
    assert_int_equal(r.out_of_order, 0);
    assert_true(f.waits_logged > 0); /* the queue really was full */
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        int kl = key_name(i, k, sizeof k);
        int64_t v = -1;
        assert_int_equal(rill_table_get(f.counts, NULL, k, (size_t)kl, &v), RILL_OK);
        assert_int_equal(v, n / NKEYS);
    }
    stop_destroy(f.app, base);
    stop_destroy(r.app, base);
}

/* A worker loses its partitions (a lost revoke, as after an expired session) while
 * its forwards wait for room: those forwards are refused, not written late, and the
 * worker that takes over forwards those events again, so every one arrives. */
static void
held_sends_of_a_lost_partition_are_refused_and_redone_by_the_new_owner(void **state) {
    struct event_base *base = *state;
    forwarder_t f1 = {0}, f2 = {0};
    reader_t r = {0};
    /* in[2] and in[3] first: the partitions the second worker will take */
    int n = feed_parts(base, 2000, 0xc);
    forwarder_start(&f1, base, "max.messages=20&revoke.lost=true", NULL);
    RUN_UNTIL(base, f1.waits_logged > 0, 10000);
    assert_true(f1.waits_logged > 0); /* "out" is full: forwards are held */
    forwarder_start(&f2, base, "max.messages=20", NULL); /* takes half, as lost */
    RUN_UNTIL(base, false, 300);
    n += feed_parts(base, 2000, 0x3); /* and then the others' */
    reader_start(&r, base);
    RUN_UNTIL(base, r.distinct >= n || f1.stopped || f2.stopped, 30000);
    assert_false(f1.stopped);
    assert_false(f2.stopped);
    assert_true(f1.refused > 0);
    assert_int_equal(r.distinct, n); /* nothing lost */
    stop_destroy(f1.app, base);
    stop_destroy(f2.app, base);
    stop_destroy(r.app, base);
}

typedef struct delivered {
    int ok, failed;
    int64_t last_offset[2];
    int out_of_order;
} delivered_t;

static void on_delivery(rill_err_t err, const char *errmsg, int32_t partition,
                        int64_t offset, void *opaque) {
    (void)errmsg;
    delivered_t *d = opaque;
    if (err != RILL_OK) {
        d->failed++;
        return;
    }
    if (offset <= d->last_offset[partition]) d->out_of_order++;
    d->last_offset[partition] = offset;
    d->ok++;
}

/* A burst of rill_send calls (as from a timer) into a full topic: each returns
 * RILL_OK at once, and each is delivered later, in the order sent. */
static void sends_into_a_full_topic_return_ok_and_are_delivered_in_order(void **state) {
    struct event_base *base = *state;
    const int n = 200;
    forwarder_t f = {0};
    reader_t r = {0};
    delivered_t d = {.last_offset = {-1, -1}};
    reader_start(&r, base);
    forwarder_start(&f, base, "max.messages=10", NULL);
    RUN_UNTIL(base, false, 50);
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.cb = on_delivery;
    o.opaque = &d;
    rill_header_t origin = {"origin", "timer", 5};
    o.headers = &origin; /* held sends keep their headers */
    o.nheaders = 1;
    char k[16], v[32];
    for (int i = 0; i < n; i++) {
        int kl = key_name(i % NKEYS, k, sizeof k);
        int vl = snprintf(v, sizeof v, "%d:%d", i % NKEYS, i / NKEYS);
        assert_int_equal(rill_send(f.out, k, (size_t)kl, v, (size_t)vl, &o), RILL_OK);
    }
    assert_true(d.ok < n); /* most wait for the reader */
    RUN_UNTIL(base, d.ok + d.failed >= n && r.n >= n, 30000);
    assert_int_equal(d.failed, 0);
    assert_int_equal(d.ok, n);
    assert_int_equal(d.out_of_order, 0);
    assert_int_equal(r.n, n);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.with_header, n);
    stop_destroy(f.app, base);
    stop_destroy(r.app, base);
}

/* A timer that sends five events a firing ("key:sequence", keys 0-4), up to
 * @p limit firings; later firings send nothing. */
typedef struct producer {
    rill_topic_t *out;
    int firings, limit, sent, refused;
    int seq[NKEYS];
    delivered_t d;
} producer_t;

static void produce_some(rill_app_t *app, void *opaque) {
    (void)app;
    producer_t *p = opaque;
    if (++p->firings > p->limit) return;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.cb = on_delivery;
    o.opaque = &p->d;
    char k[16], v[32];
    for (int i = 0; i < NKEYS; i++) {
        int kl = key_name(i, k, sizeof k);
        int vl = snprintf(v, sizeof v, "%d:%d", i, p->seq[i]++);
        if (rill_send(p->out, k, (size_t)kl, v, (size_t)vl, &o) == RILL_OK)
            p->sent++;
        else
            p->refused++;
    }
}

static void count_tick(rill_app_t *app, void *opaque) {
    (void)app;
    (*(int *)opaque)++;
}

/* A timer whose last firing's sends are still held (nobody reads "out", 10 messages
 * a partition) does not fire again: it would only pile up held sends (up to the
 * 64 MiB bound).  Once they left it fires again, and everything it sent arrives,
 * in order. */
static void
a_timer_whose_sends_are_held_waits_for_them_before_firing_again(void **state) {
    struct event_base *base = *state;
    forwarder_t f = {0};
    reader_t r = {0};
    forwarder_start(&f, base, "max.messages=10", NULL);
    producer_t p = {.out = f.out, .limit = 30, .d = {.last_offset = {-1, -1}}};
    assert_non_null(rill_app_timer(f.app, "producer", 0.005, produce_some, &p));
    RUN_UNTIL(base, p.firings >= 30, 1000);
    /* 5 keys over 2 partitions: one gets 3 a firing, and is full at the 4th */
    assert_in_range(p.firings, 1, 4);
    assert_int_equal(p.refused, 0);
    assert_true(p.d.ok < p.sent); /* some really are held */
    reader_start(&r, base);
    RUN_UNTIL(base, p.firings > p.limit && p.d.ok + p.d.failed >= p.sent && r.n >= p.sent,
              30000);
    assert_true(p.firings > p.limit); /* it fires again */
    assert_int_equal(p.refused, 0);
    assert_int_equal(p.sent, p.limit * NKEYS);
    assert_int_equal(p.d.failed, 0);
    assert_int_equal(p.d.ok, p.sent);
    assert_int_equal(r.n, p.sent);
    assert_int_equal(r.out_of_order, 0);
    stop_destroy(f.app, base);
    stop_destroy(r.app, base);
}

/* Only the timer whose sends are held waits: another one, sending nothing, fires
 * on as usual meanwhile. */
static void a_timer_that_sends_nothing_fires_on_while_sends_are_held(void **state) {
    struct event_base *base = *state;
    forwarder_t f = {0};
    forwarder_start(&f, base, "max.messages=10", NULL);
    producer_t p = {.out = f.out, .limit = 1000, .d = {.last_offset = {-1, -1}}};
    int ticks = 0;
    assert_non_null(rill_app_timer(f.app, "producer", 0.005, produce_some, &p));
    assert_non_null(rill_app_timer(f.app, "ticker", 0.005, count_tick, &ticks));
    RUN_UNTIL(base, ticks >= 40, 10000);
    assert_true(ticks >= 40);
    assert_in_range(p.firings, 1, 4);
    stop_destroy(f.app, base);
}

/* Nobody consumes "out": after broker.timeout.ms without the transport taking a
 * held send the worker fails, and its error says why. */
static void a_topic_nobody_consumes_fails_the_worker_after_broker_timeout(void **state) {
    struct event_base *base = *state;
    forwarder_t f = {0};
    feed(base, 200);
    const char *kv[] = {"broker.timeout.ms", "300", NULL};
    forwarder_start(&f, base, "max.messages=10", kv);
    RUN_UNTIL(base, f.stopped, 10000);
    assert_true(f.stopped);
    const char *msg = rill_app_errmsg(f.app);
    assert_non_null(strstr(msg, "held sends"));
    assert_non_null(strstr(msg, "broker.timeout.ms"));
    assert_non_null(strstr(msg, "'out'"));
    rill_app_destroy(f.app);
}

/* Held sends are bounded (64 MiB): past it rill_send refuses with RILL_EFULL and
 * an error that says so, and what was held before still leaves once there is room. */
static void the_backlog_is_bounded_and_refuses_past_it(void **state) {
    struct event_base *base = *state;
    forwarder_t f = {0};
    reader_t r = {0};
    forwarder_start(&f, base, "max.messages=1", NULL);
    RUN_UNTIL(base, false, 50);
    size_t len = (size_t)1 << 20;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'x', len);
    memcpy(big, "0:", 2); /* "key:sequence" for the reader: 0:0, 0:1, ... */
    delivered_t d = {.last_offset = {-1, -1}};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.cb = on_delivery;
    o.opaque = &d;
    o.partition = 0;
    int accepted = 0;
    rill_err_t rc = RILL_OK;
    for (int i = 0; i < 80 && rc == RILL_OK; i++) {
        char seq[16];
        int sl = snprintf(seq, sizeof seq, "%d", i);
        memcpy(big + 2, seq, (size_t)sl);
        big[2 + sl] = '\0'; /* the reader parses up to here; the rest is padding */
        rc = rill_send(f.out, "k0", 2, big, len, &o);
        if (rc == RILL_OK) accepted++;
    }
    free(big);
    assert_int_equal(rc, RILL_EFULL);
    assert_non_null(strstr(rill_app_errmsg(f.app), "sends are already held"));
    assert_in_range(accepted, 60, 66);
    reader_start(&r, base); /* room at last: everything accepted is delivered */
    RUN_UNTIL(base, d.ok + d.failed >= accepted, 30000);
    assert_int_equal(d.failed, 0);
    assert_int_equal(d.ok, accepted);
    assert_int_equal(d.out_of_order, 0);
    stop_destroy(f.app, base);
    stop_destroy(r.app, base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_full_topic_slows_the_forwarder_and_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            sends_into_a_full_topic_return_ok_and_are_delivered_in_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            held_sends_of_a_lost_partition_are_refused_and_redone_by_the_new_owner, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_topic_nobody_consumes_fails_the_worker_after_broker_timeout, setup,
            teardown),
        cmocka_unit_test_setup_teardown(the_backlog_is_bounded_and_refuses_past_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_timer_whose_sends_are_held_waits_for_them_before_firing_again, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_timer_that_sends_nothing_fires_on_while_sends_are_held, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
