/* Table lookups routed to the owner (docs/web.md, "Routing"), on memory://: three
 * workers of one app in this process share a memory broker and a loop; each
 * publishes what it owns to "<app>-__workers" and reads the others' entries. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>
#include <rill/transport.h>

#include "run_until.h"

#define N 3
#define KEYS 120

static unsigned seq;

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *in;
    rill_table_t *counts;
    int port;
    uint64_t handled;
} worker_t;

typedef struct cluster {
    struct event_base *base;
    char broker[128];
    worker_t w[N];
} cluster_t;

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

static rill_err_t count_key(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const void *k = rill_event_key_bytes(ev, &len);
    w->handled++;
    return rill_table_incr(w->counts, ev, k, len, 1, NULL);
}

static const char *extra_key, *extra_value; /* one more conf key for a test */

static void worker_start(cluster_t *c, worker_t *w) {
    memset(w, 0, sizeof *w);
    w->port = free_port();
    rill_conf_t *conf = rill_conf_new();
    char err[256], port[16];
    snprintf(port, sizeof port, "%d", w->port);
    assert_int_equal(rill_conf_set(conf, "broker", c->broker, err, sizeof err),
                     RILL_CONF_OK);
    assert_int_equal(rill_conf_set(conf, "web.port", port, err, sizeof err),
                     RILL_CONF_OK);
    rill_conf_set(conf, "log.level", "warn", err, sizeof err);
    if (extra_key)
        assert_int_equal(rill_conf_set(conf, extra_key, extra_value, err, sizeof err),
                         RILL_CONF_OK);
    w->app = rill_app_new_with_base("route", conf, c->base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 6};
    w->in = rill_app_topic(w->app, "in", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->in};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(rill_app_agent(w->app, "count", w->in, count_key, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

/* ---- a raw HTTP client on the test's loop ---- */

typedef struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
} conn_t;

static bool conn_poll(conn_t *c) {
    for (;;) {
        if (c->cap - c->len < 4096) {
            c->cap = c->cap ? c->cap * 2 : 16384;
            c->buf = realloc(c->buf, c->cap + 1);
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            c->buf[c->len] = 0;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return c->eof;
        c->eof = true;
        if (c->buf) c->buf[c->len] = 0;
        return true;
    }
}

/* GET @p path from worker @p w (extra header lines @p headers); the answer. */
static char *http(cluster_t *c, const worker_t *w, const char *path,
                  const char *headers) {
    conn_t k = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)w->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(k.fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path,
                     headers ? headers : "");
    assert_int_equal(send(k.fd, req, (size_t)n, MSG_NOSIGNAL), n);
    fcntl(k.fd, F_SETFL, O_NONBLOCK);
    RUN_UNTIL(c->base, conn_poll(&k), 10000);
    assert_true(k.eof);
    close(k.fd);
    return k.buf ? k.buf : strdup("");
}

static int status_of(const char *resp) {
    int code = 0;
    sscanf(resp, "HTTP/1.%*d %d", &code);
    return code;
}

static const char *body_of(const char *resp) {
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* ---- the cluster ---- */

static bool all_ready(cluster_t *c, uint64_t handled) {
    uint64_t h = 0;
    for (int i = 0; i < N; i++) {
        if (c->w[i].app && !rill_app_is_ready(c->w[i].app)) return false;
        h += c->w[i].handled;
    }
    return h >= handled;
}

/* Every worker routes every key (its /router answers 200). */
static bool routes_known(cluster_t *c) {
    for (int i = 0; i < N; i++) {
        if (!c->w[i].app) continue;
        for (int k = 0; k < KEYS; k += 7) {
            char path[64];
            snprintf(path, sizeof path, "/router/counts/k%d", k);
            char *r = http(c, &c->w[i], path, NULL);
            int code = status_of(r);
            free(r);
            if (code != 200) return false;
        }
    }
    return true;
}

static void cluster_start(cluster_t *c) {
    memset(c, 0, sizeof *c);
    c->base = event_base_new();
    snprintf(c->broker, sizeof c->broker, "memory://route-%d-%u", (int)getpid(), ++seq);
    for (int i = 0; i < N; i++)
        worker_start(c, &c->w[i]);
    RUN_UNTIL(c->base, all_ready(c, 0), 5000);
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", k);
        for (int j = 0; j <= k % 3; j++) /* key k counts k % 3 + 1 */
            assert_int_equal(
                rill_send(c->w[0].in, key, (size_t)n, "1", 1, &rill_send_encoded),
                RILL_OK);
    }
    uint64_t total = 0;
    for (int k = 0; k < KEYS; k++)
        total += (uint64_t)(k % 3 + 1);
    RUN_UNTIL(c->base, all_ready(c, total), 10000);
    assert_true(all_ready(c, total));
    for (int round = 0; round < 200 && !routes_known(c); round++)
        RUN_UNTIL(c->base, false, 20);
    assert_true(routes_known(c));
}

static void cluster_stop(cluster_t *c) {
    for (int i = 0; i < N; i++)
        if (c->w[i].app) rill_app_destroy(c->w[i].app);
    event_base_free(c->base);
}

static long value_of(const char *resp) {
    const char *v = strstr(body_of(resp), "\"value\":");
    return v ? strtol(v + 8, NULL, 10) : -1;
}

/* The worker whose web port @p url names. */
static int worker_of_url(cluster_t *c, const char *body) {
    for (int i = 0; i < N; i++) {
        char url[64];
        snprintf(url, sizeof url, "\"url\":\"http://127.0.0.1:%d\"", c->w[i].port);
        if (c->w[i].app && strstr(body, url)) return i;
    }
    return -1;
}

/* ---- tests ---- */

static void every_key_is_answered_with_the_owners_value_through_any_worker(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    int remote = 0;
    for (int k = 0; k < KEYS; k++)
        for (int i = 0; i < N; i++) {
            char path[64];
            snprintf(path, sizeof path, "/table/counts/k%d", k);
            char *r = http(&c, &c.w[i], path, NULL);
            if (status_of(r) != 200 || value_of(r) != k % 3 + 1)
                fail_msg("k%d through worker %d: %s", k, i, r);
            assert_non_null(strstr(body_of(r), "\"source\":\"owner\""));
            if (strstr(r, "X-Rill-Routed-To")) remote++;
            free(r);
        }
    /* each key is owned by one of three workers: two of every three answers were
     * proxied */
    assert_int_equal(remote, KEYS * (N - 1));
    cluster_stop(&c);
}

static void the_router_names_the_worker_that_answers_locally(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    for (int k = 0; k < KEYS; k += 5) {
        char path[64];
        snprintf(path, sizeof path, "/router/counts/k%d", k);
        char *r = http(&c, &c.w[k % N], path, NULL);
        assert_int_equal(status_of(r), 200);
        int owner = worker_of_url(&c, body_of(r));
        assert_true(owner >= 0);
        assert_non_null(strstr(body_of(r), "\"state\":\"active\""));
        free(r);
        snprintf(path, sizeof path, "/table/counts/k%d", k);
        r = http(&c, &c.w[owner], path, NULL);
        assert_int_equal(status_of(r), 200);
        assert_null(strstr(r, "X-Rill-Routed-To")); /* answered by the owner itself */
        free(r);
    }
    cluster_stop(&c);
}

static void redirect_1_answers_307_to_the_owner(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    int redirects = 0;
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < N; i++) {
            char path[64];
            snprintf(path, sizeof path, "/table/counts/k%d?redirect=1", k);
            char *r = http(&c, &c.w[i], path, NULL);
            int code = status_of(r);
            assert_true(code == 200 || code == 307);
            if (code == 307) {
                redirects++;
                const char *loc = strstr(r, "Location: http://127.0.0.1:");
                assert_non_null(loc);
                int port = atoi(loc + strlen("Location: http://127.0.0.1:"));
                assert_true(port != c.w[i].port);
                char want[64];
                snprintf(want, sizeof want, "/table/counts/k%d\r\n", k);
                assert_non_null(strstr(loc, want));
            }
            free(r);
        }
    assert_int_equal(redirects, 12 * (N - 1));
    cluster_stop(&c);
}

static void a_routed_request_to_a_non_owner_is_503_with_a_reason(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    int seen = 0;
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < N; i++) {
            char path[64];
            snprintf(path, sizeof path, "/table/counts/k%d", k);
            char *r = http(&c, &c.w[i], path, "X-Rill-Forwarded: elsewhere\r\n");
            if (status_of(r) == 503) {
                seen++;
                assert_non_null(strstr(body_of(r), "\"error\":\"elsewhere routed this "
                                                   "here, but this worker does not own"));
                assert_non_null(strstr(r, "Content-Type: application/json"));
            } else {
                assert_int_equal(status_of(r), 200); /* the owner answers */
            }
            free(r);
        }
    assert_int_equal(seen, 12 * (N - 1)); /* never proxied a second time */
    cluster_stop(&c);
}

