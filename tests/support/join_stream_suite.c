/* Stream-stream windowed joins on any transport (issue 14, item 2): pairs within the
 * window (before/after bounds), inner/left/outer emission of unmatched events once
 * stream time passes their window, late events dropped and counted, buffers freed,
 * a restart in the middle of a join buffer, and the definition errors.
 * The suite of tests/support/join_stream_suite.h: test_join_stream_memory.c,
 * test_join_stream_redis.c and test_join_stream_kafka.c run it; the tests of memory://
 * only with memory_transport. */
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

#include "join_stream_suite.h"
#include "run_until.h"

static const rill_join_stream_suite_t *suite;

#define T0 1700000000000LL /* a fixed event-time origin */

static unsigned seq;
static struct event_base *send_base; /* the loop of the worker started last */
static char broker[128];

#define JS_WAIT_MS (suite->wait_ms ? suite->wait_ms : 3000)
#define JS_STEP_MS (suite->step_ms ? suite->step_ms : 50)
#define JS_SETTLE_MS (suite->settle_ms ? suite->settle_ms : 0)

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    return 0;
}

typedef struct pair {
    char key[16], left[16], right[16];
    int64_t lts, rts;
} pair_t;

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *views, *clicks;
    pair_t pairs[64];
    int npairs;
    int events; /* reached either side's agent */
} worker_t;

static void copy(char *dst, const void *src, size_t len) {
    size_t n = len < 15 ? len : 15;
    if (src) memcpy(dst, src, n);
    dst[src ? n : 0] = 0;
}

static rill_err_t on_pair(rill_event_t *ev, const rill_join_pair_t *p, void *opaque) {
    (void)ev;
    worker_t *w = opaque;
    if (w->npairs >= 64) return RILL_OK;
    pair_t *q = &w->pairs[w->npairs++];
    copy(q->key, p->key, p->klen);
    copy(q->left, p->left, p->left_len);
    copy(q->right, p->right, p->right_len);
    q->lts = p->left ? p->left_ts - T0 : -1;
    q->rts = p->right ? p->right_ts - T0 : -1;
    return RILL_OK;
}

static rill_err_t start(worker_t *w, struct event_base *base, rill_join_mode_t mode,
                        int64_t before, int64_t after, int32_t click_partitions,
                        char *err, size_t errlen) {
    rill_conf_t *c = rill_conf_new();
    char e[256];
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_conf_set(c, "commit.interval.ms", "50", e, sizeof e);
    if (suite->conf) suite->conf(c);
    if (!getenv("RILL_LOG_LEVEL")) rill_conf_set(c, "log.level", "error", e, sizeof e);
    char id[32], vt[32], ct[32]; /* one group, topics and changelog per test (a
                                     broker shared by the tests, like Kafka's mock) */
    snprintf(id, sizeof id, "sj%u", seq);
    snprintf(vt, sizeof vt, "views-%u", seq);
    snprintf(ct, sizeof ct, "clicks-%u", seq);
    w->app = rill_app_new_with_base(id, c, base, e, sizeof e);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->views = rill_app_topic(w->app, vt, &to);
    to.partitions = click_partitions;
    w->clicks = rill_app_topic(w->app, ct, &to);
    rill_stream_join_opts_t o = {
        .mode = mode, .before_ms = before, .after_ms = after, .fn = on_pair, .opaque = w};
    rill_err_t rc = rill_stream_join_stream(rill_app_stream(w->app, w->views),
                                            rill_app_stream(w->app, w->clicks), "vc", &o);
    if (rc != RILL_OK) {
        snprintf(err, errlen, "%s", rill_app_errmsg(w->app));
        return rc;
    }
    send_base = base;
    return rill_app_start(w->app, err, errlen);
}

static void on_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                         int64_t offset, void *opaque) {
    (void)errmsg, (void)partition, (void)offset;
    *(int *)opaque = err == RILL_OK ? 1 : -1;
}

/* Send @p v on @p t under key @p k at event time T0 + @p ms, and wait for its
 * delivery: the order of sends to two topics is the order the join sees only
 * once each has reached the broker (Kafka keeps no order across topics, and a
 * producer's first send to a topic waits for its metadata). */
static void send_at(rill_topic_t *t, const char *k, const char *v, int64_t ms) {
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    int done = 0;
    o.timestamp_ms = T0 + ms;
    o.cb = on_delivered;
    o.opaque = &done;
    assert_int_equal(rill_send(t, k, strlen(k), v, strlen(v), &o), RILL_OK);
    RUN_UNTIL(send_base, done != 0, JS_WAIT_MS);
    assert_int_equal(done, 1);
}

static pair_t *find(worker_t *w, const char *left, const char *right) {
    for (int i = 0; i < w->npairs; i++)
        if (!strcmp(w->pairs[i].left, left) && !strcmp(w->pairs[i].right, right))
            return &w->pairs[i];
    return NULL;
}

static void ready(worker_t *w, struct event_base *base) {
    RUN_UNTIL(base, rill_app_is_ready(w->app), JS_WAIT_MS);
    assert_true(rill_app_is_ready(w->app));
    if (JS_SETTLE_MS) RUN_UNTIL(base, false, JS_SETTLE_MS);
}

