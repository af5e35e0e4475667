/* The table conformance suite (tests/support/table_suite.h): counting, ownership
 * errors, changelog recovery, restarts, standby replicas, rebalance during
 * recovery, keys on other partitions and windows, run on every transport and
 * store that test_tables_<backend>.c gives it; the tests that wrap the memory
 * transport (stalls, a pause that leaks, its changelog watermarks) run only with
 * memory_transport. */
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
#include "table_suite.h"

static const rill_table_suite_t *suite;

/* Each app of a test gets the suite's configuration: its store, its extras. */
static void suite_conf(rill_conf_t *c) {
    char e[256];
    if (suite->store) {
        char url[512];
        suite->store(url, sizeof url);
        if (rill_conf_set(c, "store", url, e, sizeof e) != RILL_CONF_OK)
            fail_msg("store %s: %s", url, e);
    }
    if (suite->conf) suite->conf(c);
}

#define TABLES_EXTRA_CONF(c) suite_conf(c)
#define TABLES_SETTLE_MS (suite->settle_ms ? suite->settle_ms : 100)

static unsigned seq;
static char broker[128];

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    return 0;
}

/* One worker of the counting app: words in, table[word] += 1. */
typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *counts;
    rill_table_t *seen; /* with two_tables: a second table counting the same keys */
    bool two_tables;
    int handled, errors;
    rill_err_t last_rc;
    int64_t last_count; /* counts[key] after the handler's increment */
    char last_err[512];
    rill_log_cb log_cb; /* set before worker_start to capture the log */
    void *log_opaque;
} worker_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    size_t vlen;
    const char *v = rill_event_value_bytes(ev, &vlen);
    rill_err_t rc = vlen == 1 && *v == '-'
                        ? rill_table_del(w->counts, ev, word, len) /* "-": forget it */
                        : rill_table_incr(w->counts, ev, word, len, 1, &w->last_count);
    if (rc == RILL_OK && w->seen) rc = rill_table_incr(w->seen, ev, word, len, 1, NULL);
    if (rc != RILL_OK) {
        w->errors++;
        w->last_rc = rc;
        snprintf(w->last_err, sizeof w->last_err, "%s", rill_app_errmsg(w->app));
    }
    w->handled++;
    return RILL_OK;
}

static void worker_start(worker_t *w, struct event_base *base, const char *extra_k,
                         const char *extra_v) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    TABLES_EXTRA_CONF(c);
    if (w->log_cb) {
        rill_conf_set(c, "log.level", "warn", err, sizeof err);
        rill_conf_set_log_cb(c, w->log_cb, w->log_opaque);
    } else if (!getenv("RILL_LOG_LEVEL")) {
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    }
    if (extra_k)
        assert_int_equal(rill_conf_set(c, extra_k, extra_v, err, sizeof err),
                         RILL_CONF_OK);
    w->app = rill_app_new_with_base("wc", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->words = rill_app_topic(w->app, "words", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(w->counts);
    if (w->two_tables) assert_non_null(w->seen = rill_app_table(w->app, "seen", &o));
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_words(worker_t *w, int n, int distinct) {
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "w%d", i % distinct);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        assert_int_equal(rill_send(w->words, kb.data, kb.len, vb.data, vb.len, NULL),
                         RILL_OK);
    }
}

static int64_t count_of(worker_t *w, int i) {
    char k[32];
    snprintf(k, sizeof k, "w%d", i);
    int64_t v = -1;
    if (rill_table_get(w->counts, NULL, k, strlen(k), &v) != RILL_OK) return -1;
    return v;
}

/* Count of key w<i> from whichever worker owns it. */
static int64_t count_any(worker_t *ws, int n, int i) {
    for (int j = 0; j < n; j++) {
        if (!ws[j].app) continue;
        int64_t v = count_of(&ws[j], i);
        if (v >= 0) return v;
    }
    return -1;
}

