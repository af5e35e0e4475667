/* The worker's web server (docs/web.md) on memory://, probed the way the issue's
 * abuse cases did: UTF-8 keys, HEAD, partial requests, too many connections, a
 * huge URL, running out of file descriptors, big table dumps, a bearer token, the
 * health and readiness probes, paged listing and /metrics. */
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

#include "web_harness.h"

static void utf8_keys_come_back_as_utf8_and_other_bytes_escaped(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_send(&w, "\xc3\xa9t\xc3\xa9", 5); /* été */
    web_send(&w, "bad\xff", 4);
    web_send(&w, "q\"uote", 6);
    web_ready(&w, 3);
    char *r = http(&w, "GET", "/tables/counts", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"\xc3\xa9t\xc3\xa9\": 1"));
    assert_non_null(strstr(body_of(r), "\"bad\\\\xff\": 1"));
    assert_non_null(strstr(body_of(r), "\"q\\\"uote\": 1"));
    free(r);
    r = http(&w, "GET", "/table/counts", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"key\":\"\xc3\xa9t\xc3\xa9\""));
    free(r);
    web_stop(&w);
}

static void head_answers_have_no_body(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_ready(&w, 0);
    const char *paths[] = {"/", "/health", "/metrics", "/table/counts", "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *r = http(&w, "HEAD", paths[i], NULL);
        assert_true(status_of(r) == 200 || status_of(r) == 404);
        assert_string_equal(body_of(r), "");
        free(r);
    }
    web_stop(&w);
}

static void a_partial_request_is_closed_after_the_timeout(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.timeout.ms", "300", NULL);
    web_ready(&w, 0);
    conn_t c;
    conn_open(&c, w.port);
    conn_write(&c, "GET / HTTP/1.1\r\nHost:", 21);
    RUN_UNTIL(w.base, conn_poll(&c), 10000);
    assert_true(c.eof);
    assert_null(strstr(c.buf ? c.buf : "", "200 OK"));
    conn_close(&c);
    web_stop(&w);
}

static void connections_past_the_limit_are_answered_503(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.max_connections", "2", NULL);
    web_ready(&w, 0);
    conn_t idle[2];
    for (int i = 0; i < 2; i++) {
        conn_open(&idle[i], w.port);
        conn_write(&idle[i], "GET / HTTP/1.1\r\n", 16);
    }
    RUN_UNTIL(w.base, false, 100); /* both accepted */
    char *r = http(&w, "GET", "/", NULL);
    assert_int_equal(status_of(r), 503);
    assert_non_null(strstr(body_of(r), "too many connections"));
    free(r);
    for (int i = 0; i < 2; i++)
        conn_close(&idle[i]);
    RUN_UNTIL(w.base, false, 100);
    r = http(&w, "GET", "/", NULL); /* closed ones no longer count */
    assert_int_equal(status_of(r), 200);
    free(r);
    web_stop(&w);
}

static void a_huge_url_is_refused(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_ready(&w, 0);
    size_t n = 100000;
    char *req = malloc(n + 64);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', n);
    strcpy(req + 5 + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    conn_t c;
    conn_open(&c, w.port);
    conn_write(&c, req, strlen(req));
    RUN_UNTIL(w.base, conn_poll(&c), 10000);
    assert_true(c.eof);
    assert_int_not_equal(status_of(c.buf ? c.buf : ""), 404); /* not read whole */
    conn_close(&c);
    free(req);
    web_stop(&w);
}

static int libevent_logs;
static void on_libevent_log(int severity, const char *msg) {
    (void)severity;
    (void)msg;
    libevent_logs++;
}

static int max_open_fd(void) {
    int hi = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1) hi = fd;
    return hi;
}

static void running_out_of_fds_pauses_accepting_instead_of_spinning(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    web_ready(&w, 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* 40 clients that hold their connections open */
        int fds[40];
        for (int i = 0; i < 40; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)w.port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            if (connect(fds[i], (struct sockaddr *)&a, sizeof a)) _exit(1);
        }
        sleep(3);
        _exit(0);
    }
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)max_open_fd() + 4; /* a few free: then EMFILE */
    libevent_logs = 0;
    event_set_log_callback(on_libevent_log);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[4096], nfill = 0; /* take every free descriptor but three */
    while (nfill < 4096 && (fill[nfill] = dup(0)) >= 0)
        nfill++;
    for (int i = 0; i < 3 && nfill; i++)
        close(fill[--nfill]);
    RUN_UNTIL(w.base, false, 1000);
    while (nfill)
        close(fill[--nfill]);
    setrlimit(RLIMIT_NOFILE, &old);
    event_set_log_callback(NULL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    print_message("libevent logged %d lines in 1 s out of fds\n", libevent_logs);
    assert_true(libevent_logs < 10); /* before: one per loop turn, thousands */
    RUN_UNTIL(w.base, false, 300);   /* the clients' sockets close, accepting resumes */
    char *r = http(&w, "GET", "/health", NULL);
    assert_int_equal(status_of(r), 200);
    free(r);
    r = http(&w, "GET", "/metrics", NULL); /* it did run out */
    assert_null(strstr(body_of(r), "rill_http_accept_errors_total{app=\"web\"} 0\n"));
    assert_non_null(strstr(body_of(r), "rill_http_accept_errors_total{app=\"web\"} "));
    free(r);
    web_stop(&w);
}

