/* GlobalTables on any transport (issue 14, item 4): three workers of one group each
 * hold the whole table; a value written by the owner of its partition is read on
 * all three, from outside handlers and from an agent of a stream that is not
 * co-partitioned with the table; a write from a non-owner is refused naming the
 * owner's topic; a worker that joins later gets every partition.
 * The suite of tests/support/global_suite.h: test_global_memory.c, test_global_redis.c
 * and test_global_kafka.c run it; the tests of memory:// only with memory_transport. */
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

#include "global_suite.h"
#include "run_until.h"

static const rill_global_suite_t *suite;

#define GLOBAL_WAIT_MS                                                                   \
    (suite->wait_ms ? suite->wait_ms                                                     \
                    : 5000) /* for a group to form and copies to catch up */

static unsigned seq;
static char broker[128];

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    return 0;
}

/* users (4 partitions): key u<i>, value "<limit>" -> limits[u<i>] = limit.
 * orders (3 partitions, not co-partitioned): key u<i> -> looked up in limits. */
typedef struct worker {
    rill_app_t *app;
    rill_topic_t *users, *orders;
    rill_table_t *limits;
    int users_handled, write_errors;
    int orders_handled;
    int64_t order_limit[16]; /* per user index: the limit an order read (-1: error) */
} worker_t;

static int user_index(const void *k, size_t len) {
    char buf[16] = "";
    if (len < 2 || len >= sizeof buf) return -1;
    memcpy(buf, k, len);
    return atoi(buf + 1) & 15;
}

static rill_err_t on_user(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t klen, vlen;
    const void *k = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    char buf[32] = "";
    memcpy(buf, v, vlen < sizeof buf - 1 ? vlen : sizeof buf - 1);
    int64_t limit = atoll(buf);
    if (rill_table_set(w->limits, ev, k, klen, &limit) != RILL_OK) w->write_errors++;
    w->users_handled++;
    return RILL_OK;
}

static rill_err_t on_order(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t klen;
    const void *k = rill_event_key_bytes(ev, &klen);
    int i = user_index(k, klen);
    int64_t limit = -1;
    if (rill_table_get(w->limits, ev, k, klen, &limit) != RILL_OK) limit = -1;
    if (i >= 0) w->order_limit[i] = limit;
    w->orders_handled++;
    return RILL_OK;
}

static void worker_start(worker_t *w, struct event_base *base) {
    rill_conf_t *c = rill_conf_new();
    char err[512];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    if (suite->conf) suite->conf(c);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    char id[32]; /* one group and changelog per test (the Kafka mock is shared) */
    snprintf(id, sizeof id, "glob%u", seq);
    w->app = rill_app_new_with_base(id, c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->users = rill_app_topic(w->app, "users", &to);
    to.partitions = 3;
    w->orders = rill_app_topic(w->app, "orders", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->users};
    assert_non_null(w->limits = rill_app_global_table(w->app, "limits", &o));
    assert_true(rill_table_is_global(w->limits));
    assert_non_null(rill_app_agent(w->app, "users", w->users, on_user, w, NULL));
    assert_non_null(rill_app_agent(w->app, "orders", w->orders, on_order, w, NULL));
    for (int i = 0; i < 16; i++)
        w->order_limit[i] = -2;
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_kv(rill_topic_t *t, const char *k, const char *v) {
    rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)v, strlen(v)};
    rill_err_t rc;
    while ((rc = rill_send(t, kb.data, kb.len, vb.data, vb.len, NULL)) == RILL_EFULL)
        ;
    assert_int_equal(rc, RILL_OK);
}

/* limits[u<i>] as worker @p w reads it outside a handler (-1: refused). */
static int64_t limit_of(worker_t *w, int i) {
    char k[16];
    snprintf(k, sizeof k, "u%d", i);
    int64_t v = -1;
    if (rill_table_get(w->limits, NULL, k, strlen(k), &v) != RILL_OK) return -1;
    return v;
}

/* Every worker of @p ws reads limits[u<i>] = i*100 for i < n. */
static bool all_read(worker_t *ws, int nw, int n) {
    for (int j = 0; j < nw; j++)
        for (int i = 0; i < n; i++)
            if (limit_of(&ws[j], i) != i * 100) return false;
    return true;
}

static void send_users(worker_t *w, int n) {
    char k[16], v[16];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "u%d", i);
        snprintf(v, sizeof v, "%d", i * 100);
        send_kv(w->users, k, v);
    }
}

