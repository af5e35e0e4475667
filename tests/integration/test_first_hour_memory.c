/* A worker's first hour (issue 15): what it logs at the default level (a short
 * banner, one line per rebalance, nothing after "stopped", no credentials) and
 * the headers of its dead letters (rill's own and Kafka Streams' KIP-1034 ones). */
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
static char broker[96];

typedef struct logbuf {
    char lines[256][512];
    int n;
    int stopped_at; /* index of the "stopped" line, or -1 */
} logbuf_t;

static void capture(rill_log_level_t level, const char *name, const char *msg,
                    void *opaque) {
    logbuf_t *lb = opaque;
    if (level > RILL_LOG_INFO || lb->n == 256) return; /* the default level */
    snprintf(lb->lines[lb->n], sizeof lb->lines[0], "[%s] %s", name, msg);
    if (!strcmp(msg, "stopped")) lb->stopped_at = lb->n;
    lb->n++;
}

/* The lines that contain @p what. */
static int count(const logbuf_t *lb, const char *what) {
    int c = 0;
    for (int i = 0; i < lb->n; i++)
        c += strstr(lb->lines[i], what) != NULL;
    return c;
}

static const char *find(const logbuf_t *lb, const char *what) {
    for (int i = 0; i < lb->n; i++)
        if (strstr(lb->lines[i], what)) return lb->lines[i];
    return NULL;
}

static void dump(const logbuf_t *lb) {
    for (int i = 0; i < lb->n; i++)
        print_message("  log: %s\n", lb->lines[i]);
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://first-hour-%u", ++seq);
    return 0;
}

static rill_err_t noop(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    return RILL_OK;
}

/* An app "fh" with topic orders (4 partitions), an agent on it and a table counts
 * fed by it, logging into @p lb at info. */
static rill_app_t *make_app(struct event_base *base, const char *url, logbuf_t *lb) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "broker", url, err, sizeof err), RILL_CONF_OK);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set_log_cb(c, capture, lb);
    lb->stopped_at = -1;
    rill_app_t *app = rill_app_new_with_base("fh", c, base, err, sizeof err);
    assert_non_null(app);
    rill_topic_opts_t to = {.partitions = 4};
    rill_topic_t *orders = rill_app_topic(app, "orders", &to);
    assert_non_null(orders);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = orders};
    assert_non_null(rill_app_table(app, "counts", &o));
    assert_non_null(rill_app_agent(app, "count", orders, noop, NULL, NULL));
    return app;
}

