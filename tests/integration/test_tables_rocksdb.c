/* Tables on the RocksDB store: a restart on the same disk replays only the
 * changelog tail, and checkpoint + tail equals a recovery from the changelog. */
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

static char broker[64], dir[64];
static unsigned seq;

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *counts;
    int handled;
} worker_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    assert_int_equal(rill_table_incr(w->counts, ev, k, len, 1, NULL), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void start(worker_t *w, struct event_base *base, const char *store) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    assert_int_equal(rill_conf_set(c, "store", store, err, sizeof err), RILL_CONF_OK);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    w->app = rill_app_new_with_base("rwc", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 2};
    w->words = rill_app_topic(w->app, "words", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    rill_app_agent(w->app, "count", w->words, count_word, w, NULL);
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("%s", err);
}

static void stop(worker_t *w, struct event_base *base) {
    rill_app_stop(w->app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w->app);
    w->app = NULL;
}

static void send_words(worker_t *w, int n) {
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "w%d", i % 10);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        assert_int_equal(rill_send(w->words, kb.data, kb.len, vb.data, vb.len, NULL),
                         RILL_OK);
    }
}

static bool recovered(worker_t *w) {
    rill_table_stats_t s;
    return rill_table_stats(w->counts, &s) == RILL_OK && s.owned == 2;
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://rocks-tables-%u", ++seq);
    snprintf(dir, sizeof dir, "/tmp/rill-tables-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void restart_on_the_same_disk_replays_only_the_tail(void **state) {
    (void)state;
    char store[128];
    snprintf(store, sizeof store, "rocksdb://%s", dir);
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, store);
    send_words(&w, 1000);
    RUN_UNTIL(base, w.handled >= 1000, 3000);
    stop(&w, base);
    worker_t again = {0};
    start(&again, base, store);
    RUN_UNTIL(base, recovered(&again), 3000);
    rill_table_stats_t s;
    rill_table_stats(again.counts, &s);
    assert_int_equal(s.recovered, 0); /* the store had it all, with its offset */
    assert_int_equal(s.keys, 10);
    int64_t v = 0;
    assert_int_equal(rill_table_get(again.counts, NULL, "w3", 2, &v), RILL_OK);
    assert_int_equal(v, 100);
    stop(&again, base);
    event_base_free(base);
}

static int snapshot(const void *key, size_t klen, int64_t ws, const void *value,
                    void *opaque) {
    (void)ws;
    char *out = opaque;
    char line[64];
    snprintf(line, sizeof line, "%.*s=%lld;", (int)klen, (const char *)key,
             (long long)*(const int64_t *)value);
    strcat(out, line);
    return 0;
}

static void checkpoint_plus_tail_equals_changelog_alone(void **state) {
    (void)state;
    char store[128];
    snprintf(store, sizeof store, "rocksdb://%s", dir);
    struct event_base *base = event_base_new();
    worker_t w = {0};
    start(&w, base, store);
    send_words(&w, 500);
    RUN_UNTIL(base, w.handled >= 500, 3000);
    stop(&w, base);
    /* more work by a worker without that disk: the rocksdb checkpoint falls behind */
    worker_t other = {0};
    start(&other, base, "memory://");
    RUN_UNTIL(base, recovered(&other), 3000);
    send_words(&other, 300);
    RUN_UNTIL(base, other.handled >= 300, 3000);
    stop(&other, base);

    worker_t from_disk = {0};
    start(&from_disk, base, store);
    RUN_UNTIL(base, recovered(&from_disk), 3000);
    rill_table_stats_t s;
    rill_table_stats(from_disk.counts, &s);
    assert_true(s.recovered > 0 && s.recovered <= 300); /* just the tail */
    uint64_t tail = s.recovered;
    char a[1024] = "", b[1024] = "";
    rill_table_foreach(from_disk.counts, snapshot, a);
    stop(&from_disk, base);

    worker_t from_log = {0};
    start(&from_log, base, "memory://");
    RUN_UNTIL(base, recovered(&from_log), 3000);
    rill_table_foreach(from_log.counts, snapshot, b);
    rill_table_stats(from_log.counts, &s);
    assert_true(s.recovered > tail); /* the whole changelog */
    stop(&from_log, base);
    assert_true(strlen(a) > 0);
    /* same keys and counts (scan order is the same bytewise order) */
    assert_string_equal(a, b);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(restart_on_the_same_disk_replays_only_the_tail,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_plus_tail_equals_changelog_alone,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