/* A view at 1000; clicks at 500 (before), 1400 (after), 2500 (outside after). */
static void inner_join_pairs_events_within_the_window_bounds(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 600, 500, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    send_at(w.views, "u1", "v1", 1000);
    RUN_UNTIL(base, false, JS_STEP_MS);
    send_at(w.clicks, "u1", "c-early", 300); /* 700 before: outside before */
    send_at(w.clicks, "u1", "c-before", 500);
    send_at(w.clicks, "u1", "c-after", 1400);
    send_at(w.clicks, "u2", "c-other", 1000); /* another key */
    send_at(w.clicks, "u1", "c-late", 1600);  /* 600 after: outside after */
    RUN_UNTIL(base, w.npairs >= 2, JS_WAIT_MS);
    RUN_UNTIL(base, false, 2 * JS_STEP_MS);
    assert_int_equal(w.npairs, 2);
    pair_t *p = find(&w, "v1", "c-before");
    assert_non_null(p);
    assert_string_equal(p->key, "u1");
    assert_int_equal(p->lts, 1000);
    assert_int_equal(p->rts, 500);
    assert_non_null(find(&w, "v1", "c-after"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_left_event_pairs_with_every_right_event_and_back(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 1000, 1000, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    send_at(w.clicks, "u3", "c1", 100);
    send_at(w.clicks, "u3", "c2", 200);
    RUN_UNTIL(base, false, JS_STEP_MS);
    send_at(w.views, "u3", "v1", 150); /* meets the two buffered clicks */
    RUN_UNTIL(base, w.npairs >= 2, JS_WAIT_MS);
    send_at(w.clicks, "u3", "c3", 300); /* meets the buffered view */
    RUN_UNTIL(base, w.npairs >= 3, JS_WAIT_MS);
    assert_int_equal(w.npairs, 3);
    assert_non_null(find(&w, "v1", "c1"));
    assert_non_null(find(&w, "v1", "c2"));
    assert_non_null(find(&w, "v1", "c3"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Stream time far past the window: unmatched events come out with NULL. */
static void left_join_emits_an_unmatched_left_event_when_its_window_passes(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_LEFT, 100, 100, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    send_at(w.views, "u4", "v-alone", 1000);
    send_at(w.clicks, "u5", "c-alone", 1000); /* right side: not emitted in a left join */
    RUN_UNTIL(base, false, JS_STEP_MS);
    assert_int_equal(w.npairs, 0);
    send_at(w.views, "u4", "v-next", 5000); /* moves u4's partition's stream time */
    send_at(w.views, "u5", "v-next5", 5000);
    RUN_UNTIL(base, find(&w, "v-alone", ""), JS_WAIT_MS);
    pair_t *p = find(&w, "v-alone", "");
    assert_non_null(p);
    assert_int_equal(p->rts, -1);
    assert_null(find(&w, "", "c-alone"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void outer_join_emits_unmatched_events_of_both_sides(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_OUTER, 100, 100, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    send_at(w.views, "u6", "v-alone", 1000);
    send_at(w.views, "u7", "v-match", 1000);
    send_at(w.clicks, "u7", "c-match", 1050);
    RUN_UNTIL(base, find(&w, "v-match", "c-match"), JS_WAIT_MS);
    /* outside the window of v-alone; sent once the views are in (the two topics
     * are consumed independently: had it come first, v-alone would be late) */
    send_at(w.clicks, "u6", "c-alone", 2000);
    RUN_UNTIL(base, find(&w, "v-alone", ""), JS_WAIT_MS);
    send_at(w.views, "u6", "v-tick", 9000);
    send_at(w.views, "u7", "v-tick7", 9000);
    RUN_UNTIL(base, find(&w, "v-alone", "") && find(&w, "", "c-alone"), JS_WAIT_MS);
    assert_non_null(find(&w, "v-alone", ""));
    assert_non_null(find(&w, "", "c-alone"));
    /* matched ones are not emitted again unmatched */
    assert_null(find(&w, "v-match", ""));
    assert_null(find(&w, "", "c-match"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

static rill_stream_join_stats_t stats(worker_t *w, const char *name) {
    rill_stream_join_stats_t st;
    assert_int_equal(rill_stream_join_stats(w->app, name, &st), RILL_OK);
    return st;
}

static void expired_buffers_are_freed_and_late_events_counted(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 100, 100, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    char k[16];
    for (int i = 0; i < 20; i++) { /* keys k0..k19 over the 4 partitions */
        snprintf(k, sizeof k, "k%d", i);
        send_at(w.views, k, "v", 1000 + i);
        send_at(w.clicks, k, "c", 1000 + i);
    }
    RUN_UNTIL(base, w.npairs >= 20, JS_WAIT_MS);
    assert_int_equal(w.npairs, 20);
    RUN_UNTIL(base, stats(&w, "vc").buffered_left + stats(&w, "vc").buffered_right >= 40,
              3000);
    assert_int_equal(stats(&w, "vc").buffered_left, 20);
    assert_int_equal(stats(&w, "vc").buffered_right, 20);
    /* stream time 10 s later in every partition frees them */
    for (int p = 0; p < 4; p++) {
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.partition = p;
        o.timestamp_ms = T0 + 11000;
        assert_int_equal(rill_send(w.views, "tick", 4, "t", 1, &o), RILL_OK);
    }
    RUN_UNTIL(base, stats(&w, "vc").buffered_left + stats(&w, "vc").buffered_right <= 4,
              3000);
    assert_int_equal(stats(&w, "vc").buffered_right, 0);
    assert_int_equal(stats(&w, "vc").buffered_left, 4); /* the ticks, still open */
    for (int p = 0; p < 4; p++) { /* 10 s behind stream time: late */
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.partition = p;
        o.timestamp_ms = T0 + 1000;
        assert_int_equal(rill_send(w.clicks, "late", 4, "c", 1, &o), RILL_OK);
    }
    RUN_UNTIL(base, stats(&w, "vc").late_dropped >= 4, JS_WAIT_MS);
    assert_int_equal(stats(&w, "vc").late_dropped, 4);
    assert_int_equal(stats(&w, "vc").buffered_right, 0);
    assert_int_equal(
        rill_stream_join_stats(w.app, "nope", &(rill_stream_join_stats_t){0}),
        RILL_ENOENT);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* A worker dies (no final commit) with views buffered; its successor joins the
 * clicks that come next with them: the buffer came back from its changelog. */
static void a_restart_in_the_middle_of_a_join_buffer_keeps_it(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 5000, 5000, 4, err, sizeof err),
                     RILL_OK);
    ready(&w, base);
    char k[16];
    for (int i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "r%d", i);
        send_at(w.views, k, "v-before-crash", 1000 + i);
    }
    RUN_UNTIL(base, stats(&w, "vc").buffered_left >= 8, JS_WAIT_MS);
    assert_int_equal(stats(&w, "vc").buffered_left, 8);
    RUN_UNTIL(base, false, 120); /* a commit: the views are not handled again */
    rill_app_destroy(w.app);     /* abrupt: no final commit or flush */
    worker_t again = {0};
    assert_int_equal(start(&again, base, RILL_JOIN_INNER, 5000, 5000, 4, err, sizeof err),
                     RILL_OK);
    ready(&again, base);
    RUN_UNTIL(base, stats(&again, "vc").buffered_left >= 8, JS_WAIT_MS); /* recovered */
    assert_int_equal(stats(&again, "vc").buffered_left, 8);
    for (int i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "r%d", i);
        send_at(again.clicks, k, "c-after", 2000 + i);
    }
    RUN_UNTIL(base, again.npairs >= 8, JS_WAIT_MS);
    assert_int_equal(again.npairs, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(again.pairs[i].left, "v-before-crash");
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void join_of_streams_with_different_partition_counts_is_refused(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512] = "";
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 100, 100, 3, err, sizeof err),
                     RILL_EPARTITIONS);
    char want[64];
    snprintf(want, sizeof want, "'views-%u' (4 partitions)", seq);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "(3 partitions)"));
    assert_non_null(strstr(err, "co-partitioned"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* memory_transport: the tests of memory:// only */
static void a_negative_window_is_a_definition_error(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://join-stream-def", e, sizeof e);
    rill_app_t *app = rill_app_new("sj", c, e, sizeof e);
    assert_non_null(app);
    rill_topic_t *a = rill_app_topic(app, "a", NULL), *b = rill_app_topic(app, "b", NULL);
    rill_stream_join_opts_t o = {.before_ms = -1, .after_ms = 10, .fn = on_pair};
    assert_int_equal(rill_stream_join_stream(rill_app_stream(app, a),
                                             rill_app_stream(app, b), "ab", &o),
                     RILL_EINVAL);
    char err[512] = "";
    assert_int_not_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "negative window"));
    rill_app_destroy(app);
}

int rill_join_stream_suite_run(const rill_join_stream_suite_t *s) {
    suite = s;
    const struct {
        struct CMUnitTest test;
        bool memory_only;
    } all[] = {
        {cmocka_unit_test_setup(inner_join_pairs_events_within_the_window_bounds, setup),
         false},
        {cmocka_unit_test_setup(a_left_event_pairs_with_every_right_event_and_back,
                                setup),
         false},
        {cmocka_unit_test_setup(
             left_join_emits_an_unmatched_left_event_when_its_window_passes, setup),
         false},
        {cmocka_unit_test_setup(outer_join_emits_unmatched_events_of_both_sides, setup),
         false},
        {cmocka_unit_test_setup(expired_buffers_are_freed_and_late_events_counted, setup),
         false},
        {cmocka_unit_test_setup(a_restart_in_the_middle_of_a_join_buffer_keeps_it, setup),
         false},
        {cmocka_unit_test_setup(
             join_of_streams_with_different_partition_counts_is_refused, setup),
         false},
        {cmocka_unit_test(a_negative_window_is_a_definition_error), true},
    };
    enum { N = sizeof all / sizeof all[0] };
    struct CMUnitTest tests[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (s->memory_transport || !all[i].memory_only) tests[n++] = all[i].test;
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