/* Eight dumps of a 50,000-key table asked at once by clients that do not read
 * yet: the server writes a page, and the next only once the client has read it,
 * so the answers do not pile up in the worker's memory (before: each whole answer
 * was built in one callback, about 3 MB for the eight), and /health is answered
 * meanwhile. */
static void a_big_dump_is_written_as_the_client_reads(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 4, NULL);
    enum { KEYS = 50000, N = 8 };
    char k[32];
    for (int i = 0; i < KEYS; i++) {
        int n = snprintf(k, sizeof k, "key%05d", i);
        web_send(&w, k, (size_t)n);
    }
    web_ready(&w, KEYS);
    conn_t d[N], h;
    const char *req =
        "GET /tables/counts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    rill_table_stats_t st; /* flushes the table's writes (a scrape does not) */
    assert_int_equal(rill_table_stats(w.counts, &st), RILL_OK);
    size_t heap0 = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        memset(&d[i], 0, sizeof d[i]);
        d[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(d[i].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)w.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(d[i].fd, (struct sockaddr *)&a, sizeof a), 0);
        conn_write(&d[i], req, strlen(req));
    }
    conn_open(&h, w.port);
    const char *hreq = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    conn_write(&h, hreq, strlen(hreq));
    RUN_UNTIL(w.base, conn_poll(&h), 10000);
    assert_true(h.eof);
    assert_int_equal(status_of(h.buf), 200);
    RUN_UNTIL(w.base, false, 300); /* the dumps go on as far as they can */
    size_t heap1 = mallinfo2().uordblks;
    size_t grown = heap1 > heap0 ? heap1 - heap0 : 0;
    print_message("heap grew by %zu KB with %d unread dumps\n", grown / 1024, N);
    assert_true(grown < 1024 * 1024);
    for (int i = 0; i < N; i++) {
        RUN_UNTIL(w.base, conn_poll(&d[i]), 30000);
        assert_true(d[i].eof);
        size_t items = 0;
        for (const char *p = d[i].buf; (p = strstr(p, "\"key")); p++)
            items++;
        assert_int_equal(items, KEYS); /* every key, once */
        assert_non_null(strstr(d[i].buf, "\"key00000\": 1"));
        conn_close(&d[i]);
    }
    conn_close(&h);
    web_stop(&w);
}

static void a_client_leaving_mid_dump_ends_it(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 4, NULL);
    char k[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(k, sizeof k, "key%05d", i);
        web_send(&w, k, (size_t)n);
    }
    web_ready(&w, 20000);
    for (int round = 0; round < 3; round++) {
        conn_t d;
        conn_open(&d, w.port);
        const char *req = "GET /tables/counts HTTP/1.1\r\nHost: x\r\n\r\n";
        conn_write(&d, req, strlen(req));
        RUN_UNTIL(w.base, (conn_poll(&d), d.len > 1000), 5000);
        assert_true(d.len > 1000);
        conn_close(&d); /* gone half way */
        RUN_UNTIL(w.base, false, 100);
    }
    char *r = http(&w, "GET", "/metrics", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(
        strstr(body_of(r), "rill_http_connections{app=\"web\"} 1\n")); /* this one */
    free(r);
    web_stop(&w);
}

static void paged_listing_visits_every_key_once(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 4, NULL);
    char k[32];
    for (int i = 0; i < 250; i++) {
        int n = snprintf(k, sizeof k, "k%03d", i);
        web_send(&w, k, (size_t)n);
    }
    web_ready(&w, 250);
    int seen[250] = {0};
    char path[512] = "/table/counts?limit=40";
    int pages = 0;
    for (;;) {
        char *r = http(&w, "GET", path, NULL);
        assert_int_equal(status_of(r), 200);
        const char *b = body_of(r);
        int items = 0;
        for (const char *p = b; (p = strstr(p, "{\"key\":\"k")); p++) {
            int i = atoi(p + 9);
            assert_true(i >= 0 && i < 250);
            seen[i]++;
            items++;
        }
        assert_true(items <= 40);
        pages++;
        const char *nx = strstr(b, "\"next\":\"");
        if (!nx) {
            assert_non_null(strstr(b, "\"next\":null"));
            free(r);
            break;
        }
        nx += 8;
        size_t n = (size_t)(strchr(nx, '"') - nx);
        assert_true(n < sizeof path);
        memcpy(path, nx, n);
        path[n] = 0;
        free(r);
        assert_true(pages < 100);
    }
    for (int i = 0; i < 250; i++)
        assert_int_equal(seen[i], 1);
    assert_true(pages >= 7);
    char *r = http(&w, "GET", "/table/counts?limit=5000", NULL);
    assert_non_null(strstr(body_of(r), "\"limit\":1000")); /* bounded */
    free(r);
    r = http(&w, "GET", "/table/counts?limit=x", NULL);
    assert_int_equal(status_of(r), 400);
    free(r);
    r = http(&w, "GET", "/table/nope", NULL);
    assert_int_equal(status_of(r), 404);
    free(r);
    web_stop(&w);
}

