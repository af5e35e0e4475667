/* Sliding windows on any transport (Kafka Streams' SlidingWindows): a known event
 * sequence makes a window ending at each event and one starting just after each
 * event that has a later one within the time difference, each counting the events
 * in it; events past grace are dropped and counted; emit=final emits each window
 * once; a restart in the middle of a window recovers its windows from the
 * changelog (new windows derive from them, closed ones are not emitted again);
 * bad definitions are refused.
 * The suite of tests/support/window_sliding_suite.h: test_window_sliding_memory.c,
 * test_window_sliding_redis.c and test_window_sliding_kafka.c run it; the tests of
 * memory:// only with memory_transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "window_sliding_suite.h"
#include "run_until.h"

static const rill_window_sliding_suite_t *suite;

#define SLIDING_WAIT_MS                                                                  \
    (suite->wait_ms ? suite->wait_ms                                                     \
                    : 3000) /* for an event to be handled (a group to form) */

static unsigned seq;
static char broker[128];
static const int64_t T0 = 1700000000000;
#define DIFF 10000

typedef struct win {
    char key[16];
    int64_t start, end, value;
} win_t;

typedef struct sapp {
    rill_app_t *app;
    rill_topic_t *clicks;
    rill_table_t *t;
    int handled, nemit, nseen, nlate, nclosed;
    win_t emit[32], seen[32], late[8], closed[16];
    bool update;      /* emit=update to on_emit (before start) */
    int64_t expires;  /* 0: an hour */
    int port;         /* > 0: the web server's (before start) */
    bool set;         /* rill_table_set the event's value (decimal) instead of incr */
    int64_t last_get; /* incr: rill_table_get after the last event's write */
    int get_differs;  /* events whose rill_table_get differed from incr's result */
} sapp_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    sapp_t *w = opaque;
    size_t len, vlen;
    const char *k = rill_event_key_bytes(ev, &len);
    if (w->set) {
        const char *v = rill_event_value_bytes(ev, &vlen);
        char buf[24] = "";
        memcpy(buf, v, vlen < sizeof buf - 1 ? vlen : sizeof buf - 1);
        int64_t x = atoll(buf);
        assert_int_equal(rill_table_set(w->t, ev, k, len, &x), RILL_OK);
    } else {
        int64_t n = -1, got = -1;
        assert_int_equal(rill_table_incr(w->t, ev, k, len, 1, &n), RILL_OK);
        assert_int_equal(rill_table_get(w->t, ev, k, len, &got), RILL_OK);
        w->last_get = got;
        if (got != n) w->get_differs++;
    }
    w->handled++;
    return RILL_OK;
}