static bool all_ready(worker_t *ws, int n) {
    for (int i = 0; i < n; i++)
        if (!rill_app_is_ready(ws[i].app)) return false;
    return true;
}

/* The group has spread the 4 users partitions over the workers. */
static bool spread(worker_t *ws, int n) {
    int owned = 0;
    for (int i = 0; i < n; i++) {
        rill_table_stats_t st;
        if (rill_table_stats(ws[i].limits, &st) != RILL_OK || !st.owned) return false;
        owned += (int)st.owned;
    }
    return owned == 4;
}

static void start_three(worker_t *ws, struct event_base *base) {
    for (int i = 0; i < 3; i++)
        worker_start(&ws[i], base);
    RUN_UNTIL(base, all_ready(ws, 3) && spread(ws, 3), GLOBAL_WAIT_MS);
    assert_true(spread(ws, 3));
}

static void stop_all(worker_t *ws, int n, struct event_base *base) {
    for (int i = 0; i < n; i++)
        if (ws[i].app) rill_app_destroy(ws[i].app);
    event_base_free(base);
}

static void a_value_written_on_one_worker_is_read_on_all_three(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t ws[3] = {{0}};
    start_three(ws, base);
    send_users(&ws[0], 8);
    RUN_UNTIL(base, all_read(ws, 3, 8), GLOBAL_WAIT_MS);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 8; i++)
            assert_int_equal(limit_of(&ws[j], i), i * 100);
    int handled = 0;
    for (int j = 0; j < 3; j++) {
        rill_table_stats_t st;
        assert_int_equal(rill_table_stats(ws[j].limits, &st), RILL_OK);
        assert_int_equal(st.owned + st.standby, 4); /* the whole table */
        assert_int_equal(ws[j].write_errors, 0);
        handled += ws[j].users_handled;
    }
    assert_int_equal(handled, 8); /* each written once, by its owner */
    stop_all(ws, 3, base);
}

static void an_agent_of_another_stream_reads_the_table_on_any_worker(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t ws[3] = {{0}};
    start_three(ws, base);
    send_users(&ws[0], 8);
    RUN_UNTIL(base, all_read(ws, 3, 8), GLOBAL_WAIT_MS);
    char k[16];
    for (int i = 0; i < 8; i++) { /* orders has 3 partitions: not co-partitioned */
        snprintf(k, sizeof k, "u%d", i);
        send_kv(ws[1].orders, k, "order");
    }
    int orders = 0;
    for (int tries = 0; tries < 1000 && orders < 8; tries++) {
        RUN_UNTIL(base, false, 5);
        orders = ws[0].orders_handled + ws[1].orders_handled + ws[2].orders_handled;
    }
    assert_int_equal(orders, 8);
    int readers = 0;
    for (int j = 0; j < 3; j++) {
        if (ws[j].orders_handled) readers++;
        for (int i = 0; i < 8; i++)
            if (ws[j].order_limit[i] != -2)
                assert_int_equal(ws[j].order_limit[i], i * 100);
    }
    assert_true(readers >= 2); /* the 3 orders partitions are on several workers */
    stop_all(ws, 3, base);
}

