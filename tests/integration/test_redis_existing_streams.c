/* Streams rill did not create, against a real redis-server (docs/redis.md, "Existing
 * streams"): an existing service XADDs orders its own way (`XADD orders * id 7
 * country NO amount 3.5`); a rill app bound to that stream counts them by country
 * and writes the totals back as plain entries (`country NO count 3`).  Around it:
 * where a partition starts without a committed ID ($, an ID, a legacy consumer
 * group's position), a value from a named field, entries that fit no mapping (they
 * go through on_decode_error naming stream, ID and field), unreadable ts and
 * headers fields (counted and logged), a key of the wrong type (one fatal message
 * at start) and the server checks at start (logged once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <rill/rill.h>

#include "redis_server.h"
#include "run_until.h"

static rill_test_redis_t *srv;
static redisContext *rc_;

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc_, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static void cmd_ok(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc_, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("redis: %s", r->str);
    freeReplyObject(r);
}

/* ---- the log -------------------------------------------------------------------- */

#define MAXLOG 256
static char logs[MAXLOG][768];
static int nlogs;

static void on_log(rill_log_level_t level, const char *name, const char *msg, void *op) {
    (void)name;
    (void)op;
    if (level <= RILL_LOG_WARN && nlogs < MAXLOG)
        snprintf(logs[nlogs++], sizeof logs[0], "%s", msg);
}

static int logged(const char *needle) {
    int n = 0;
    for (int i = 0; i < nlogs; i++)
        n += strstr(logs[i], needle) != NULL;
    return n;
}

static const char *log_with(const char *needle) {
    for (int i = 0; i < nlogs; i++)
        if (strstr(logs[i], needle)) return logs[i];
    return "";
}

/* ---- the app: orders counted by country ----------------------------------------- */

typedef struct order {
    int64_t id;
    char *country;
    double amount;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, INT64),
            RILL_F(order_t, country, STRING), RILL_F(order_t, amount, DOUBLE));

typedef struct total {
    char *country;
    int64_t count;
} total_t;

RILL_RECORD(total_schema, total_t, "shop.Total", RILL_F(total_t, country, STRING),
            RILL_F(total_t, count, INT64));

typedef struct run {
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *orders, *totals;
    rill_table_t *counts;
    int seen;
    char last_value[128];
} run_t;

static rill_err_t count_order(rill_event_t *ev, void *opaque) {
    run_t *r = opaque;
    const order_t *o = rill_event_value(ev);
    int64_t n;
    rill_err_t rc = rill_table_incr(r->counts, ev, o->country, strlen(o->country), 1, &n);
    if (rc != RILL_OK) return rc;
    rill_bytes_t key = {(uint8_t *)o->country, strlen(o->country)};
    total_t t = {.country = o->country, .count = n};
    rc = rill_send(r->totals, key.data, key.len, &t, sizeof t, NULL);
    if (rc == RILL_OK) r->seen++;
    return rc;
}

static rill_err_t take_raw(rill_event_t *ev, void *opaque) {
    run_t *r = opaque;
    const rill_bytes_t *v = rill_event_value(ev);
    if (v) snprintf(r->last_value, sizeof r->last_value, "%.*s", (int)v->len, v->data);
    r->seen++;
    return RILL_OK;
}

static rill_conf_t *conf_new(const char *const *kv) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    const char *base[] = {"broker",
                          rill_test_redis_url(srv),
                          "redis.heartbeat.interval.ms",
                          "100",
                          "redis.session.timeout.ms",
                          "2000",
                          "commit.interval.ms",
                          "100",
                          NULL};
    for (const char *const *p = base; *p; p += 2)
        if (rill_conf_set(c, p[0], p[1], err, sizeof err)) fail_msg("%s", err);
    for (const char *const *p = kv; p && *p; p += 2)
        if (rill_conf_set(c, p[0], p[1], err, sizeof err)) fail_msg("%s", err);
    rill_conf_set_log_cb(c, on_log, NULL);
    return c;
}

