/* /metrics on memory:// (issue 16, item 2): commits by result and their latency,
 * send errors and the sampled send latency, delayed forwards pending and fired,
 * table operations by kind.  Each series is read from a real scrape after real
 * actions; faulty+memory:// makes commits and deliveries fail. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "web_harness.h"

/* An app on @p scheme (memory:// or faulty+memory://, a broker of its own; the
 * fault keys @p query, or NULL) with topics "in" and "out", table "t" (int64) and
 * agent "a" on "in" running @p fn; its web server on.  Conf pairs end with NULL. */
static void start(web_t *w, const char *scheme, const char *query, int partitions,
                  rill_agent_fn fn, ...) {
    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    w->port = free_port();
    rill_conf_t *c = rill_conf_new();
    char err[256], port[16], url[256];
    snprintf(url, sizeof url, "%smetrics-%d-%u%s%s", scheme, (int)getpid(), ++seq,
             query ? "?" : "", query ? query : "");
    snprintf(port, sizeof port, "%d", w->port);
    assert_int_equal(rill_conf_set(c, "broker", url, err, sizeof err), RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "web.port", port, err, sizeof err), RILL_CONF_OK);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    va_list ap;
    va_start(ap, fn);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (rill_conf_set(c, k, v, err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s: %s", k, err);
    }
    va_end(ap);
    w->app = rill_app_new_with_base("web", c, w->base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = partitions};
    w->in = rill_app_topic(w->app, "in", &to);
    assert_non_null(rill_app_topic(w->app, "out", &to));
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->in};
    w->counts = rill_app_table(w->app, "t", &o);
    assert_non_null(w->counts);
    w->agent = rill_app_agent(w->app, "a", w->in, fn, w, NULL);
    assert_non_null(w->agent);
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static rill_err_t handled(rill_event_t *ev, void *opaque) {
    (void)ev;
    ((web_t *)opaque)->handled++;
    return RILL_OK;
}

