/* Fencing on memory://: a worker that lost its partitions (revoked as lost, or a
 * loop stall past its lease) writes nothing more for them — no changelog, no
 * commit — and the new owner's counts are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

static unsigned seq;
static char broker[128];

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://fencing-test-%u", ++seq);
    return 0;
}

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words, *out;
    rill_table_t *counts;
    int handled, errors;
    bool hold;    /* return RILL_PENDING and keep the events */
    int stall_at; /* sleep this long (ms) in the first handler call, once */
    rill_event_t *held[512];
    int nheld;
    int fence_logs;   /* "dropped as lost" warnings seen */
    bool revoke_lost; /* the transport reports every revoke as lost */
} worker_t;

static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    (void)level;
    (void)name;
    worker_t *w = opaque;
    if (strstr(msg, "dropped as lost")) w->fence_logs++;
}

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    if (w->stall_at) {
        struct timespec ts = {0, (long)w->stall_at * 1000000L};
        w->stall_at = 0;
        nanosleep(&ts, NULL); /* the loop is blocked: a zombie without SIGSTOP */
    }
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    if (rill_table_incr(w->counts, ev, word, len, 1, NULL) != RILL_OK) w->errors++;
    w->handled++;
    if (w->hold && w->nheld < 512) {
        w->held[w->nheld++] = ev;
        return RILL_PENDING;
    }
    return RILL_OK;
}