static void a_write_from_a_non_owner_is_refused_naming_the_owners_topic(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t ws[3] = {{0}};
    start_three(ws, base);
    int64_t v = 7;
    int ok = 0, refused = 0;
    for (int j = 0; j < 3; j++) {
        rill_err_t rc = rill_table_set(ws[j].limits, NULL, "k1", 2, &v);
        if (rc == RILL_OK) {
            ok++;
            continue;
        }
        assert_int_equal(rc, RILL_ENOTOWNER);
        const char *m = rill_app_errmsg(ws[j].app);
        if (!strstr(m, "global table 'limits'") || !strstr(m, "'k1'") ||
            !strstr(m, "of 'users'"))
            fail_msg("error: %s", m);
        refused++;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(refused, 2);
    stop_all(ws, 3, base);
}

static void a_worker_that_joins_later_holds_the_whole_table(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t ws[2] = {{0}};
    worker_start(&ws[0], base);
    RUN_UNTIL(base, rill_app_is_ready(ws[0].app), GLOBAL_WAIT_MS);
    send_users(&ws[0], 8);
    RUN_UNTIL(base, all_read(ws, 1, 8), GLOBAL_WAIT_MS);
    assert_true(all_read(ws, 1, 8));
    worker_start(&ws[1], base);
    RUN_UNTIL(base, spread(ws, 2) && all_read(ws, 2, 8), GLOBAL_WAIT_MS);
    assert_true(spread(ws, 2));
    for (int i = 0; i < 8; i++)
        assert_int_equal(limit_of(&ws[1], i), i * 100);
    stop_all(ws, 2, base);
}

/* Users u<i> of partitions 0 and 1 of users, and u0..u7 wherever they are: most of
 * the table is in partitions the second worker does not own (the range assignor
 * gives it 2 and 3), so what it reads at its first ready moment comes from its
 * copies. */
static bool skewed_user(int i) {
    char k[16];
    snprintf(k, sizeof k, "u%d", i);
    return i < 8 || rill_partition_for_key(k, strlen(k), 4) < 2;
}

/* Whether worker @p w reads limits[u<i>] = i*100 for every skewed user i < n,
 * from its own partitions and its copies of the others. */
static bool reads_skewed(worker_t *w, int n) {
    for (int i = 0; i < n; i++)
        if (skewed_user(i) && limit_of(w, i) != i * 100) return false;
    return true;
}

static void
a_worker_is_ready_only_once_its_copies_of_every_partition_caught_up(void **state) {
    (void)state;
    enum { N = 40000 }; /* about 20,000 values in the copies */
    struct event_base *base = event_base_new();
    worker_t ws[2] = {{0}};
    worker_start(&ws[0], base);
    RUN_UNTIL(base, rill_app_is_ready(ws[0].app), GLOBAL_WAIT_MS);
    char k[16], v[16];
    int sent = 0;
    for (int i = 0; i < N; i++) {
        if (!skewed_user(i)) continue;
        snprintf(k, sizeof k, "u%d", i);
        snprintf(v, sizeof v, "%d", i * 100);
        send_kv(ws[0].users, k, v);
        sent++;
    }
    RUN_UNTIL(base, ws[0].users_handled >= sent, GLOBAL_WAIT_MS * 4);
    assert_true(ws[0].users_handled >= sent); /* the Kafka mock's users topic also
                                                 has the earlier tests' u0..u7 */
    RUN_UNTIL(base, false, 200); /* committed: the changelog has every value */
    worker_start(&ws[1], base);
    /* one loop turn at a time, to the first moment it says it is ready (before
     * the fix: at once, before the group assigned it anything or it held any copy) */
    uint64_t end = rill_mono_ns() + (uint64_t)GLOBAL_WAIT_MS * 4 * 1000000u;
    while (!rill_app_is_ready(ws[1].app) && rill_mono_ns() < end)
        event_base_loop(base, EVLOOP_ONCE);
    assert_true(rill_app_is_ready(ws[1].app));
    /* ready: what it owns is recovered and its copies of the rest are current */
    assert_true(reads_skewed(&ws[1], N));
    RUN_UNTIL(base, spread(ws, 2), GLOBAL_WAIT_MS); /* and once the group settled */
    assert_true(spread(ws, 2));
    assert_true(reads_skewed(&ws[1], N));
    stop_all(ws, 2, base);
}

/* memory_transport: the tests of memory:// only */
static void a_windowed_global_table_is_a_definition_error(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://global-def", e, sizeof e);
    rill_app_t *app = rill_app_new("glob", c, e, sizeof e);
    assert_non_null(app);
    rill_topic_t *t = rill_app_topic(app, "users", NULL);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = t};
    rill_table_opts_tumbling(&o, 1000, 1000);
    assert_null(rill_app_global_table(app, "limits", &o));
    char err[512] = "";
    assert_int_not_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "cannot be windowed"));
    rill_app_destroy(app);
}

int rill_global_suite_run(const rill_global_suite_t *s) {
    suite = s;
    const struct {
        struct CMUnitTest test;
        bool memory_only;
    } all[] = {
        {cmocka_unit_test_setup(a_value_written_on_one_worker_is_read_on_all_three,
                                setup),
         false},
        {cmocka_unit_test_setup(an_agent_of_another_stream_reads_the_table_on_any_worker,
                                setup),
         false},
        {cmocka_unit_test_setup(
             a_write_from_a_non_owner_is_refused_naming_the_owners_topic, setup),
         false},
        {cmocka_unit_test_setup(a_worker_that_joins_later_holds_the_whole_table, setup),
         false},
        {cmocka_unit_test_setup(
             a_worker_is_ready_only_once_its_copies_of_every_partition_caught_up, setup),
         false},
        {cmocka_unit_test(a_windowed_global_table_is_a_definition_error), true},
    };
    enum { N = sizeof all / sizeof all[0] };
    struct CMUnitTest tests[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (s->memory_transport || !all[i].memory_only) tests[n++] = all[i].test;
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