/* The worked example of docs/redis.md. */
static run_t *counter_new(const char *const *extra) {
    run_t *r = calloc(1, sizeof *r);
    r->base = event_base_new();
    const char *kv[] = {"redis.topic.orders.stream",
                        "orders",
                        "redis.topic.orders.value",
                        "entry",
                        "redis.topic.orders.key.field",
                        "country",
                        "redis.topic.country-totals.stream",
                        "country-totals",
                        "redis.topic.country-totals.value",
                        "entry",
                        "redis.topic.country-totals.key.field",
                        "country",
                        NULL};
    rill_conf_t *c = conf_new(kv);
    char err[512];
    for (const char *const *p = extra; p && *p; p += 2)
        if (rill_conf_set(c, p[0], p[1], err, sizeof err)) fail_msg("%s", err);
    r->app = rill_app_new_with_base("order-counts", c, r->base, err, sizeof err);
    if (!r->app) fail_msg("%s", err);
    rill_topic_opts_t oo = {.value_type = RILL_TYPE_RECORD(&order_schema)};
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&total_schema)};
    r->orders = rill_app_topic(r->app, "orders", &oo);
    r->totals = rill_app_topic(r->app, "country-totals", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = r->orders};
    r->counts = rill_app_table(r->app, "counts", &tab);
    assert_non_null(r->orders);
    assert_non_null(r->totals);
    assert_non_null(r->counts);
    assert_non_null(rill_app_agent(r->app, "count", r->orders, count_order, r, NULL));
    return r;
}

/* An app with one raw topic "in" configured by @p kv. */
static run_t *raw_new(const char *const *kv) {
    run_t *r = calloc(1, sizeof *r);
    r->base = event_base_new();
    char err[512];
    r->app = rill_app_new_with_base("raw-reader", conf_new(kv), r->base, err, sizeof err);
    if (!r->app) fail_msg("%s", err);
    r->orders = rill_app_topic(r->app, "in", NULL);
    assert_non_null(r->orders);
    assert_non_null(rill_app_agent(r->app, "take", r->orders, take_raw, r, NULL));
    return r;
}

static void start(run_t *r) {
    char err[512];
    if (rill_app_start(r->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    RUN_UNTIL(r->base, rill_app_is_ready(r->app), 10000);
    assert_true(rill_app_is_ready(r->app));
}

static void run_free(run_t *r) {
    rill_app_stop(r->app); /* graceful: commits what was processed */
    RUN_UNTIL(r->base, false, 500);
    rill_app_destroy(r->app);
    event_base_free(r->base);
    free(r);
}

static int setup(void **state) {
    (void)state;
    cmd_ok("FLUSHALL");
    nlogs = 0;
    return 0;
}

/* The last `count` of each country in the totals stream, and whether an entry
 * carried a field other than country and count. */
static int64_t total_of(const char *country, bool *other_fields) {
    redisReply *r = cmd("XRANGE country-totals - +");
    int64_t last = -1;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        const char *c = NULL, *n = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (!strcmp(f->element[k]->str, "country"))
                c = f->element[k + 1]->str;
            else if (!strcmp(f->element[k]->str, "count"))
                n = f->element[k + 1]->str;
            else
                *other_fields = true;
        }
        if (c && n && !strcmp(c, country)) last = atoll(n);
    }
    freeReplyObject(r);
    return last;
}

