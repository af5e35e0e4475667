/* The app's own web views and the dashboard's server side (docs/web.md) on
 * memory://: rill_app_page() with path parameters, JSON and table answers (404, 421
 * while the key's partition is not recovered), Server-Sent Events streams
 * (rill_app_push() to every subscriber, 503 past the limit, a subscriber that does
 * not read is dropped while the loop goes on), the dashboard's page, script,
 * /status and /events, and recent warnings in the snapshot. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>
#include <rill/web.h>

#include "web_harness.h"

static rill_err_t echo_page(rill_web_request_t *req, void *opaque) {
    (void)opaque;
    char json[512];
    const char *q = rill_web_query(req, "q");
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"n\":\"%s\",\"q\":\"%s\",\"path\":\"%s\"}",
             rill_web_param(req, "id"), rill_web_param(req, "n"), q ? q : "",
             rill_web_path(req));
    return rill_web_reply_json(req, 200, json);
}

static void a_page_answers_with_its_path_parameters(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    assert_int_equal(rill_app_page(w.app, "/orders/{id}/items/{n}", echo_page, NULL),
                     RILL_OK);
    web_ready(&w, 0);
    char *r = http(&w, "GET", "/orders/a%20b/items/3?q=x%2Fy", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "Content-Type: application/json"));
    assert_string_equal(body_of(r),
                        "{\"id\":\"a b\",\"n\":\"3\",\"q\":\"x/y\",\"path\":\"/orders/a "
                        "b/items/3\"}");
    free(r);
    const char *misses[] = {"/orders/a/items", "/orders//items/3", "/orders/a/items/3/4"};
    for (size_t i = 0; i < 3; i++) {
        r = http(&w, "GET", misses[i], NULL);
        assert_int_equal(status_of(r), 404);
        free(r);
    }
    web_stop(&w);
}

static void built_in_paths_and_bad_patterns_are_refused(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    const char *bad[] = {"/",       "/metrics",    "/events", "/table/x",
                         "/tables", "/router/{t}", "nope",    "/a/{",
                         "/a/{}",   "/a/x{y}",     "/a?b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (rill_app_page(w.app, bad[i], echo_page, NULL) != RILL_EINVAL)
            fail_msg("%s was not refused", bad[i]);
    assert_int_equal(rill_app_page(w.app, "/a/{x}", echo_page, NULL), RILL_OK);
    assert_int_equal(rill_app_page(w.app, "/a/{x}", echo_page, NULL), RILL_EEXIST);
    assert_int_equal(rill_app_event_stream(w.app, "/a/{x}"), RILL_EINVAL);
    assert_int_equal(rill_app_push(w.app, "/not-a-stream", NULL, "x", 1), RILL_EINVAL);
    web_stop(&w);
}

static rill_table_t *page_table;

static rill_err_t count_page(rill_web_request_t *req, void *opaque) {
    (void)opaque;
    const char *k = rill_web_param(req, "key");
    return rill_web_reply_table(req, page_table, k, strlen(k));
}

static void a_page_answers_a_table_row_and_404_without_one(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    page_table = w.counts;
    assert_int_equal(rill_app_page(w.app, "/counts/{key}", count_page, NULL), RILL_OK);
    web_send(&w, "k\xc3\xa9", 3);
    web_send(&w, "k\xc3\xa9", 3);
    web_ready(&w, 2);
    char *r = http(&w, "GET", "/counts/k%C3%A9", NULL);
    assert_int_equal(status_of(r), 200);
    char want[128];
    snprintf(want, sizeof want,
             "{\"table\":\"counts\",\"key\":\"k\xc3\xa9\",\"partition\":%d,\"value\":2}",
             (int)rill_partition_for_key("k\xc3\xa9", 3, 2));
    assert_non_null(strstr(body_of(r), want));
    free(r);
    r = http(&w, "GET", "/counts/nope", NULL);
    assert_int_equal(status_of(r), 404);
    assert_non_null(strstr(body_of(r), "no such key"));
    free(r);
    web_stop(&w);
}

static rill_err_t silent_reader_open(rill_transport_t *t, rill_reader_t *r,
                                     int64_t offset) {
    (void)t;
    (void)r;
    (void)offset;
    return RILL_OK;
}

static void a_table_read_of_a_partition_not_recovered_is_421(void **state) {
    (void)state;
    static struct rill_transport_ops stuck;
    stuck = *rill_transport_find("memory");
    stuck.scheme = "views-stuck";
    stuck.reader_start = silent_reader_open;
    assert_int_equal(rill_register_transport(&stuck), RILL_OK);
    web_t w;
    web_start(&w, "views-stuck://views", 2, NULL);
    page_table = w.counts;
    assert_int_equal(rill_app_page(w.app, "/counts/{key}", count_page, NULL), RILL_OK);
    RUN_UNTIL(w.base, false, 300);
    char *r = http(&w, "GET", "/counts/k", NULL);
    assert_int_equal(status_of(r), 421);
    assert_non_null(strstr(body_of(r), "does not own"));
    assert_non_null(strstr(body_of(r), "\"table\":\"counts\""));
    free(r);
    web_stop(&w);
}

static rill_err_t silent_page(rill_web_request_t *req, void *opaque) {
    (void)req;
    (void)opaque;
    return RILL_ENOTSUP;
}

static void a_page_that_does_not_answer_gets_500(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    assert_int_equal(rill_app_page(w.app, "/silent", silent_page, NULL), RILL_OK);
    web_ready(&w, 0);
    char *r = http(&w, "GET", "/silent", NULL);
    assert_int_equal(status_of(r), 500);
    assert_non_null(strstr(body_of(r), "did not answer"));
    free(r);
    web_stop(&w);
}

/* A subscriber of @p path: the request sent, the answer read as it comes. */
static void subscribe(web_t *w, conn_t *c, const char *path) {
    conn_open(c, w->port);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    conn_write(c, req, (size_t)n);
}

