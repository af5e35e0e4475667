/* Server-side fencing on redis://, against a real redis-server: a produce with
 * fence_topic set is appended only while this member owns that partition (its owner
 * key rill:<group>:owner:<topic>:<p> holds this member's id), checked atomically in
 * a script; otherwise its delivery report says RILL_ENOTOWNER and nothing is
 * appended.  Also session_ms and confirm, the transport's side of the core's
 * self-fencing after a loop stall. */
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

#define MAXREP 64
#define OWNER_KEY "rill:g:owner:in:0"

typedef struct member {
    struct event_base *base;
    rill_transport_t *t;
    rill_transport_handlers_t h;
    char id[64];
    int nmsgs;
    char vals[MAXREP][32];
    int nowned, assigns, revokes, lost_revokes;
    bool hold_revokes;     /* keep the revoke open (held) instead of answering it */
    rill_revoke_t held_rv; /* 0: none held */
    int reports;
    rill_err_t errs[MAXREP];
    char msgs[MAXREP][256];
    int64_t offs[MAXREP];
} member_t;

static void on_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n, void *op) {
    (void)t;
    member_t *m = op;
    for (size_t i = 0; i < n && m->nmsgs < MAXREP; i++)
        snprintf(m->vals[m->nmsgs++], sizeof m->vals[0], "%.*s", (int)msgs[i].value_len,
                 msgs[i].value ? (const char *)msgs[i].value : "");
}

static void on_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *op) {
    (void)t;
    (void)tps;
    member_t *m = op;
    m->assigns++;
    m->nowned += (int)n;
}

static void on_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                       rill_revoke_t rv, void *op) {
    (void)tps;
    member_t *m = op;
    m->revokes++;
    m->lost_revokes += lost;
    m->nowned -= (int)n;
    if (m->hold_revokes)
        m->held_rv = rv;
    else
        rill_transport_revoke_answer(t, rv);
}

static void on_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                     void *op) {
    (void)t;
    (void)op;
    if (fatal) fail_msg("fatal transport error %s: %s", rill_err_name(err), msg);
}

static void on_delivery(rill_err_t err, const char *errmsg, int32_t partition,
                        int64_t offset, void *op) {
    (void)partition;
    member_t *m = op;
    if (m->reports >= MAXREP) return;
    m->errs[m->reports] = err;
    m->offs[m->reports] = offset;
    snprintf(m->msgs[m->reports], sizeof m->msgs[0], "%s", errmsg ? errmsg : "");
    m->reports++;
}

static member_t *member_open_hb(const char *hb_ms) {
    member_t *m = calloc(1, sizeof *m);
    m->base = event_base_new();
    m->h = (rill_transport_handlers_t){
        .messages = on_messages,
        .assigned = on_assigned,
        .revoke_request = on_revoked,
        .error = on_error,
        .opaque = m,
    };
    snprintf(m->id, sizeof m->id, "fence-%d-%u", (int)getpid(), ++seq);
    rill_conf_t *c = rill_conf_new();
    char err[512] = "";
    rill_conf_set(c, "redis.heartbeat.interval.ms", hb_ms, err, sizeof err);
    rill_conf_set(c, "redis.session.timeout.ms", "3000", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    m->t = rill_transport_new(rill_test_redis_url(srv), c, m->base, &m->h, m->id, err,
                              sizeof err);
    rill_conf_destroy(c);
    if (!m->t) fail_msg("cannot open %s: %s", rill_test_redis_url(srv), err);
    const char *names[] = {"in", "out"};
    for (int i = 0; i < 2; i++) {
        rill_topic_spec_t spec = {.name = names[i], .partitions = 1};
        int32_t got = 0;
        if (m->t->ops->declare(m->t, &spec, &got, err, sizeof err))
            fail_msg("declare: %s", err);
    }
    return m;
}

static member_t *member_open(void) {
    return member_open_hb("100");
}

static void member_close(member_t *m) {
    rill_transport_destroy(m->t);
    event_base_free(m->base);
    free(m);
}

/* Subscribe to "in" in group "g" and wait until in[0] is this member's. */
static void own_in0(member_t *m) {
    const char *topics[] = {"in"};
    char err[256] = "";
    if (m->t->ops->subscribe(m->t, "g", topics, 1, err, sizeof err))
        fail_msg("subscribe: %s", err);
    RUN_UNTIL(m->base, m->nowned == 1, 10000);
    assert_int_equal(m->nowned, 1);
}

static void produce(member_t *m, const char *value, bool fenced) {
    rill_produce_t p = {.topic = "out",
                        .partition = 0,
                        .value = value,
                        .value_len = strlen(value),
                        .fence_topic = fenced ? "in" : NULL,
                        .fence_partition = 0};
    assert_int_equal(m->t->ops->produce(m->t, &p, on_delivery, m), RILL_OK);
}

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc_, fmt, ap);
    va_end(ap);
    if (!r) fail_msg("redis: %s", rc_->errstr);
    return r;
}