static void on_emit(rill_table_t *t, const void *key, size_t klen, int64_t ws, int64_t we,
                    const void *value, void *opaque) {
    (void)t;
    sapp_t *w = opaque;
    assert_true(w->nemit < 32);
    win_t *e = &w->emit[w->nemit++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->end = we;
    e->value = *(const int64_t *)value;
}

static void on_late(rill_table_t *t, const void *key, size_t klen, int64_t ws, int64_t ts,
                    void *opaque) {
    (void)t;
    sapp_t *w = opaque;
    assert_true(w->nlate < 8);
    win_t *e = &w->late[w->nlate++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->end = ts;
}

static void on_close(rill_table_t *t, const void *key, size_t klen, int64_t ws,
                     int64_t we, const void *value, void *opaque) {
    (void)t;
    sapp_t *w = opaque;
    assert_true(w->nclosed < 16);
    win_t *e = &w->closed[w->nclosed++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->end = we;
    e->value = *(const int64_t *)value;
}

static void start(sapp_t *w, struct event_base *base, bool final, int64_t grace) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "20", err, sizeof err);
    if (suite->conf) suite->conf(c);
    if (w->port) {
        char port[16];
        snprintf(port, sizeof port, "%d", w->port);
        rill_conf_set(c, "web.port", port, err, sizeof err);
    }
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    char id[32], topic[32]; /* one group, changelog and topic per test (a shared
                               Kafka mock) */
    snprintf(id, sizeof id, "sliding%u", seq);
    snprintf(topic, sizeof topic, "clicks%u", seq);
    w->app = rill_app_new_with_base(id, c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 1};
    w->clicks = rill_app_topic(w->app, topic, &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64,
                           .source = w->clicks,
                           .window_grace_ms = grace,
                           .on_late = on_late,
                           .on_late_opaque = w};
    if (final || w->update) {
        o.window_emit = final ? RILL_EMIT_FINAL : RILL_EMIT_UPDATE;
        o.on_emit = on_emit;
        o.on_emit_opaque = w;
    }
    o.on_window_close = on_close;
    o.on_window_close_opaque = w;
    rill_table_opts_sliding(&o, DIFF, w->expires ? w->expires : 3600000);
    assert_non_null(w->t = rill_app_table(w->app, "clicks-10s", &o));
    assert_non_null(rill_app_agent(w->app, "count", w->clicks, count_click, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_at(sapp_t *w, struct event_base *base, const char *key, int64_t ts,
                    const char *value) {
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = ts;
    assert_int_equal(rill_send(w->clicks, key, strlen(key), value, strlen(value), &o),
                     RILL_OK);
    int want = w->handled + 1;
    RUN_UNTIL(base, w->handled >= want, SLIDING_WAIT_MS);
    assert_int_equal(w->handled, want);
}

static void click(sapp_t *w, struct event_base *base, const char *key, int64_t ts) {
    send_at(w, base, key, ts, "c");
}

static int visit(const void *key, size_t klen, int64_t ws, const void *value,
                 void *opaque) {
    sapp_t *w = opaque;
    assert_true(w->nseen < 32);
    win_t *e = &w->seen[w->nseen++];
    snprintf(e->key, sizeof e->key, "%.*s", (int)klen, (const char *)key);
    e->start = ws;
    e->value = *(const int64_t *)value;
    return 0;
}

static void windows_of(sapp_t *w) {
    w->nseen = 0;
    assert_int_equal(rill_table_foreach(w->t, visit, w), RILL_OK);
}

static int64_t window_value(sapp_t *w, const char *key, int64_t start) {
    int64_t v = -1;
    assert_int_equal(rill_table_get_window(w->t, NULL, key, strlen(key), start, &v),
                     RILL_OK);
    return v;
}

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    return 0;
}

static void each_window_counts_the_events_within_the_time_difference(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 0);
    click(&w, base, "a", T0);
    click(&w, base, "a", T0 + 4000);
    click(&w, base, "a", T0 + 9000);
    click(&w, base, "a", T0 + 12000);
    assert_int_equal(w.last_get, 3); /* read at 12 s: the events of [2 s, 12 s] */
    click(&w, base, "b", T0 + 5000);
    assert_int_equal(w.get_differs, 0); /* the window ending at each event */
    windows_of(&w);
    /* in store order (start, then key): the window ending at each event and the
     * one starting 1 ms after each event with a later one within 10 s */
    const win_t want[] = {
        {"a", T0 - 10000, 0, 1}, /* [T0-10s, T0]: T0 */
        {"a", T0 - 6000, 0, 2},  /* [T0-6s, T0+4s] */
        {"b", T0 - 5000, 0, 1},  /* [T0-5s, T0+5s]: b alone */
        {"a", T0 - 1000, 0, 3},  /* [T0-1s, T0+9s] */
        {"a", T0 + 1, 0, 2},     /* [T0+1ms, T0+10.001s]: 4 s, 9 s */
        {"a", T0 + 2000, 0, 3},  /* [T0+2s, T0+12s]: 4, 9, 12 s */
        {"a", T0 + 4001, 0, 2},  /* 9 s, 12 s */
        {"a", T0 + 9001, 0, 1},  /* 12 s */
    };
    assert_int_equal(w.nseen, sizeof want / sizeof *want);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_string_equal(w.seen[i].key, want[i].key);
        assert_int_equal(w.seen[i].start, want[i].start);
        assert_int_equal(w.seen[i].value, want[i].value);
        assert_int_equal(window_value(&w, want[i].key, want[i].start), want[i].value);
    }
    assert_int_equal(window_value(&w, "a", T0 + 3000), 0); /* no window starts there */
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.t, &st), RILL_OK);
    assert_int_equal(st.keys, 8);
    assert_int_equal(st.late_dropped, 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* 80 events 100 ms apart of one key: some 160 windows near each event (more than
 * table.c keeps on its stack), each event's window counting every one before it. */
static void a_key_with_many_windows_near_an_event_counts_each(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 0);
    for (int i = 0; i < 80; i++) {
        click(&w, base, "a", T0 + 100 * i);
        assert_int_equal(w.last_get, i + 1);
    }
    click(&w, base, "a", T0 + 50); /* out of order: its window holds T0 and it */
    assert_int_equal(w.last_get, 2);
    assert_int_equal(w.get_differs, 0);
    assert_int_equal(window_value(&w, "a", T0 + 7900 - DIFF), 81); /* ends at the last */
    assert_int_equal(window_value(&w, "a", T0 + 1), 80); /* right of T0: from 50 ms */
    assert_int_equal(window_value(&w, "a", T0 + 51),
                     79); /* right of 50 ms: from 100 ms */
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void an_event_past_grace_is_dropped_and_counted(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 1000);
    click(&w, base, "a", T0 + 20000); /* stream time T0 + 20 s */
    click(&w, base, "a", T0 + 18000); /* [T0+8s, T0+18s] closed at T0+19.001 s */
    click(&w, base, "a", T0 + 19500); /* its window closes at T0+20.501 s: counts */
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.t, &st), RILL_OK);
    assert_int_equal(st.late_dropped, 1);
    assert_int_equal(w.nlate, 1);
    assert_int_equal(w.late[0].start, T0 + 8000);
    assert_int_equal(w.late[0].end, T0 + 18000);            /* the event's time */
    assert_int_equal(window_value(&w, "a", T0 + 10000), 2); /* ending at 20 s */
    assert_int_equal(window_value(&w, "a", T0 + 9500), 1);  /* ending at 19.5 s */
    assert_int_equal(window_value(&w, "a", T0 + 19501), 1); /* 19.5 s's right one */
    assert_int_equal(window_value(&w, "a", T0 + 8000), 0);  /* never made */
    windows_of(&w);
    assert_int_equal(w.nseen, 3);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void emit_final_emits_each_window_once_when_it_closes(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, true, RILL_WINDOW_NO_GRACE);
    click(&w, base, "a", T0);
    RUN_UNTIL(base, false, 60);
    assert_int_equal(w.nemit, 0);
    click(&w, base, "a", T0 + 4000); /* [T0-10s, T0] closed at T0 + 1 ms */
    assert_int_equal(w.nemit, 1);
    click(&w, base, "b", T0 + 30000); /* closes every window of a */
    RUN_UNTIL(base, w.nemit >= 3, SLIDING_WAIT_MS);
    click(&w, base, "b", T0 + 30000); /* b's [T0+20s, T0+30s] is still open */
    RUN_UNTIL(base, false, 60);       /* commits: nothing more */
    assert_int_equal(w.nemit, 3);
    const win_t want[] = {{"a", T0 - 10000, T0 + 1, 1},
                          {"a", T0 - 6000, T0 + 4001, 2},
                          {"a", T0 + 1, T0 + 10002, 1}};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(w.emit[i].key, want[i].key);
        assert_int_equal(w.emit[i].start, want[i].start);
        assert_int_equal(w.emit[i].end, want[i].end);
        assert_int_equal(w.emit[i].value, want[i].value);
    }
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_restart_mid_window_recovers_its_windows(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, true, RILL_WINDOW_NO_GRACE);
    click(&w, base, "a", T0);
    click(&w, base, "a", T0 + 4000);
    click(&w, base, "b", T0 + 12000); /* closes a's windows starting <= T0+1.999 s */
    RUN_UNTIL(base, w.nemit >= 3, SLIDING_WAIT_MS);
    assert_int_equal(w.nemit, 3);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(w.app);

    sapp_t again = {0}; /* b's [T0+2s, T0+12s] is open */
    start(&again, base, true, RILL_WINDOW_NO_GRACE);
    click(&again, base, "a", T0 + 12000);
    /* [T0+2s, T0+12s] holds 4 s (from the recovered [T0+1ms, T0+10.001s]) and
     * 12 s; 4 s's right window [T0+4.001s, T0+14.001s] is made with 12 s */
    assert_int_equal(window_value(&again, "a", T0 + 2000), 2);
    assert_int_equal(window_value(&again, "a", T0 + 4001), 1);
    assert_int_equal(window_value(&again, "a", T0 - 6000), 2); /* recovered */
    RUN_UNTIL(base, false, 60);
    assert_int_equal(again.nemit, 0); /* the closed ones are not emitted again */
    click(&again, base, "c", T0 + 40000);
    RUN_UNTIL(base, again.nemit >= 3, SLIDING_WAIT_MS);
    RUN_UNTIL(base, false, 60);
    assert_int_equal(again.nemit, 3);
    const win_t want[] = {{"a", T0 + 2000, T0 + 12001, 2},
                          {"b", T0 + 2000, T0 + 12001, 1},
                          {"a", T0 + 4001, T0 + 14002, 1}};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(again.emit[i].key, want[i].key);
        assert_int_equal(again.emit[i].start, want[i].start);
        assert_int_equal(again.emit[i].end, want[i].end);
        assert_int_equal(again.emit[i].value, want[i].value);
    }
    rill_app_destroy(again.app);
    event_base_free(base);
}