static void pushed_events_reach_every_subscriber(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    assert_int_equal(rill_app_event_stream(w.app, "/feed"), RILL_OK);
    web_ready(&w, 0);
    conn_t a, b;
    subscribe(&w, &a, "/feed");
    subscribe(&w, &b, "/feed");
    RUN_UNTIL(w.base, rill_app_push_subscribers(w.app, "/feed") == 2, 5000);
    assert_int_equal(rill_app_push_subscribers(w.app, "/feed"), 2);
    assert_int_equal(rill_app_push(w.app, "/feed", "order", "one\ntwo", 7), RILL_OK);
    const char *want = "event: order\nid: 1\ndata: one\ndata: two\n\n";
    RUN_UNTIL(w.base,
              (conn_poll(&a), conn_poll(&b),
               a.buf && b.buf && strstr(a.buf, want) && strstr(b.buf, want)),
              5000);
    assert_non_null(strstr(a.buf, "Content-Type: text/event-stream"));
    assert_non_null(strstr(a.buf, want));
    assert_non_null(strstr(b.buf, want));
    conn_close(&a);
    RUN_UNTIL(w.base, rill_app_push_subscribers(w.app, "/feed") == 1, 5000);
    assert_int_equal(rill_app_push_subscribers(w.app, "/feed"), 1);
    conn_close(&b);
    RUN_UNTIL(w.base, rill_app_push_subscribers(w.app, "/feed") == 0, 5000);
    assert_int_equal(rill_app_push_subscribers(w.app, "/feed"), 0);
    web_stop(&w);
}

static void subscribers_past_the_limit_are_answered_503(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.events.max_subscribers", "1", NULL);
    web_ready(&w, 0);
    conn_t a;
    subscribe(&w, &a, "/events");
    RUN_UNTIL(w.base, (conn_poll(&a), a.buf && strstr(a.buf, "event: status")), 5000);
    assert_non_null(a.buf);
    char *r = http(&w, "GET", "/events", NULL);
    assert_int_equal(status_of(r), 503);
    assert_non_null(strstr(body_of(r), "too many subscribers"));
    free(r);
    conn_close(&a);
    web_stop(&w);
}

