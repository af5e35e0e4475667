/* processing_guarantee=exactly_once on librdkafka's mock cluster.  The mock runs
 * the transactional API but does not emulate its semantics (aborted records stay
 * visible, transactional offsets are dropped), so these tests check rill's side:
 * that a worker notices the dropped offsets and stops instead of counting again
 * after every restart; and, with that check off, the transaction cycle per commit
 * interval, and that an aborted transaction rolls the tables back and reprocesses
 * the interval without counting twice. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <rill/rill.h>

#include "run_until.h"
#include "web_harness.h"

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *counts;
    int handled, errors, aborts, commits_logged;
    int port; /* its web server's */
} worker_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    if (rill_table_incr(w->counts, ev, word, len, 1, NULL) != RILL_OK) w->errors++;
    w->handled++;
    return RILL_OK;
}

static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    worker_t *w = opaque;
    if (strstr(msg, "transaction aborted")) w->aborts++;
    if (level <= RILL_LOG_WARN || strstr(msg, "exactly_once"))
        fprintf(stderr, "[%s] %s\n", name, msg); /* in the test's output if it fails */
}

/* A mock cluster of our own, so the test can inject broker errors into it. */
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

static void mock_start(void) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(mock_rk);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    assert_non_null(mock);
}

static void mock_stop(void) {
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

/* @p verify_offsets false: for the tests of the transaction cycle, which would
 * otherwise stop at their first commit (the mock drops transactional offsets, and
 * exactly_once.verify_offsets stops a worker on such a broker, as it should). */
static void worker_start_ms(worker_t *w, struct event_base *base, const char *id,
                            bool verify_offsets, const char *commit_interval_ms) {
    rill_conf_t *c = rill_conf_new();
    char err[256], url[256];
    snprintf(url, sizeof url, "kafka://%s", rd_kafka_mock_cluster_bootstraps(mock));
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "processing_guarantee", "exactly_once", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", commit_interval_ms, err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set(c, "kafka.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "kafka.heartbeat.interval.ms", "300", err, sizeof err);
    assert_int_equal(rill_conf_set(c, "exactly_once.verify_offsets",
                                   verify_offsets ? "true" : "false", err, sizeof err),
                     RILL_CONF_OK);
    rill_conf_set_log_cb(c, on_log, w);
    char port[16];
    w->port = free_port();
    snprintf(port, sizeof port, "%d", w->port);
    assert_int_equal(rill_conf_set(c, "web.port", port, err, sizeof err), RILL_CONF_OK);
    w->app = rill_app_new_with_base(id, c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->words = rill_app_topic(w->app, "words", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, NULL));
    /* the mock has no CreateTopics: create what the app declares */
    char cl[128];
    snprintf(cl, sizeof cl, "%s-counts-changelog", id);
    rd_kafka_mock_topic_create(mock, "words", 4, 1);
    rd_kafka_mock_topic_create(mock, cl, 4, 1);
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void worker_start(worker_t *w, struct event_base *base, const char *id,
                         bool verify_offsets) {
    worker_start_ms(w, base, id, verify_offsets, "200");
}

/* Input comes from a plain (non-transactional) producer app: the worker's own
 * sends are part of its transactions, and an abort discards them. */
static void send_words(worker_t *w, struct event_base *base, int n, int distinct) {
    (void)w;
    rill_conf_t *c = rill_conf_new();
    char err[256], url[256];
    snprintf(url, sizeof url, "kafka://%s", rd_kafka_mock_cluster_bootstraps(mock));
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_app_t *p = rill_app_new_with_base("eos-input", c, base, err, sizeof err);
    assert_non_null(p);
    rill_topic_opts_t to = {.partitions = 4};
    rill_topic_t *words = rill_app_topic(p, "words", &to);
    if (rill_app_start(p, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "w%d", i % distinct);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        rill_err_t rc;
        while ((rc = rill_send(words, kb.data, kb.len, vb.data, vb.len, NULL)) ==
               RILL_EFULL)
            RUN_UNTIL(base, false, 5);
        assert_int_equal(rc, RILL_OK);
    }
    rill_app_stop(p); /* flushes */
    RUN_UNTIL(base, false, 200);
    rill_app_destroy(p);
}

static void assert_counts(worker_t *w, int distinct, int64_t each) {
    for (int i = 0; i < distinct; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d", i);
        int64_t v = -1;
        assert_int_equal(rill_table_get(w->counts, NULL, k, strlen(k), &v), RILL_OK);
        assert_int_equal(v, each);
    }
}

/* Series @p name{app="<the worker's id>"[,@p labels]} of the worker's /metrics
 * (-1: absent): its transactions are counted as commits. */
static double commit_metric(worker_t *w, struct event_base *base, const char *name,
                            const char *labels) {
    web_t h = {.base = base, .port = w->port};
    char *r = http(&h, "GET", "/metrics", NULL);
    char series[256];
    snprintf(series, sizeof series, "\n%s{app=\"%s\"%s} ", name, rill_app_id(w->app),
             labels);
    assert_int_equal(status_of(r), 200);
    const char *p = strstr(body_of(r), series);
    double v = p ? strtod(p + strlen(series), NULL) : -1;
    free(r);
    return v;
}

#define RESULT(r) ",result=\"" r "\""
#define TXN_LAT "rill_commit_latency_seconds_count"

static void transactions_carry_every_interval_and_counts_are_exact(void **state) {
    (void)state;
    mock_start();
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "eos-plain", false);
    send_words(&w, base, 2000, 20);
    RUN_UNTIL(base, w.handled >= 2000, 30000);
    RUN_UNTIL(base, false, 500); /* a few commit intervals: transactions cycle */
    assert_int_equal(w.handled, 2000);
    assert_int_equal(w.errors, 0);
    assert_int_equal(w.aborts, 0);
    assert_counts(&w, 20, 100);
    assert_true(rill_app_is_ready(w.app)); /* still running: no transaction error */
    double ok = commit_metric(&w, base, "rill_commits_total", RESULT("ok"));
    assert_true(ok >= 1);
    assert_true(commit_metric(&w, base, "rill_commits_total", RESULT("failed")) == 0);
    assert_true(commit_metric(&w, base, TXN_LAT, "") == ok);
    rill_app_destroy(w.app);
    event_base_free(base);
    mock_stop();
}