static void
orders_are_counted_by_country_and_totals_written_as_plain_entries(void **state) {
    (void)state;
    /* the existing service, before rill is there */
    const char *countries[] = {"NO", "SE", "NO", "DK", "NO", "SE", "NO"};
    for (int i = 0; i < 7; i++)
        cmd_ok("XADD orders * id %d country %s amount %d.5", i + 1, countries[i], i);
    run_t *r = counter_new(NULL);
    start(r);
    assert_int_equal(rill_topic_partitions(r->orders), 1);
    /* ... and while it runs */
    cmd_ok("XADD orders * id 8 country DK amount 10");
    cmd_ok("XADD orders * id 9 country FI amount 0.25");
    RUN_UNTIL(r->base, r->seen == 9, 10000);
    assert_int_equal(r->seen, 9);
    RUN_UNTIL(r->base, false, 300); /* the totals' XADDs are answered */
    bool other = false;
    assert_int_equal(total_of("NO", &other), 4);
    assert_int_equal(total_of("SE", &other), 2);
    assert_int_equal(total_of("DK", &other), 2);
    assert_int_equal(total_of("FI", &other), 1);
    assert_false(other); /* plain entries: no value, headers, ts or __faust */
    /* rill wrote no stream of its own for either topic */
    redisReply *x = cmd("EXISTS orders:0 country-totals:0");
    assert_int_equal(x->integer, 0);
    freeReplyObject(x);
    run_free(r);
}

static void a_restart_goes_on_from_the_committed_id(void **state) {
    (void)state;
    cmd_ok("XADD orders * id 1 country NO amount 1");
    cmd_ok("XADD orders * id 2 country NO amount 1");
    run_t *r = counter_new(NULL);
    start(r);
    RUN_UNTIL(r->base, r->seen == 2, 10000);
    assert_int_equal(r->seen, 2);
    RUN_UNTIL(r->base, false, 500); /* a commit */
    run_free(r);
    cmd_ok("XADD orders * id 3 country NO amount 1");
    r = counter_new(NULL);
    start(r);
    RUN_UNTIL(r->base, r->seen == 1, 10000);
    RUN_UNTIL(r->base, false, 300);
    assert_int_equal(r->seen, 1);
    bool other = false;
    assert_int_equal(total_of("NO", &other), 3); /* the table was recovered */
    run_free(r);
}

static void start_dollar_skips_what_the_stream_held(void **state) {
    (void)state;
    cmd_ok("XADD orders * id 1 country NO amount 1");
    cmd_ok("XADD orders * id 2 country SE amount 1");
    const char *kv[] = {"redis.topic.orders.start", "$", NULL};
    run_t *r = counter_new(kv);
    start(r);
    RUN_UNTIL(r->base, false, 300);
    cmd_ok("XADD orders * id 3 country DK amount 1");
    RUN_UNTIL(r->base, r->seen == 1, 10000);
    RUN_UNTIL(r->base, false, 300);
    assert_int_equal(r->seen, 1);
    bool other = false;
    assert_int_equal(total_of("DK", &other), 1);
    assert_int_equal(total_of("NO", &other), -1);
    run_free(r);
}

static void start_id_begins_after_that_entry(void **state) {
    (void)state;
    cmd_ok("XADD orders 1000-1 id 1 country NO amount 1");
    cmd_ok("XADD orders 1000-2 id 2 country SE amount 1");
    cmd_ok("XADD orders 1000-3 id 3 country DK amount 1");
    const char *kv[] = {"redis.topic.orders.start", "1000-1", NULL};
    run_t *r = counter_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 2, 10000);
    RUN_UNTIL(r->base, false, 300);
    assert_int_equal(r->seen, 2);
    bool other = false;
    assert_int_equal(total_of("NO", &other), -1);
    assert_int_equal(total_of("SE", &other), 1);
    run_free(r);
}

/* A legacy consumer group read 1-0..3-0 and acknowledged 1-0 and 2-0: rill joining
 * that group takes over at its oldest pending entry, re-reading nothing acked. */
