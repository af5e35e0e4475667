/* Stream operators, delayed forwards, channels, iterables and ask/cast on memory://. */
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

static unsigned seq;
static char broker[64];

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://streams-test-%u", ++seq);
    return 0;
}

static rill_app_t *make_app(struct event_base *base, const char *id) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
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

static int value_int(const rill_event_t *ev) {
    size_t len;
    const char *v = rill_event_value_bytes(ev, &len);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)len, v);
    return atoi(buf);
}

static void send_ints(rill_topic_t *t, int from, int to) {
    char v[32];
    for (int i = from; i < to; i++) {
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(rill_send(t, NULL, 0, v, strlen(v), NULL), RILL_OK);
    }
}

typedef struct got {
    int n;
    int values[10000];
    uint64_t index[10000];
    char keys[10000][16];
    int32_t parts[10000];
} got_t;

static rill_err_t collect(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    if (g->n < 10000) {
        g->values[g->n] = value_int(ev);
        g->index[g->n] = rill_event_index(ev);
        size_t kl;
        const char *k = rill_event_key_bytes(ev, &kl);
        snprintf(g->keys[g->n], 16, "%.*s", k ? (int)kl : 0, k ? k : "");
        g->parts[g->n] = rill_event_partition(ev);
    }
    g->n++;
    return RILL_OK;
}

static rill_err_t is_even(const rill_event_t *ev, bool *keep, void *opaque) {
    (void)opaque;
    *keep = value_int(ev) % 2 == 0;
    return RILL_OK;
}

static void filter_keeps_only_matching_events(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "f");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s = rill_stream_filter(rill_app_stream(app, t), is_even, NULL);
    assert_non_null(rill_stream_agent(s, "evens", collect, g, NULL));
    start(app);
    send_ints(t, 0, 100);
    RUN_UNTIL(base, g->n >= 50, 2000);
    RUN_UNTIL(base, false, 20);
    assert_int_equal(g->n, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(g->values[i], 2 * i);
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static rill_err_t times_ten(const rill_event_t *ev, void *out, void *opaque) {
    (void)opaque;
    *(int64_t *)out = value_int(ev) * 10;
    return RILL_OK;
}

static rill_err_t collect_int64(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    g->values[g->n++] = (int)*(const int64_t *)rill_event_value(ev);
    return RILL_OK;
}

static void map_replaces_the_value(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "m");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s =
        rill_stream_map(rill_app_stream(app, t), &rill_type_int64, times_ten, NULL);
    assert_non_null(rill_stream_agent(s, "tens", collect_int64, g, NULL));
    start(app);
    send_ints(t, 1, 6);
    RUN_UNTIL(base, g->n >= 5, 2000);
    assert_int_equal(g->n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(g->values[i], (i + 1) * 10);
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static void enumerate_numbers_events_from_zero(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "e");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s =
        rill_stream_enumerate(rill_stream_filter(rill_app_stream(app, t), is_even, NULL));
    assert_non_null(rill_stream_agent(s, "idx", collect, g, NULL));
    start(app);
    send_ints(t, 0, 10);
    RUN_UNTIL(base, g->n >= 5, 2000);
    assert_int_equal(g->n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(g->index[i], (uint64_t)i);
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

typedef struct batches {
    int nbatches;
    int sizes[1000];
    int total;
} batches_t;

static rill_err_t on_batch(rill_event_t *const *evs, size_t n, void *opaque) {
    batches_t *b = opaque;
    b->sizes[b->nbatches++] = (int)n;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(value_int(evs[i]), b->total); /* in order, bytes valid */
        b->total++;
    }
    return RILL_OK;
}

static void take_delivers_full_batches_of_n(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "t1");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    batches_t b = {0};
    rill_stream_t *s = rill_stream_take(rill_app_stream(app, t), 10, 30.0);
    assert_non_null(rill_stream_agent_batch(s, "batch", on_batch, &b, NULL));
    start(app);
    send_ints(t, 0, 100);
    RUN_UNTIL(base, b.total >= 100, 2000);
    assert_int_equal(b.nbatches, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(b.sizes[i], 10);
    rill_app_destroy(app);
    event_base_free(base);
}

static void take_delivers_partial_batch_after_within(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "t2");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    batches_t b = {0};
    rill_stream_t *s = rill_stream_take(rill_app_stream(app, t), 100, 0.1);
    rill_stream_agent_batch(s, "batch", on_batch, &b, NULL);
    start(app);
    send_ints(t, 0, 7);
    RUN_UNTIL(base, false, 50);
    assert_int_equal(b.nbatches, 0); /* not yet: within is 100 ms */
    RUN_UNTIL(base, b.total >= 7, 2000);
    assert_int_equal(b.nbatches, 1);
    assert_int_equal(b.sizes[0], 7);
    rill_app_destroy(app);
    event_base_free(base);
}

static void take_delivers_partial_batch_on_shutdown(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "t3");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    batches_t b = {0};
    rill_stream_t *s = rill_stream_take(rill_app_stream(app, t), 100, 3600.0);
    rill_stream_agent_batch(s, "batch", on_batch, &b, NULL);
    start(app);
    send_ints(t, 0, 5);
    RUN_UNTIL(base, false, 50);
    assert_int_equal(b.nbatches, 0);
    rill_app_stop(app);
    RUN_UNTIL(base, false, 20);
    assert_int_equal(b.nbatches, 1);
    assert_int_equal(b.total, 5);
    /* and the batch's offsets were committed */
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *tr =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    int64_t off = -1;
    tr->ops->committed(tr, "t3", "nums", 0, &off);
    assert_int_equal(off, 5);
    rill_transport_destroy(tr);
    rill_app_destroy(app);
    event_base_free(base);
}