static void a_subscriber_that_does_not_read_is_dropped(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.events.buffer.bytes", "65536", NULL);
    assert_int_equal(rill_app_event_stream(w.app, "/feed"), RILL_OK);
    web_ready(&w, 0);
    conn_t slow, fast;
    conn_open(&slow, w.port);
    int small = 4096;
    setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    conn_write(&slow, "GET /feed HTTP/1.1\r\nHost: x\r\n\r\n", 31);
    subscribe(&w, &fast, "/feed");
    RUN_UNTIL(w.base, rill_app_push_subscribers(w.app, "/feed") == 2, 5000);
    assert_int_equal(rill_app_push_subscribers(w.app, "/feed"), 2);
    static char chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    size_t got = 0;
    for (int i = 0; i < 400 && rill_app_push_subscribers(w.app, "/feed") == 2; i++) {
        assert_int_equal(rill_app_push(w.app, "/feed", "blob", chunk, sizeof chunk),
                         RILL_OK);
        RUN_UNTIL(w.base, false, 2); /* the loop writes; only fast reads */
        conn_poll(&fast);
        got = fast.len;
        fast.len = 0; /* keep only the tail */
    }
    assert_int_equal(rill_app_push_subscribers(w.app, "/feed"), 1);
    (void)got;
    assert_int_equal(rill_app_push(w.app, "/feed", "after", "still here", 10), RILL_OK);
    RUN_UNTIL(w.base, (conn_poll(&fast), fast.buf && strstr(fast.buf, "still here")),
              5000);
    assert_non_null(strstr(fast.buf, "data: still here\n"));
    char *r = http(&w, "GET", "/metrics", NULL);
    assert_non_null(
        strstr(body_of(r), "rill_http_event_subscribers_dropped_total{app=\"web\"} 1\n"));
    free(r);
    r = http(&w, "GET", "/health", NULL);
    assert_int_equal(status_of(r), 200);
    free(r);
    conn_close(&slow);
    conn_close(&fast);
    web_stop(&w);
}

static void browsers_get_the_dashboard_and_others_json(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_send(&w, "k", 1);
    web_ready(&w, 1);
    char *r = http(&w, "GET", "/", "Accept: text/html,application/xhtml+xml\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "Content-Type: text/html"));
    assert_non_null(strstr(body_of(r), "<script src=\"dashboard.js\"></script>"));
    free(r);
    r = http(&w, "GET", "/", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "{\"app\":\"web\""));
    free(r);
    r = http(&w, "GET", "/dashboard.js", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "Content-Type: text/javascript"));
    assert_non_null(strstr(body_of(r), "new EventSource(\"events\")"));
    free(r);
    r = http(&w, "GET", "/status", NULL);
    assert_int_equal(status_of(r), 200);
    const char *b = body_of(r);
    assert_non_null(strstr(b, "\"ready\":true"));
    assert_non_null(strstr(b, "{\"name\":\"count\",\"topic\":\"in\",\"processed\":1,"));
    assert_non_null(strstr(b, "{\"name\":\"counts\",\"keys\":1,"));
    assert_non_null(strstr(b, "{\"topic\":\"in\",\"partition\":0,\"owner\":"));
    free(r);
    web_stop(&w);
}

static void events_sends_the_snapshot_at_once_and_then_every_interval(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.events.interval.ms", "100", NULL);
    web_ready(&w, 0);
    conn_t c;
    subscribe(&w, &c, "/events");
    RUN_UNTIL(w.base, (conn_poll(&c), c.buf && strstr(c.buf, "id: 1\n")), 5000);
    assert_non_null(c.buf);
    assert_non_null(strstr(c.buf, "event: status\nid: 1\ndata: {\"app\":\"web\""));
    web_send(&w, "k", 1);
    RUN_UNTIL(w.base, (conn_poll(&c), strstr(c.buf, "\"processed\":1,")), 5000);
    assert_non_null(strstr(c.buf, "\"processed\":1,"));
    conn_close(&c);
    web_stop(&w);
}