static void joining_a_legacy_group_resumes_at_its_oldest_pending_entry(void **state) {
    (void)state;
    for (int i = 1; i <= 5; i++)
        cmd_ok("XADD orders %d-0 id %d country NO amount 1", i, i);
    cmd_ok("XGROUP CREATE orders legacy 0");
    freeReplyObject(cmd("XREADGROUP GROUP legacy old-worker COUNT 3 STREAMS orders >"));
    cmd_ok("XACK orders legacy 1-0 2-0");
    const char *kv[] = {"redis.group", "legacy", NULL};
    run_t *r = counter_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 3, 10000);
    RUN_UNTIL(r->base, false, 500);
    assert_int_equal(r->seen, 3); /* 3-0, 4-0, 5-0 */
    redisReply *p = cmd("XPENDING orders legacy");
    assert_int_equal(p->element[0]->integer, 0); /* rill acknowledged them in legacy */
    freeReplyObject(p);
    run_free(r);
}

static void a_value_field_and_a_key_field_map_foreign_entries(void **state) {
    (void)state;
    cmd_ok("XADD in * user u1 payload hello source web");
    const char *kv[] = {"redis.topic.in.stream",
                        "in",
                        "redis.topic.in.value.field",
                        "payload",
                        "redis.topic.in.key.field",
                        "user",
                        NULL};
    run_t *r = raw_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 1, 10000);
    assert_int_equal(r->seen, 1);
    assert_string_equal(r->last_value, "hello");
    run_free(r);
}

static void
an_output_topic_with_a_value_field_writes_that_field_and_the_key(void **state) {
    (void)state;
    const char *kv[] = {"redis.topic.out.stream",
                        "plain-out",
                        "redis.topic.out.value.field",
                        "payload",
                        "redis.topic.out.key.field",
                        "user",
                        NULL};
    run_t *r = raw_new(kv);
    rill_topic_t *out = rill_app_topic(r->app, "out", NULL);
    assert_non_null(out);
    start(r);
    assert_int_equal(rill_send(out, "u1", 2, "hi", 2, &rill_send_encoded), RILL_OK);
    RUN_UNTIL(r->base, false, 300);
    redisReply *x = cmd("XRANGE plain-out - +");
    assert_int_equal(x->elements, 1);
    redisReply *f = x->element[0]->element[1];
    assert_int_equal(f->elements, 4); /* payload hi user u1: nothing else */
    assert_string_equal(f->element[0]->str, "payload");
    assert_string_equal(f->element[1]->str, "hi");
    assert_string_equal(f->element[2]->str, "user");
    assert_string_equal(f->element[3]->str, "u1");
    freeReplyObject(x);
    run_free(r);
}

/* value.field=payload, an entry without it: dead-lettered, with a message naming the
 * stream, the ID and the field; the worker goes on with the next entry. */
static void an_entry_without_the_mapped_field_goes_to_on_decode_error(void **state) {
    (void)state;
    cmd_ok("XADD in 5-1 payload one");
    cmd_ok("XADD in 5-2 body two");
    cmd_ok("XADD in 5-3 payload three");
    const char *kv[] = {"redis.topic.in.stream",
                        "in",
                        "redis.topic.in.value.field",
                        "payload",
                        "on_decode_error",
                        "dead_letter",
                        NULL};
    run_t *r = raw_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 2, 10000);
    RUN_UNTIL(r->base, false, 300);
    assert_int_equal(r->seen, 2);
    assert_string_equal(r->last_value, "three");
    assert_int_equal(logged("stream in: entry 5-2 has no field 'payload'"), 1);
    redisReply *d = cmd("XRANGE raw-reader-dead-letter:0 - +");
    assert_int_equal(d->elements, 1);
    redisReply *f = d->element[0]->element[1];
    bool named = false, value = false;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        if (!strcmp(f->element[k]->str, "headers"))
            named = strstr(f->element[k + 1]->str,
                           "stream in: entry 5-2 has no field 'payload'") != NULL;
        if (!strcmp(f->element[k]->str, "value"))
            value = !strcmp(f->element[k + 1]->str, "{\"body\":\"two\"}");
    }
    freeReplyObject(d);
    assert_true(named);
    assert_true(value); /* the whole entry, to repair and replay */
    run_free(r);
}