static void echo_copies_and_continues(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "echo");
    rill_topic_t *t = raw_topic(app, "nums", 1), *copy = raw_topic(app, "copies", 1);
    got_t *g = calloc(1, sizeof *g), *c = calloc(1, sizeof *c);
    rill_stream_t *s = rill_stream_echo(rill_app_stream(app, t), &copy, 1);
    rill_stream_agent(s, "main", collect, g, NULL);
    rill_app_agent(app, "copies", copy, collect, c, NULL);
    start(app);
    send_ints(t, 0, 20);
    RUN_UNTIL(base, g->n >= 20 && c->n >= 20, 2000);
    assert_int_equal(g->n, 20);
    assert_int_equal(c->n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(c->values[i], i);
    free(g);
    free(c);
    rill_app_destroy(app);
    event_base_free(base);
}

static void through_forwards_and_consumes_from_the_topic(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "thr");
    rill_topic_t *t = raw_topic(app, "nums", 2), *mid = raw_topic(app, "mid", 3);
    got_t *g = calloc(1, sizeof *g), *spy = calloc(1, sizeof *spy);
    rill_stream_t *s = rill_stream_filter(rill_app_stream(app, t), is_even, NULL);
    s = rill_stream_through(s, mid);
    assert_non_null(s);
    rill_stream_agent(s, "after", collect, g, NULL);
    start(app);
    send_ints(t, 0, 40);
    RUN_UNTIL(base, g->n >= 20, 2000);
    RUN_UNTIL(base, false, 20);
    assert_int_equal(g->n, 20);
    for (int i = 0; i < g->n; i++) {
        assert_int_equal(g->values[i] % 2, 0);
        assert_true(g->parts[i] >= 0 && g->parts[i] < 3); /* read from "mid" */
    }
    free(g);
    free(spy);
    rill_app_destroy(app);
    event_base_free(base);
}

static rill_err_t key_by_parity(const rill_event_t *ev, rill_buf_t *key, void *opaque) {
    (void)opaque;
    const char *k = value_int(ev) % 2 ? "odd" : "even";
    return rill_buf_append(key, k, strlen(k));
}

static void group_by_repartitions_by_the_new_key(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "gb");
    rill_topic_t *t = raw_topic(app, "nums", 4);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s =
        rill_stream_group_by(rill_app_stream(app, t), key_by_parity, NULL, "parity");
    assert_non_null(s);
    rill_stream_agent(s, "by_parity", collect, g, NULL);
    start(app);
    rill_topic_t *rt = rill_app_find_topic(app, "gb-nums-parity-repartition");
    assert_non_null(rt);
    assert_int_equal(rill_topic_partitions(rt), 4); /* co-partitioned with the source */
    send_ints(t, 0, 100);
    RUN_UNTIL(base, g->n >= 100, 2000);
    assert_int_equal(g->n, 100);
    int32_t even_p = rill_partition_for_key("even", 4, 4),
            odd_p = rill_partition_for_key("odd", 3, 4);
    for (int i = 0; i < g->n; i++) {
        bool odd = g->values[i] % 2;
        assert_string_equal(g->keys[i], odd ? "odd" : "even");
        assert_int_equal(g->parts[i], odd ? odd_p : even_p);
    }
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