static void cmd0(const char *fmt, const char *arg) {
    freeReplyObject(cmd(fmt, arg));
}

static long long xlen(const char *key) {
    redisReply *r = cmd("XLEN %s", key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

static int setup(void **state) {
    (void)state;
    freeReplyObject(cmd("FLUSHALL"));
    return 0;
}

/* ---- fenced produce -----------------------------------------------------------------
 */

static void transport_advertises_fencing(void **state) {
    (void)state;
    member_t *m = member_open();
    assert_true(m->t->ops->features & RILL_TRANSPORT_F_FENCING);
    member_close(m);
}

static void fenced_produce_to_an_owned_partition_is_appended(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    produce(m, "v1", true);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->reports, 1);
    assert_int_equal(m->errs[0], RILL_OK);
    assert_true(m->offs[0] > 0);
    assert_int_equal(xlen("out:0"), 1);
    member_close(m);
}

static void
fenced_produce_after_another_member_took_the_partition_is_refused(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member");
    produce(m, "stale", true);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->reports, 1);
    assert_int_equal(m->errs[0], RILL_ENOTOWNER);
    assert_true(m->offs[0] == -1);
    assert_non_null(strstr(m->msgs[0], "fenced: in[0] is owned by another member"));
    assert_int_equal(xlen("out:0"), 0);
    member_close(m);
}

static void fenced_produce_after_the_ownership_expired_is_refused(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    cmd0("DEL %s", OWNER_KEY); /* what a session's expiry does */
    produce(m, "stale", true);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->reports, 1);
    assert_int_equal(m->errs[0], RILL_ENOTOWNER);
    assert_non_null(strstr(m->msgs[0], "in[0]"));
    assert_int_equal(xlen("out:0"), 0);
    member_close(m);
}

/* The core gives a partition up when a changelog write for it is refused; the
 * member must too, even when the owner key is its own again by the next heartbeat
 * (a refusal reported late): else it keeps the partition, refreshes its key and
 * never hands it to the core again, and nobody commits it any more. */
static void a_refused_fenced_produce_gives_the_partition_up_as_lost(void **state) {
    (void)state;
    member_t *m = member_open_hb("2000"); /* no heartbeat in between */
    own_in0(m);
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member");
    produce(m, "stale", true);
    RUN_UNTIL(m->base, m->reports == 1, 1000);
    assert_int_equal(m->reports, 1);
    assert_int_equal(m->errs[0], RILL_ENOTOWNER);
    cmd0("SET " OWNER_KEY " %s PX 60000", m->id);
    RUN_UNTIL(m->base, m->lost_revokes == 1, 1500);
    assert_int_equal(m->lost_revokes, 1);
    RUN_UNTIL(m->base, m->nowned == 1, 10000); /* then acquired afresh */
    assert_int_equal(m->nowned, 1);
    assert_int_equal(m->assigns, 2);
    member_close(m);
}

static void fenced_produce_outside_a_group_is_refused(void **state) {
    (void)state;
    member_t *m = member_open(); /* never subscribed: owns nothing */
    produce(m, "v", true);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->reports, 1);
    assert_int_equal(m->errs[0], RILL_ENOTOWNER);
    assert_int_equal(xlen("out:0"), 0);
    member_close(m);
}

