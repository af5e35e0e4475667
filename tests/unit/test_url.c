/* URL parsing: every form backends accept, and a specific error for each bad one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

static rill_url_t *parse_ok(const char *s) {
    rill_url_t *u = NULL;
    char err[256] = "";
    rill_err_t rc = rill_url_parse(s, &u, err, sizeof err);
    if (rc != RILL_OK) fail_msg("%s: %s", s, err);
    return u;
}

static void expect_error(const char *s, const char *fragment) {
    rill_url_t *u = NULL;
    char err[256] = "";
    assert_int_equal(rill_url_parse(s, &u, err, sizeof err), RILL_EURL);
    assert_null(u);
    if (!strstr(err, fragment))
        fail_msg("error for '%s' was '%s', expected '%s'", s, err, fragment);
}

static void parses_memory_url_without_host(void **state) {
    (void)state;
    rill_url_t *u = parse_ok("memory://");
    assert_string_equal(u->scheme, "memory");
    assert_string_equal(u->host, "");
    assert_string_equal(u->path, "");
    rill_url_destroy(u);
}

static void parses_kafka_host_list(void **state) {
    (void)state;
    rill_url_t *u = parse_ok("kafka://b1:9092,b2:9093,[::1]:9094");
    assert_string_equal(u->host, "b1");
    assert_int_equal(u->port, 9092);
    assert_string_equal(u->authority, "b1:9092,b2:9093,[::1]:9094");
    rill_url_destroy(u);
}

static void parses_redis_password_and_db(void **state) {
    (void)state;
    rill_url_t *u = parse_ok("redis://:s%40cret@127.0.0.1:6379/2");
    assert_string_equal(u->user, "");
    assert_string_equal(u->password, "s@cret");
    assert_string_equal(u->host, "127.0.0.1");
    assert_int_equal(u->port, 6379);
    assert_string_equal(u->path, "/2");
    rill_url_destroy(u);
}

static void parses_rocksdb_path_and_query(void **state) {
    (void)state;
    rill_url_t *u = parse_ok("RocksDB:///var/lib/rill?sync=true&block_cache_mb=64");
    assert_string_equal(u->scheme, "rocksdb");
    assert_string_equal(u->path, "/var/lib/rill");
    assert_int_equal(u->nparams, 2);
    assert_string_equal(rill_url_param(u, "sync"), "true");
    assert_string_equal(rill_url_param(u, "block_cache_mb"), "64");
    assert_null(rill_url_param(u, "nope"));
    rill_url_destroy(u);
}

static void rejects_missing_scheme_separator(void **state) {
    (void)state;
    expect_error("kafka:localhost:9092", "missing '://'");
    expect_error("localhost:9092", "missing '://'");
}

static void rejects_empty_and_schemeless(void **state) {
    (void)state;
    expect_error("", "empty URL");
    expect_error("://host", "must start with a scheme");
}

static void rejects_bad_ports(void **state) {
    (void)state;
    expect_error("kafka://h:99999", "invalid port");
    expect_error("kafka://h:0", "invalid port 0");
    expect_error("kafka://h:", "missing port");
    expect_error("kafka://h:12x", "invalid port");
}

static void rejects_bad_hosts(void **state) {
    (void)state;
    expect_error("kafka://a b:1", "invalid character");
    expect_error("kafka://h1:1,,h2:2", "empty host");
    expect_error("kafka://[::1:9092", "unterminated");
}

static void rejects_bad_query_and_escapes(void **state) {
    (void)state;
    expect_error("memory://?novalue", "not key=value");
    expect_error("redis://:%zz@h:1", "escape");
    expect_error("kafka://h:1#frag", "fragments");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_memory_url_without_host),
        cmocka_unit_test(parses_kafka_host_list),
        cmocka_unit_test(parses_redis_password_and_db),
        cmocka_unit_test(parses_rocksdb_path_and_query),
        cmocka_unit_test(rejects_missing_scheme_separator),
        cmocka_unit_test(rejects_empty_and_schemeless),
        cmocka_unit_test(rejects_bad_ports),
        cmocka_unit_test(rejects_bad_hosts),
        cmocka_unit_test(rejects_bad_query_and_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