static void emit_update_emits_every_window_an_event_writes(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {.update = true};
    start(&w, base, false, 0);
    click(&w, base, "a", T0);
    assert_int_equal(w.nemit, 1); /* [T0-10s, T0] */
    click(&w, base, "a", T0 + 4000);
    /* [T0-6s, T0+4s] made (2), T0's right window [T0+1ms, T0+10.001s] made (1) */
    assert_int_equal(w.nemit, 3);
    assert_int_equal(w.emit[1].start, T0 - 6000);
    assert_int_equal(w.emit[1].end, T0 + 4001);
    assert_int_equal(w.emit[1].value, 2);
    assert_int_equal(w.emit[2].start, T0 + 1);
    assert_int_equal(w.emit[2].value, 1);
    /* out of order, in grace: makes [T0-8s, T0+2s] (2) and its right window
     * [T0+2.001s, T0+12.001s] (1: 4 s), updates [T0-6s, T0+4s] (3) and [T0+1ms,
     * T0+10.001s] (2) */
    click(&w, base, "a", T0 + 2000);
    assert_int_equal(w.nemit, 7);
    assert_int_equal(w.last_get, 2); /* a read at 2 s: the events of [-8 s, 2 s] */
    assert_int_equal(w.get_differs, 0);
    assert_int_equal(window_value(&w, "a", T0 - 8000), 2);
    assert_int_equal(window_value(&w, "a", T0 - 6000), 3);
    assert_int_equal(window_value(&w, "a", T0 + 1), 2);
    assert_int_equal(window_value(&w, "a", T0 + 2001), 1);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void expired_windows_are_closed_and_forgotten(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {.expires = 1};
    start(&w, base, false, RILL_WINDOW_NO_GRACE);
    click(&w, base, "a", T0);
    click(&w, base, "b", T0 + 60000); /* a's window is kept 20.002 s past its end */
    RUN_UNTIL(base, w.nclosed >= 1, SLIDING_WAIT_MS);
    assert_int_equal(w.nclosed, 1);
    assert_string_equal(w.closed[0].key, "a");
    assert_int_equal(w.closed[0].start, T0 - 10000);
    assert_int_equal(w.closed[0].end, T0 + 1);
    assert_int_equal(w.closed[0].value, 1);
    windows_of(&w);
    assert_int_equal(w.nseen, 1);     /* b's */
    click(&w, base, "a", T0 + 60000); /* a new window of a alone */
    assert_int_equal(window_value(&w, "a", T0 + 50000), 1);
    windows_of(&w);
    assert_int_equal(w.nseen, 2);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void set_gives_each_window_the_value_of_its_last_event_processed(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {.set = true};
    start(&w, base, false, 0);
    send_at(&w, base, "a", T0, "1");
    send_at(&w, base, "a", T0 + 4000, "2");
    send_at(&w, base, "a", T0 + 2000, "3");                 /* out of order */
    assert_int_equal(window_value(&w, "a", T0 - 10000), 1); /* [T0-10s, T0] */
    assert_int_equal(window_value(&w, "a", T0 - 8000), 3);  /* 0, 2 s: 2 s last */
    assert_int_equal(window_value(&w, "a", T0 - 6000), 3);  /* 0, 2, 4 s: 2 s last */
    assert_int_equal(window_value(&w, "a", T0 + 1), 3);     /* 2, 4 s: 2 s last */
    assert_int_equal(window_value(&w, "a", T0 + 2001), 2);  /* 4 s alone */
    rill_table_stats_t st;
    assert_int_equal(rill_table_stats(w.t, &st), RILL_OK);
    assert_int_equal(st.keys, 5);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* memory_transport: the tests of memory:// only */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &n);
    close(s);
    return ntohs(a.sin_port);
}

/* GET @p path from the app's web server, running the loop until it answers. */
static void http_get(struct event_base *base, int port, const char *path, char *out,
                     size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t len = 0;
    bool eof = false;
    uint64_t end = rill_mono_ns() + 5000000000u;
    while (!eof && rill_mono_ns() < end) {
        RUN_UNTIL(base, false, 2);
        for (;;) {
            ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
            if (r > 0 && (len += (size_t)r) < cap - 1) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            eof = true;
            break;
        }
    }
    out[len] = 0;
    close(fd);
    assert_true(eof);
}

static void the_web_page_shows_a_window_by_its_key_start_and_end(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {.port = free_port()};
    start(&w, base, false, 0);
    click(&w, base, "a", T0);
    RUN_UNTIL(base, false, 60); /* flushed */
    char resp[8192], want[128];
    http_get(base, w.port, "/table/clicks-10s", resp, sizeof resp);
    snprintf(want, sizeof want,
             "{\"key\":\"a\",\"window_start\":%lld,\"window_end\":%lld,\"partition\":0,"
             "\"value\":1}",
             (long long)(T0 - 10000), (long long)(T0 + 1));
    if (!strstr(resp, want)) fail_msg("wanted %s in %s", want, resp);
    rill_app_destroy(w.app);
    event_base_free(base);
}

static void a_negative_time_difference_or_two_kinds_are_refused(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://sliding-def", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    rill_app_t *app = rill_app_new("sliding", c, e, sizeof e);
    assert_non_null(app);
    rill_table_opts_t o = {.value_type = &rill_type_int64};
    rill_table_opts_sliding(&o, -5, 1000);
    assert_null(rill_app_table(app, "negative", &o));
    assert_non_null(strstr(rill_app_errmsg(app), "window_diff_ms >= 0 (got -5)"));
    rill_app_destroy(app);
    c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://sliding-def", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    app = rill_app_new("sliding", c, e, sizeof e);
    rill_table_opts_t h = {.value_type = &rill_type_int64};
    rill_table_opts_hopping(&h, 1000, 500, 1000);
    h.window_sliding = true;
    h.window_diff_ms = 1000;
    assert_null(rill_app_table(app, "both", &h));
    assert_non_null(strstr(rill_app_errmsg(app), "no window_size_ms"));
    rill_app_destroy(app);
}

static void a_delete_is_refused(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    sapp_t w = {0};
    start(&w, base, false, 0);
    assert_int_equal(rill_table_del(w.t, NULL, "a", 1), RILL_EINVAL);
    assert_non_null(strstr(rill_app_errmsg(w.app), "cannot delete"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

int rill_window_sliding_suite_run(const rill_window_sliding_suite_t *s) {
    suite = s;
    const struct {
        struct CMUnitTest test;
        bool memory_only;
    } all[] = {
        {cmocka_unit_test_setup(each_window_counts_the_events_within_the_time_difference,
                                setup),
         false},
        {cmocka_unit_test_setup(a_key_with_many_windows_near_an_event_counts_each, setup),
         true}, /* the table's path, the same on any transport: 81 round trips */
        {cmocka_unit_test_setup(an_event_past_grace_is_dropped_and_counted, setup),
         false},
        {cmocka_unit_test_setup(emit_final_emits_each_window_once_when_it_closes, setup),
         false},
        {cmocka_unit_test_setup(a_restart_mid_window_recovers_its_windows, setup), false},
        {cmocka_unit_test_setup(emit_update_emits_every_window_an_event_writes, setup),
         false},
        {cmocka_unit_test_setup(expired_windows_are_closed_and_forgotten, setup), false},
        {cmocka_unit_test_setup(the_web_page_shows_a_window_by_its_key_start_and_end,
                                setup),
         true},
        {cmocka_unit_test_setup(
             set_gives_each_window_the_value_of_its_last_event_processed, setup),
         false},
        {cmocka_unit_test(a_negative_time_difference_or_two_kinds_are_refused), true},
        {cmocka_unit_test_setup(a_delete_is_refused, setup), true},
    };
    enum { N = sizeof all / sizeof all[0] };
    struct CMUnitTest tests[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (s->memory_transport || !all[i].memory_only) tests[n++] = all[i].test;
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