static void incr_counts_every_key_exactly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_words(&w, 1000, 10);
    RUN_UNTIL(base, w.handled >= 1000, 3000);
    assert_int_equal(w.errors, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&w, i), 100);
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_int_equal(st.keys, 10);
    assert_int_equal(st.owned, 4);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static int visit_sum(const void *key, size_t klen, int64_t ws, const void *value,
                     void *op) {
    (void)key;
    (void)klen;
    (void)ws;
    *(int64_t *)op += *(const int64_t *)value;
    return 0;
}

static void foreach_visits_owned_keys(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 300, 7);
    RUN_UNTIL(base, w.handled >= 300, 3000);
    int64_t sum = 0;
    assert_int_equal(rill_table_foreach(w.counts, visit_sum, &sum), RILL_OK);
    assert_int_equal(sum, 300);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void reading_a_partition_not_owned_fails_clearly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {0}, b = {0};
    worker_start(&a, base, NULL, NULL);
    worker_start(&b, base, NULL, NULL);
    RUN_UNTIL(base, false, TABLES_SETTLE_MS);
    send_words(&a, 200, 20);
    RUN_UNTIL(base, a.handled + b.handled >= 200, 3000);
    int owned_by_a = 0, refused = 0;
    for (int i = 0; i < 20; i++) {
        int64_t v = count_of(&a, i);
        if (v >= 0) {
            owned_by_a++;
            assert_int_equal(v, 10);
        } else {
            refused++;
            assert_non_null(
                strstr(rill_app_errmsg(a.app), "is not owned by this worker"));
            assert_int_equal(count_of(&b, i), 10);
        }
    }
    assert_true(owned_by_a > 0 && refused > 0);
    rill_app_destroy(a.app);
    rill_app_destroy(b.app);
    event_base_free(base);
}

/* ---- keys on a partition other than their murmur2 one (kcat's default
 * partitioner, most non-Java producers)
 * ------------------------------------------------------------------------ */

static int32_t home_of(const char *key) {
    return rill_partition_for_key(key, strlen(key), 4);
}

/* A partition that is not @p key's murmur2 one. */
static int32_t away_of(const char *key) {
    return (home_of(key) + 1) % 4;
}

/* Send @p n events keyed @p word to partition @p partition, whatever it hashes to. */
static void send_word_to(rill_topic_t *topic, const char *word, int32_t partition,
                         int n) {
    rill_bytes_t kb = {(uint8_t *)word, strlen(word)}, vb = {(uint8_t *)"1", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = partition;
    for (int i = 0; i < n; i++)
        assert_int_equal(rill_send(topic, kb.data, kb.len, vb.data, vb.len, &o), RILL_OK);
}

/* The warnings about keys on another partition (they name the config key). */
typedef struct log_capture {
    int n;
    char msgs[16][1024];
} log_capture_t;

static void capture_log(rill_log_level_t level, const char *name, const char *msg,
                        void *opaque) {
    (void)name;
    log_capture_t *cap = opaque;
    if (level != RILL_LOG_WARN || !strstr(msg, "table.key_partition_check")) return;
    if (cap->n < 16) snprintf(cap->msgs[cap->n], sizeof cap->msgs[0], "%s", msg);
    cap->n++;
}

/* Captured warnings that contain both @p a and @p b. */
static int warnings_with(const log_capture_t *cap, const char *a, const char *b) {
    int n = 0;
    for (int i = 0; i < cap->n && i < 16; i++)
        if (strstr(cap->msgs[i], a) && strstr(cap->msgs[i], b)) n++;
    return n;
}

static void key_on_another_partition_is_counted_in_the_event_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 10);
    RUN_UNTIL(base, w.handled >= 10, 3000);
    if (w.errors) fail_msg("%d errors, last: %s", w.errors, w.last_err);
    assert_int_equal(w.last_count, 10); /* each increment read the one before */
    int64_t sum = 0;
    assert_int_equal(rill_table_foreach(w.counts, visit_sum, &sum), RILL_OK);
    assert_int_equal(sum, 10);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_key_on_two_partitions_has_a_count_in_each(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 3);
    RUN_UNTIL(base, w.handled >= 3, 3000);
    send_word_to(w.words, "w0", home_of("w0"), 1);
    RUN_UNTIL(base, w.handled >= 4, 3000);
    assert_int_equal(w.errors, 0);
    assert_int_equal(w.last_count, 1); /* its home partition's count, not 4 */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void lookup_outside_a_handler_goes_to_the_keys_murmur2_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 5);
    send_word_to(w.words, "w0", home_of("w0"), 2);
    RUN_UNTIL(base, w.handled >= 7, 3000);
    assert_int_equal(w.errors, 0);
    assert_int_equal(count_of(&w, 0), 2); /* the 5 are in another partition */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void mismatched_writes_are_counted_in_table_stats(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 7);
    send_word_to(w.words, "w1", home_of("w1"), 3);
    RUN_UNTIL(base, w.handled >= 10, 3000);
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_int_equal(st.mismatched_writes, 7);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Its changelog record goes to the partition it is stored in, so recovery puts
 * it back there. */