static void an_unknown_key_is_404_and_an_unknown_table_404(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    for (int i = 0; i < N; i++) {
        char *r = http(&c, &c.w[i], "/table/counts/nope", NULL);
        assert_int_equal(status_of(r), 404);
        assert_non_null(strstr(body_of(r), "\"error\":\"no such key\""));
        free(r);
        r = http(&c, &c.w[i], "/router/nosuch/k1", NULL);
        assert_int_equal(status_of(r), 404);
        free(r);
    }
    cluster_stop(&c);
}

static void after_a_worker_stops_lookups_follow_the_new_owners(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    rill_app_stop(c.w[1].app); /* a clean stop: its tombstone goes out */
    RUN_UNTIL(c.base, !rill_app_is_ready(c.w[1].app), 5000);
    RUN_UNTIL(c.base, false, 200);
    rill_app_destroy(c.w[1].app);
    c.w[1].app = NULL;
    RUN_UNTIL(c.base, all_ready(&c, 0), 10000);
    for (int round = 0; round < 200 && !routes_known(&c); round++)
        RUN_UNTIL(c.base, false, 20);
    assert_true(routes_known(&c));
    for (int k = 0; k < KEYS; k++) {
        char path[64];
        snprintf(path, sizeof path, "/table/counts/k%d", k);
        for (int i = 0; i < N; i += 2) {
            char *r = http(&c, &c.w[i], path, NULL);
            if (status_of(r) != 200 || value_of(r) != k % 3 + 1)
                fail_msg("k%d through worker %d after the stop: %s", k, i, r);
            free(r);
        }
        snprintf(path, sizeof path, "/router/counts/k%d", k);
        char *r = http(&c, &c.w[0], path, NULL);
        assert_true(worker_of_url(&c, body_of(r)) != 1);
        assert_non_null(strstr(body_of(r), "\"workers\":2"));
        free(r);
    }
    cluster_stop(&c);
}