static void worker_start(worker_t *w, struct event_base *base, const char *const *kv) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    char url[256];
    snprintf(url, sizeof url, "%s%s", broker, w->revoke_lost ? "?revoke.lost=true" : "");
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "warn", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, w);
    for (; kv && kv[0]; kv += 2)
        if (rill_conf_set(c, kv[0], kv[1], err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s: %s", kv[0], err);
    w->app = rill_app_new_with_base("fc", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->words = rill_app_topic(w->app, "words", &to);
    w->out = rill_app_topic(w->app, "fc-out", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(w->counts);
    rill_agent_opts_t ao = {.concurrency = w->hold ? 512 : 1};
    assert_non_null(rill_app_agent(w->app, "count", w->words, count_word, w, &ao));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_words(worker_t *w, int n, int distinct) {
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "w%d", i % distinct);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        assert_int_equal(rill_send(w->words, kb.data, kb.len, vb.data, vb.len, NULL),
                         RILL_OK);
    }
}

static int64_t count_of(worker_t *w, int i) {
    char k[32];
    snprintf(k, sizeof k, "w%d", i);
    int64_t v = -1;
    if (rill_table_get(w->counts, NULL, k, strlen(k), &v) != RILL_OK) return -1;
    return v;
}

static int64_t changelog_records(struct event_base *base) {
    static const rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *t =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    assert_non_null(t);
    int64_t total = 0;
    for (int32_t p = 0; p < 4; p++) {
        int64_t lo = 0, hi = 0;
        assert_int_equal(t->ops->watermarks(t, "fc-counts-changelog", p, &lo, &hi, 1000),
                         RILL_OK);
        total += hi - lo;
    }
    rill_transport_destroy(t);
    return total;
}

/* Table partitions this worker owns now (a read of a key there succeeds);
 * rill_table_stats would flush, which a test of what is flushed must not do. */
static int owned(worker_t *w) {
    bool seen[4] = {false};
    int n = 0;
    for (int i = 0; i < 64; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d", i);
        int32_t p = rill_partition_for_key(k, strlen(k), 4);
        int64_t v;
        if (!seen[p] && rill_table_get(w->counts, NULL, k, strlen(k), &v) == RILL_OK) {
            seen[p] = true;
            n++;
        }
    }
    return n;
}

/* Worker a processed everything but flushed nothing (no commit yet) when its
 * partitions are revoked as lost: it writes none of its overlay, so b, which
 * reprocesses them from the start, counts each key exactly once. */
static void lost_revoke_writes_nothing_and_the_new_owner_counts_exactly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {.revoke_lost = true}, b = {0};
    const char *ka[] = {"commit.interval.ms", "60000", NULL};
    worker_start(&a, base, ka);
    RUN_UNTIL(base, rill_app_is_ready(a.app) && owned(&a) == 4, 2000);
    send_words(&a, 400, 40);
    RUN_UNTIL(base, a.handled >= 400, 3000);
    assert_int_equal(a.handled, 400);
    assert_int_equal(changelog_records(base), 0); /* all in a's overlay */
    const char *kb[] = {"commit.interval.ms", "50", NULL};
    worker_start(&b, base, kb);
    RUN_UNTIL(base, owned(&a) == 2 && owned(&b) == 2 && b.handled >= 1, 3000);
    assert_int_equal(owned(&b), 2);
    RUN_UNTIL(base, false, 300);
    int on_b = 0;
    for (int i = 0; i < 40; i++) {
        int64_t v = count_of(&b, i);
        if (v < 0) {
            assert_int_equal(count_of(&a, i), 10); /* still a's: untouched */
            continue;
        }
        on_b++;
        if (v != 10)
            fail_msg("key w%d: %lld on the new owner, expected 10", i, (long long)v);
    }
    assert_true(on_b > 0);
    rill_app_destroy(b.app);
    rill_app_destroy(a.app);
    event_base_free(base);
}

/* Handlers of a's events are still pending when the partitions are lost: the
 * revoke does not wait for them (their outcome counts nowhere), so b gets the
 * partitions at once; a's late acks change nothing. */
static void lost_revoke_does_not_wait_for_events_in_flight(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {.hold = true, .revoke_lost = true}, b = {0};
    const char *ka[] = {"revoke.timeout.ms", "60000", NULL};
    worker_start(&a, base, ka);
    RUN_UNTIL(base, rill_app_is_ready(a.app) && owned(&a) == 4, 2000);
    send_words(&a, 40, 40);
    RUN_UNTIL(base, a.handled >= 40, 3000);
    assert_int_equal(a.nheld, 40);
    worker_start(&b, base, NULL);
    RUN_UNTIL(base, owned(&b) == 2 && b.handled > 0, 3000);
    assert_int_equal(owned(&b), 2);
    int b_before = b.handled;
    for (int i = 0; i < a.nheld; i++)
        rill_event_ack(a.held[i], RILL_OK);
    RUN_UNTIL(base, false, 200);
    assert_true(b_before > 0);
    assert_int_equal(a.errors, 0);
    rill_app_stop(a.app);
    RUN_UNTIL(base, false, 100);
    rill_app_destroy(b.app);
    rill_app_destroy(a.app);
    event_base_free(base);
}

/* Events still pending when their partitions are lost: what the handlers' callbacks
 * send for them afterwards (rill_send with opts.event, rill_event_forward) is
 * refused, as the table writes are, while the partitions a keeps may still send. */
static void sends_after_pending_are_fenced_by_their_events_partition(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {.hold = true, .revoke_lost = true}, b = {0};
    const char *ka[] = {"revoke.timeout.ms", "60000", NULL};
    worker_start(&a, base, ka);
    RUN_UNTIL(base, rill_app_is_ready(a.app) && owned(&a) == 4, 2000);
    send_words(&a, 40, 40);
    RUN_UNTIL(base, a.handled >= 40, 3000);
    assert_int_equal(a.nheld, 40);
    worker_start(&b, base, NULL);
    RUN_UNTIL(base, owned(&a) == 2 && owned(&b) == 2, 3000);
    assert_int_equal(owned(&a), 2);
    int refused = 0, sent = 0;
    for (int i = 0; i < a.nheld; i++) {
        rill_event_t *ev = a.held[i];
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.event = ev;
        rill_err_t rc = rill_send(a.out, "k", 1, "v", 1, &o);
        rill_err_t frc = rill_event_forward(ev, a.out, 0);
        assert_int_equal(rc, frc); /* a forward is fenced the same way */
        if (rc == RILL_ENOTOWNER) {
            refused++;
            assert_non_null(strstr(rill_app_errmsg(a.app), "no longer owned"));
        } else {
            assert_int_equal(rc, RILL_OK);
            sent++;
        }
        rill_event_ack(ev, RILL_OK);
    }
    a.nheld = 0;
    assert_true(refused > 0); /* the events of the two partitions b took */
    assert_true(sent > 0);    /* those of the two a kept */
    rill_app_destroy(b.app);
    rill_app_destroy(a.app);
    event_base_free(base);
}

/* The loop blocks past the lease in a handler (a VM pause, a stuck call): the
 * worker drops every partition as lost before anything else runs — its overlay
 * never reaches the changelog — then, confirmed by the group, processes them
 * again from the last commit, with exact counts. */
static void stall_past_the_lease_drops_partitions_and_reprocesses(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    const char *kv[] = {"commit.interval.ms", "60000", "lease.stall.ms", "100", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app) && owned(&w) == 4, 2000);
    w.stall_at = 400;
    send_words(&w, 100, 10);
    RUN_UNTIL(base, w.handled > 100 && owned(&w) == 4, 3000);
    assert_true(w.handled > 100); /* processed again after the fence */
    assert_true(w.fence_logs >= 1);
    assert_int_equal(changelog_records(base), 0);
    RUN_UNTIL(base, false, 200);
    assert_int_equal(owned(&w), 4);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&w, i), 10);
    rill_app_stop(w.app);
    RUN_UNTIL(base, false, 100);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* Without a stall the lease never fires. */