static void key_on_another_partition_survives_a_restart(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_word_to(w.words, "w0", away_of("w0"), 10);
    RUN_UNTIL(base, w.handled >= 10, 3000);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);
    worker_t again = {0};
    worker_start(&again, base, NULL, NULL); /* new memory store: changelog replay */
    RUN_UNTIL(base, rill_app_is_ready(again.app), 3000);
    send_word_to(again.words, "w0", away_of("w0"), 1);
    RUN_UNTIL(base, again.handled >= 1, 3000);
    assert_int_equal(again.errors, 0);
    assert_int_equal(again.last_count, 11);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void writing_another_partitions_key_tells_to_group_by(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    log_capture_t cap = {0};
    worker_t w = {.log_cb = capture_log, .log_opaque = &cap};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 1);
    RUN_UNTIL(base, w.handled >= 1, 3000);
    assert_int_equal(cap.n, 1);
    char home[64], from[64];
    snprintf(home, sizeof home, "belongs to partition %d", home_of("w0"));
    snprintf(from, sizeof from, "words[%d]", away_of("w0"));
    const char *m = cap.msgs[0];
    if (!strstr(m, "table 'counts'") || !strstr(m, "key 'w0'") || !strstr(m, home) ||
        !strstr(m, from) || !strstr(m, "rill_stream_group_by()") ||
        !strstr(m, "murmur2_random"))
        fail_msg("warning: %s", m);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void key_partition_check_warns_once_per_table_and_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    log_capture_t cap = {0};
    worker_t w = {.two_tables = true, .log_cb = capture_log, .log_opaque = &cap};
    worker_start(&w, base, NULL, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    char other[32]; /* a second key with the same home partition as w0 */
    for (int i = 1;; i++) {
        snprintf(other, sizeof other, "v%d", i);
        if (home_of(other) == home_of("w0")) break;
    }
    for (int32_t p = 0; p < 4; p++) {
        if (p == home_of("w0")) continue;
        send_word_to(w.words, "w0", p, 10);
        send_word_to(w.words, other, p, 10);
    }
    RUN_UNTIL(base, w.handled >= 60, 3000);
    assert_int_equal(w.errors, 0);
    assert_int_equal(cap.n, 6); /* 2 tables x 3 partitions, not 120 writes */
    for (int32_t p = 0; p < 4; p++) {
        if (p == home_of("w0")) continue;
        char from[32];
        snprintf(from, sizeof from, "words[%d]", p);
        assert_int_equal(warnings_with(&cap, "table 'counts'", from), 1);
        assert_int_equal(warnings_with(&cap, "table 'seen'", from), 1);
    }
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void key_partition_check_refuse_keeps_enotowner(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "table.key_partition_check", "refuse");
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 1);
    RUN_UNTIL(base, w.handled >= 1, 3000);
    assert_int_equal(w.errors, 1);
    assert_int_equal(w.last_rc, RILL_ENOTOWNER);
    if (!strstr(w.last_err, "rill_stream_group_by()")) fail_msg("error: %s", w.last_err);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void key_partition_check_off_counts_without_a_warning(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    log_capture_t cap = {0};
    worker_t w = {.log_cb = capture_log, .log_opaque = &cap};
    worker_start(&w, base, "table.key_partition_check", "off");
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_word_to(w.words, "w0", away_of("w0"), 10);
    RUN_UNTIL(base, w.handled >= 10, 3000);
    assert_int_equal(w.errors, 0);
    assert_int_equal(w.last_count, 10);
    assert_int_equal(cap.n, 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* An event of a topic not co-partitioned with the table (another partition
 * count) says nothing about where keys live: they go to their murmur2 partition. */
static void
topic_with_other_partition_count_writes_keys_to_murmur2_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    TABLES_EXTRA_CONF(c);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w.app = rill_app_new_with_base("wc", c, base, err, sizeof err);
    assert_non_null(w.app);
    rill_topic_opts_t to4 = {.partitions = 4}, to2 = {.partitions = 2};
    w.words = rill_app_topic(w.app, "words", &to4); /* the table's partitions */
    rill_topic_t *pairs = rill_app_topic(w.app, "pairs", &to2);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w.words};
    w.counts = rill_app_table(w.app, "counts", &o);
    assert_non_null(rill_app_agent(w.app, "count", w.words, count_word, &w, NULL));
    assert_non_null(rill_app_agent(w.app, "pairs", pairs, count_word, &w, NULL));
    if (rill_app_start(w.app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    for (int32_t p = 0; p < 2; p++)
        send_word_to(pairs, "w0", p, 3);
    RUN_UNTIL(base, w.handled >= 6, 3000);
    if (w.errors) fail_msg("%d errors, last: %s", w.errors, w.last_err);
    assert_int_equal(count_of(&w, 0), 6);
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_int_equal(st.mismatched_writes, 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void counts_survive_a_graceful_restart(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 500, 5);
    RUN_UNTIL(base, w.handled >= 500, 3000);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);
    worker_t again = {0};
    worker_start(&again, base, NULL, NULL); /* new memory store: full changelog replay */
    RUN_UNTIL(base, count_of(&again, 0) >= 0, 3000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(count_of(&again, i), 100);
    assert_int_equal(again.handled, 0); /* nothing processed twice */
    send_words(&again, 50, 5);
    RUN_UNTIL(base, again.handled >= 50, 3000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(count_of(&again, i), 110);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void no_increment_is_lost_after_a_crash(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 400, 4);
    RUN_UNTIL(base, w.handled >= 200, 3000); /* crash mid-stream */
    rill_app_destroy(w.app);                 /* abrupt: no final commit or flush */
    worker_t again = {0};
    worker_start(&again, base, NULL, NULL);
    RUN_UNTIL(base,
              count_any(&again, 1, 0) + count_any(&again, 1, 1) +
                      count_any(&again, 1, 2) + count_any(&again, 1, 3) >=
                  400,
              5000);
    for (int i = 0; i < 4; i++)
        assert_true(count_of(&again, i) >= 100); /* at least once */
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void standby_takes_over_replaying_only_the_tail(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t ws[3] = {{0}};
    for (int i = 0; i < 3; i++)
        worker_start(&ws[i], base, "table.standby_replicas", "1");
    RUN_UNTIL(base, false, TABLES_SETTLE_MS);
    send_words(&ws[0], 4000, 40);
    RUN_UNTIL(base, ws[0].handled + ws[1].handled + ws[2].handled >= 4000, 5000);
    RUN_UNTIL(base, false, 200); /* standbys catch up */
    uint64_t standby_total = 0;
    for (int i = 0; i < 3; i++) {
        rill_table_stats_t st;
        rill_table_stats(ws[i].counts, &st);
        standby_total += st.standby_applied;
    }
    assert_true(standby_total > 0);
    /* kill the owner of w0 */
    int owner = -1;
    for (int i = 0; i < 3 && owner < 0; i++)
        if (count_of(&ws[i], 0) >= 0) owner = i;
    assert_true(owner >= 0);
    rill_app_destroy(ws[owner].app);
    ws[owner].app = NULL;
    for (int k = 0; k < 40; k++)
        RUN_UNTIL(base, count_any(ws, 3, k) >= 0, 3000);
    for (int k = 0; k < 40; k++)
        assert_int_equal(count_any(ws, 3, k), 100);
    uint64_t recovered = 0;
    for (int i = 0; i < 3; i++) {
        if (!ws[i].app) continue;
        rill_table_stats_t st;
        rill_table_stats(ws[i].counts, &st);
        recovered += st.recovered;
    }
    assert_true(recovered < 1000); /* the tail, not the 4000-message changelog */
    for (int i = 0; i < 3; i++)
        if (ws[i].app) rill_app_destroy(ws[i].app);
    event_base_free(base);
}

static void rebalance_during_recovery_restarts_it_correctly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 20000, 200);
    RUN_UNTIL(base, w.handled >= 20000, 10000);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);
    /* a new worker starts recovering 20000 changelog messages; a second joins at once */
    worker_t a = {0}, b = {0};
    worker_start(&a, base, NULL, NULL);
    RUN_UNTIL(base, false, 1);
    worker_start(&b, base, NULL, NULL);
    worker_t both[2];
    for (int k = 0; k < 200; k++) {
        both[0] = a;
        both[1] = b;
        RUN_UNTIL(base, count_any(both, 2, k) >= 0, 5000);
        assert_int_equal(count_any(both, 2, k), 100);
    }
    rill_app_destroy(a.app);
    rill_app_destroy(b.app);
    event_base_free(base);
}

/* A transport that never delivers changelog reads: recovery cannot progress. */
static struct rill_transport_ops stall_ops;
static rill_err_t stall_reader_open(rill_transport_t *t, rill_reader_t *r, int64_t off) {
    (void)t;
    (void)r;
    (void)off;
    return RILL_OK;
}

static void stalled_recovery_fails_loudly_naming_the_table(void **state) {
    (void)state;
    if (!rill_transport_find("stall")) {
        stall_ops = *rill_transport_find("memory");
        stall_ops.scheme = "stall";
        stall_ops.reader_start = stall_reader_open;
        assert_int_equal(rill_register_transport(&stall_ops), RILL_OK);
    }
    snprintf(broker, sizeof broker, "stall://stall-%u", seq);
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "table.recovery.stall.ms", "300");
    /* not ready while it recovers; the stall then ends the worker */
    RUN_UNTIL(base, strstr(rill_app_errmsg(w.app), "no progress"), 5000);
    assert_false(rill_app_is_ready(w.app));
    const char *msg = rill_app_errmsg(w.app);
    assert_non_null(strstr(msg, "recovery of table 'counts'"));
    assert_non_null(strstr(msg, "no progress"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

static struct rill_transport_ops leaky_ops;
static rill_err_t leaky_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    (void)t;
    (void)tps;
    (void)n;
    return RILL_OK;
}

static void events_during_recovery_are_sought_back_not_processed(void **state) {
    (void)state;
    if (!rill_transport_find("leaky")) {
        leaky_ops = *rill_transport_find("memory");
        leaky_ops.scheme = "leaky";
        leaky_ops.pause = leaky_pause;
        assert_int_equal(rill_register_transport(&leaky_ops), RILL_OK);
    }
    snprintf(broker, sizeof broker, "leaky://leaky-%u", seq);
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 3000, 30);
    RUN_UNTIL(base, w.handled >= 3000, 5000);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);
    worker_t again = {0};
    worker_start(&again, base, NULL, NULL);
    send_words(&again, 300, 30);
    RUN_UNTIL(base, again.handled >= 300, 5000);
    RUN_UNTIL(base, false, 50);
    if (again.errors) fail_msg("%d errors, last: %s", again.errors, again.last_err);
    assert_int_equal(again.handled, 300);
    for (int i = 0; i < 30; i++)
        assert_int_equal(count_of(&again, i), 110);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void recovery_does_not_wait_on_a_full_stream_buffer(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, NULL, NULL);
    send_words(&w, 5000, 50);
    RUN_UNTIL(base, w.handled >= 5000, 5000);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);
    worker_t again = {0};
    worker_start(&again, base, "stream.buffer.maxsize", "1"); /* full at once */
    send_words(&again, 2000, 50);
    RUN_UNTIL(base, again.handled >= 2000, 5000);
    assert_int_equal(again.handled, 2000);
    for (int i = 0; i < 50; i++)
        assert_int_equal(count_of(&again, i), 140);
    rill_app_destroy(again.app);
    event_base_free(base);
}

