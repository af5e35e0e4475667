/* Each fault class of faulty+memory:// has the effect it claims on a real app (a
 * word count with a table), and the core's promises hold under it: nothing acked
 * is lost, no commit passes an event that is not acked or whose sends are not
 * delivered, and failures it cannot ride out stop the worker with a message that
 * says what failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

#define NPART 4

static unsigned seq;
static char name[64]; /* the memory:// broker every test's workers share */

static int setup(void **state) {
    (void)state;
    snprintf(name, sizeof name, "faults-test-%u", ++seq);
    return 0;
}

typedef struct worker {
    const char *faults; /* query of the faulty+memory:// broker, NULL: plain memory:// */
    const char *store;  /* store URL, NULL: memory:// */
    int partitions;
    bool hold;   /* handlers return RILL_PENDING; the test acks */
    bool output; /* handlers send each event on to "out" */
    bool plain;  /* with output: those sends have no callback */
    rill_app_t *app;
    rill_topic_t *words, *out;
    rill_table_t *counts;
    int handled, errors, out_delivered, out_failed;
    rill_event_t *held[1024];
    int nheld;
    int fence_logs, lost_revoke_logs, commit_fail_logs, injected_logs;
    char last_error[512];
    char fence_msg[512]; /* the last fence warning */
} worker_t;

static void on_log(rill_log_level_t level, const char *who, const char *msg,
                   void *opaque) {
    (void)who;
    worker_t *w = opaque;
    if (getenv("FX_DEBUG")) fprintf(stderr, "LOG %d %s\n", level, msg);
    if (strstr(msg, "dropped as lost")) w->fence_logs++;
    if (strstr(msg, "revoked") && strstr(msg, "(lost)")) w->lost_revoke_logs++;
    if (strstr(msg, "commit of") && strstr(msg, "failed")) w->commit_fail_logs++;
    if (strstr(msg, "faults injected") && !strstr(msg, " 0 faults")) w->injected_logs++;
    if (level <= RILL_LOG_ERROR) snprintf(w->last_error, sizeof w->last_error, "%s", msg);
    if (level <= RILL_LOG_WARN && strstr(msg, "dropped as lost"))
        snprintf(w->fence_msg, sizeof w->fence_msg, "%s", msg);
}

static void on_out(rill_err_t err, const char *errmsg, int32_t partition, int64_t offset,
                   void *opaque) {
    (void)errmsg, (void)partition, (void)offset;
    worker_t *w = opaque;
    if (err == RILL_OK)
        w->out_delivered++;
    else
        w->out_failed++;
}

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    if (rill_table_incr(w->counts, ev, word, len, 1, NULL) != RILL_OK) w->errors++;
    if (w->output) {
        rill_bytes_t kb = {(uint8_t *)word, len}, vb = {(uint8_t *)"1", 1};
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.cb = w->plain ? NULL : on_out;
        o.opaque = w;
        if (rill_send(w->out, kb.data, kb.len, vb.data, vb.len, &o) != RILL_OK)
            w->errors++;
    }
    w->handled++;
    if (w->hold && w->nheld < 1024) {
        w->held[w->nheld++] = ev;
        return RILL_PENDING;
    }
    return RILL_OK;
}

static void broker_url(const worker_t *w, char *url, size_t len) {
    if (w->faults)
        snprintf(url, len, "faulty+memory://%s?%s", name, w->faults);
    else
        snprintf(url, len, "memory://%s", name);
}