/* A key of 5,000 bytes: the first half "A"s for even values, "B"s for odd ones. */
static rill_err_t long_key(const rill_event_t *ev, rill_buf_t *key, void *opaque) {
    (void)opaque;
    char k[5000];
    memset(k, value_int(ev) % 2 ? 'B' : 'A', sizeof k / 2);
    memset(k + sizeof k / 2, 'z', sizeof k / 2);
    return rill_buf_append(key, k, sizeof k);
}

static size_t long_key_len;

static rill_err_t key_len_of(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    size_t kl;
    rill_event_key_bytes(ev, &kl);
    long_key_len = kl;
    g->n++;
    return RILL_OK;
}

static void a_group_by_key_longer_than_1024_bytes_is_kept_whole(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "gblong");
    rill_topic_t *t = raw_topic(app, "nums", 2);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s =
        rill_stream_group_by(rill_app_stream(app, t), long_key, NULL, "long");
    rill_stream_agent(s, "by_long", key_len_of, g, NULL);
    start(app);
    send_ints(t, 0, 4);
    RUN_UNTIL(base, g->n >= 4, 2000);
    assert_int_equal(g->n, 4);
    assert_int_equal(long_key_len, 5000); /* was cut to 1,024 bytes */
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

/* Fails on 3: the agent's error policy (log, ack, go on) applies to the event. */
static rill_err_t fails_on_three(const rill_event_t *ev, bool *keep, void *opaque) {
    (void)opaque;
    (void)keep;
    return value_int(ev) == 3 ? RILL_EDECODE : RILL_OK;
}

static void a_failing_filter_drops_the_event_under_the_error_policy(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "ffail");
    rill_topic_t *t = raw_topic(app, "nums", 1);
    got_t *g = calloc(1, sizeof *g);
    rill_stream_t *s = rill_stream_filter(rill_app_stream(app, t), fails_on_three, NULL);
    rill_agent_t *a = rill_stream_agent(s, "after_filter", collect, g, NULL);
    start(app);
    send_ints(t, 0, 6);
    RUN_UNTIL(base, rill_agent_processed(a) >= 6, 2000);
    assert_int_equal(g->n, 5); /* 0, 1, 2, 4, 5 */
    for (int i = 0; i < g->n; i++)
        assert_int_not_equal(g->values[i], 3);
    assert_int_equal(rill_agent_processed(a), 6); /* the failed one was acked too */
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static rill_topic_t *later_topic;
static int64_t forward_delay;

static rill_err_t forward_it(rill_event_t *ev, void *opaque) {
    (void)opaque;
    return rill_event_forward(ev, later_topic, forward_delay);
}

static void forward_now_sends_key_value_and_headers(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "fw");
    rill_topic_t *t = raw_topic(app, "in", 1);
    later_topic = raw_topic(app, "later", 1);
    forward_delay = 0;
    got_t *g = calloc(1, sizeof *g);
    rill_app_agent(app, "fwd", t, forward_it, NULL, NULL);
    rill_app_agent(app, "sink", later_topic, collect, g, NULL);
    start(app);
    assert_int_equal(rill_send(t, "k1", 2, "42", 2, NULL), RILL_OK);
    RUN_UNTIL(base, g->n >= 1, 2000);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->values[0], 42);
    assert_string_equal(g->keys[0], "k1");
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static void delayed_forward_arrives_after_the_delay(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "dl");
    rill_topic_t *t = raw_topic(app, "in", 1);
    later_topic = raw_topic(app, "later", 1);
    forward_delay = 300;
    got_t *g = calloc(1, sizeof *g);
    rill_app_agent(app, "fwd", t, forward_it, NULL, NULL);
    rill_app_agent(app, "sink", later_topic, collect, g, NULL);
    start(app);
    uint64_t t0 = rill_mono_ns();
    rill_send(t, "k", 1, "7", 1, NULL);
    RUN_UNTIL(base, g->n >= 1, 3000);
    assert_int_equal(g->n, 1);
    assert_true(rill_mono_ns() - t0 >= 250u * 1000000u);
    assert_int_equal(g->values[0], 7);
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static void delayed_forward_survives_a_worker_restart(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "dr");
    rill_topic_t *t = raw_topic(app, "in", 1);
    later_topic = raw_topic(app, "later", 1);
    forward_delay = 600;
    got_t *g = calloc(1, sizeof *g);
    rill_app_agent(app, "fwd", t, forward_it, NULL, NULL);
    rill_app_agent(app, "sink", later_topic, collect, g, NULL);
    start(app);
    rill_send(t, "k", 1, "99", 2, NULL);
    RUN_UNTIL(base, false, 150); /* scheduled, not yet due */
    assert_int_equal(g->n, 0);
    rill_app_stop(app); /* graceful: the held event is given back, not acked */
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(app);

    rill_app_t *again = make_app(base, "dr");
    rill_topic_t *t2 = raw_topic(again, "in", 1);
    later_topic = raw_topic(again, "later", 1);
    rill_app_agent(again, "fwd", t2, forward_it, NULL, NULL);
    rill_app_agent(again, "sink", later_topic, collect, g, NULL);
    start(again);
    RUN_UNTIL(base, g->n >= 1, 3000);
    assert_int_equal(g->n, 1); /* forwarded exactly once, after the restart */
    assert_int_equal(g->values[0], 99);
    RUN_UNTIL(base, false, 100);
    assert_int_equal(g->n, 1);
    free(g);
    rill_app_destroy(again);
    event_base_free(base);
}