/* ---- windows
 * ------------------------------------------------------------------------------ */

typedef struct wapp {
    rill_app_t *app;
    rill_topic_t *clicks;
    rill_table_t *t;
    int handled;
    int closed;
    int64_t closed_sum;
    int64_t cur, delta;
    int32_t partitions; /* of clicks (0: 1) */
} wapp_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    wapp_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    rill_table_incr(w->t, ev, k, len, 1, NULL);
    rill_table_get(w->t, ev, k, len, &w->cur);
    rill_table_get_delta(w->t, ev, k, len, 10000, &w->delta);
    w->handled++;
    return RILL_OK;
}

static void on_close(rill_table_t *t, const void *key, size_t klen, int64_t ws,
                     int64_t we, const void *value, void *opaque) {
    (void)t;
    (void)key;
    (void)klen;
    (void)ws;
    (void)we;
    wapp_t *w = opaque;
    w->closed++;
    w->closed_sum += *(const int64_t *)value;
}

static void wapp_start(wapp_t *w, struct event_base *base, int64_t size, int64_t step,
                       int64_t expires) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "20", err, sizeof err);
    TABLES_EXTRA_CONF(c);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("win", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = w->partitions ? w->partitions : 1};
    w->clicks = rill_app_topic(w->app, "clicks", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64,
                           .source = w->clicks,
                           .on_window_close = on_close,
                           .on_window_close_opaque = w};
    rill_table_opts_hopping(&o, size, step, expires);
    w->t = rill_app_table(w->app, "per_minute", &o);
    assert_non_null(w->t);
    rill_app_agent(w->app, "count", w->clicks, count_click, w, NULL);
    assert_int_equal(rill_app_start(w->app, err, sizeof err), RILL_OK);
}