/* Every non-owner answers ?standby=1 of a routed request for the first 12 keys
 * (their standby copies have caught up with the changelog). */
static bool standbys_caught_up(cluster_t *c) {
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < N; i++) {
            char path[64];
            snprintf(path, sizeof path, "/table/counts/k%d?standby=1", k);
            char *r = http(c, &c->w[i], path, "X-Rill-Forwarded: test\r\n");
            bool ok = status_of(r) == 200 && value_of(r) == k % 3 + 1;
            free(r);
            if (!ok) return false;
        }
    return true;
}

/* With table.standby_replicas=1 every worker follows the partitions it does not
 * own; ?standby=1 of a request routed to a non-owner reads its standby copy. */
static void standby_1_reads_a_standby_copy_on_a_non_owner(void **st) {
    (void)st;
    extra_key = "table.standby_replicas";
    extra_value = "1";
    cluster_t c;
    cluster_start(&c);
    extra_key = NULL;
    for (int round = 0; round < 200 && !standbys_caught_up(&c); round++)
        RUN_UNTIL(c.base, false, 20); /* the changelog goes out at the next commit */
    assert_true(standbys_caught_up(&c));
    int standby = 0;
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < N; i++) {
            char path[64];
            snprintf(path, sizeof path, "/table/counts/k%d?standby=1", k);
            char *r = http(&c, &c.w[i], path, "X-Rill-Forwarded: test\r\n");
            if (strstr(body_of(r), "\"source\":\"standby\"")) standby++;
            free(r);
        }
    assert_int_equal(standby, 12 * (N - 1)); /* the owner answers as the owner */
    /* from outside, ?standby=1 still asks the owner while it is active */
    char *r = http(&c, &c.w[0], "/table/counts/k1?standby=1", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"source\":\"owner\""));
    free(r);
    cluster_stop(&c);
}