static void a_token_guards_everything_but_health(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, "web.token", "s3cret", NULL);
    web_ready(&w, 0);
    const char *paths[] = {"/", "/ready", "/metrics", "/table/counts", "/tables/counts"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *r = http(&w, "GET", paths[i], NULL);
        assert_int_equal(status_of(r), 401);
        free(r);
        r = http(&w, "GET", paths[i], "Authorization: Bearer wrong!\r\n");
        assert_int_equal(status_of(r), 401);
        free(r);
        r = http(&w, "GET", paths[i], "Authorization: Bearer s3cret\r\n");
        assert_int_equal(status_of(r), 200);
        free(r);
    }
    char *r = http(&w, "GET", "/health", NULL);
    assert_int_equal(status_of(r), 200);
    free(r);
    web_stop(&w);
}

/* memory:// whose changelog readers never deliver: recovery never finishes. */
static rill_err_t silent_reader_open(rill_transport_t *t, rill_reader_t *r,
                                     int64_t offset) {
    (void)t;
    (void)r;
    (void)offset;
    return RILL_OK;
}

static void ready_is_503_with_a_reason_until_tables_recover(void **state) {
    (void)state;
    static struct rill_transport_ops stuck;
    stuck = *rill_transport_find("memory");
    stuck.scheme = "web-stuck";
    stuck.reader_start = silent_reader_open;
    assert_int_equal(rill_register_transport(&stuck), RILL_OK);
    web_t w;
    web_start(&w, "web-stuck://web-ready", 2, NULL);
    RUN_UNTIL(w.base, false, 300);
    char *r = http(&w, "GET", "/ready", NULL);
    assert_int_equal(status_of(r), 503);
    assert_non_null(strstr(body_of(r), "\"ready\":false"));
    assert_non_null(strstr(body_of(r), "table 'counts' partition"));
    free(r);
    r = http(&w, "GET", "/health", NULL); /* alive all the same */
    assert_int_equal(status_of(r), 200);
    free(r);
    web_stop(&w);

    web_start(&w, NULL, 2, NULL);
    web_ready(&w, 0);
    r = http(&w, "GET", "/ready", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"ready\":true"));
    free(r);
    web_stop(&w);
}

static void metrics_count_events_per_agent(void **state) {
    (void)state;
    web_t w;
    web_start(&w, NULL, 2, NULL);
    for (int i = 0; i < 7; i++)
        web_send(&w, "k", 1);
    web_ready(&w, 7);
    char *r = http(&w, "GET", "/metrics", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    const char *b = body_of(r);
    assert_non_null(strstr(
        b, "rill_events_processed_total{app=\"web\",agent=\"count\",topic=\"in\"} 7\n"));
    assert_non_null(strstr(b, "rill_table_keys{app=\"web\",table=\"counts\"} 1\n"));
    assert_non_null(strstr(b, "rill_sends_total{app=\"web\",topic=\"in\"} 7\n"));
    assert_non_null(strstr(b, "# TYPE rill_rebalances_total counter\n"));
    free(r);
    r = http(&w, "GET", "/nope", NULL);
    free(r);
    r = http(&w, "GET", "/metrics", NULL);
    assert_non_null(
        strstr(body_of(r), "rill_http_requests_total{app=\"web\",code=\"404\"} 1\n"));
    free(r);
    web_stop(&w);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_keys_come_back_as_utf8_and_other_bytes_escaped),
        cmocka_unit_test(head_answers_have_no_body),
        cmocka_unit_test(a_partial_request_is_closed_after_the_timeout),
        cmocka_unit_test(connections_past_the_limit_are_answered_503),
        cmocka_unit_test(a_huge_url_is_refused),
        cmocka_unit_test(running_out_of_fds_pauses_accepting_instead_of_spinning),
        cmocka_unit_test(a_big_dump_is_written_as_the_client_reads),
        cmocka_unit_test(a_client_leaving_mid_dump_ends_it),
        cmocka_unit_test(paged_listing_visits_every_key_once),
        cmocka_unit_test(a_token_guards_everything_but_health),
        cmocka_unit_test(ready_is_503_with_a_reason_until_tables_recover),
        cmocka_unit_test(metrics_count_events_per_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
