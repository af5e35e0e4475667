/* Apps that feed topics they consume themselves, on a small memory:// partition
 * (issue 13).  memory:// trims a partition only below what its groups committed, a
 * full partition holds the sends into it (backpressure), and a commit waits for the
 * sends its events caused: when the consumer that must commit is the producer itself
 * (an agent forwarding into its own topic, a pipeline a -> b inside one app, two
 * apps forwarding to each other) nothing could free room, and the apps stopped, with
 * nothing saying why.  Each test here runs the loop for a bounded time and checks
 * that every event arrived and was counted once. */
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

#include "memory_int.h" /* rill__memory_held_bytes */
#include "run_until.h"

#define MAXIDS 1024
#define PAD_MAX 4096

typedef struct hopper {
    rill_app_t *app;
    rill_topic_t *in, *out; /* forwards what it reads on "in" to "out" */
    rill_table_t *counts;   /* events handled per key */
    int arrived;            /* events whose hops ran out */
    int distinct;           /* ids among them */
    unsigned char seen[MAXIDS];
    int send_errors, table_errors, bad;
    int grow_warnings; /* memory:// lines: a partition grows past its limit */
    int idle_warnings; /* memory:// lines: "sink" is full and nobody consumes it */
    int any_growth;    /* memory:// lines: "sink" grows past its limit */
    size_t pad;        /* forwarded values are padded with spaces to this size */
    bool stopped;
} hopper_t;

static char broker[64];

static void on_log(rill_log_level_t level, const char *component, const char *msg,
                   void *opaque) {
    (void)component;
    hopper_t *h = opaque;
    if (level == RILL_LOG_WARN && strstr(msg, "topic 'loop' partition 0 grows past"))
        h->grow_warnings++;
    if (strstr(msg, "topic 'sink' partition 0 grows past")) h->any_growth++;
    if (level == RILL_LOG_WARN && strstr(msg, "topic 'sink' partition 0 is full") &&
        strstr(msg, "no consumer owns it"))
        h->idle_warnings++;
}

/* Values are "id:hops": an event with hops left is forwarded with one hop less. */
static rill_err_t hop(rill_event_t *ev, void *opaque) {
    hopper_t *h = opaque;
    size_t kl, vl;
    const void *k = rill_event_key_bytes(ev, &kl);
    const char *v = rill_event_value_bytes(ev, &vl);
    char buf[32];
    int id = -1, hops = -1;
    snprintf(buf, sizeof buf, "%.*s", (int)vl, v);
    if (sscanf(buf, "%d:%d", &id, &hops) != 2 || id < 0 || id >= MAXIDS || hops < 0) {
        h->bad++;
        return RILL_OK;
    }
    if (h->counts && rill_table_incr(h->counts, ev, k, kl, 1, NULL) != RILL_OK)
        h->table_errors++;
    if (hops == 0 || !h->out) {
        h->arrived++;
        if (!h->seen[id]) {
            h->seen[id] = 1;
            h->distinct++;
        }
        return RILL_OK;
    }
    static char out[PAD_MAX];
    size_t n = (size_t)snprintf(out, sizeof out, "%d:%d", id, hops - 1);
    if (h->pad > n) {
        memset(out + n, ' ', h->pad - n);
        n = h->pad;
    }
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.event = ev; /* its offset is committed once this send is delivered */
    if (rill_send(h->out, k, kl, out, n, &o) != RILL_OK) h->send_errors++;
    return RILL_OK;
}

static void on_stopped(rill_app_t *app, void *opaque) {
    (void)app;
    ((hopper_t *)opaque)->stopped = true;
}

static rill_conf_t *conf(const char *url, hopper_t *h) {
    rill_conf_t *c = rill_conf_new();
    char err[512];
    if (rill_conf_set(c, "broker", url, err, sizeof err) != RILL_CONF_OK)
        fail_msg("broker %s: %s", url, err);
    rill_conf_set(c, "log.level", h ? "warn" : "error", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "10", err, sizeof err);
    if (h) rill_conf_set_log_cb(c, on_log, h);
    return c;
}

