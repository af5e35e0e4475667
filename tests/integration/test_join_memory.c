/* Stream-table joins on memory://: inner and left joins, the key function, the
 * count of skipped events, and the co-partitioning check at start. */
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
static bool via_through; /* orders go through "orders4" (4 partitions) first */

/* users: key u<i> -> balance i*10 (table "balance", from topic "users");
 * orders: key u<i> (or value u<i> with the key function), joined with balance. */
typedef struct worker {
    rill_app_t *app;
    rill_topic_t *users, *orders;
    rill_table_t *balance;
    int users_handled, joined;
    int64_t got[16]; /* per user index: the joined value (row or -1), last seen */
    int nulls;       /* left join: events that came with no row */
} worker_t;

static int user_index(const void *k, size_t len) {
    char buf[16] = "";
    if (len < 2 || len >= sizeof buf) return -1;
    memcpy(buf, k, len);
    return atoi(buf + 1) & 15;
}

static rill_err_t on_user(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const void *k = rill_event_key_bytes(ev, &len);
    int64_t v = (int64_t)user_index(k, len) * 10;
    assert_int_equal(rill_table_set(w->balance, ev, k, len, &v), RILL_OK);
    w->users_handled++;
    return RILL_OK;
}

static rill_err_t enrich(const rill_event_t *ev, const void *row, void *out,
                         void *opaque) {
    worker_t *w = opaque;
    (void)ev;
    if (!row) w->nulls++;
    *(int64_t *)out = row ? *(const int64_t *)row : -1;
    return RILL_OK;
}

static rill_err_t on_joined(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const void *k = rill_event_key_bytes(ev, &len);
    int i = user_index(k, len);
    if (i >= 0) w->got[i] = *(const int64_t *)rill_event_value(ev);
    w->joined++;
    return RILL_OK;
}

/* The key function: the order's value names the user. */
static rill_err_t user_of_value(const rill_event_t *ev, rill_buf_t *key, void *opaque) {
    (void)opaque;
    size_t len;
    const void *v = rill_event_value_bytes(ev, &len);
    return rill_buf_append(key, v, len);
}

static rill_err_t start(worker_t *w, struct event_base *base, rill_join_mode_t mode,
                        bool by_value, int32_t order_partitions, char *err,
                        size_t errlen) {
    rill_conf_t *c = rill_conf_new();
    char broker[128], e[256];
    snprintf(broker, sizeof broker, "memory://join-test-%u", ++seq);
    rill_conf_set(c, "broker", broker, e, sizeof e);
    if (!getenv("RILL_LOG_LEVEL")) rill_conf_set(c, "log.level", "error", e, sizeof e);
    w->app = rill_app_new_with_base("join", c, base, e, sizeof e);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->users = rill_app_topic(w->app, "users", &to);
    to.partitions = order_partitions;
    w->orders = rill_app_topic(w->app, "orders", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->users};
    assert_non_null(w->balance = rill_app_table(w->app, "balance", &o));
    assert_non_null(rill_app_agent(w->app, "users", w->users, on_user, w, NULL));
    rill_stream_t *s = rill_app_stream(w->app, w->orders);
    if (via_through) {
        rill_topic_opts_t o4 = {.partitions = 4};
        s = rill_stream_through(s, rill_app_topic(w->app, "orders4", &o4));
    }
    s = rill_stream_join_table(s, w->balance, mode, by_value ? user_of_value : NULL, NULL,
                               &rill_type_int64, enrich, w);
    assert_non_null(s);
    assert_non_null(rill_stream_agent(s, "enriched", on_joined, w, NULL));
    return rill_app_start(w->app, err, errlen);
}

static void send_kv(rill_topic_t *t, const char *k, const char *v) {
    rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)v, strlen(v)};
    assert_int_equal(rill_send(t, kb.data, kb.len, vb.data, vb.len, NULL), RILL_OK);
}