static void no_stall_no_fence(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    const char *kv[] = {"lease.stall.ms", "2000", NULL};
    worker_start(&w, base, kv);
    RUN_UNTIL(base, rill_app_is_ready(w.app) && owned(&w) == 4, 2000);
    send_words(&w, 100, 10);
    RUN_UNTIL(base, w.handled >= 100, 3000);
    RUN_UNTIL(base, false, 300);
    assert_int_equal(w.handled, 100);
    assert_int_equal(w.fence_logs, 0);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* ---- a stale end-of-partition report during recovery -------------------------- */

/* memory:// whose changelog readers first report a stale end (offset 0, as an
 * earlier reader of the partition could), and only then read for real. */
typedef struct late_open {
    rill_transport_t *t;
    rill_reader_t *r;
    int64_t offset;
    bool eof; /* the stale report; else the real start */
} late_open_t;

static void on_late(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    late_open_t *l = arg;
    if (l->eof)
        l->r->h->eof(l->r, 0, l->r->opaque);
    else
        rill_transport_find("memory")->reader_start(l->t, l->r, l->offset);
    free(l);
}

static void later(rill_transport_t *t, rill_reader_t *r, int64_t offset, bool eof,
                  int ms) {
    late_open_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    *l = (late_open_t){.t = t, .r = r, .offset = offset, .eof = eof};
    struct timeval tv = {0, ms * 1000};
    event_base_once(t->base, -1, EV_TIMEOUT, on_late, l, &tv);
}

static rill_err_t stale_eof_reader_start(rill_transport_t *t, rill_reader_t *r,
                                         int64_t offset) {
    later(t, r, offset, true, 0);
    later(t, r, offset, false, 50);
    return RILL_OK;
}

static struct rill_transport_ops stale_eof_ops;

/* A recovery that hears a stale end of the changelog (below the end it saw when
 * it started) goes on reading: finishing there would skip every record after it,
 * the counts a previous owner wrote. */
static void stale_end_of_changelog_does_not_finish_recovery(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {0};
    worker_start(&a, base, NULL);
    RUN_UNTIL(base, rill_app_is_ready(a.app) && owned(&a) == 4, 2000);
    send_words(&a, 100, 10);
    RUN_UNTIL(base, a.handled >= 100, 3000);
    rill_app_stop(a.app); /* the final flush writes the changelog */
    RUN_UNTIL(base, false, 100);
    rill_app_destroy(a.app);
    assert_true(changelog_records(base) >= 10);
    if (!rill_transport_find("stale-eof")) {
        stale_eof_ops = *rill_transport_find("memory");
        stale_eof_ops.scheme = "stale-eof";
        stale_eof_ops.reader_start = stale_eof_reader_start;
        assert_int_equal(rill_register_transport(&stale_eof_ops), RILL_OK);
    }
    char url[sizeof broker];
    snprintf(url, sizeof url, "stale-eof://%.100s", broker + strlen("memory://"));
    snprintf(broker, sizeof broker, "%s", url);
    worker_t b = {0};
    worker_start(&b, base, NULL);
    RUN_UNTIL(base, rill_app_is_ready(b.app) && owned(&b) == 4, 3000);
    assert_int_equal(owned(&b), 4);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count_of(&b, i), 10); /* recovered, not lost */
    rill_app_destroy(b.app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            lost_revoke_writes_nothing_and_the_new_owner_counts_exactly, setup),
        cmocka_unit_test_setup(lost_revoke_does_not_wait_for_events_in_flight, setup),
        cmocka_unit_test_setup(sends_after_pending_are_fenced_by_their_events_partition,
                               setup),
        cmocka_unit_test_setup(stall_past_the_lease_drops_partitions_and_reprocesses,
                               setup),
        cmocka_unit_test_setup(no_stall_no_fence, setup),
        cmocka_unit_test_setup(stale_end_of_changelog_does_not_finish_recovery, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