/* The value of series @p series (name{labels}, exactly) in @p body; -1 if absent. */
static double value_in(const char *body, const char *series) {
    size_t n = strlen(series);
    for (const char *p = body; (p = strstr(p, series)); p += n)
        if ((p == body || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static char *scrape(web_t *w) {
    char *r = http(w, "GET", "/metrics", NULL);
    assert_int_equal(status_of(r), 200);
    return r;
}

static double metric(web_t *w, const char *series) {
    char *r = scrape(w);
    double v = value_in(body_of(r), series);
    free(r);
    return v;
}

/* Scrape until @p series is at least @p min (10 s at most); its last value. */
static double metric_until(web_t *w, const char *series, double min) {
    double v = -1;
    for (int i = 0; i < 500 && (v = metric(w, series)) < min; i++)
        RUN_UNTIL(w->base, false, 20);
    return v;
}

#define COMMITS(r) "rill_commits_total{app=\"web\",result=\"" r "\"}"
#define COMMIT_LAT "rill_commit_latency_seconds"

static void commits_are_counted_ok_with_one_latency_sample_each(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 2, handled, "commit.interval.ms", "20", NULL);
    for (int i = 0; i < 5; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 5);
    assert_true(metric_until(&w, COMMITS("ok"), 1) >= 1);
    char *r = scrape(&w);
    const char *b = body_of(r);
    double ok = value_in(b, COMMITS("ok"));
    assert_true(ok >= 1);
    assert_true(value_in(b, COMMITS("failed")) == 0);
    assert_true(value_in(b, COMMITS("fenced")) == 0);
    assert_non_null(strstr(b, "# TYPE " COMMIT_LAT " histogram\n"));
    assert_true(value_in(b, COMMIT_LAT "_count{app=\"web\"}") == ok);
    assert_true(value_in(b, COMMIT_LAT "_bucket{app=\"web\",le=\"+Inf\"}") == ok);
    assert_true(value_in(b, COMMIT_LAT "_sum{app=\"web\"}") >= 0);
    free(r);
    web_stop(&w);
}

static void a_commit_the_transport_refuses_is_counted_failed(void **state) {
    (void)state;
    web_t w;
    start(&w, "faulty+memory://", "fail.commit=every:1&seed=1", 2, handled,
          "commit.interval.ms", "20", NULL);
    for (int i = 0; i < 3; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 3);
    assert_true(metric_until(&w, COMMITS("failed"), 1) >= 1);
    char *r = scrape(&w);
    const char *b = body_of(r);
    double failed = value_in(b, COMMITS("failed"));
    assert_true(value_in(b, COMMITS("ok")) == 0);
    assert_true(value_in(b, COMMIT_LAT "_count{app=\"web\"}") == failed);
    free(r);
    web_stop(&w);
}

static void a_commit_refused_as_not_ours_is_counted_fenced(void **state) {
    (void)state;
    web_t w;
    start(&w, "faulty+memory://", "fail.commit=every:1&fail.commit.err=ENOTOWNER&seed=1",
          2, handled, "commit.interval.ms", "20", NULL);
    for (int i = 0; i < 3; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 3);
    assert_true(metric_until(&w, COMMITS("fenced"), 1) >= 1);
    char *r = scrape(&w);
    const char *b = body_of(r);
    double fenced = value_in(b, COMMITS("fenced"));
    assert_true(value_in(b, COMMITS("ok")) == 0);
    assert_true(value_in(b, COMMITS("failed")) == 0);
    assert_true(value_in(b, COMMIT_LAT "_count{app=\"web\"}") == fenced);
    free(r);
    web_stop(&w);
}

#define SEND_LAT "rill_send_latency_seconds"
#define SEND_ERR_IN "rill_send_errors_total{app=\"web\",topic=\"in\"}"

static void one_send_in_64_is_timed_to_its_delivery_report(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 1, handled, NULL);
    for (int i = 0; i < 130; i++) /* sends 0, 64 and 128 are timed */
        web_send(&w, "k", 1);
    web_ready(&w, 130);
    assert_true(metric_until(&w, SEND_LAT "_count{app=\"web\",topic=\"in\"}", 3) == 3);
    char *r = scrape(&w);
    const char *b = body_of(r);
    assert_non_null(strstr(b, "# TYPE " SEND_LAT " histogram\n"));
    assert_true(value_in(b, SEND_LAT "_bucket{app=\"web\",topic=\"in\",le=\"+Inf\"}") ==
                3);
    assert_true(value_in(b, "rill_sends_total{app=\"web\",topic=\"in\"}") == 130);
    assert_true(value_in(b, SEND_ERR_IN) == 0);
    free(r);
    web_stop(&w);
}

static void a_send_refused_by_rill_or_the_transport_is_a_send_error(void **state) {
    (void)state;
    web_t w;
    start(&w, "faulty+memory://", "fail.produce=nth:1&seed=1", 2, handled, NULL);
    /* the transport refuses the first produce */
    assert_int_not_equal(rill_send(w.in, "k", 1, "1", 1, &rill_send_encoded), RILL_OK);
    assert_true(metric(&w, SEND_ERR_IN) == 1);
    /* rill refuses a partition out of range */
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.encoded = true;
    o.partition = 9;
    assert_int_equal(rill_send(w.in, "k", 1, "1", 1, &o), RILL_EINVAL);
    assert_true(metric(&w, SEND_ERR_IN) == 2);
    web_send(&w, "k", 1); /* accepted and delivered: no error */
    web_ready(&w, 1);
    char *r = scrape(&w);
    assert_true(value_in(body_of(r), SEND_ERR_IN) == 2);
    assert_true(value_in(body_of(r), "rill_sends_total{app=\"web\",topic=\"in\"}") == 1);
    free(r);
    web_stop(&w);
}

static void a_failed_delivery_is_a_send_error_and_not_timed(void **state) {
    (void)state;
    web_t w;
    /* every report says RILL_ETIMEDOUT (a lost acknowledgement) */
    start(&w, "faulty+memory://", "drop.delivery=1&seed=1", 1, handled, NULL);
    for (int i = 0; i < 3; i++)
        web_send(&w, "k", 1);
    assert_true(metric_until(&w, SEND_ERR_IN, 3) == 3);
    char *r = scrape(&w);
    assert_true(value_in(body_of(r), "rill_sends_total{app=\"web\",topic=\"in\"}") == 3);
    assert_true(value_in(body_of(r), SEND_LAT "_count{app=\"web\",topic=\"in\"}") == 0);
    free(r);
    web_stop(&w);
}

static rill_err_t forward_later(rill_event_t *ev, void *opaque) {
    web_t *w = opaque;
    w->handled++;
    rill_topic_t *out = rill_app_topic(w->app, "out", NULL);
    return rill_event_forward(ev, out, 2000);
}

#define PENDING "rill_forwards_delayed_pending{app=\"web\"}"
#define FIRED "rill_forwards_delayed_fired_total{app=\"web\"}"

static void a_delayed_forward_is_pending_until_it_fires(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 1, forward_later, NULL);
    assert_true(metric(&w, PENDING) == 0);
    assert_true(metric(&w, FIRED) == 0);
    web_send(&w, "k", 1);
    web_ready(&w, 1);
    assert_true(metric_until(&w, PENDING, 1) == 1); /* held for 2 s */
    assert_true(metric(&w, FIRED) == 0);
    assert_true(metric_until(&w, FIRED, 1) == 1);
    assert_true(metric(&w, PENDING) == 0);
    web_stop(&w);
}