static void unfenced_produce_is_appended_whoever_owns_the_partition(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member");
    produce(m, "free", false);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    assert_int_equal(m->errs[0], RILL_OK);
    assert_int_equal(xlen("out:0"), 1);
    member_close(m);
}

static void fenced_and_unfenced_produces_keep_their_order(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    const char *vals[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
    for (int i = 0; i < 8; i++)
        produce(m, vals[i], i % 3 != 0);
    RUN_UNTIL(m->base, m->reports == 8, 10000);
    assert_int_equal(m->reports, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(m->errs[i], RILL_OK);
        if (i) assert_true(m->offs[i] > m->offs[i - 1]); /* reports in produce order */
    }
    redisReply *r = cmd("XRANGE out:0 - +");
    assert_int_equal(r->elements, 8);
    for (size_t i = 0; i < 8; i++) /* fields: value <v> */
        assert_string_equal(r->element[i]->element[1]->element[1]->str, vals[i]);
    freeReplyObject(r);
    member_close(m);
}

static void fenced_produce_works_after_the_script_cache_is_flushed(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    produce(m, "before", true);
    RUN_UNTIL(m->base, m->reports == 1, 10000);
    freeReplyObject(cmd("SCRIPT FLUSH")); /* EVALSHA now gets NOSCRIPT */
    produce(m, "after", true);
    produce(m, "after2", true);
    RUN_UNTIL(m->base, m->reports == 3, 10000);
    assert_int_equal(m->reports, 3);
    assert_int_equal(m->errs[1], RILL_OK);
    assert_int_equal(m->errs[2], RILL_OK);
    assert_true(m->offs[2] > m->offs[1]);
    assert_int_equal(xlen("out:0"), 3);
    member_close(m);
}

static void fenced_produces_in_flight_are_resent_after_a_reconnect(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    freeReplyObject(cmd("SCRIPT FLUSH")); /* as after a server restart */
    produce(m, "a", true);
    produce(m, "b", false);
    produce(m, "c", true);
    /* queued, not written yet (the loop writes): drop every rill connection */
    freeReplyObject(cmd("CLIENT KILL TYPE normal SKIPME yes"));
    RUN_UNTIL(m->base, m->reports == 3, 10000);
    assert_int_equal(m->reports, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(m->errs[i], RILL_OK);
    redisReply *r = cmd("XRANGE out:0 - +");
    assert_int_equal(r->elements, 3);
    assert_string_equal(r->element[0]->element[1]->element[1]->str, "a");
    assert_string_equal(r->element[2]->element[1]->element[1]->str, "c");
    freeReplyObject(r);
    member_close(m);
}

/* ---- reads past the ownership ------------------------------------------------------ */

static void a_member_past_its_lease_takes_no_entries_from_the_group(void **state) {
    (void)state;
    member_t *m = member_open();
    freeReplyObject(cmd("XADD in:0 * value a"));
    own_in0(m);
    RUN_UNTIL(m->base, m->nmsgs == 1, 10000);
    RUN_UNTIL(m->base, false, 300); /* caught up: reading through the group */
    /* The loop stalls past the session (3 s): its blocked XREADGROUP times out on
     * the server, another member takes the partition and a new entry comes. */
    usleep(1700 * 1000);
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member");
    redisReply *e = cmd("XADD in:0 * value b");
    char id_b[64];
    snprintf(id_b, sizeof id_b, "%s", e->str);
    freeReplyObject(e);
    usleep(1600 * 1000);
    RUN_UNTIL(m->base, m->lost_revokes == 1, 10000);
    assert_int_equal(m->lost_revokes, 1);
    /* the zombie's reads must not have moved the group past b, or the new owner's
     * XREADGROUP > would never see it */
    redisReply *r = cmd("XPENDING in:0 g - + 10 %s", m->id);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    r = cmd("XINFO GROUPS in:0");
    assert_int_equal(r->elements, 1);
    const redisReply *g = r->element[0];
    const char *last = NULL;
    for (size_t i = 0; i + 1 < g->elements; i += 2)
        if (!strcmp(g->element[i]->str, "last-delivered-id"))
            last = g->element[i + 1]->str;
    assert_non_null(last);
    assert_string_not_equal(last, id_b);
    freeReplyObject(r);
    assert_int_equal(m->nmsgs, 1);
    member_close(m);
}

/* The heartbeat timer fires while the last heartbeat still waits for its answer
 * (a slow server, a busy loop): heartbeats must go on afterwards, or the member's
 * keys expire while it still holds its partitions in its own eyes. */
static void heartbeats_go_on_after_one_answered_later_than_the_interval(void **state) {
    (void)state;
    member_t *m = member_open(); /* heartbeat 100 ms, session 3000 ms */
    own_in0(m);
    /* the server busy for 500 ms (a script spinning on TIME), unread meanwhile */
    redisAppendCommand(rc_, "EVAL %s 0",
                       "local t = redis.call('TIME')\n"
                       "local e = t[1] * 1000000 + t[2] + 500000\n"
                       "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= e\n"
                       "return 1");
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(rc_, &done), REDIS_OK);
    RUN_UNTIL(m->base, false, 600);
    void *busy = NULL;
    assert_int_equal(redisGetReply(rc_, &busy), REDIS_OK);
    freeReplyObject(busy);
    RUN_UNTIL(m->base, false, 3500); /* past the session */
    redisReply *r = cmd("GET " OWNER_KEY);
    assert_int_equal(r->type, REDIS_REPLY_STRING); /* still refreshed */
    assert_string_equal(r->str, m->id);
    freeReplyObject(r);
    assert_int_equal(m->lost_revokes, 0);
    assert_int_equal(m->nowned, 1);
    member_close(m);
}

/* ---- session_ms and confirm ------------------------------------------------------- */

static void session_ms_is_the_redis_session_timeout(void **state) {
    (void)state;
    member_t *m = member_open();
    assert_non_null(m->t->ops->session_ms);
    assert_true(m->t->ops->session_ms(m->t) == 3000);
    member_close(m);
}

static void confirm_while_still_owner_reassigns_at_the_committed_id(void **state) {
    (void)state;
    member_t *m = member_open();
    freeReplyObject(cmd("XADD in:0 * value a"));
    freeReplyObject(cmd("XADD in:0 * value b"));
    freeReplyObject(cmd("XADD in:0 * value c"));
    redisReply *first = cmd("XRANGE in:0 - + COUNT 1");
    char id_a[64];
    snprintf(id_a, sizeof id_a, "%s", first->element[0]->element[0]->str);
    freeReplyObject(first);
    own_in0(m);
    RUN_UNTIL(m->base, m->nmsgs == 3, 10000);
    assert_int_equal(m->nmsgs, 3);
    cmd0("HSET rill:g:committed in:0 %s", id_a); /* a is done, b and c are not */
    int assigns = m->assigns;
    char err[256] = "";
    assert_non_null(m->t->ops->confirm);
    assert_int_equal(m->t->ops->confirm(m->t, err, sizeof err), RILL_OK);
    assert_int_equal(m->assigns, assigns + 1); /* assigned() again, inside confirm */
    RUN_UNTIL(m->base, m->nmsgs == 5, 10000);
    assert_int_equal(m->nmsgs, 5); /* delivery restarted after a */
    assert_string_equal(m->vals[3], "b");
    assert_string_equal(m->vals[4], "c");
    assert_int_equal(m->lost_revokes, 0);
    member_close(m);
}

static void confirm_after_losing_the_partition_says_not_owner(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member");
    char err[256] = "";
    assert_non_null(m->t->ops->confirm);
    assert_int_equal(m->t->ops->confirm(m->t, err, sizeof err), RILL_ENOTOWNER);
    assert_non_null(strstr(err, "in[0]"));
    RUN_UNTIL(m->base, m->lost_revokes == 1, 10000); /* revoked(lost) follows */
    assert_int_equal(m->lost_revokes, 1);
    assert_int_equal(m->nowned, 0);
    member_close(m);
}

/* The core confirms after a stall; asked while the member is rebalancing, the
 * transport used to answer "retry", the core asked again once the new assignment
 * had been announced, and that confirm announced the same partitions again
 * (assigned() twice, no revoke between).  Now it answers "not owner": what it
 * holds goes as lost and what the rebalance gives it is announced once. */
static void
confirm_while_rebalancing_gives_up_and_announces_the_next_assignment_once(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    m->hold_revokes = true;
    cmd0("SET " OWNER_KEY " %s PX 60000", "another-member"); /* a heartbeat finds it */
    RUN_UNTIL(m->base, m->held_rv != 0, 10000);
    assert_true(m->held_rv != 0); /* the member is mid-revoke */
    char err[256] = "";
    assert_int_equal(m->t->ops->confirm(m->t, err, sizeof err), RILL_ENOTOWNER);
    assert_non_null(strstr(err, "rebalancing"));
    int assigns = m->assigns;
    m->hold_revokes = false;
    rill_transport_revoke_answer(m->t, m->held_rv);
    cmd0("DEL %s", OWNER_KEY); /* free again: the rebalance acquires it */
    RUN_UNTIL(m->base, m->assigns > assigns, 10000);
    assert_int_equal(m->assigns, assigns + 1);
    assert_int_equal(m->nowned, 1);
    member_close(m);
}

static void confirm_without_redis_says_retry(void **state) {
    (void)state;
    member_t *m = member_open();
    own_in0(m);
    assert_non_null(m->t->ops->confirm);
    rill_test_redis_stop(srv);
    char err[256] = "";
    rill_err_t rc = m->t->ops->confirm(m->t, err, sizeof err);
    bool up = rill_test_redis_restart(srv);
    assert_int_equal(rc, RILL_ERETRY);
    assert_true(up);
    member_close(m);
    redisReconnect(rc_);
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
        cmocka_unit_test_setup(transport_advertises_fencing, setup),
        cmocka_unit_test_setup(fenced_produce_to_an_owned_partition_is_appended, setup),
        cmocka_unit_test_setup(
            fenced_produce_after_another_member_took_the_partition_is_refused, setup),
        cmocka_unit_test_setup(fenced_produce_after_the_ownership_expired_is_refused,
                               setup),
        cmocka_unit_test_setup(a_refused_fenced_produce_gives_the_partition_up_as_lost,
                               setup),
        cmocka_unit_test_setup(fenced_produce_outside_a_group_is_refused, setup),
        cmocka_unit_test_setup(unfenced_produce_is_appended_whoever_owns_the_partition,
                               setup),
        cmocka_unit_test_setup(fenced_and_unfenced_produces_keep_their_order, setup),
        cmocka_unit_test_setup(fenced_produce_works_after_the_script_cache_is_flushed,
                               setup),
        cmocka_unit_test_setup(fenced_produces_in_flight_are_resent_after_a_reconnect,
                               setup),
        cmocka_unit_test_setup(a_member_past_its_lease_takes_no_entries_from_the_group,
                               setup),
        cmocka_unit_test_setup(
            heartbeats_go_on_after_one_answered_later_than_the_interval, setup),
        cmocka_unit_test_setup(session_ms_is_the_redis_session_timeout, setup),
        cmocka_unit_test_setup(confirm_while_still_owner_reassigns_at_the_committed_id,
                               setup),
        cmocka_unit_test_setup(confirm_after_losing_the_partition_says_not_owner, setup),
        cmocka_unit_test_setup(
            confirm_while_rebalancing_gives_up_and_announces_the_next_assignment_once,
            setup),
        cmocka_unit_test_setup(confirm_without_redis_says_retry, setup),
    };
    int rc = cmocka_run_group_tests_name("redis fencing", tests, NULL, NULL);
    redisFree(rc_);
    rill_test_redis_destroy(srv);
    return rc;
}