/* A click on partition @p partition (-1: the key's). */
static void click_on(wapp_t *w, const char *key, int64_t ts, int32_t partition) {
    rill_bytes_t kb = {(uint8_t *)key, strlen(key)}, vb = {(uint8_t *)"c", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = ts;
    o.partition = partition;
    assert_int_equal(rill_send(w->clicks, kb.data, kb.len, vb.data, vb.len, &o), RILL_OK);
}

static void click_at(wapp_t *w, const char *key, int64_t ts) {
    click_on(w, key, ts, -1);
}

static int64_t window_value(wapp_t *w, const char *key, int64_t start) {
    int64_t v = -1;
    assert_int_equal(rill_table_get_window(w->t, NULL, key, strlen(key), start, &v),
                     RILL_OK);
    return v;
}

static const int64_t T0 = 1700000000000; /* a multiple of 10 s */

static void tumbling_windows_split_at_their_boundaries(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wapp_start(&w, base, 10000, 10000, 3600000);
    click_at(&w, "a", T0);
    click_at(&w, "a", T0 + 9999);
    click_at(&w, "a", T0 + 10000);
    RUN_UNTIL(base, w.handled >= 3, 2000);
    assert_int_equal(window_value(&w, "a", T0), 2);
    assert_int_equal(window_value(&w, "a", T0 + 10000), 1);
    assert_int_equal(w.cur, 1);   /* current(): the event's own window */
    assert_int_equal(w.delta, 2); /* delta(10 s): the window before */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void hopping_windows_overlap(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wapp_start(&w, base, 10000, 5000, 3600000);
    click_at(&w, "a", T0 + 7000);  /* in [T0, T0+10s) and [T0+5s, T0+15s) */
    click_at(&w, "a", T0 + 12000); /* in [T0+5s, +15s) and [T0+10s, +20s) */
    RUN_UNTIL(base, w.handled >= 2, 2000);
    assert_int_equal(window_value(&w, "a", T0 - 5000), 0);
    assert_int_equal(window_value(&w, "a", T0), 1);
    assert_int_equal(window_value(&w, "a", T0 + 5000), 2);
    assert_int_equal(window_value(&w, "a", T0 + 10000), 1);
    assert_int_equal(w.cur, 1); /* latest window of T0+12s starts at T0+10s */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void expired_windows_close_and_free_store_space(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {0};
    wapp_start(&w, base, 1000, 1000, 2000);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        click_at(&w, k, T0 + 100);
    }
    RUN_UNTIL(base, w.handled >= 50, 2000);
    RUN_UNTIL(base, false, 60); /* a flush */
    rill_table_stats_t before, after;
    rill_table_stats(w.t, &before);
    assert_int_equal(before.keys, 50);
    click_at(&w, "late-trigger", T0 + 10000); /* stream time passes end + expires */
    RUN_UNTIL(base, w.closed >= 50, 2000);
    assert_int_equal(w.closed, 50);
    assert_int_equal(w.closed_sum, 50);
    rill_table_stats(w.t, &after);
    assert_int_equal(after.keys, 1);
    assert_true(after.bytes < before.bytes);
    /* a late event inside expires still counts; one beyond it is dropped */
    click_at(&w, "late-trigger", T0 + 8500); /* window T0+8s ends T0+9s, +2s > T0+10s */
    click_at(&w, "k1", T0 + 100);            /* its window expired */
    RUN_UNTIL(base, w.handled >= 53, 2000);
    assert_int_equal(window_value(&w, "late-trigger", T0 + 8000), 1);
    assert_int_equal(window_value(&w, "k1", T0), 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void windowed_write_follows_event_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    wapp_t w = {.partitions = 4};
    wapp_start(&w, base, 10000, 10000, 3600000);
    int32_t away = (home_of("a") + 1) % 4;
    click_on(&w, "a", T0, away);
    click_on(&w, "a", T0 + 10000, away);
    RUN_UNTIL(base, w.handled >= 2, 2000);
    assert_int_equal(w.cur, 1);   /* the second window, in the event's partition */
    assert_int_equal(w.delta, 1); /* the first, written there by the first click */
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Records in the counts changelog (all partitions), read with a transport of
 * our own on the same broker. */
static int64_t changelog_records(struct event_base *base) {
    static const rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *t =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    assert_non_null(t);
    int64_t total = 0;
    for (int32_t p = 0; p < 4; p++) {
        int64_t lo = 0, hi = 0;
        assert_int_equal(t->ops->watermarks(t, "wc-counts-changelog", p, &lo, &hi, 1000),
                         RILL_OK);
        total += hi - lo;
    }
    rill_transport_destroy(t);
    return total;
}

static void incr_after_a_delete_between_commits_counts_from_zero(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "commit.interval.ms", "60000"); /* all in the overlay */
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_words(&w, 3, 1);
    assert_int_equal(rill_send(w.words, "w0", 2, "-", 1, NULL), RILL_OK);
    send_words(&w, 2, 1);
    RUN_UNTIL(base, w.handled >= 6, 3000);
    if (w.errors) fail_msg("%d errors, last: %s", w.errors, w.last_err);
    assert_int_equal(w.last_count, 2);
    assert_int_equal(count_of(&w, 0), 2);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void changelog_gets_one_record_per_key_per_commit(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "commit.interval.ms", "60000"); /* no commit meanwhile */
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_words(&w, 1000, 10);
    RUN_UNTIL(base, w.handled >= 1000, 3000);
    assert_int_equal(changelog_records(base), 0); /* the overlay holds them */
    rill_app_stop(w.app);                         /* the final commit writes them */
    RUN_UNTIL(base, false, 50);
    assert_int_equal(changelog_records(base), 10); /* one per key, the last value */
    rill_app_destroy(w.app);
    worker_t again = {0};
    worker_start(&again, base, NULL, NULL);
    RUN_UNTIL(base, count_of(&again, 9) >= 0, 3000);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&again, i), 100); /* recovered from those 10 */
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void per_write_changelog_gets_every_write(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "table.changelog", "per_write");
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    send_words(&w, 1000, 10);
    RUN_UNTIL(base, w.handled >= 1000, 3000);
    RUN_UNTIL(base, changelog_records(base) >= 1000, 1000);
    assert_int_equal(changelog_records(base), 1000);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void table_definitions_are_validated(void **state) {
    (void)state;
    char err[256];
    rill_app_t *app = rill_app_new("v", NULL, err, sizeof err);
    rill_table_opts_t none = {0};
    assert_null(rill_app_table(app, "t", &none));
    assert_non_null(strstr(rill_app_errmsg(app), "value_type"));
    rill_table_opts_t bad = {
        .value_type = &rill_type_int64, .window_size_ms = 10, .window_step_ms = 20};
    assert_null(rill_app_table(app, "t", &bad));
    assert_non_null(strstr(rill_app_errmsg(app), "windows"));
    rill_table_opts_t ok = {.value_type = &rill_type_int64};
    assert_non_null(rill_app_table(app, "t", &ok));
    assert_null(rill_app_table(app, "t", &ok));
    rill_app_destroy(app);
}

int rill_table_suite_run(const rill_table_suite_t *s) {
    suite = s;
    const struct CMUnitTest common[] = {
        cmocka_unit_test_setup(incr_counts_every_key_exactly, setup),
        cmocka_unit_test_setup(incr_after_a_delete_between_commits_counts_from_zero,
                               setup),
        cmocka_unit_test_setup(foreach_visits_owned_keys, setup),
        cmocka_unit_test_setup(reading_a_partition_not_owned_fails_clearly, setup),
        cmocka_unit_test_setup(writing_another_partitions_key_tells_to_group_by, setup),
        cmocka_unit_test_setup(key_on_another_partition_is_counted_in_the_event_partition,
                               setup),
        cmocka_unit_test_setup(a_key_on_two_partitions_has_a_count_in_each, setup),
        cmocka_unit_test_setup(
            lookup_outside_a_handler_goes_to_the_keys_murmur2_partition, setup),
        cmocka_unit_test_setup(mismatched_writes_are_counted_in_table_stats, setup),
        cmocka_unit_test_setup(key_on_another_partition_survives_a_restart, setup),
        cmocka_unit_test_setup(key_partition_check_warns_once_per_table_and_partition,
                               setup),
        cmocka_unit_test_setup(key_partition_check_refuse_keeps_enotowner, setup),
        cmocka_unit_test_setup(key_partition_check_off_counts_without_a_warning, setup),
        cmocka_unit_test_setup(
            topic_with_other_partition_count_writes_keys_to_murmur2_partition, setup),
        cmocka_unit_test_setup(windowed_write_follows_event_partition, setup),
        cmocka_unit_test_setup(counts_survive_a_graceful_restart, setup),
        cmocka_unit_test_setup(no_increment_is_lost_after_a_crash, setup),
        cmocka_unit_test_setup(standby_takes_over_replaying_only_the_tail, setup),
        cmocka_unit_test_setup(rebalance_during_recovery_restarts_it_correctly, setup),
        cmocka_unit_test_setup(recovery_does_not_wait_on_a_full_stream_buffer, setup),
        cmocka_unit_test_setup(tumbling_windows_split_at_their_boundaries, setup),
        cmocka_unit_test_setup(hopping_windows_overlap, setup),
        cmocka_unit_test_setup(expired_windows_close_and_free_store_space, setup),
        cmocka_unit_test_setup(table_definitions_are_validated, setup),
    };
    /* these wrap the memory transport or read its watermarks */
    const struct CMUnitTest memory[] = {
        cmocka_unit_test_setup(stalled_recovery_fails_loudly_naming_the_table, setup),
        cmocka_unit_test_setup(events_during_recovery_are_sought_back_not_processed,
                               setup),
        cmocka_unit_test_setup(changelog_gets_one_record_per_key_per_commit, setup),
        cmocka_unit_test_setup(per_write_changelog_gets_every_write, setup),
    };
    enum {
        NCOMMON = sizeof common / sizeof common[0],
        NMEM = sizeof memory / sizeof memory[0]
    };
    struct CMUnitTest tests[NCOMMON + NMEM];
    size_t n = 0;
    for (size_t i = 0; i < NCOMMON; i++)
        tests[n++] = common[i];
    for (size_t i = 0; s->memory_transport && i < NMEM; i++)
        tests[n++] = memory[i];
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
