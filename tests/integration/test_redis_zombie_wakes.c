/* A zombie worker wakes up on redis:// (issue 13), against a real redis-server: two
 * word-count workers with a table share "words"; one stops running its loop (a
 * freeze, as SIGSTOP: its heartbeats stop) for longer than the session while the
 * other takes its partitions over, then runs again.  Whatever the zombie does on
 * waking, the group must settle with one owner per partition, nobody may be told
 * twice about a partition it already has, the commits must reach the ends of the
 * streams and every key must be counted at least as often as it was sent.
 *
 * The two workers run in this process on two event_bases; the test dispatches one
 * or both, so the freeze is exact and takes no signal. */
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

#define NPARTS 4
#define NKEYS 100
#define SESSION_MS 1000

static rill_test_redis_t *srv;
static redisContext *rc_;

typedef struct worker {
    const char *name;
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *counts;
    bool frozen;
    bool announced[NPARTS]; /* told assigned() and not taken back since */
    int double_assigned;    /* assigned() for a partition it already had */
    char double_line[512];
    int confirmed; /* "fencing lifted" lines */
} worker_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    return rill_table_incr(w->counts, ev, word, len, 1, NULL);
}

/* The "words[0-1,3]" part of a rebalance line, into @p set. */
static bool words_of(const char *msg, bool set[NPARTS]) {
    memset(set, 0, NPARTS * sizeof set[0]);
    const char *p = strstr(msg, "words[");
    if (!p) return false;
    p += strlen("words[");
    while (*p && *p != ']') {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p) break;
        p = end;
        if (*p == '-') hi = strtol(p + 1, (char **)&p, 10);
        for (long i = lo; i <= hi && i < NPARTS; i++)
            if (i >= 0) set[i] = true;
        if (*p == ',') p++;
    }
    return true;
}

/* Follows what the core tells the log about its partitions: "assigned words[..]"
 * once per assigned() call; "revoked words[..]", a fence (everything dropped) and a
 * refused changelog write (that partition dropped) take them back. */
static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    (void)level;
    (void)name;
    worker_t *w = opaque;
    bool set[NPARTS];
    if (getenv("ZOMBIE_LOG")) fprintf(stderr, "[%s] %s\n", w->name, msg);
    if (!strncmp(msg, "assigned ", 9) && words_of(msg, set)) {
        for (int p = 0; p < NPARTS; p++) {
            if (!set[p]) continue;
            if (w->announced[p] && !w->double_assigned++)
                snprintf(w->double_line, sizeof w->double_line, "%s", msg);
            w->announced[p] = true;
        }
    } else if (!strncmp(msg, "revoked ", 8) && words_of(msg, set)) {
        for (int p = 0; p < NPARTS; p++)
            if (set[p]) w->announced[p] = false;
    } else if (strstr(msg, "partitions are dropped as lost")) {
        memset(w->announced, 0, sizeof w->announced);
    } else if (strstr(msg, "changelog write refused")) {
        const char *p = strstr(msg, "partition ");
        int tp = p ? atoi(p + strlen("partition ")) : -1;
        if (tp >= 0 && tp < NPARTS) w->announced[tp] = false;
    }
    if (strstr(msg, "fencing lifted")) w->confirmed++;
}