static void worker_start(worker_t *w, struct event_base *base, const char *const *kv) {
    rill_conf_t *c = rill_conf_new();
    char err[512], url[512];
    broker_url(w, url, sizeof url);
    if (rill_conf_set(c, "broker", url, err, sizeof err) != RILL_CONF_OK)
        fail_msg("broker %s: %s", url, err);
    if (w->store && rill_conf_set(c, "store", w->store, err, sizeof err) != RILL_CONF_OK)
        fail_msg("store %s: %s", w->store, err);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, w);
    for (; kv && kv[0]; kv += 2)
        if (rill_conf_set(c, kv[0], kv[1], err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s: %s", kv[0], err);
    w->app = rill_app_new_with_base("fx", c, base, err, sizeof err);
    if (!w->app) fail_msg("app: %s", err);
    rill_topic_opts_t to = {.partitions = w->partitions ? w->partitions : NPART};
    w->words = rill_app_topic(w->app, "words", &to);
    w->out = rill_app_topic(w->app, "out", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(w->counts);
    rill_agent_opts_t ao = {.concurrency = w->hold ? 1024 : 1};
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, &ao));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void worker_stop(worker_t *w, struct event_base *base) {
    rill_app_stop(w->app);
    RUN_UNTIL(base, false, 100);
    rill_app_destroy(w->app);
    w->app = NULL;
}

/* Send @p n words over @p distinct keys; a full queue (an injected RILL_EFULL) is
 * retried after the loop ran, as a producer would. */
static void send_words(worker_t *w, struct event_base *base, int n, int distinct) {
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "w%d", i % distinct);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        rill_err_t rc;
        int tries = 0;
        while ((rc = rill_send(w->words, kb.data, kb.len, vb.data, vb.len, NULL)) ==
                   RILL_EFULL &&
               ++tries < 100)
            RUN_UNTIL(base, false, 2);
        assert_int_equal(rc, RILL_OK);
    }
}

static int64_t count_of(worker_t *w, int i) {
    char k[32];
    snprintf(k, sizeof k, "w%d", i);
    int64_t v = -1;
    if (rill_table_get(w->counts, NULL, k, strlen(k), &v) != RILL_OK) return -1;
    return v;
}

/* A plain memory:// client of the same broker: what is really on it. */
typedef struct probe {
    rill_transport_t *t;
} probe_t;

static void probe_open(probe_t *p, struct event_base *base) {
    static const rill_transport_handlers_t h = {0};
    char err[256], url[128];
    snprintf(url, sizeof url, "memory://%s", name);
    p->t = rill_transport_new(url, NULL, base, &h, "probe", err, sizeof err);
    if (!p->t) fail_msg("probe: %s", err);
}

static int64_t committed(probe_t *p, int32_t partition) {
    int64_t off = RILL_OFFSET_INVALID;
    assert_int_equal(p->t->ops->committed(p->t, "fx", "words", partition, &off), RILL_OK);
    return off < 0 ? 0 : off;
}

static int64_t high(probe_t *p, const char *topic, int32_t partition) {
    int64_t lo = 0, hi = 0;
    assert_int_equal(p->t->ops->watermarks(p->t, topic, partition, &lo, &hi, 1000),
                     RILL_OK);
    return hi;
}

/* ---- fail.<slot> ---------------------------------------------------------------- */

/* Every other commit fails: the core logs each failure, and what it commits never
 * passes an event that is not acked yet. */
static void failed_commits_never_commit_past_an_unacked_event(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "fail.commit=every:2&seed=11", .partitions = 1, .hold = true};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    probe_t p;
    probe_open(&p, base);
    send_words(&w, base, 200, 20);
    RUN_UNTIL(base, w.nheld >= 200, 3000);
    assert_int_equal(w.nheld, 200);
    /* ack in ten steps; after each, commits run (half of them fail) */
    for (int step = 1; step <= 10; step++) {
        for (int i = (step - 1) * 20; i < step * 20; i++)
            rill_event_ack(w.held[i], RILL_OK);
        for (int t = 0; t < 10; t++) {
            RUN_UNTIL(base, false, 3);
            int64_t c = committed(&p, 0);
            if (c > step * 20)
                fail_msg("committed %lld with only %d events acked", (long long)c,
                         step * 20);
        }
    }
    assert_true(w.commit_fail_logs >= 1);
    assert_true(committed(&p, 0) > 0); /* the others went through */
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

/* A permanent commit outage loses nothing: a new worker reprocesses from the last
 * commit, so every count is at least its true count. */