static void channel_delivers_in_process(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = make_app(base, "ch");
    rill_topic_t *ch = rill_app_channel(app, "jobs", NULL);
    assert_non_null(ch);
    got_t *g = calloc(1, sizeof *g);
    rill_app_agent(app, "worker", ch, collect, g, NULL);
    start(app);
    send_ints(ch, 0, 10);
    RUN_UNTIL(base, g->n >= 10, 2000);
    assert_int_equal(g->n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(g->values[i], i);
    /* nothing of it on the broker */
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *tr =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    int64_t lo, hi;
    assert_int_equal(tr->ops->watermarks(tr, "jobs", 0, &lo, &hi, 100), RILL_ENOENT);
    rill_transport_destroy(tr);
    free(g);
    rill_app_destroy(app);
    event_base_free(base);
}

static void stream_values_spread_over_partitions_and_workers(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *a = make_app(base, "it"), *b = make_app(base, "it");
    rill_topic_t *ta = raw_topic(a, "items", 4), *tb = raw_topic(b, "items", 4);
    got_t *ga = calloc(1, sizeof *ga), *gb = calloc(1, sizeof *gb);
    rill_app_agent(a, "double", ta, collect, ga, NULL);
    rill_app_agent(b, "double", tb, collect, gb, NULL);
    start(a);
    start(b);
    RUN_UNTIL(base, false, 30);
    rill_bytes_t vals[4] = {{(uint8_t *)"1", 1},
                            {(uint8_t *)"2", 1},
                            {(uint8_t *)"3", 1},
                            {(uint8_t *)"4", 1}};
    assert_int_equal(rill_app_stream_values(a, ta, vals, 4, sizeof vals[0]), RILL_OK);
    RUN_UNTIL(base, ga->n + gb->n >= 4, 2000);
    assert_int_equal(ga->n + gb->n, 4);
    assert_int_equal(ga->n, 2); /* two partitions each */
    int sum = 0;
    for (int i = 0; i < ga->n; i++)
        sum += ga->values[i];
    for (int i = 0; i < gb->n; i++)
        sum += gb->values[i];
    assert_int_equal(sum, 10);
    free(ga);
    free(gb);
    rill_app_destroy(a);
    rill_app_destroy(b);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(filter_keeps_only_matching_events, setup),
        cmocka_unit_test_setup(map_replaces_the_value, setup),
        cmocka_unit_test_setup(enumerate_numbers_events_from_zero, setup),
        cmocka_unit_test_setup(take_delivers_full_batches_of_n, setup),
        cmocka_unit_test_setup(take_delivers_partial_batch_after_within, setup),
        cmocka_unit_test_setup(take_delivers_partial_batch_on_shutdown, setup),
        cmocka_unit_test_setup(echo_copies_and_continues, setup),
        cmocka_unit_test_setup(through_forwards_and_consumes_from_the_topic, setup),
        cmocka_unit_test_setup(group_by_repartitions_by_the_new_key, setup),
        cmocka_unit_test_setup(forward_now_sends_key_value_and_headers, setup),
        cmocka_unit_test_setup(delayed_forward_arrives_after_the_delay, setup),
        cmocka_unit_test_setup(delayed_forward_survives_a_worker_restart, setup),
        cmocka_unit_test_setup(channel_delivers_in_process, setup),
        cmocka_unit_test_setup(a_group_by_key_longer_than_1024_bytes_is_kept_whole,
                               setup),
        cmocka_unit_test_setup(a_failing_filter_drops_the_event_under_the_error_policy,
                               setup),
        cmocka_unit_test_setup(stream_values_spread_over_partitions_and_workers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
