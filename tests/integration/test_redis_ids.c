/* Redis stream IDs that rill's offsets cannot hold, against a real redis-server.
 *
 * Offsets pack a stream ID ms-seq as (ms << 20) | seq, so only IDs up to
 * 8796093022207-1048574 have one.  Redis accepts bigger ones (XADD with an explicit
 * ID), and once a stream holds one, every later "*" ID is at least as big.  Such an
 * entry must stop the consumer loudly (naming the stream, the ID and the limit)
 * instead of being skipped, and a produce that lands beyond the limit must report
 * an error instead of success at offset -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <rill/rill.h>

#include "redis_server.h"
#include "run_until.h"

static rill_test_redis_t *srv;
static redisContext *rc_;
static unsigned seq;

#define MAXMSG 64

typedef struct member {
    struct event_base *base;
    rill_transport_t *t;
    rill_transport_handlers_t h;
    char id[64];
    int nmsgs;
    char vals[MAXMSG][32];
    int64_t offs[MAXMSG];
    int assigns, eofs;
    bool fatal;
    rill_err_t fatal_err;
    char fatal_msg[512];
    int reports;
    rill_err_t report_err;
    char report_msg[512];
    int64_t report_off;
} member_t;

static void on_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n, void *op) {
    (void)t;
    member_t *m = op;
    for (size_t i = 0; i < n && m->nmsgs < MAXMSG; i++) {
        snprintf(m->vals[m->nmsgs], sizeof m->vals[0], "%.*s", (int)msgs[i].value_len,
                 msgs[i].value ? (const char *)msgs[i].value : "");
        m->offs[m->nmsgs++] = msgs[i].offset;
    }
}

static void on_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *op) {
    (void)t;
    (void)tps;
    (void)n;
    ((member_t *)op)->assigns++;
}

static void on_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                       rill_revoke_t rv, void *op) {
    (void)tps;
    (void)n;
    (void)lost;
    (void)op;
    rill_transport_revoke_answer(t, rv);
}

static void on_reader_messages(rill_reader_t *r, const rill_msg_t *msgs, size_t n,
                               void *op) {
    on_messages(r->t, msgs, n, op);
}

static void on_eof(rill_reader_t *r, int64_t end, void *op) {
    (void)r;
    (void)end;
    ((member_t *)op)->eofs++;
}

static const rill_reader_handlers_t reader_h = {on_reader_messages, on_eof};

static void on_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                     void *op) {
    (void)t;
    member_t *m = op;
    if (!fatal || m->fatal) return;
    m->fatal = true;
    m->fatal_err = err;
    snprintf(m->fatal_msg, sizeof m->fatal_msg, "%s", msg);
}

static void on_delivery(rill_err_t err, const char *errmsg, int32_t partition,
                        int64_t offset, void *op) {
    (void)partition;
    member_t *m = op;
    m->reports++;
    m->report_err = err;
    m->report_off = offset;
    snprintf(m->report_msg, sizeof m->report_msg, "%s", errmsg ? errmsg : "");
}

static member_t *member_open(void) {
    member_t *m = calloc(1, sizeof *m);
    m->base = event_base_new();
    m->h = (rill_transport_handlers_t){
        .messages = on_messages,
        .assigned = on_assigned,
        .revoke_request = on_revoked,
        .error = on_error,
        .opaque = m,
    };
    snprintf(m->id, sizeof m->id, "ids-%d-%u", (int)getpid(), ++seq);
    rill_conf_t *c = rill_conf_new();
    char err[512] = "";
    rill_conf_set(c, "redis.heartbeat.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "redis.session.timeout.ms", "2000", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    m->t = rill_transport_new(rill_test_redis_url(srv), c, m->base, &m->h, m->id, err,
                              sizeof err);
    rill_conf_destroy(c);
    if (!m->t) fail_msg("cannot open %s: %s", rill_test_redis_url(srv), err);
    rill_topic_spec_t spec = {.name = "in", .partitions = 1};
    int32_t got = 0;
    if (m->t->ops->declare(m->t, &spec, &got, err, sizeof err))
        fail_msg("declare: %s", err);
    return m;
}

static void member_close(member_t *m) {
    rill_transport_destroy(m->t);
    event_base_free(m->base);
    free(m);
}

static void subscribe(member_t *m) {
    const char *topics[] = {"in"};
    char err[256] = "";
    if (m->t->ops->subscribe(m->t, "g", topics, 1, err, sizeof err))
        fail_msg("subscribe: %s", err);
}

/* XADD in:0 <id> value <v>, by another client than rill */
static void xadd(const char *id, const char *value) {
    redisReply *r = redisCommand(rc_, "XADD in:0 %s value %s", id, value);
    if (!r || r->type != REDIS_REPLY_STRING)
        fail_msg("XADD in:0 %s: %s", id, r && r->str ? r->str : rc_->errstr);
    freeReplyObject(r);
}

static int setup(void **state) {
    (void)state;
    redisReply *r = redisCommand(rc_, "FLUSHALL");
    if (r) freeReplyObject(r);
    return 0;
}

/* ---- consuming ------------------------------------------------------------------ */