static void on_sent(rill_err_t err, const char *msg, int32_t partition, int64_t offset,
                    void *opaque) {
    (void)msg;
    (void)partition;
    (void)offset;
    *(int *)opaque = err == RILL_OK ? 1 : -1;
}

/* Write @p value as worker @p client_id's entry of the workers topic, as another
 * program (a worker that is gone) would have, and wait for its delivery. */
static void write_entry(cluster_t *c, const char *client_id, const char *value) {
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *t =
        rill_transport_new(c->broker, NULL, c->base, &h, "entry-writer", err, sizeof err);
    assert_non_null(t);
    rill_produce_t m = {.topic = "route-__workers",
                        .partition = 0,
                        .key = client_id,
                        .key_len = strlen(client_id),
                        .value = value,
                        .value_len = strlen(value)};
    int sent = 0;
    assert_int_equal(t->ops->produce(t, &m, on_sent, &sent), RILL_OK);
    RUN_UNTIL(c->base, sent != 0, 5000);
    assert_int_equal(sent, 1);
    rill_transport_destroy(t);
}

/* An entry written to the workers topic by another program, as a replaced worker
 * would have left it: it claims every partition, with generation 1 and an old
 * time.  The workers' own entries, written after they read it... or before: its
 * generation and time lose to theirs either way. */
static void a_stale_entry_claiming_every_partition_does_not_win(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    write_entry(&c, "route-dead-1",
                "{\"client_id\":\"route-dead-1\",\"url\":\"http://127.0.0.1:1\","
                "\"generation\":1,\"time_ms\":1,\"tables\":{\"counts\":{"
                "\"partitions\":6,\"active\":[0,1,2,3,4,5],\"recovering\":[],"
                "\"standby\":[]}},\"topics\":{}}");
    RUN_UNTIL(c.base, false, 300); /* the workers read it */
    for (int k = 0; k < KEYS; k += 3) {
        char path[64];
        snprintf(path, sizeof path, "/router/counts/k%d", k);
        char *r = http(&c, &c.w[k % N], path, NULL);
        assert_int_equal(status_of(r), 200);
        assert_true(worker_of_url(&c, body_of(r)) >= 0); /* a live worker */
        assert_non_null(strstr(body_of(r), "\"workers\":4"));
        free(r);
        snprintf(path, sizeof path, "/table/counts/k%d", k);
        r = http(&c, &c.w[k % N], path, NULL);
        assert_int_equal(status_of(r), 200);
        free(r);
    }
    cluster_stop(&c);
}

/* A worker that died without its tombstone (here: an entry another program wrote
 * once) is left out once web.workers.expiry.ms passes without a refresh, while
 * the live workers, refreshing every third of it, stay. */
static void a_worker_not_heard_from_within_the_expiry_is_left_out(void **st) {
    (void)st;
    cluster_t c;
    extra_key = "web.workers.expiry.ms", extra_value = "900";
    cluster_start(&c);
    extra_key = extra_value = NULL;
    write_entry(&c, "route-dead-2",
                "{\"client_id\":\"route-dead-2\",\"url\":\"http://127.0.0.1:1\","
                "\"generation\":1,\"time_ms\":1,\"tables\":{\"counts\":{"
                "\"partitions\":6,\"active\":[],\"recovering\":[],"
                "\"standby\":[]}},\"topics\":{\"in\":[0]}}");
    RUN_UNTIL(c.base, false, 200); /* the workers read it */
    char *r = http(&c, &c.w[1], "/router/counts/k1", NULL);
    assert_non_null(strstr(body_of(r), "\"workers\":4"));
    free(r);
    r = http(&c, &c.w[1], "/status", NULL);
    assert_non_null(strstr(body_of(r), "route-dead-2"));
    free(r);
    RUN_UNTIL(c.base, false, 1500); /* past the expiry: the live ones refreshed */
    r = http(&c, &c.w[1], "/router/counts/k1", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"workers\":3"));
    free(r);
    r = http(&c, &c.w[1], "/status", NULL);
    assert_null(strstr(body_of(r), "route-dead-2"));
    free(r);
    cluster_stop(&c);
}