/* An unbound topic reading entries another program wrote: not keyless tombstones,
 * but on_decode_error=crash stops the worker with the stream, ID and fields. */
static void a_foreign_entry_in_a_rill_stream_is_not_a_silent_tombstone(void **state) {
    (void)state;
    cmd_ok("XADD in:0 7-1 value ok");
    cmd_ok("XADD in:0 7-2 id 7 country NO");
    const char *kv[] = {"redis.topic.in.stream", "in:{p}", "on_decode_error", "crash",
                        NULL};
    run_t *r = raw_new(kv);
    char err[512];
    assert_int_equal(rill_app_start(r->app, err, sizeof err), RILL_OK);
    RUN_UNTIL(r->base, logged("entry 7-2") > 0, 10000);
    assert_int_equal(r->seen, 1);
    const char *m = log_with("entry 7-2");
    assert_non_null(strstr(m, "stream in:0: entry 7-2 has no field 'value' (it has id, "
                              "country)"));
    assert_non_null(strstr(m, "on_decode_error=crash"));
    rill_app_destroy(r->app);
    event_base_free(r->base);
    free(r);
}

static void unreadable_ts_and_headers_fields_are_counted_and_logged(void **state) {
    (void)state;
    cmd_ok("XADD in:0 * value a ts yesterday");
    cmd_ok("XADD in:0 * value b headers not-json");
    cmd_ok("XADD in:0 * value c ts soon");
    const char *kv[] = {"topic.partitions", "1", NULL};
    run_t *r = raw_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 3, 10000);
    assert_int_equal(r->seen, 3); /* delivered all the same */
    assert_int_equal(logged("field 'ts' is not a timestamp in ms"),
                     1); /* 1st, then 10th */
    assert_int_equal(logged("(1 such entries so far)"), 2);
    assert_int_equal(logged("field 'headers' is not a JSON object"), 1);
    run_free(r);
}

static void a_key_of_another_type_stops_the_start_with_one_message(void **state) {
    (void)state;
    cmd_ok("SET orders not-a-stream");
    run_t *r = counter_new(NULL);
    char err[512] = "";
    assert_int_not_equal(rill_app_start(r->app, err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "key 'orders'"));
    assert_non_null(strstr(err, "is a string, not a stream"));
    rill_app_destroy(r->app);
    event_base_free(r->base);
    free(r);
}

/* The stream replaced by a string while the worker reads it: one fatal error that
 * ends the worker, not a retry loop. */
static void a_stream_turned_into_another_type_is_one_fatal_error(void **state) {
    (void)state;
    cmd_ok("XADD in:0 * value a");
    const char *kv[] = {"topic.partitions", "1", NULL};
    run_t *r = raw_new(kv);
    start(r);
    RUN_UNTIL(r->base, r->seen == 1, 10000);
    assert_int_equal(r->seen, 1);
    cmd_ok("DEL in:0");
    cmd_ok("SET in:0 not-a-stream");
    RUN_UNTIL(r->base, logged("is not a stream") > 0, 10000);
    RUN_UNTIL(r->base, false, 1500); /* ample time for a loop to repeat it */
    /* the transport's fatal error, then the core's "worker dies: transport: ..." */
    assert_int_equal(logged("is not a stream"), 2);
    assert_int_equal(logged("worker dies"), 1);
    assert_non_null(
        strstr(log_with("is not a stream"), "'in:0' (a string) is not a stream"));
    assert_non_null(strstr(rill_app_errmsg(r->app), "not a stream"));
    rill_app_destroy(r->app);
    event_base_free(r->base);
    free(r);
}