/* Each event: incr, get, set and delete of one key each. */
static rill_err_t table_ops(rill_event_t *ev, void *opaque) {
    web_t *w = opaque;
    int64_t v = 7;
    assert_int_equal(rill_table_incr(w->counts, ev, "a", 1, 1, NULL), RILL_OK);
    assert_int_equal(rill_table_get(w->counts, ev, "a", 1, &v), RILL_OK);
    assert_int_equal(rill_table_set(w->counts, ev, "b", 1, &v), RILL_OK);
    assert_int_equal(rill_table_del(w->counts, ev, "b", 1), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static int visit(const void *k, size_t kl, int64_t ws, const void *v, void *opaque) {
    (void)k, (void)kl, (void)ws, (void)v, (void)opaque;
    return 0;
}

#define OPS(op) "rill_table_operations_total{app=\"web\",table=\"t\",op=\"" op "\"}"

static void table_operations_are_counted_by_kind(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 1, table_ops, NULL);
    assert_true(metric(&w, OPS("get")) == 0);
    for (int i = 0; i < 4; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 4);
    assert_int_equal(rill_table_foreach(w.counts, visit, NULL), RILL_OK);
    char *r = scrape(&w);
    const char *b = body_of(r);
    assert_true(value_in(b, OPS("incr")) == 4);
    assert_true(value_in(b, OPS("get")) == 4);
    assert_true(value_in(b, OPS("set")) == 4);
    assert_true(value_in(b, OPS("delete")) == 4);
    assert_true(value_in(b, OPS("foreach")) == 1);
    free(r);
    web_stop(&w);
}

/* Each event: table[key] = 1, or with value "del" a delete of key. */
static rill_err_t set_or_del(rill_event_t *ev, void *opaque) {
    web_t *w = opaque;
    size_t kl, vl;
    const void *k = rill_event_key_bytes(ev, &kl);
    const void *v = rill_event_value_bytes(ev, &vl);
    int64_t one = 1;
    if (vl == 3 && !memcmp(v, "del", 3))
        assert_int_equal(rill_table_del(w->counts, ev, k, kl), RILL_OK);
    else
        assert_int_equal(rill_table_set(w->counts, ev, k, kl, &one), RILL_OK);
    w->handled++;
    return RILL_OK;
}

static void send_kv(web_t *w, const char *k, const char *v) {
    assert_int_equal(rill_send(w->in, k, strlen(k), v, strlen(v), &rill_send_encoded),
                     RILL_OK);
}

#define KEYS "rill_table_keys{app=\"web\",table=\"t\"}"
#define CL_SENDS "rill_sends_total{app=\"web\",topic=\"web-t-changelog\"}"

/* table.changelog=per_commit writes a key's changelog record at the commit: a
 * scrape counting the keys must not write them earlier (it used to flush). */
static void a_scrape_counts_unflushed_keys_without_writing_the_changelog(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 1, set_or_del, "commit.interval.ms", "3600000", NULL);
    send_kv(&w, "a", "1");
    send_kv(&w, "b", "1");
    send_kv(&w, "c", "1");
    web_ready(&w, 3);
    for (int i = 0; i < 2; i++) {
        char *r = scrape(&w);
        assert_true(value_in(body_of(r), KEYS) == 3);
        assert_true(value_in(body_of(r), CL_SENDS) == -1); /* no send yet: no series */
        free(r);
    }
    rill_table_stats_t st; /* flushes: the records leave now */
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_true(metric(&w, CL_SENDS) == 3);
    web_stop(&w);
}

/* Keys added, overwritten and deleted since the last flush, over keys the store has. */
static void unflushed_writes_over_flushed_keys_are_counted_once(void **state) {
    (void)state;
    web_t w;
    start(&w, "memory://", NULL, 1, set_or_del, "commit.interval.ms", "3600000", NULL);
    send_kv(&w, "a", "1");
    send_kv(&w, "b", "1");
    send_kv(&w, "c", "1");
    web_ready(&w, 3);
    rill_table_stats_t st; /* a, b, c into the store */
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_int_equal(st.keys, 3);
    send_kv(&w, "a", "del"); /* in the store: one less */
    send_kv(&w, "b", "1");   /* in the store: no change */
    send_kv(&w, "d", "1");   /* new: one more */
    send_kv(&w, "e", "1");   /* new, then deleted: no change */
    send_kv(&w, "e", "del");
    send_kv(&w, "x", "del"); /* nowhere: no change */
    web_ready(&w, 9);
    assert_true(metric(&w, KEYS) == 3);
    assert_true(metric(&w, KEYS) == 3); /* looked up once, counted the same again */
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_int_equal(st.keys, 3);
    assert_true(metric(&w, KEYS) == 3);
    send_kv(&w, "f", "1"); /* flushed before the scrape: the store's count again */
    web_ready(&w, 10);
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    assert_true(metric(&w, KEYS) == 4);
    web_stop(&w);
}