static void an_aborted_transaction_rolls_tables_back_and_reprocesses(void **state) {
    (void)state;
    mock_start();
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "eos-abort", false);
    /* The first offsets sent with a transaction are refused with an error that
     * requires an abort (librdkafka: abortable). */
    rd_kafka_mock_push_request_errors(mock, 25 /* AddOffsetsToTxn */, 1,
                                      RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
    send_words(&w, base, 2000, 20);
    RUN_UNTIL(base, w.aborts > 0 && w.handled > 2000, 30000);
    if (w.aborts != 1 || w.handled <= 2000) /* the aborted interval is processed again */
        fail_msg("aborts %d, handled %d (expected 1 abort and more than 2000)", w.aborts,
                 w.handled);
    RUN_UNTIL(base, false, 1500);
    assert_int_equal(w.errors, 0);
    assert_counts(&w, 20, 100); /* ... without counting it twice */
    /* the aborted one is a failed commit; every one is timed */
    double failed = commit_metric(&w, base, "rill_commits_total", RESULT("failed"));
    double ok = commit_metric(&w, base, "rill_commits_total", RESULT("ok"));
    assert_true(failed == 1);
    assert_true(ok >= 1);
    assert_true(commit_metric(&w, base, TXN_LAT, "") == ok + failed);
    rill_app_destroy(w.app);
    event_base_free(base);
    mock_stop();
}

/* The mock keeps no offset sent with a transaction: a worker that went on would
 * read everything again after a restart.  It stops at its first commit that
 * carries progress, naming the partition, both offsets and what to do. */
static void
a_broker_that_drops_transactional_offsets_stops_the_worker_at_its_first_commit(
    void **state) {
    (void)state;
    mock_start();
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start(&w, base, "eos-dropped", true);
    send_words(&w, base, 400, 20);
    /* (not ready while its tables recover either: wait for the failure itself) */
    RUN_UNTIL(base, strstr(rill_app_errmsg(w.app), "did not keep"), 30000);
    bool ready = rill_app_is_ready(w.app);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rill_app_errmsg(w.app));
    int handled = w.handled;
    rill_app_destroy(w.app);
    event_base_free(base);
    mock_stop();
    assert_false(ready);
    assert_true(handled > 0);
    const char *want[] = {
        "exactly_once: the broker did not keep the offsets committed with the first "
        "transaction: committed none for words[",
        "does not implement transactional offset commits",
        "use processing_guarantee=at_least_once",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(msg, want[i])) fail_msg("error '%s' lacks '%s'", msg, want[i]);
    const char *exp = strstr(msg, "expected ");
    assert_non_null(exp);
    long long expected = strtoll(exp + strlen("expected "), NULL, 10);
    if (expected <= 0 || expected > handled) /* the commit of what it had processed */
        fail_msg("expected offset %lld, handled %d: '%s'", expected, handled, msg);
}

/* A worker stopped before its first commit interval commits once, at the stop:
 * that commit is checked too, and the stop reports the failure. */
static void a_clean_stop_before_any_commit_interval_checks_the_offsets_too(void **state) {
    (void)state;
    mock_start();
    struct event_base *base = event_base_new();
    worker_t w = {0};
    worker_start_ms(&w, base, "eos-stop", true, "600000");
    send_words(&w, base, 200, 20);
    RUN_UNTIL(base, w.handled >= 200, 30000);
    assert_int_equal(w.handled, 200);
    assert_true(rill_app_is_ready(w.app)); /* nothing committed yet: nothing checked */
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 3000);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rill_app_errmsg(w.app));
    rill_app_destroy(w.app);
    event_base_free(base);
    mock_stop();
    if (!strstr(msg, "the broker did not keep the offsets committed with the first "
                     "transaction"))
        fail_msg("error after the stop: '%s'", msg);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    (void)web_start; /* the web harness's own app is not used here */
    (void)web_send;
    (void)web_ready;
    (void)web_stop;
    (void)conn_close;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transactions_carry_every_interval_and_counts_are_exact),
        cmocka_unit_test(an_aborted_transaction_rolls_tables_back_and_reprocesses),
        cmocka_unit_test(
            a_broker_that_drops_transactional_offsets_stops_the_worker_at_its_first_commit),
        cmocka_unit_test(a_clean_stop_before_any_commit_interval_checks_the_offsets_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
