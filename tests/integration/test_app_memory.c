/* Apps on memory://: agents, sends, timers, tasks, acks and commits, groups,
 * backpressure, error policies, graceful and abrupt stops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

static unsigned seq;
static char broker[64];

typedef struct seen {
    int n;
    int per_part[16];
    int64_t last_off[16];
    bool out_of_order;
    rill_event_t *held[4096];
    int nheld;
    bool hold; /* return RILL_PENDING and keep the event */
    int fail_every;
    int max_inflight, inflight;
} seen_t;

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    seen_t *s = opaque;
    int p = rill_event_partition(ev);
    int64_t off = rill_event_offset(ev);
    if (s->per_part[p] && off <= s->last_off[p]) s->out_of_order = true;
    s->last_off[p] = off;
    s->per_part[p]++;
    s->n++;
    if (s->fail_every && s->n % s->fail_every == 0) return RILL_EINVAL;
    if (s->hold) {
        s->held[s->nheld++] = ev;
        if (++s->inflight > s->max_inflight) s->max_inflight = s->inflight;
        return RILL_PENDING;
    }
    return RILL_OK;
}

static rill_app_t *make_app(struct event_base *base, const char *id,
                            const char *extra_key, const char *extra_val) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "broker", broker, err, sizeof err), RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err),
                     RILL_CONF_OK);
    if (!getenv("RILL_LOG_LEVEL")) rill_conf_set(c, "log.level", "warn", err, sizeof err);
    if (extra_key)
        assert_int_equal(rill_conf_set(c, extra_key, extra_val, err, sizeof err),
                         RILL_CONF_OK);
    rill_app_t *app = rill_app_new_with_base(id, c, base, err, sizeof err);
    if (!app) fail_msg("%s", err);
    return app;
}

static rill_topic_t *raw_topic(rill_app_t *app, const char *name, int32_t parts) {
    rill_topic_opts_t o = {.partitions = parts};
    rill_topic_t *t = rill_app_topic(app, name, &o);
    assert_non_null(t);
    return t;
}