static void start(rill_app_t *app) {
    char err[256];
    if (rill_app_start(app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void banner_names_app_broker_store_topics_and_tables(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    logbuf_t *lb = calloc(1, sizeof *lb);
    rill_app_t *app = make_app(base, broker, lb);
    start(app);
    char want[256];
    snprintf(want, sizeof want, "[fh] started: app fh, broker %s, store memory://",
             broker);
    if (!find(lb, want) || !find(lb, "[fh] topics: orders(4), fh-counts-changelog(4)") ||
        !find(lb, "[fh] tables: counts(4)")) {
        dump(lb);
        fail_msg("no banner naming app, broker, store, topics and tables");
    }
    rill_app_destroy(app);
    event_base_free(base);
    free(lb);
}

static void an_assignment_is_one_line_with_partition_ranges(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    logbuf_t *lb = calloc(1, sizeof *lb);
    rill_app_t *app = make_app(base, broker, lb);
    start(app);
    RUN_UNTIL(base, count(lb, "assigned") > 0 && rill_app_is_ready(app), 3000);
    if (count(lb, "assigned") != 1 ||
        !find(lb, "[fh] assigned orders[0-3], fh-counts-changelog[0-3]")) {
        dump(lb);
        fail_msg("expected one line 'assigned orders[0-3], fh-counts-changelog[0-3]'");
    }
    rill_app_destroy(app);
    event_base_free(base);
    free(lb);
}

static void a_revocation_is_one_line_with_partition_ranges(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    logbuf_t *la = calloc(1, sizeof *la), *lb = calloc(1, sizeof *lb);
    rill_app_t *a = make_app(base, broker, la);
    start(a);
    RUN_UNTIL(base, count(la, "assigned") > 0, 3000);
    rill_app_t *b = make_app(base, broker, lb); /* joins: a gives some up */
    start(b);
    RUN_UNTIL(base, count(la, "revoked") > 0 && count(lb, "assigned") > 0, 3000);
    const char *line = find(la, "[fh] revoked orders[");
    if (count(la, "revoked") != 1 || !line || strstr(line, "(lost)")) {
        dump(la);
        fail_msg("expected one line 'revoked orders[...]' (not lost)");
    }
    rill_app_destroy(b);
    rill_app_destroy(a);
    event_base_free(base);
    free(la);
    free(lb);
}

static void nothing_is_logged_after_stopped(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    logbuf_t *lb = calloc(1, sizeof *lb);
    rill_app_t *app = make_app(base, broker, lb);
    start(app);
    RUN_UNTIL(base, rill_app_is_ready(app) && count(lb, "assigned") > 0, 3000);
    rill_app_stop(app);
    RUN_UNTIL(base, lb->stopped_at >= 0, 3000);
    rill_app_destroy(app); /* the transport revokes here: after "stopped" */
    assert_true(lb->stopped_at >= 0);
    if (lb->stopped_at != lb->n - 1) {
        dump(lb);
        fail_msg("%d lines after 'stopped'", lb->n - 1 - lb->stopped_at);
    }
    event_base_free(base);
    free(lb);
}

static void a_broker_password_never_reaches_the_log(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    logbuf_t *lb = calloc(1, sizeof *lb);
    char url[160], shown[160];
    snprintf(url, sizeof url, "memory://fh:s3cretpw@%s", broker + strlen("memory://"));
    snprintf(shown, sizeof shown, "broker memory://fh:***@%s,",
             broker + strlen("memory://"));
    rill_app_t *app = make_app(base, url, lb);
    start(app);
    RUN_UNTIL(base, count(lb, "assigned") > 0, 3000);
    rill_app_stop(app);
    RUN_UNTIL(base, lb->stopped_at >= 0, 3000);
    rill_app_destroy(app);
    if (!find(lb, shown) || count(lb, "s3cretpw")) {
        dump(lb);
        fail_msg("expected '%s' and no password in the log", shown);
    }
    event_base_free(base);
    free(lb);
}

/* ---- dead letters ------------------------------------------------------------------ */

typedef struct dead {
    int n;
    char h[9][256];
} dead_t;

static const char *dl_headers[] = {
    "__streams.errors.exception",
    "__streams.errors.message",
    "__streams.errors.topic",
    "__streams.errors.partition",
    "__streams.errors.offset",
    "rill.error",
    "rill.topic",
    "rill.partition",
    "rill.offset",
};

static rill_err_t on_dead(rill_event_t *ev, void *opaque) {
    dead_t *d = opaque;
    for (size_t i = 0; i < 9; i++) {
        size_t len = 0;
        const char *v = rill_event_header(ev, dl_headers[i], &len);
        snprintf(d->h[i], sizeof d->h[i], "%.*s", v ? (int)len : 6, v ? v : "(none)");
    }
    d->n++;
    return RILL_OK;
}

typedef struct point {
    int64_t x;
} point_t;

RILL_RECORD(point_schema, point_t, "fh.Point", RILL_F(point_t, x, INT64));

static void dead_letters_carry_kafka_streams_error_headers(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "on_decode_error", "dead_letter", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "fatal", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("fh", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 2,
                            .value_type = RILL_TYPE_RECORD(&point_schema)};
    rill_topic_t *points = rill_app_topic(app, "points", &to);
    rill_app_agent(app, "sum", points, noop, NULL, NULL);
    dead_t d = {0};
    rill_topic_t *dlt = rill_app_topic(app, "fh-dead-letter", NULL);
    rill_app_agent(app, "dead", dlt, on_dead, &d, NULL);
    start(app);
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.encoded = true;
    o.partition = 1;
    assert_int_equal(rill_send(points, NULL, 0, "{\"x\":1}", 7, &o), RILL_OK);
    assert_int_equal(rill_send(points, NULL, 0, "not json", 8, &o), RILL_OK);
    RUN_UNTIL(base, d.n >= 1, 3000);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.h[0], "RILL_EDECODE");
    assert_non_null(strstr(d.h[1], "cannot decode value"));
    assert_string_equal(d.h[2], "points");
    assert_string_equal(d.h[3], "1");
    assert_string_equal(d.h[4], "1");      /* the second event of partition 1 */
    assert_string_equal(d.h[6], "points"); /* rill's own are still there */
    assert_string_equal(d.h[7], "1");
    assert_string_equal(d.h[8], "1");
    assert_string_not_equal(d.h[5], "(none)");
    rill_app_destroy(app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(banner_names_app_broker_store_topics_and_tables, setup),
        cmocka_unit_test_setup(an_assignment_is_one_line_with_partition_ranges, setup),
        cmocka_unit_test_setup(a_revocation_is_one_line_with_partition_ranges, setup),
        cmocka_unit_test_setup(nothing_is_logged_after_stopped, setup),
        cmocka_unit_test_setup(a_broker_password_never_reaches_the_log, setup),
        cmocka_unit_test_setup(dead_letters_carry_kafka_streams_error_headers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