static void a_stream_outlives_the_idle_timeout(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.timeout.ms", "300", "web.events.interval.ms", "100",
              NULL);
    web_ready(&w, 0);
    conn_t c;
    subscribe(&w, &c, "/events");
    RUN_UNTIL(w.base, (conn_poll(&c), false), 1500); /* five timeouts */
    assert_false(c.eof);
    assert_non_null(strstr(c.buf, "id: 10\n"));
    conn_close(&c);
    web_stop(&w);
}

static void metrics_give_the_lag_of_each_assigned_partition(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.lag.interval.ms", "100", NULL);
    for (int i = 0; i < 5; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 5);
    RUN_UNTIL(w.base, false, 300); /* a watermark read or two */
    char *r = http(&w, "GET", "/metrics", NULL);
    char want[256];
    int p = (int)rill_partition_for_key("k", 1, 2);
    snprintf(
        want, sizeof want,
        "rill_partition_high_watermark{app=\"web\",topic=\"in\",partition=\"%d\"} 5\n",
        p);
    assert_non_null(strstr(body_of(r), want));
    snprintf(want, sizeof want,
             "rill_consumer_lag_records{app=\"web\",topic=\"in\",partition=\"%d\"} 0\n",
             p);
    assert_non_null(strstr(body_of(r), want));
    free(r);
    web_stop(&w);
}

static void metrics_give_a_processing_latency_histogram_per_agent(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    for (int i = 0; i < 7; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 7);
    char *r = http(&w, "GET", "/metrics", NULL);
    const char *b = body_of(r);
    assert_non_null(strstr(b, "# TYPE rill_agent_processing_seconds histogram\n"));
    assert_non_null(strstr(b, "rill_agent_processing_seconds_bucket{app=\"web\","
                              "agent=\"count\",topic=\"in\",le=\"+Inf\"} 7\n"));
    assert_non_null(strstr(b, "rill_agent_processing_seconds_count{app=\"web\","
                              "agent=\"count\",topic=\"in\"} 7\n"));
    assert_non_null(
        strstr(b, "rill_agent_processing_seconds_sum{app=\"web\",agent=\"count\""));
    free(r);
    web_stop(&w);
}

static void recent_warnings_are_in_the_snapshot(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_ready(&w, 0);
    rill_app_log(w.app, RILL_LOG_WARN, "something \"odd\" happened");
    rill_app_log(w.app, RILL_LOG_INFO, "nothing to see");
    char *r = http(&w, "GET", "/status", NULL);
    const char *b = body_of(r);
    assert_non_null(strstr(b, "\"level\":\"warn\",\"name\":\"web\",\"message\":"
                              "\"something \\\"odd\\\" happened\"}"));
    assert_null(strstr(b, "nothing to see"));
    free(r);
    web_stop(&w);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_page_answers_with_its_path_parameters),
        cmocka_unit_test(built_in_paths_and_bad_patterns_are_refused),
        cmocka_unit_test(a_page_answers_a_table_row_and_404_without_one),
        cmocka_unit_test(a_table_read_of_a_partition_not_recovered_is_421),
        cmocka_unit_test(a_page_that_does_not_answer_gets_500),
        cmocka_unit_test(pushed_events_reach_every_subscriber),
        cmocka_unit_test(subscribers_past_the_limit_are_answered_503),
        cmocka_unit_test(a_subscriber_that_does_not_read_is_dropped),
        cmocka_unit_test(browsers_get_the_dashboard_and_others_json),
        cmocka_unit_test(events_sends_the_snapshot_at_once_and_then_every_interval),
        cmocka_unit_test(a_stream_outlives_the_idle_timeout),
        cmocka_unit_test(metrics_give_the_lag_of_each_assigned_partition),
        cmocka_unit_test(metrics_give_a_processing_latency_histogram_per_agent),
        cmocka_unit_test(recent_warnings_are_in_the_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