static void a_commit_outage_reprocesses_rather_than_loses(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {.faults = "fail.commit=after:0&seed=3"};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&a, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(a.app), 2000);
    probe_t p;
    probe_open(&p, base);
    send_words(&a, base, 100, 10);
    RUN_UNTIL(base, a.handled >= 100, 3000);
    RUN_UNTIL(base, false, 100);
    for (int32_t i = 0; i < NPART; i++)
        assert_int_equal(committed(&p, i), 0);
    assert_true(a.commit_fail_logs >= 1);
    worker_stop(&a, base);
    worker_t b = {0};
    worker_start(&b, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(b.app) && b.handled >= 100, 3000);
    RUN_UNTIL(base, false, 100);
    for (int i = 0; i < 10; i++)
        if (count_of(&b, i) < 10)
            fail_msg("w%d: %lld, below its true count 10", i, (long long)count_of(&b, i));
    rill_transport_destroy(p.t);
    worker_stop(&b, base);
    event_base_free(base);
}

/* A full producer queue (RILL_EFULL, then writable) on every third produce: the
 * table's changelog writes wait and retry, and nothing is lost. */
static void a_full_queue_is_waited_out(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "fail.produce=every:3&fail.produce.err=EFULL&seed=5",
                  .output = true};
    const char *kv[] = {"commit.interval.ms", "20", "table.changelog", "per_write", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 90, 9);
    RUN_UNTIL(base, w.handled >= 90, 3000);
    RUN_UNTIL(base, false, 100);
    for (int i = 0; i < 9; i++)
        assert_int_equal(count_of(&w, i), 10);
    probe_t p;
    probe_open(&p, base);
    int64_t changelog = 0;
    for (int32_t i = 0; i < NPART; i++)
        changelog += high(&p, "fx-counts-changelog", i);
    assert_int_equal(changelog, 90); /* per_write: one record per increment */
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

/* A fatal injected failure ends the worker with a message naming the fault. */
static void a_fatal_fault_stops_the_worker_and_says_why(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults =
                      "fail.commit=nth:1&fail.commit.err=EFATAL&fail.commit.fatal=true&"
                      "seed=9"};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 10, 10);
    RUN_UNTIL(base, strstr(w.last_error, "injected"), 3000);
    assert_non_null(strstr(w.last_error, "injected RILL_EFATAL into commit call 1"));
    assert_non_null(strstr(rill_app_errmsg(w.app), "commit"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* ---- delivery reports ------------------------------------------------------------ */

/* Reports of sends made while handling events come late and out of order: the
 * commit of those events waits for them, so it never passes an event whose output
 * is not delivered. */
static void late_and_reordered_reports_hold_the_commit_back(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "delay.delivery.ms=20-120&reorder.delivery=0.5&seed=21",
                  .partitions = 1,
                  .output = true};
    const char *kv[] = {"commit.interval.ms", "5", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    probe_t p;
    probe_open(&p, base);
    send_words(&w, base, 100, 10);
    int checks = 0;
    while (checks++ < 400 && (w.out_delivered < 100 || committed(&p, 0) < 100)) {
        RUN_UNTIL(base, false, 3);
        int64_t c = committed(&p, 0);
        if (c > w.out_delivered)
            fail_msg("committed %lld with %d outputs delivered", (long long)c,
                     w.out_delivered);
    }
    assert_int_equal(w.out_delivered, 100);
    assert_int_equal(committed(&p, 0), 100);
    assert_int_equal(high(&p, "out", 0), 100);
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

/* Sends without a callback share a context (topic.c): their reports still hold
 * back the commit of the events that made them, each one counted. */
static void late_reports_of_sends_without_a_callback_hold_the_commit_back(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "delay.delivery.ms=1000-1100&seed=5",
                  .partitions = 1,
                  .output = true,
                  .plain = true};
    const char *kv[] = {"commit.interval.ms", "5", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    probe_t p;
    probe_open(&p, base);
    send_words(&w, base, 20, 4);
    RUN_UNTIL(base, w.handled == 20, 2000);
    assert_int_equal(w.handled, 20);
    RUN_UNTIL(base, false, 100);
    assert_int_equal(high(&p, "out", 0), 20); /* written, not reported yet */
    assert_int_equal(committed(&p, 0), 0);
    RUN_UNTIL(base, committed(&p, 0) == 20, 5000);
    assert_int_equal(committed(&p, 0), 20);
    assert_int_equal(w.errors, 0);
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

/* The broker wrote the records but their reports are lost (reported failed, as
 * a timed-out request): the worker does not take them for writes.  It dies hard,
 * or fences itself to reprocess, and says the send was not delivered. */
static void a_lost_report_is_not_taken_for_a_write(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "drop.delivery=1&seed=2"};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 10, 10);
    RUN_UNTIL(base, *w.last_error || w.fence_logs, 3000);
    const char *why = *w.last_error ? w.last_error : w.fence_msg;
    if (!strstr(why, "not delivered") && !strstr(why, "delivery report dropped"))
        fail_msg("'%s' does not say a send was not delivered", why);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Some reports of changelog writes time out (written, reported failed): the worker
 * takes each as a possible freeze, fences itself and replays from its last commit
 * instead of dying, and a fresh worker recovering the table from the changelog
 * finds every key at least at its true count. */
static void timed_out_changelog_writes_fence_and_lose_nothing(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "drop.delivery=0.2&seed=9"};
    /* a lease (memory:// has no session of its own): the fence it needs; without
     * one the worker dies hard instead */
    const char *kv[] = {"commit.interval.ms", "10", "lease.stall.ms", "10000", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 400, 100); /* 100 changelog records a flush */
    RUN_UNTIL(base, w.handled >= 400 && w.fence_logs >= 1, 3000);
    RUN_UNTIL(base, false, 200);
    assert_true(w.fence_logs >= 1);
    assert_int_equal(w.last_error[0], '\0'); /* fenced, never died */
    worker_stop(&w, base);
    worker_t fresh = {0};
    worker_start(&fresh, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(fresh.app), 3000);
    RUN_UNTIL(base, false, 200);
    for (int i = 0; i < 100; i++)
        if (count_of(&fresh, i) < 4)
            fail_msg("w%d: %lld in the changelog, below its true count 4", i,
                     (long long)count_of(&fresh, i));
    worker_stop(&fresh, base);
    event_base_free(base);
}

/* Every produce is written twice (a retry after a lost acknowledgement): the log
 * holds each event twice and at-least-once counts both, never fewer. */
static void duplicated_produces_are_counted_twice_not_lost(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "dup.produce=1&seed=4"};
    worker_start(&w, base, NULL);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 40, 10);
    RUN_UNTIL(base, w.handled >= 80, 3000);
    probe_t p;
    probe_open(&p, base);
    int64_t in = 0;
    for (int32_t i = 0; i < NPART; i++)
        in += high(&p, "words", i);
    assert_int_equal(in, 80);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&w, i), 8);
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