/* Users u0..u4 get a row; orders go to u0..u7 (keyed, or named in the value). */
static void run(worker_t *w, struct event_base *base, bool by_value) {
    RUN_UNTIL(base, rill_app_is_ready(w->app), 2000);
    char k[16];
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "u%d", i);
        send_kv(w->users, k, "x");
    }
    RUN_UNTIL(base, w->users_handled >= 5, 3000);
    assert_int_equal(w->users_handled, 5);
    for (int i = 0; i < 16; i++)
        w->got[i] = -2;
    for (int i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "u%d", i);
        if (by_value)
            send_kv(w->orders, k, k); /* keyed and valued alike: same partition */
        else
            send_kv(w->orders, k, "order");
    }
}

static void inner_join_gives_each_event_its_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, false, 4, err, sizeof err),
                     RILL_OK);
    run(&w, base, false);
    RUN_UNTIL(base, w.joined >= 5, 3000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(w.got[i], i * 10);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static int64_t misses(worker_t *w) {
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w->balance, &st), RILL_OK);
    return (int64_t)st.join_misses;
}

static void inner_join_skips_and_counts_events_without_a_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, false, 4, err, sizeof err),
                     RILL_OK);
    run(&w, base, false);
    RUN_UNTIL(base, misses(&w) >= 3 && w.joined >= 5, 3000);
    assert_int_equal(misses(&w), 3);
    assert_int_equal(w.joined, 5);
    for (int i = 5; i < 8; i++)
        assert_int_equal(w.got[i], -2); /* never reached the handler */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void left_join_gives_a_null_row_for_a_missing_key(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_LEFT, false, 4, err, sizeof err), RILL_OK);
    run(&w, base, false);
    RUN_UNTIL(base, w.joined >= 8, 3000);
    assert_int_equal(w.joined, 8);
    assert_int_equal(w.nulls, 3);
    for (int i = 0; i < 5; i++)
        assert_int_equal(w.got[i], i * 10);
    for (int i = 5; i < 8; i++)
        assert_int_equal(w.got[i], -1);
    assert_int_equal(misses(&w), 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void join_key_function_picks_the_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_LEFT, true, 4, err, sizeof err), RILL_OK);
    run(&w, base, true);
    RUN_UNTIL(base, w.joined >= 8, 3000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(w.got[i], i * 10);
    assert_int_equal(w.nulls, 3);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void join_of_a_stream_not_co_partitioned_is_refused_naming_group_by(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512] = "";
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, false, 3, err, sizeof err),
                     RILL_EPARTITIONS);
    assert_non_null(strstr(err, "'orders'"));
    assert_non_null(strstr(err, "'balance'"));
    assert_non_null(strstr(err, "rill_stream_through()"));
    assert_non_null(strstr(err, "rill_stream_group_by()"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void join_after_through_a_topic_of_the_table_partitions_works(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512] = "";
    via_through = true;
    rill_err_t rc = start(&w, base, RILL_JOIN_INNER, false, 3, err, sizeof err);
    via_through = false;
    assert_int_equal(rc, RILL_OK);
    run(&w, base, false);
    RUN_UNTIL(base, w.joined >= 5 && misses(&w) >= 3, 3000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(w.got[i], i * 10);
    assert_int_equal(misses(&w), 3);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void join_without_a_function_is_a_definition_error(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://join-def", e, sizeof e);
    rill_app_t *app = rill_app_new("join", c, e, sizeof e);
    assert_non_null(app);
    rill_topic_t *t = rill_app_topic(app, "orders", NULL);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = t};
    rill_table_t *tb = rill_app_table(app, "balance", &o);
    rill_stream_t *s = rill_app_stream(app, t);
    assert_null(rill_stream_join_table(s, tb, RILL_JOIN_INNER, NULL, NULL,
                                       &rill_type_int64, NULL, NULL));
    char err[512] = "";
    assert_int_not_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "rill_stream_join_table"));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inner_join_gives_each_event_its_row),
        cmocka_unit_test(inner_join_skips_and_counts_events_without_a_row),
        cmocka_unit_test(left_join_gives_a_null_row_for_a_missing_key),
        cmocka_unit_test(join_key_function_picks_the_row),
        cmocka_unit_test(join_of_a_stream_not_co_partitioned_is_refused_naming_group_by),
        cmocka_unit_test(join_after_through_a_topic_of_the_table_partitions_works),
        cmocka_unit_test(join_without_a_function_is_a_definition_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