static void worker_start(worker_t *w, const char *name) {
    w->name = name;
    w->base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256], ms[16];
    snprintf(ms, sizeof ms, "%d", SESSION_MS);
    rill_conf_set(c, "broker", rill_test_redis_url(srv), err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    rill_conf_set(c, "redis.heartbeat.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "redis.session.timeout.ms", ms, err, sizeof err);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, w);
    w->app = rill_app_new_with_base("wc", c, w->base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = NPARTS};
    w->words = rill_app_topic(w->app, "words", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(w->counts);
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void worker_stop(worker_t *w) {
    rill_app_destroy(w->app);
    event_base_free(w->base);
}

static worker_t ws[2];

/* Run the loops of the workers that are not frozen until @p cond or @p ms pass. */
#define PUMP(cond, ms)                                                                   \
    do {                                                                                 \
        uint64_t end_ = rill_mono_ns() + (uint64_t)(ms)*1000000u;                        \
        while (!(cond) && rill_mono_ns() < end_) {                                       \
            for (int i_ = 0; i_ < 2; i_++)                                               \
                if (!ws[i_].frozen)                                                      \
                    event_base_loop(ws[i_].base, EVLOOP_NONBLOCK | EVLOOP_ONCE);         \
            usleep(500);                                                                 \
        }                                                                                \
    } while (0)

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc_, fmt, ap);
    va_end(ap);
    if (!r) fail_msg("redis: %s", rc_->errstr);
    return r;
}

/* The owner of words[p] ("" when none) into @p buf. */
static void owner_of(int p, char *buf, size_t n) {
    redisReply *r = cmd("GET rill:wc:owner:words:%d", p);
    snprintf(buf, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static int distinct_owners(void) {
    char o[NPARTS][128];
    int n = 0;
    for (int p = 0; p < NPARTS; p++) {
        owner_of(p, o[p], sizeof o[p]);
        if (!o[p][0]) return -1;
        bool seen = false;
        for (int q = 0; q < p; q++)
            seen |= !strcmp(o[p], o[q]);
        n += !seen;
    }
    return n;
}

/* Every partition's committed ID is its stream's last entry. */
static bool caught_up(void) {
    for (int p = 0; p < NPARTS; p++) {
        redisReply *last = cmd("XREVRANGE words:%d + - COUNT 1", p);
        redisReply *c = cmd("HGET rill:wc:committed words:%d", p);
        bool ok =
            last->elements == 0 || (c->type == REDIS_REPLY_STRING &&
                                    !strcmp(c->str, last->element[0]->element[0]->str));
        freeReplyObject(last);
        freeReplyObject(c);
        if (!ok) return false;
    }
    return true;
}

static int rounds;

static void send_round(worker_t *w) {
    char k[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(k, sizeof k, "w%d", i);
        assert_int_equal(rill_send(w->words, k, strlen(k), "1", 1, NULL), RILL_OK);
    }
    rounds++;
}

static void a_zombie_that_wakes_leaves_one_owner_and_every_event_counted(void **state) {
    (void)state;
    freeReplyObject(cmd("FLUSHALL"));
    memset(ws, 0, sizeof ws);
    rounds = 0;
    worker_t *zombie = &ws[0], *survivor = &ws[1];
    worker_start(zombie, "zombie");
    worker_start(survivor, "survivor");
    PUMP(rill_app_is_ready(zombie->app) && rill_app_is_ready(survivor->app) &&
             distinct_owners() == 2,
         15000);
    assert_int_equal(distinct_owners(), 2);
    send_round(survivor);
    PUMP(caught_up(), 15000);
    assert_true(caught_up());

    /* the freeze: past the session, while events come */
    zombie->frozen = true;
    send_round(survivor);
    PUMP(false, SESSION_MS * 3 / 2);
    send_round(survivor);
    PUMP(distinct_owners() == 1, 10000);
    assert_int_equal(distinct_owners(), 1); /* the survivor took everything over */
    PUMP(false, SESSION_MS);                /* frozen past the session, twice */

    /* the wake-up: whatever was due runs first */
    zombie->frozen = false;
    send_round(survivor);
    PUMP(false, 500);
    send_round(survivor);
    PUMP(caught_up() && distinct_owners() == 2 && rill_app_is_ready(zombie->app) &&
             rill_app_is_ready(survivor->app),
         20000);
    PUMP(false, 500); /* a rebalance in flight would show here */

    for (int i = 0; i < 2; i++)
        if (ws[i].double_assigned)
            fail_msg("%s: assigned() %d time(s) for partitions it already had: %s",
                     ws[i].name, ws[i].double_assigned, ws[i].double_line);
    assert_true(caught_up()); /* the commits went on after the wake-up */
    assert_int_equal(distinct_owners(), 2);
    int lost = 0, missing = 0, both = 0;
    for (int i = 0; i < NKEYS; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d", i);
        int owners = 0;
        int64_t got = -1;
        for (int j = 0; j < 2; j++) {
            int64_t v = -1;
            if (rill_table_get(ws[j].counts, NULL, k, strlen(k), &v) != RILL_OK) continue;
            owners++;
            got = v;
        }
        both += owners > 1;
        missing += owners == 0;
        lost += owners == 1 && got < rounds;
    }
    if (missing || both || lost)
        fail_msg("of %d keys sent %d times: %d owned by nobody, %d by both, %d counted "
                 "fewer times",
                 NKEYS, rounds, missing, both, lost);
    worker_stop(zombie);
    worker_stop(survivor);
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
        cmocka_unit_test(a_zombie_that_wakes_leaves_one_owner_and_every_event_counted),
    };
    int rc = cmocka_run_group_tests_name("redis zombie wakes", tests, NULL, NULL);
    redisFree(rc_);
    rill_test_redis_destroy(srv);
    return rc;
}