/* ---- messages, revokes, stalls -------------------------------------------------- */

/* Half the batches' last messages come a loop turn late, after a pause the core
 * made meanwhile (a small buffer pauses often): every event is counted. */
static void messages_after_a_pause_are_not_lost(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "late.pause=0.5&seed=6"};
    const char *kv[] = {"stream.buffer.maxsize", "2", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 400, 20);
    RUN_UNTIL(base, w.handled >= 400, 5000);
    RUN_UNTIL(base, false, 50);
    for (int i = 0; i < 20; i++)
        if (count_of(&w, i) < 20)
            fail_msg("w%d: %lld, below its true count 20", i, (long long)count_of(&w, i));
    worker_stop(&w, base);
    assert_int_equal(w.injected_logs, 1);
    event_base_free(base);
}

/* A's revokes are reported as lost when b joins: a drops them without writing its
 * unflushed counts, and b, reprocessing from the last commit, counts exactly. */
static void a_revoke_reported_lost_drops_the_partitions(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {.faults = "revoke.lost=1&seed=8"}, b = {0};
    const char *ka[] = {"commit.interval.ms", "60000", NULL};
    worker_start(&a, base, ka);
    RUN_UNTIL(base, rill_app_is_ready(a.app), 2000);
    send_words(&a, base, 400, 40);
    RUN_UNTIL(base, a.handled >= 400, 3000);
    worker_start(&b, base, NULL);
    RUN_UNTIL(base, a.lost_revoke_logs >= 1 && b.handled >= 1, 3000);
    assert_true(a.lost_revoke_logs >= 1);
    assert_int_equal(b.lost_revoke_logs, 0);
    RUN_UNTIL(base, false, 300);
    int on_b = 0;
    for (int i = 0; i < 40; i++) {
        int64_t v = count_of(&b, i);
        if (v < 0) continue;
        on_b++;
        if (v != 10) fail_msg("w%d: %lld on the new owner, expected 10", i, (long long)v);
    }
    assert_true(on_b > 0);
    worker_stop(&b, base);
    worker_stop(&a, base);
    event_base_free(base);
}