static void unpackable_entry_id_fails_loudly_naming_stream_and_id(void **state) {
    (void)state;
    xadd("*", "a");
    xadd("9999999999999-123456789", "poison");
    member_t *m = member_open();
    subscribe(m);
    RUN_UNTIL(m->base, m->fatal, 10000);
    assert_true(m->fatal);
    assert_non_null(strstr(m->fatal_msg, "in:0"));
    assert_non_null(strstr(m->fatal_msg, "9999999999999-123456789"));
    assert_non_null(strstr(m->fatal_msg, "8796093022207-1048574")); /* the limit */
    member_close(m);
}

static void entry_with_a_sequence_over_20_bits_is_not_skipped(void **state) {
    (void)state;
    /* its ms fits, so later "*" IDs fit again: today's silent skip would go on */
    xadd("1-2000000", "poison");
    xadd("*", "after");
    member_t *m = member_open();
    subscribe(m);
    RUN_UNTIL(m->base, m->fatal, 10000);
    RUN_UNTIL(m->base, false, 500); /* time to (wrongly) deliver what follows */
    assert_true(m->fatal);
    assert_non_null(strstr(m->fatal_msg, "1-2000000"));
    assert_int_equal(m->nmsgs, 0);
    member_close(m);
}

static void entries_before_an_unpackable_id_are_delivered_in_order(void **state) {
    (void)state;
    xadd("*", "a");
    xadd("*", "b");
    xadd("9999999999999-1", "poison");
    xadd("*", "after");
    member_t *m = member_open();
    subscribe(m);
    RUN_UNTIL(m->base, m->fatal, 10000);
    assert_true(m->fatal);
    assert_int_equal(m->nmsgs, 2);
    assert_string_equal(m->vals[0], "a");
    assert_string_equal(m->vals[1], "b");
    member_close(m);
}

static void the_largest_packable_id_is_delivered_exactly(void **state) {
    (void)state;
    xadd("8796093022207-1048574", "last");
    member_t *m = member_open();
    subscribe(m);
    RUN_UNTIL(m->base, m->nmsgs == 1 || m->fatal, 10000);
    assert_false(m->fatal);
    assert_int_equal(m->nmsgs, 1);
    assert_true(m->offs[0] == INT64_MAX - 1); /* room left for the next offset */
    member_close(m);
}

static void reader_fails_loudly_on_an_unpackable_id(void **state) {
    (void)state;
    xadd("*", "a");
    xadd("9999999999999-123456789", "poison");
    member_t *m = member_open();
    rill_reader_t *r = NULL;
    assert_int_equal(
        rill_reader_open(m->t, "in", 0, RILL_OFFSET_BEGINNING, &reader_h, m, &r),
        RILL_OK);
    RUN_UNTIL(m->base, m->fatal, 10000);
    assert_true(m->fatal);
    assert_non_null(strstr(m->fatal_msg, "in:0"));
    assert_non_null(strstr(m->fatal_msg, "9999999999999-123456789"));
    assert_int_equal(m->eofs, 0); /* the partition's end was never reached */
    member_close(m);
}

/* ---- producing and watermarks ------------------------------------------------------ */

static void produce_with_unrepresentable_offset_reports_error(void **state) {
    (void)state;
    xadd("9999999999999-123456789", "poison"); /* the next "*" ID is bigger still */
    member_t *m = member_open();
    rill_produce_t p = {.topic = "in", .partition = 0, .value = "v", .value_len = 1};
    assert_int_equal(m->t->ops->produce(m->t, &p, on_delivery, m), RILL_OK);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->reports, 1);
    assert_int_not_equal(m->report_err, RILL_OK);
    assert_true(m->report_off == -1);
    assert_non_null(strstr(m->report_msg, "in:0"));
    assert_non_null(strstr(m->report_msg, "9999999999999-12345679")); /* ...0, Redis' */
    assert_non_null(strstr(m->report_msg, "8796093022207-1048574"));
    member_close(m);
}

static void watermarks_of_a_stream_ending_in_an_unpackable_id_fail(void **state) {
    (void)state;
    xadd("*", "a");
    xadd("9999999999999-123456789", "poison");
    member_t *m = member_open();
    int64_t low = -7, high = -7;
    assert_int_not_equal(m->t->ops->watermarks(m->t, "in", 0, &low, &high, 5000),
                         RILL_OK);
    member_close(m);
}

int main(void) {
    srv = rill_test_redis_start(false);
    if (!srv) return 1;
    struct timeval tv = {5, 0};
    rc_ = redisConnectWithTimeout("127.0.0.1", rill_test_redis_port(srv), tv);
    if (!rc_ || rc_->err) {
        fprintf(stderr, "cannot connect to the test redis-server\n");
        rill_test_redis_destroy(srv);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(unpackable_entry_id_fails_loudly_naming_stream_and_id,
                               setup),
        cmocka_unit_test_setup(entry_with_a_sequence_over_20_bits_is_not_skipped, setup),
        cmocka_unit_test_setup(entries_before_an_unpackable_id_are_delivered_in_order,
                               setup),
        cmocka_unit_test_setup(the_largest_packable_id_is_delivered_exactly, setup),
        cmocka_unit_test_setup(reader_fails_loudly_on_an_unpackable_id, setup),
        cmocka_unit_test_setup(produce_with_unrepresentable_offset_reports_error, setup),
        cmocka_unit_test_setup(watermarks_of_a_stream_ending_in_an_unpackable_id_fail,
                               setup),
    };
    int rc = cmocka_run_group_tests_name("redis stream IDs", tests, NULL, NULL);
    redisFree(rc_);
    rill_test_redis_destroy(srv);
    return rc;
}