static void a_list_of_streams_is_one_partition_each(void **state) {
    (void)state;
    cmd_ok("XADD in-eu * payload eu");
    cmd_ok("XADD in-us * payload us");
    const char *kv[] = {"redis.topic.in.stream", "in-eu, in-us",
                        "redis.topic.in.value.field", "payload", NULL};
    run_t *r = raw_new(kv);
    start(r);
    assert_int_equal(rill_topic_partitions(r->orders), 2);
    RUN_UNTIL(r->base, r->seen == 2, 10000);
    assert_int_equal(r->seen, 2);
    run_free(r);
}

static void settings_that_lose_data_are_warned_about_once_at_start(void **state) {
    (void)state;
    cmd_ok("CONFIG SET maxmemory 1gb");
    cmd_ok("CONFIG SET maxmemory-policy allkeys-lru");
    run_t *r = counter_new(NULL);
    start(r);
    RUN_UNTIL(r->base, false, 300);
    cmd_ok("CONFIG SET maxmemory 0");
    cmd_ok("CONFIG SET maxmemory-policy noeviction");
    assert_int_equal(logged("evicts keys when full (maxmemory-policy allkeys-lru"), 1);
    assert_int_equal(logged("has no persistence"), 1); /* the test server saves nothing */
    run_free(r);
}

static void an_unknown_topic_option_is_refused_naming_the_key(void **state) {
    (void)state;
    const char *kv[] = {"redis.topic.orders.streem", "orders", NULL};
    rill_conf_t *c = conf_new(kv);
    char err[512] = "";
    struct event_base *base = event_base_new();
    rill_app_t *app = rill_app_new_with_base("bad", c, base, err, sizeof err);
    if (app) {
        rill_app_topic(app, "orders", NULL);
        assert_int_not_equal(rill_app_start(app, err, sizeof err), RILL_OK);
        rill_app_destroy(app);
    } else {
        rill_conf_destroy(c);
    }
    event_base_free(base);
    assert_non_null(strstr(err, "redis.topic.orders.streem"));
}

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
    struct timeval tv = {2, 0};
    rc_ = redisConnectWithTimeout("127.0.0.1", rill_test_redis_port(srv), tv);
    if (!rc_ || rc_->err) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            orders_are_counted_by_country_and_totals_written_as_plain_entries, setup),
        cmocka_unit_test_setup(a_restart_goes_on_from_the_committed_id, setup),
        cmocka_unit_test_setup(start_dollar_skips_what_the_stream_held, setup),
        cmocka_unit_test_setup(start_id_begins_after_that_entry, setup),
        cmocka_unit_test_setup(joining_a_legacy_group_resumes_at_its_oldest_pending_entry,
                               setup),
        cmocka_unit_test_setup(a_value_field_and_a_key_field_map_foreign_entries, setup),
        cmocka_unit_test_setup(
            an_output_topic_with_a_value_field_writes_that_field_and_the_key, setup),
        cmocka_unit_test_setup(an_entry_without_the_mapped_field_goes_to_on_decode_error,
                               setup),
        cmocka_unit_test_setup(a_foreign_entry_in_a_rill_stream_is_not_a_silent_tombstone,
                               setup),
        cmocka_unit_test_setup(unreadable_ts_and_headers_fields_are_counted_and_logged,
                               setup),
        cmocka_unit_test_setup(a_key_of_another_type_stops_the_start_with_one_message,
                               setup),
        cmocka_unit_test_setup(a_stream_turned_into_another_type_is_one_fatal_error,
                               setup),
        cmocka_unit_test_setup(a_list_of_streams_is_one_partition_each, setup),
        cmocka_unit_test_setup(settings_that_lose_data_are_warned_about_once_at_start,
                               setup),
        cmocka_unit_test_setup(an_unknown_topic_option_is_refused_naming_the_key, setup),
    };
    int rc = cmocka_run_group_tests_name("existing redis streams", tests, NULL, NULL);
    redisFree(rc_);
    rill_test_redis_destroy(srv);
    return rc;
}