/* The loop stalls past the lease (stall.ms, a zombie without SIGSTOP): the worker
 * fences itself, drops its partitions, and reprocesses them with exact counts. */
static void a_stalled_loop_fences_the_worker(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "stall.ms=400&stall.at.ms=300&seed=10"};
    const char *kv[] = {"commit.interval.ms", "60000", "lease.stall.ms", "100", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 100, 10); /* handled before the stall, not committed */
    RUN_UNTIL(base, w.fence_logs >= 1 && w.handled > 100, 3000);
    assert_true(w.fence_logs >= 1);
    assert_true(w.handled > 100); /* processed again after the fence */
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    RUN_UNTIL(base, false, 200);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&w, i), 10);
    worker_stop(&w, base);
    event_base_free(base);
}

/* ---- stores ---------------------------------------------------------------------- */

/* The store refuses a write: the worker stops with a message naming the table. */
static void a_failed_store_write_stops_the_worker_naming_the_table(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.store =
                      "faulty+memory://?fail.write=nth:1&fail.write.err=EIO&seed=12"};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 10, 10);
    RUN_UNTIL(base, *w.last_error, 3000);
    assert_non_null(strstr(w.last_error, "counts"));
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Slow stores and transports change timing only: counts stay exact. */
static void delays_change_nothing_but_time(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "delay.produce.ms=0-2&delay.commit.ms=1-5&seed=13",
                  .store =
                      "faulty+memory://?delay.write.ms=1-3&delay.get.ms=0-1&seed=13"};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    send_words(&w, base, 60, 6);
    RUN_UNTIL(base, w.handled >= 60, 5000);
    RUN_UNTIL(base, false, 50);
    for (int i = 0; i < 6; i++)
        assert_int_equal(count_of(&w, i), 10);
    worker_stop(&w, base);
    event_base_free(base);
}

/* The one commit of a partition that then goes quiet fails: the core commits it
 * again at its next cycle, though no more events come (it used to stay behind
 * until more were acked). */
static void a_failed_commit_is_retried_without_new_events(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {.faults = "fail.commit=nth:1&seed=5", .partitions = 1};
    const char *kv[] = {"commit.interval.ms", "10", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 2000);
    probe_t p;
    probe_open(&p, base);
    send_words(&w, base, 10, 5);
    RUN_UNTIL(base, w.handled >= 10 && w.commit_fail_logs >= 1 && committed(&p, 0) == 10,
              2000);
    assert_int_equal(w.handled, 10);
    assert_int_equal(w.commit_fail_logs, 1);
    assert_int_equal(committed(&p, 0), 10);
    rill_transport_destroy(p.t);
    worker_stop(&w, base);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(failed_commits_never_commit_past_an_unacked_event, setup),
        cmocka_unit_test_setup(a_commit_outage_reprocesses_rather_than_loses, setup),
        cmocka_unit_test_setup(a_failed_commit_is_retried_without_new_events, setup),
        cmocka_unit_test_setup(a_full_queue_is_waited_out, setup),
        cmocka_unit_test_setup(a_fatal_fault_stops_the_worker_and_says_why, setup),
        cmocka_unit_test_setup(late_and_reordered_reports_hold_the_commit_back, setup),
        cmocka_unit_test_setup(
            late_reports_of_sends_without_a_callback_hold_the_commit_back, setup),
        cmocka_unit_test_setup(a_lost_report_is_not_taken_for_a_write, setup),
        cmocka_unit_test_setup(timed_out_changelog_writes_fence_and_lose_nothing, setup),
        cmocka_unit_test_setup(duplicated_produces_are_counted_twice_not_lost, setup),
        cmocka_unit_test_setup(messages_after_a_pause_are_not_lost, setup),
        cmocka_unit_test_setup(a_revoke_reported_lost_drops_the_partitions, setup),
        cmocka_unit_test_setup(a_stalled_loop_fences_the_worker, setup),
        cmocka_unit_test_setup(a_failed_store_write_stops_the_worker_naming_the_table,
                               setup),
        cmocka_unit_test_setup(delays_change_nothing_but_time, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