static void start(rill_app_t *app) {
    char err[256] = "";
    if (rill_app_start(app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_n(rill_topic_t *t, int n) {
    char k[32], v[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(rill_send(t, k, strlen(k), v, strlen(v), NULL), RILL_OK);
    }
}

static int64_t committed(struct event_base *base, const char *group, const char *topic,
                         int32_t p) {
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *t =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    assert_non_null(t);
    int64_t off = RILL_OFFSET_INVALID;
    t->ops->committed(t, group, topic, p, &off);
    rill_transport_destroy(t);
    return off;
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://app-test-%u", ++seq);
    return 0;
}

static void agent_receives_every_event_once_in_partition_order(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a1", NULL, NULL);
    rill_topic_t *t = raw_topic(app, "events", 4);
    seen_t s = {0};
    assert_non_null(rill_app_agent(app, "counter", t, on_event, &s, NULL));
    start(app);
    send_n(t, 1000);
    RUN_UNTIL(base, s.n >= 1000, 5000);
    assert_int_equal(s.n, 1000);
    assert_false(s.out_of_order);
    for (int p = 0; p < 4; p++)
        assert_true(s.per_part[p] > 0);
    RUN_UNTIL(base, false, 50);
    assert_int_equal(s.n, 1000);
    rill_app_destroy(app);
    event_base_free(base);
}

static int key_parts[4];

static void keys_land_on_murmur2_partitions(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a2", NULL, NULL);
    rill_topic_t *t = raw_topic(app, "keyed", 4);
    seen_t s = {0};
    rill_app_agent(app, "c", t, on_event, &s, NULL);
    start(app);
    assert_int_equal(rill_send(t, "kafka", 5, "x", 1, NULL), RILL_OK);
    RUN_UNTIL(base, s.n >= 1, 2000);
    assert_int_equal(s.per_part[rill_partition_for_key("kafka", 5, 4)], 1);
    (void)key_parts;
    rill_app_destroy(app);
    event_base_free(base);
}

static void on_tick(rill_app_t *app, void *opaque) {
    (void)app;
    (*(int *)opaque)++;
}

static void timer_fires_every_interval(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a3", NULL, NULL);
    int ticks = 0, tasks = 0;
    assert_non_null(rill_app_timer(app, "t", 0.02, on_tick, &ticks));
    assert_int_equal(rill_app_task(app, "once", on_tick, &tasks), RILL_OK);
    start(app);
    RUN_UNTIL(base, ticks >= 5, 3000);
    assert_true(ticks >= 5);
    assert_int_equal(tasks, 1);
    rill_app_destroy(app);
    event_base_free(base);
}

static void graceful_stop_commits_processed_offsets(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a4", "commit.interval.ms", "600000");
    rill_topic_t *t = raw_topic(app, "events", 1);
    seen_t s = {0};
    rill_app_agent(app, "c", t, on_event, &s, NULL);
    start(app);
    send_n(t, 100);
    RUN_UNTIL(base, s.n >= 100, 3000);
    assert_int_equal(committed(base, "a4", "events", 0), RILL_OFFSET_INVALID);
    rill_app_stop(app);
    RUN_UNTIL(base, false, 20);
    assert_int_equal(committed(base, "a4", "events", 0), 100);
    rill_app_destroy(app);
    event_base_free(base);
}

static void slow_head_event_is_never_committed_past(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a5", NULL, NULL);
    rill_topic_t *t = raw_topic(app, "events", 1);
    seen_t s = {.hold = true};
    rill_agent_opts_t o = {.concurrency = 4};
    rill_app_agent(app, "c", t, on_event, &s, &o);
    start(app);
    send_n(t, 8);
    RUN_UNTIL(base, s.nheld >= 4, 2000);
    assert_int_equal(s.nheld, 4); /* concurrency bound */
    assert_int_equal(s.max_inflight, 4);
    /* finish 1, 2, 3 but not the head (offset 0) */
    for (int i = 1; i < 4; i++) {
        s.inflight--;
        rill_event_ack(s.held[i], RILL_OK);
    }
    RUN_UNTIL(base, s.nheld >= 7, 2000);
    RUN_UNTIL(base, false, 200); /* several commit intervals */
    int64_t c0 = committed(base, "a5", "events", 0);
    assert_true(c0 == RILL_OFFSET_INVALID || c0 == 0); /* never past the head */
    s.inflight--;
    rill_event_ack(s.held[0], RILL_OK);
    RUN_UNTIL(base, committed(base, "a5", "events", 0) >= 4, 2000);
    assert_int_equal(committed(base, "a5", "events", 0), 4);
    for (int i = 4; i < s.nheld; i++)
        rill_event_ack(s.held[i], RILL_OK);
    RUN_UNTIL(base, s.nheld >= 8, 2000);
    for (int i = 7; i < s.nheld; i++)
        rill_event_ack(s.held[i], RILL_OK);
    RUN_UNTIL(base, committed(base, "a5", "events", 0) >= 8, 2000);
    assert_int_equal(committed(base, "a5", "events", 0), 8);
    rill_app_destroy(app);
    event_base_free(base);
}

static void concurrency_one_keeps_partition_order_with_async_handler(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a6", NULL, NULL);
    rill_topic_t *t = raw_topic(app, "events", 1);
    seen_t s = {.hold = true};
    rill_app_agent(app, "c", t, on_event, &s, NULL);
    start(app);
    send_n(t, 5);
    for (int i = 0; i < 5; i++) {
        RUN_UNTIL(base, s.nheld > i, 2000);
        assert_int_equal(s.nheld, i + 1); /* one at a time */
        size_t len;
        const char *v = rill_event_value_bytes(s.held[i], &len);
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(v, want, len); /* bytes survive beyond the batch */
        rill_event_ack(s.held[i], RILL_OK);
    }
    assert_false(s.out_of_order);
    rill_app_destroy(app);
    event_base_free(base);
}

static void slow_agent_pauses_only_its_own_partitions(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a7", "stream.buffer.maxsize", "16");
    rill_topic_t *slow_t = raw_topic(app, "slow", 1), *fast_t = raw_topic(app, "fast", 1);
    seen_t slow = {.hold = true}, fast = {0};
    rill_app_agent(app, "slow", slow_t, on_event, &slow, NULL);
    rill_app_agent(app, "fast", fast_t, on_event, &fast, NULL);
    start(app);
    send_n(slow_t, 200);
    send_n(fast_t, 2000);
    RUN_UNTIL(base, fast.n >= 2000, 5000);
    assert_int_equal(fast.n, 2000);
    assert_int_equal(slow.nheld, 1); /* the slow head blocks only its agent */
    slow.hold = false;
    rill_event_ack(slow.held[0], RILL_OK);
    RUN_UNTIL(base, slow.n >= 200, 5000);
    assert_int_equal(slow.n, 200); /* paused, never dropped */
    assert_false(slow.out_of_order);
    rill_app_destroy(app);
    event_base_free(base);
}

static void handler_error_is_logged_and_skipped(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a8", "log.level", "fatal");
    rill_topic_t *t = raw_topic(app, "events", 1);
    seen_t s = {.fail_every = 3};
    rill_app_agent(app, "c", t, on_event, &s, NULL);
    start(app);
    send_n(t, 30);
    RUN_UNTIL(base, s.n >= 30, 2000);
    assert_int_equal(s.n, 30);
    RUN_UNTIL(base, committed(base, "a8", "events", 0) >= 30, 2000);
    assert_int_equal(committed(base, "a8", "events", 0), 30);
    rill_app_destroy(app);
    event_base_free(base);
}

static void handler_error_with_crash_policy_stops_the_worker(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a9", "log.level", "fatal");
    rill_topic_t *t = raw_topic(app, "events", 1);
    seen_t s = {.fail_every = 3};
    rill_agent_opts_t o = {.on_error = RILL_ON_ERROR_CRASH};
    rill_app_agent(app, "c", t, on_event, &s, &o);
    start(app);
    send_n(t, 30);
    RUN_UNTIL(base, !rill_app_is_ready(app), 2000);
    assert_false(rill_app_is_ready(app));
    assert_int_equal(s.n, 3); /* nothing after the failure */
    assert_non_null(strstr(rill_app_errmsg(app), "agent 'c' failed"));
    rill_app_destroy(app);
    event_base_free(base);
}

static void revoke_with_event_never_acked_fails_loudly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *a = make_app(base, "a10", "revoke.timeout.ms", "100");
    rill_topic_t *t = raw_topic(a, "events", 2);
    seen_t s = {.hold = true};
    rill_agent_opts_t o = {.concurrency = 10};
    rill_app_agent(a, "c", t, on_event, &s, &o);
    start(a);
    rill_bytes_t v = {(uint8_t *)"v", 1};
    for (int i = 0; i < 10; i++) {
        rill_send_opts_t so = RILL_SEND_OPTS_INIT;
        so.partition = i % 2;
        assert_int_equal(rill_send(t, NULL, 0, v.data, v.len, &so), RILL_OK);
    }
    RUN_UNTIL(base, s.nheld >= 10, 2000);
    assert_int_equal(s.nheld, 10); /* in flight on both partitions */
    rill_app_t *b = make_app(base, "a10", "log.level", "fatal");
    seen_t s2 = {0};
    rill_app_agent(b, "c", raw_topic(b, "events", 2), on_event, &s2, NULL);
    start(b);
    RUN_UNTIL(base, !rill_app_is_ready(a), 3000);
    assert_false(rill_app_is_ready(a));
    assert_non_null(strstr(rill_app_errmsg(a), "revoke timed out"));
    rill_app_destroy(a);
    /* the survivor gets everything, and processes what a never acked */
    RUN_UNTIL(base, s2.n >= 10, 3000);
    assert_int_equal(s2.n, 10);
    rill_app_destroy(b);
    event_base_free(base);
}

static void two_workers_share_partitions_and_survivor_takes_over(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *a = make_app(base, "g1", NULL, NULL),
               *b = make_app(base, "g1", NULL, NULL);
    rill_topic_t *ta = raw_topic(a, "events", 4);
    raw_topic(b, "events", 4);
    seen_t sa = {0}, sb = {0};
    rill_app_agent(a, "c", ta, on_event, &sa, NULL);
    rill_app_agent(b, "c", rill_app_find_topic(b, "events"), on_event, &sb, NULL);
    start(a);
    start(b);
    RUN_UNTIL(base, false, 50);
    send_n(ta, 1000);
    RUN_UNTIL(base, sa.n + sb.n >= 1000, 5000);
    assert_int_equal(sa.n + sb.n, 1000);
    assert_true(sa.n > 0 && sb.n > 0);
    for (int p = 0; p < 4; p++)
        assert_true(!(sa.per_part[p] && sb.per_part[p]));
    /* b dies abruptly mid-stream; a must process everything b had not committed */
    rill_app_destroy(b);
    int before = sa.n;
    send_n(ta, 1000);
    RUN_UNTIL(base, sa.n - before >= 1000, 5000);
    assert_true(sa.n - before >= 1000); /* at least once: none skipped */
    for (int p = 0; p < 4; p++)
        assert_true(sa.per_part[p] > 0);
    rill_app_destroy(a);
    event_base_free(base);
}

static void restarted_worker_resumes_after_committed_offset(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *a = make_app(base, "r1", NULL, NULL);
    rill_topic_t *t = raw_topic(a, "events", 1);
    seen_t s = {0};
    rill_app_agent(a, "c", t, on_event, &s, NULL);
    start(a);
    send_n(t, 50);
    RUN_UNTIL(base, s.n >= 50, 2000);
    rill_app_stop(a);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(a);
    rill_app_t *b = make_app(base, "r1", NULL, NULL);
    rill_topic_t *tb = raw_topic(b, "events", 1);
    seen_t s2 = {0};
    rill_app_agent(b, "c", tb, on_event, &s2, NULL);
    start(b);
    send_n(tb, 10);
    RUN_UNTIL(base, s2.n >= 10, 2000);
    RUN_UNTIL(base, false, 50);
    assert_int_equal(s2.n, 10); /* nothing processed twice after a clean stop */
    assert_int_equal(s2.last_off[0], 59);
    rill_app_destroy(b);
    event_base_free(base);
}

typedef struct dr {
    int n;
    int32_t partition;
    int64_t offset;
} dr_t;

static void on_dr(rill_err_t err, const char *msg, int32_t p, int64_t off, void *opaque) {
    (void)msg;
    dr_t *d = opaque;
    assert_int_equal(err, RILL_OK);
    d->n++;
    d->partition = p;
    d->offset = off;
}

static void send_reports_delivery_partition_and_offset(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "a11", NULL, NULL);
    rill_topic_t *t = raw_topic(app, "out", 3);
    start(app);
    dr_t d = {0};
    rill_bytes_t v = {(uint8_t *)"x", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = 2;
    o.cb = on_dr;
    o.opaque = &d;
    assert_int_equal(rill_send(t, NULL, 0, v.data, v.len, &o), RILL_OK);
    assert_int_equal(rill_send(t, NULL, 0, v.data, v.len, &o), RILL_OK);
    RUN_UNTIL(base, d.n >= 2, 2000);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.partition, 2);
    assert_int_equal(d.offset, 1);
    o.partition = 3;
    assert_int_equal(rill_send(t, NULL, 0, v.data, v.len, &o), RILL_EINVAL);
    assert_non_null(strstr(rill_app_errmsg(app), "out of range"));
    rill_app_destroy(app);
    event_base_free(base);
}

static void definitions_reject_bad_names(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(rill_app_new("bad id!", NULL, err, sizeof err));
    assert_non_null(strstr(err, "invalid"));
    rill_app_t *app = rill_app_new("ok", NULL, err, sizeof err);
    assert_null(rill_app_topic(app, "has space", NULL));
    assert_non_null(strstr(rill_app_errmsg(app), "invalid"));
    rill_topic_t *t = rill_app_topic(app, "t", NULL);
    assert_non_null(rill_app_agent(app, "a", t, on_event, NULL, NULL));
    assert_null(rill_app_agent(app, "a", t, on_event, NULL, NULL));
    assert_non_null(strstr(rill_app_errmsg(app), "already defined"));
    rill_app_destroy(app);
}

static void unknown_broker_scheme_fails_start_clearly(void **state) {
    (void)state;
    rill_conf_t *c = rill_conf_new();
    char err[256] = "";
    rill_conf_set(c, "broker", "nats://h:4222", err, sizeof err);
    rill_app_t *app = rill_app_new("x", c, err, sizeof err);
    assert_int_not_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "no transport registered for scheme 'nats'"));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(agent_receives_every_event_once_in_partition_order, setup),
        cmocka_unit_test_setup(keys_land_on_murmur2_partitions, setup),
        cmocka_unit_test_setup(timer_fires_every_interval, setup),
        cmocka_unit_test_setup(graceful_stop_commits_processed_offsets, setup),
        cmocka_unit_test_setup(slow_head_event_is_never_committed_past, setup),
        cmocka_unit_test_setup(concurrency_one_keeps_partition_order_with_async_handler,
                               setup),
        cmocka_unit_test_setup(slow_agent_pauses_only_its_own_partitions, setup),
        cmocka_unit_test_setup(handler_error_is_logged_and_skipped, setup),
        cmocka_unit_test_setup(handler_error_with_crash_policy_stops_the_worker, setup),
        cmocka_unit_test_setup(revoke_with_event_never_acked_fails_loudly, setup),
        cmocka_unit_test_setup(two_workers_share_partitions_and_survivor_takes_over,
                               setup),
        cmocka_unit_test_setup(restarted_worker_resumes_after_committed_offset, setup),
        cmocka_unit_test_setup(send_reports_delivery_partition_and_offset, setup),
        cmocka_unit_test_setup(definitions_reject_bad_names, setup),
        cmocka_unit_test_setup(unknown_broker_scheme_fails_start_clearly, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