/* App @p name on memory:// with max.messages=@p limit: agent "hop" reads @p in
 * (@p nin partitions) and forwards to @p out (@p nout partitions; NULL: counts only). */
static void hopper_start(hopper_t *h, struct event_base *base, const char *name,
                         int limit, const char *in, int nin, const char *out, int nout) {
    char url[128], err[512];
    snprintf(url, sizeof url, "%s?max.messages=%d", broker, limit);
    h->app = rill_app_new_with_base(name, conf(url, h), base, err, sizeof err);
    if (!h->app) fail_msg("app: %s", err);
    h->in = rill_app_topic(h->app, in, &(rill_topic_opts_t){.partitions = nin});
    if (out)
        h->out =
            strcmp(out, in) == 0
                ? h->in
                : rill_app_topic(h->app, out, &(rill_topic_opts_t){.partitions = nout});
    h->counts = rill_app_table(
        h->app, "counts",
        &(rill_table_opts_t){.value_type = &rill_type_int64, .source = h->in});
    assert_non_null(rill_app_agent(h->app, "hop", h->in, hop, h, NULL));
    rill_app_on_stopped(h->app, on_stopped, h);
    if (rill_app_start(h->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static int key_of(int id, char *buf, size_t len) {
    return snprintf(buf, len, "k%d", id);
}

/* Events "id:@p hops" for ids @p first..@p first+@p n-1 into @p topic, from an app
 * without limits (memory:// limits are the producer's). */
static void feed(struct event_base *base, const char *topic, int partitions, int first,
                 int n, int hops) {
    char err[512], k[16], v[32];
    rill_app_t *app =
        rill_app_new_with_base("feeder", conf(broker, NULL), base, err, sizeof err);
    assert_non_null(app);
    rill_topic_t *t =
        rill_app_topic(app, topic, &(rill_topic_opts_t){.partitions = partitions});
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    for (int id = first; id < first + n; id++) {
        int kl = key_of(id, k, sizeof k);
        int vl = snprintf(v, sizeof v, "%d:%d", id, hops);
        assert_int_equal(rill_send(t, k, (size_t)kl, v, (size_t)vl, NULL), RILL_OK);
    }
    RUN_UNTIL(base, false, 20);
    rill_app_stop(app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(app);
}

static void stop_destroy(rill_app_t *app, struct event_base *base) {
    rill_app_stop(app);
    RUN_UNTIL(base, false, 50);
    rill_app_destroy(app);
}

/* Every key of ids @p first..@p first+@p n-1 was counted @p times in @p h's table. */
static void assert_counts(hopper_t *h, int first, int n, int64_t times) {
    for (int id = first; id < first + n; id++) {
        char k[16];
        int kl = key_of(id, k, sizeof k);
        int64_t v = -1;
        assert_int_equal(rill_table_get(h->counts, NULL, k, (size_t)kl, &v), RILL_OK);
        if (v != times)
            fail_msg("key %s counted %lld times, not %lld", k, (long long)v,
                     (long long)times);
    }
}

static int setup(void **state) {
    static unsigned seq;
    snprintf(broker, sizeof broker, "memory://self-feed-%u", ++seq);
    *state = event_base_new();
    return 0;
}

static int teardown(void **state) {
    event_base_free(*state);
    return 0;
}

/* An agent that forwards each event back into the topic it reads, which holds 20
 * messages a partition and starts with 100 each: every event makes its 5 hops, and
 * each is counted once per hop. */
static void an_agent_forwarding_into_its_own_full_topic_keeps_going(void **state) {
    struct event_base *base = *state;
    const int n = 200, hops = 5;
    hopper_t h = {0};
    feed(base, "loop", 2, 0, n, hops);
    hopper_start(&h, base, "self-feed", 20, "loop", 2, "loop", 2);
    RUN_UNTIL(base, h.distinct >= n || h.stopped, 20000);
    assert_false(h.stopped);
    assert_int_equal(h.bad, 0);
    assert_int_equal(h.send_errors, 0);
    assert_int_equal(h.table_errors, 0);
    assert_int_equal(h.distinct, n);
    assert_int_equal(h.arrived, n);
    RUN_UNTIL(base, false, 50);
    assert_counts(&h, 0, n, hops + 1);
    stop_destroy(h.app, base);
}

/* A pipeline a -> b inside one app, b holding 20 messages a partition: the agent on
 * b goes on reading while the one on a fills b, and every event reaches b once. */
static void
a_pipeline_inside_one_app_keeps_going_when_its_second_topic_fills(void **state) {
    struct event_base *base = *state;
    const int n = 500;
    hopper_t a = {0};
    feed(base, "a", 4, 0, n, 1);
    /* one app, two agents: "hop" on a (forwards) and a counting one on b */
    char url[128], err[512];
    snprintf(url, sizeof url, "%s?max.messages=20", broker);
    a.app = rill_app_new_with_base("pipeline", conf(url, &a), base, err, sizeof err);
    assert_non_null(a.app);
    a.in = rill_app_topic(a.app, "a", &(rill_topic_opts_t){.partitions = 4});
    a.out = rill_app_topic(a.app, "b", &(rill_topic_opts_t){.partitions = 2});
    hopper_t b = {.app = a.app, .in = a.out};
    b.counts = rill_app_table(
        a.app, "b-counts",
        &(rill_table_opts_t){.value_type = &rill_type_int64, .source = a.out});
    assert_non_null(rill_app_agent(a.app, "hop", a.in, hop, &a, NULL));
    assert_non_null(rill_app_agent(a.app, "count", b.in, hop, &b, NULL));
    rill_app_on_stopped(a.app, on_stopped, &a);
    assert_int_equal(rill_app_start(a.app, err, sizeof err), RILL_OK);
    RUN_UNTIL(base, b.distinct >= n || a.stopped, 20000);
    assert_false(a.stopped);
    assert_int_equal(a.bad + b.bad, 0);
    assert_int_equal(a.send_errors, 0);
    assert_int_equal(b.table_errors, 0);
    assert_int_equal(b.distinct, n);
    assert_int_equal(b.arrived, n);
    RUN_UNTIL(base, false, 50);
    assert_counts(&b, 0, n, 1);
    stop_destroy(a.app, base);
}

/* Two apps forwarding to each other (x -> y, y -> x), both topics full from the
 * start: neither can wait for the other to make room, and every event makes its
 * hops between them. */
static void two_apps_forwarding_to_each_other_keep_going(void **state) {
    struct event_base *base = *state;
    const int n = 200, hops = 6;
    hopper_t x = {0}, y = {0};
    feed(base, "x", 2, 0, n, hops);
    feed(base, "y", 2, n, n, hops);
    hopper_start(&x, base, "app-x", 20, "x", 2, "y", 2);
    hopper_start(&y, base, "app-y", 20, "y", 2, "x", 2);
    RUN_UNTIL(base, x.distinct + y.distinct >= 2 * n || x.stopped || y.stopped, 20000);
    assert_false(x.stopped);
    assert_false(y.stopped);
    assert_int_equal(x.bad + y.bad, 0);
    assert_int_equal(x.send_errors + y.send_errors, 0);
    assert_int_equal(x.distinct + y.distinct, 2 * n);
    assert_int_equal(x.arrived + y.arrived, 2 * n);
    stop_destroy(x.app, base);
    stop_destroy(y.app, base);
}

/* A table whose partition has more keys than max.messages: its changelog, which
 * no group reads and only compaction shrinks, cannot hold its sends until there is
 * room (there never would be); every event is counted once. */
static void a_table_with_more_keys_than_its_changelog_holds_keeps_counting(void **state) {
    struct event_base *base = *state;
    const int n = 300;
    hopper_t h = {0};
    feed(base, "words", 1, 0, n, 0);
    hopper_start(&h, base, "counter", 20, "words", 1, NULL, 0);
    RUN_UNTIL(base, h.distinct >= n || h.stopped, 20000);
    assert_false(h.stopped);
    assert_int_equal(h.table_errors, 0);
    assert_int_equal(h.distinct, n);
    RUN_UNTIL(base, false, 50);
    assert_counts(&h, 0, n, 1);
    feed(base, "words", 1, 0, n, 0); /* once more: it went on */
    RUN_UNTIL(base, h.arrived >= 2 * n || h.stopped, 20000);
    assert_int_equal(h.arrived, 2 * n);
    RUN_UNTIL(base, false, 50);
    assert_counts(&h, 0, n, 2);
    stop_destroy(h.app, base);
}

/* A partition that grew past max.messages gives the memory back as its consumer
 * commits: 300 events of 2 KiB making 4 hops (some 2.4 MB through it) leave it
 * holding little more than its current chunk. */
static void a_partition_that_grew_shrinks_as_its_consumer_commits(void **state) {
    struct event_base *base = *state;
    const int n = 300;
    hopper_t h = {.pad = 2048};
    feed(base, "loop", 1, 0, n, 4);
    hopper_start(&h, base, "self-feed", 20, "loop", 1, "loop", 1);
    RUN_UNTIL(base, h.distinct >= n || h.stopped, 20000);
    assert_int_equal(h.distinct, n);
    RUN_UNTIL(base, false, 100); /* the last commits */
    size_t held = rill__memory_held_bytes(broker + strlen("memory://"), "loop", 0);
    if (held > 2 * CHUNK_BYTES + 64)
        fail_msg("'loop' still holds %zu bytes of chunks", held);
    stop_destroy(h.app, base);
}

/* The other side, unchanged: a producer into a full partition nobody consumes is
 * held (its forwards wait; the partition does not grow), and memory:// says once
 * which partition holds it, before broker.timeout.ms fails the worker. */
static void
a_full_partition_nobody_consumes_still_holds_its_producer_and_says_so(void **state) {
    struct event_base *base = *state;
    hopper_t h = {0};
    feed(base, "in", 1, 0, 50, 1);
    hopper_start(&h, base, "forwarder", 10, "in", 1, "sink", 1);
    RUN_UNTIL(base, h.idle_warnings > 0 || h.stopped, 10000);
    RUN_UNTIL(base, h.stopped, 200); /* more refusals: still one line */
    assert_false(h.stopped);
    assert_int_equal(h.idle_warnings, 1);
    assert_int_equal(h.any_growth, 0);
    assert_int_equal(h.send_errors, 0); /* held, not refused */
    stop_destroy(h.app, base);
}

/* When a partition an app consumes itself grows past max.messages instead of
 * holding the app's own sends, memory:// says so once, naming the topic. */
static void a_partition_growing_past_its_limit_is_logged(void **state) {
    struct event_base *base = *state;
    hopper_t h = {0};
    feed(base, "loop", 1, 0, 100, 2);
    hopper_start(&h, base, "self-feed", 20, "loop", 1, "loop", 1);
    RUN_UNTIL(base, h.distinct >= 100 || h.stopped, 20000);
    assert_int_equal(h.distinct, 100);
    assert_int_equal(h.grow_warnings, 1); /* once, not once per send */
    stop_destroy(h.app, base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            an_agent_forwarding_into_its_own_full_topic_keeps_going, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_pipeline_inside_one_app_keeps_going_when_its_second_topic_fills, setup,
            teardown),
        cmocka_unit_test_setup_teardown(two_apps_forwarding_to_each_other_keep_going,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_table_with_more_keys_than_its_changelog_holds_keeps_counting, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_partition_that_grew_shrinks_as_its_consumer_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_full_partition_nobody_consumes_still_holds_its_producer_and_says_so, setup,
            teardown),
        cmocka_unit_test_setup_teardown(a_partition_growing_past_its_limit_is_logged,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