/* A serializer whose decode takes DECODE_MS: an int64 as its 8 bytes, slowly. */
#define DECODE_MS 12
#define PROC_A(s)                                                                        \
    "rill_agent_processing_seconds" s "{app=\"web\",agent=\"a\",topic=\"in\""

static rill_err_t slow_encode(rill_serializer_t *s, const rill_type_t *type,
                              const void *value, rill_buf_t *out, char *errstr,
                              size_t errlen) {
    (void)s, (void)type, (void)errstr, (void)errlen;
    return rill_buf_append(out, value, sizeof(int64_t));
}

static rill_err_t slow_decode(rill_serializer_t *s, const rill_type_t *type,
                              const void *data, size_t len, void *value, char *errstr,
                              size_t errlen) {
    (void)s, (void)type;
    if (len != sizeof(int64_t)) {
        snprintf(errstr, errlen, "want 8 bytes");
        return RILL_EDECODE;
    }
    struct timespec d = {0, DECODE_MS * 1000000L};
    while (nanosleep(&d, &d) != 0) {
    }
    memcpy(value, data, len);
    return RILL_OK;
}

static const struct rill_serializer_ops slow_ser = {
    .abi = RILL_SERIALIZER_ABI,
    .scheme = "slow-decode",
    .description = "int64, decoded slowly (test_metrics_memory)",
    .encode = slow_encode,
    .decode = slow_decode,
};

/* An event's processing time starts before its decoding (docs/web.md): with a
 * decode of 12 ms and a handler of nothing, no event is within 10 ms. */
static void decoding_counts_in_an_events_processing_time(void **state) {
    (void)state;
    assert_int_equal(rill_register_serializer(&slow_ser), RILL_OK);
    web_t w;
    memset(&w, 0, sizeof w);
    w.base = event_base_new();
    w.port = free_port();
    rill_conf_t *c = rill_conf_new();
    char err[256], url[128], port[16];
    snprintf(url, sizeof url, "memory://metrics-%d-%u", (int)getpid(), ++seq);
    snprintf(port, sizeof port, "%d", w.port);
    assert_int_equal(rill_conf_set(c, "broker", url, err, sizeof err), RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "web.port", port, err, sizeof err), RILL_CONF_OK);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    w.app = rill_app_new_with_base("web", c, w.base, err, sizeof err);
    assert_non_null(w.app);
    rill_topic_opts_t to = {.partitions = 1,
                            .value_type = &rill_type_int64,
                            .value_serializer = "slow-decode"};
    w.in = rill_app_topic(w.app, "in", &to);
    assert_non_null(w.in);
    assert_non_null(rill_app_agent(w.app, "a", w.in, handled, &w, NULL));
    if (rill_app_start(w.app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    web_ready(&w, 0);
    for (int64_t i = 0; i < 3; i++) /* one batch: its events share the clock */
        assert_int_equal(rill_send(w.in, NULL, 0, &i, sizeof i, NULL), RILL_OK);
    web_ready(&w, 3);
    char *r = scrape(&w);
    const char *b = body_of(r);
    assert_true(value_in(b, PROC_A("_count") "}") == 3);
    assert_true(value_in(b, PROC_A("_bucket") ",le=\"0.01\"}") == 0);
    assert_true(value_in(b, PROC_A("_bucket") ",le=\"+Inf\"}") == 3);
    assert_true(value_in(b, PROC_A("_sum") "}") >= 3 * DECODE_MS / 1000.0);
    free(r);
    web_stop(&w);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    (void)web_start; /* the harness's app is start()'s here */
    (void)conn_close;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commits_are_counted_ok_with_one_latency_sample_each),
        cmocka_unit_test(a_commit_the_transport_refuses_is_counted_failed),
        cmocka_unit_test(a_commit_refused_as_not_ours_is_counted_fenced),
        cmocka_unit_test(one_send_in_64_is_timed_to_its_delivery_report),
        cmocka_unit_test(a_send_refused_by_rill_or_the_transport_is_a_send_error),
        cmocka_unit_test(a_failed_delivery_is_a_send_error_and_not_timed),
        cmocka_unit_test(a_delayed_forward_is_pending_until_it_fires),
        cmocka_unit_test(table_operations_are_counted_by_kind),
        cmocka_unit_test(a_scrape_counts_unflushed_keys_without_writing_the_changelog),
        cmocka_unit_test(unflushed_writes_over_flushed_keys_are_counted_once),
        cmocka_unit_test(decoding_counts_in_an_events_processing_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
