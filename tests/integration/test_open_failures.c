/* Every transport and store whose open fails (bad URL, unreachable server,
 * unusable directory) fails with a non-OK code and a message naming the cause,
 * standalone and through rill_app_start, without crashing or leaking; a failed
 * open calls none of the caller's handlers (the app has no transport yet to
 * handle them with).  Backends that are not built are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

/* ---- standalone transports: the handlers count every call ---- */

static int handler_calls;

static void h_messages(rill_transport_t *t, const rill_msg_t *m, size_t n, void *o) {
    (void)t, (void)m, (void)n, (void)o;
    handler_calls++;
}
static void h_tps(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *o) {
    (void)t, (void)tps, (void)n, (void)o;
    handler_calls++;
}
static void h_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                      rill_revoke_t rv, void *o) {
    (void)t, (void)tps, (void)n, (void)lost, (void)rv, (void)o;
    handler_calls++;
}
static void h_writable(rill_transport_t *t, void *o) {
    (void)t, (void)o;
    handler_calls++;
}
static void h_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                    void *o) {
    (void)t, (void)err, (void)fatal, (void)msg, (void)o;
    handler_calls++;
}
static const rill_transport_handlers_t handlers = {
    .messages = h_messages,
    .assigned = h_tps,
    .revoke_request = h_revoked,
    .writable = h_writable,
    .error = h_error,
};

/* Open @p url standalone; it must fail with a message containing @p want. */
static void transport_open_fails(const char *url, const rill_conf_t *conf,
                                 const char *want) {
    struct event_base *base = event_base_new();
    assert_non_null(base);
    char err[512] = "";
    handler_calls = 0;
    rill_transport_t *t =
        rill_transport_new(url, conf, base, &handlers, "open-failures", err, sizeof err);
    if (t) rill_transport_destroy(t);
    event_base_free(base);
    assert_null(t);
    if (!strstr(err, want)) fail_msg("open %s: got '%s', want '%s'", url, err, want);
    assert_int_equal(handler_calls, 0);
}

static void store_open_fails(const char *url, const rill_conf_t *conf, const char *want) {
    char err[512] = "";
    rill_store_t *s = rill_store_new(url, conf, err, sizeof err);
    if (s) rill_store_destroy(s);
    assert_null(s);
    if (!strstr(err, want)) fail_msg("open %s: got '%s', want '%s'", url, err, want);
}

/* ---- through an app ---- */

static rill_conf_t *app_conf(const char *key, const char *val, const char *key2,
                             const char *val2) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    /* warn, not quieter: the transport's warnings on the way out are part of the
     * path under test (the crash was in logging one). */
    assert_int_equal(rill_conf_set(c, "log.level", "warn", err, sizeof err),
                     RILL_CONF_OK);
    if (key && rill_conf_set(c, key, val, err, sizeof err) != RILL_CONF_OK)
        fail_msg("%s=%s: %s", key, val, err);
    if (key2 && rill_conf_set(c, key2, val2, err, sizeof err) != RILL_CONF_OK)
        fail_msg("%s=%s: %s", key2, val2, err);
    return c;
}

/* An app with a topic, an agent and (@p table) a table; its start must fail with
 * a message containing @p want, also left in rill_app_errmsg. */
static void app_start_fails(rill_conf_t *c, bool table, rill_err_t code,
                            const char *want) {
    char err[512] = "";
    rill_app_t *app = rill_app_new("open-failures", c, err, sizeof err);
    if (!app) {
        rill_conf_destroy(c);
        fail_msg("app: %s", err);
    }
    rill_topic_opts_t to = {.partitions = 2};
    rill_topic_t *words = rill_app_topic(app, "words", &to);
    assert_non_null(words);
    if (table) {
        rill_table_opts_t o = {.value_type = &rill_type_int64, .source = words};
        assert_non_null(rill_app_table(app, "counts", &o));
    }
    rill_err_t rc = rill_app_start(app, err, sizeof err);
    char errmsg[512];
    snprintf(errmsg, sizeof errmsg, "%s", rill_app_errmsg(app));
    bool ready = rill_app_is_ready(app);
    rill_app_destroy(app);
    assert_int_not_equal(rc, RILL_OK);
    assert_int_equal(rc, code);
    assert_false(ready);
    if (!strstr(err, want)) fail_msg("start: got '%s', want '%s'", err, want);
    if (!strstr(errmsg, want)) fail_msg("errmsg: got '%s', want '%s'", errmsg, want);
}