/* The dashboard's snapshot lists every live worker with its web URL and the
 * partitions it consumes, this one first. */
static void the_dashboard_lists_every_live_worker(void **st) {
    (void)st;
    cluster_t c;
    cluster_start(&c);
    for (int i = 0; i < N; i++) {
        char *r = http(&c, &c.w[i], "/status", NULL);
        assert_int_equal(status_of(r), 200);
        const char *b = body_of(r);
        for (int j = 0; j < N; j++) {
            char url[64];
            snprintf(url, sizeof url, "\"url\":\"http://127.0.0.1:%d", c.w[j].port);
            if (!strstr(b, url))
                fail_msg("worker %d's /status lacks worker %d: %s", i, j, b);
        }
        char self[64];
        snprintf(self, sizeof self, "\"workers\":[{\"client_id\":");
        assert_non_null(strstr(b, self));
        snprintf(self, sizeof self, "\"url\":\"http://127.0.0.1:%d/\",\"self\":true",
                 c.w[i].port);
        assert_non_null(strstr(b, self));
        assert_null(strstr(b, "\"partitions\":0,\"generation\"")); /* 2 each */
        free(r);
    }
    cluster_stop(&c);
}

/* web.advertised_url is the address the others route to (behind NAT, in a
 * container): /router names it. */
static void the_advertised_url_is_what_the_router_names(void **st) {
    (void)st;
    cluster_t c;
    extra_key = "web.advertised_url", extra_value = "http://worker.example:6066/";
    cluster_start(&c);
    extra_key = extra_value = NULL;
    char *r = http(&c, &c.w[0], "/router/counts/k1", NULL);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(body_of(r), "\"url\":\"http://worker.example:6066\""));
    free(r);
    cluster_stop(&c);
}

static void an_advertised_url_that_is_not_a_url_is_refused_at_start(void **st) {
    (void)st;
    char err[256];
    rill_conf_t *conf = rill_conf_new();
    assert_int_equal(rill_conf_set(conf, "broker", "memory://adv-bad", err, sizeof err),
                     RILL_CONF_OK);
    assert_int_equal(
        rill_conf_set(conf, "web.advertised_url", "worker-1:6066", err, sizeof err),
        RILL_CONF_OK);
    rill_app_t *app = rill_app_new("adv", conf, err, sizeof err);
    assert_non_null(app);
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_ECONF);
    assert_non_null(strstr(err, "web.advertised_url 'worker-1:6066' is not a URL"));
    rill_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_key_is_answered_with_the_owners_value_through_any_worker),
        cmocka_unit_test(the_router_names_the_worker_that_answers_locally),
        cmocka_unit_test(redirect_1_answers_307_to_the_owner),
        cmocka_unit_test(a_routed_request_to_a_non_owner_is_503_with_a_reason),
        cmocka_unit_test(an_unknown_key_is_404_and_an_unknown_table_404),
        cmocka_unit_test(after_a_worker_stops_lookups_follow_the_new_owners),
        cmocka_unit_test(standby_1_reads_a_standby_copy_on_a_non_owner),
        cmocka_unit_test(a_stale_entry_claiming_every_partition_does_not_win),
        cmocka_unit_test(a_worker_not_heard_from_within_the_expiry_is_left_out),
        cmocka_unit_test(the_dashboard_lists_every_live_worker),
        cmocka_unit_test(the_advertised_url_is_what_the_router_names),
        cmocka_unit_test(an_advertised_url_that_is_not_a_url_is_refused_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