/* A loopback port nothing listens on: bound once by us, then released. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static char tmpdir[256];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rill-open-failures-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A path under a regular file: no directory can be made there, even by root. */
static const char *unusable_rocksdb_url(char *buf, size_t len) {
    char file[300];
    snprintf(file, sizeof file, "%s/a-file", tmpdir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(buf, len, "rocksdb://%s/db", file);
    return buf;
}

/* ---- memory ---- */

static void test_memory_transport_with_a_path_fails_to_open(void **state) {
    (void)state;
    transport_open_fails("memory://x/a/path", NULL, "a path is not allowed");
}

static void test_app_on_a_memory_broker_with_a_path_fails_to_start(void **state) {
    (void)state;
    app_start_fails(app_conf("broker", "memory://x/a/path", NULL, NULL), false,
                    RILL_ETRANSPORT, "a path is not allowed");
}

static void test_memory_store_with_a_path_fails_to_open(void **state) {
    (void)state;
    store_open_fails("memory://x/a/path", NULL, "takes no path");
}

static void
test_app_with_a_table_on_a_memory_store_with_a_path_fails_to_start(void **state) {
    (void)state;
    app_start_fails(app_conf("store", "memory://x/a/path", NULL, NULL), true, RILL_ESTORE,
                    "takes no path");
}

/* ---- kafka ---- */

static void
test_unreachable_kafka_transport_fails_to_open_naming_the_timeout(void **state) {
    (void)state;
    if (!rill_transport_find("kafka")) skip();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    assert_int_equal(rill_conf_set(c, "kafka.timeout.ms", "500", err, sizeof err),
                     RILL_CONF_OK);
    transport_open_fails("kafka://127.0.0.1:1", c,
                         "no broker of '127.0.0.1:1' answered within 500 ms");
    rill_conf_destroy(c);
}

static void test_app_on_an_unreachable_kafka_broker_fails_to_start(void **state) {
    (void)state;
    if (!rill_transport_find("kafka")) skip();
    app_start_fails(app_conf("broker", "kafka://127.0.0.1:1", "kafka.timeout.ms", "500"),
                    false, RILL_ETRANSPORT,
                    "no broker of '127.0.0.1:1' answered within 500 ms");
}

/* ---- redis ---- */

static void test_unreachable_redis_transport_fails_to_open(void **state) {
    (void)state;
    if (!rill_transport_find("redis")) skip();
    int port = free_port();
    char url[64], want[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?timeout.ms=500", port);
    snprintf(want, sizeof want, "cannot connect to redis at 127.0.0.1:%d/0", port);
    transport_open_fails(url, NULL, want);
}

static void test_app_on_an_unreachable_redis_fails_to_start(void **state) {
    (void)state;
    if (!rill_transport_find("redis")) skip();
    int port = free_port();
    char url[64], want[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    snprintf(want, sizeof want, "cannot connect to redis at 127.0.0.1:%d/0", port);
    app_start_fails(app_conf("broker", url, "redis.timeout.ms", "500"), false,
                    RILL_ETRANSPORT, want);
}

/* ---- rocksdb ---- */

static void test_rocksdb_store_under_a_regular_file_fails_to_open(void **state) {
    (void)state;
    if (!rill_store_find("rocksdb")) skip();
    char url[400];
    unusable_rocksdb_url(url, sizeof url);
    store_open_fails(url, NULL, "rocksdb open '");
}

static void test_rocksdb_store_url_without_a_directory_fails_to_open(void **state) {
    (void)state;
    if (!rill_store_find("rocksdb")) skip();
    store_open_fails("rocksdb://", NULL, "needs a directory");
}

static void
test_app_with_a_table_on_an_unusable_rocksdb_store_fails_to_start(void **state) {
    (void)state;
    if (!rill_store_find("rocksdb")) skip();
    char url[400];
    unusable_rocksdb_url(url, sizeof url);
    app_start_fails(app_conf("store", url, NULL, NULL), true, RILL_ESTORE,
                    "rocksdb open '");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_transport_with_a_path_fails_to_open),
        cmocka_unit_test(test_app_on_a_memory_broker_with_a_path_fails_to_start),
        cmocka_unit_test(test_memory_store_with_a_path_fails_to_open),
        cmocka_unit_test(
            test_app_with_a_table_on_a_memory_store_with_a_path_fails_to_start),
        cmocka_unit_test(
            test_unreachable_kafka_transport_fails_to_open_naming_the_timeout),
        cmocka_unit_test(test_app_on_an_unreachable_kafka_broker_fails_to_start),
        cmocka_unit_test(test_unreachable_redis_transport_fails_to_open),
        cmocka_unit_test(test_app_on_an_unreachable_redis_fails_to_start),
        cmocka_unit_test(test_rocksdb_store_under_a_regular_file_fails_to_open),
        cmocka_unit_test(test_rocksdb_store_url_without_a_directory_fails_to_open),
        cmocka_unit_test(
            test_app_with_a_table_on_an_unusable_rocksdb_store_fails_to_start),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
