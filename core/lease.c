/* Self-fencing: a worker that may have been replaced writes nothing.
 *
 * A group drops a member it has not heard from for its session timeout and gives
 * its partitions to another.  A worker frozen that long (SIGSTOP, a VM pause, a
 * loop blocked by a handler) does not know it yet when it wakes: its loop runs
 * whatever is due first — a commit with a table flush, the messages fetched
 * before the freeze — and would write stale state over the new owner's (the
 * zombie failure: counts 20-27 % low).  So the worker keeps a lease: after a
 * stall longer than half the session it drops every partition as lost, before
 * anything else runs, and asks the transport whether the group still counts it
 * a member (confirm).  Only a confirmation, or a new assignment, lifts it.
 *
 * Two clocks tell two stalls apart.  The loop's own (the gap between two of its
 * checks) sees every stall; a watchdog thread that only stores timestamps sees
 * the process frozen.  Where the group hears from the member off the loop (Kafka:
 * librdkafka's heartbeat thread) only a frozen process, or a loop stalled past
 * the transport's poll limit, loses the group; where heartbeats run on the loop
 * (Redis) every loop stall does. */
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "backend_int.h"
#include "ctx_int.h"

typedef struct rill_watchdog {
    pthread_t thread;
    atomic_bool stop;
    atomic_uint_fast64_t max_gap_ns; /* largest gap between two ticks, since read */
    atomic_uint_fast64_t last_ns;    /* its last tick */
    uint64_t tick_ns;
} rill_watchdog_t;

static void *watchdog_main(void *arg) {
    rill_watchdog_t *w = arg;
    uint64_t last = rill_mono_ns();
    struct timespec ts = {(time_t)(w->tick_ns / 1000000000u),
                          (long)(w->tick_ns % 1000000000u)};
    while (!atomic_load(&w->stop)) {
        nanosleep(&ts, NULL);
        uint64_t now = rill_mono_ns(), gap = now - last;
        last = now;
        atomic_store(&w->last_ns, now);
        uint64_t cur = atomic_load(&w->max_gap_ns);
        while (gap > cur && !atomic_compare_exchange_weak(&w->max_gap_ns, &cur, gap)) {
        }
    }
    return NULL;
}

static void on_confirm(evutil_socket_t fd, short what, void *arg);

static void confirm_later(rill_app_t *app, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (app->confirm_ev) evtimer_add(app->confirm_ev, &tv);
}

static void on_confirm(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    if (!app->fenced || app->state != RILL_APP_RUNNING) return;
    if (!rill__tr_can_confirm(app->transport)) return; /* its next assignment lifts it */
    char err[256] = "";
    rill_err_t rc = rill__tr_confirm(app->transport, err, sizeof err);
    if (!app->fenced || app->state != RILL_APP_RUNNING) return;
    if (rc == RILL_OK) {
        app->fenced = false;
        rill__log(app, RILL_LOG_INFO,
                  "the group confirmed this member%s%s: fencing lifted", *err ? " " : "",
                  err);
    } else if (rc == RILL_ENOTOWNER) {
        /* The transport gives up all it held as lost and announces each partition
         * it gets from now on: that assignment lifts the fence, no second confirm
         * (it would announce those partitions a second time). */
        app->fence_replaced = true;
        rill__log(app, RILL_LOG_INFO,
                  "this member was replaced%s%s; waiting for the group's new assignment",
                  *err ? ": " : "", err);
    } else {
        rill__log(app, RILL_LOG_DEBUG, "membership not confirmed yet (%s%s%s)",
                  rill_err_name(rc), *err ? ": " : "", err);
        confirm_later(app, 200);
    }
}

void rill__lease_on_assigned(rill_app_t *app) {
    if (!app->fenced) return;
    if (rill__tr_can_confirm(app->transport) && !app->fence_replaced) {
        confirm_later(app, 0);
        return;
    }
    app->fenced = false; /* no other word from the group to wait for */
    rill__log(app, RILL_LOG_INFO, "assigned again: fencing lifted");
}

/* Drop everything: we may no longer own any of it. */
static void fence(rill_app_t *app, uint64_t stall_ms, const char *what) {
    app->fenced = true;
    app->fence_replaced = false;
    rill__log(app, RILL_LOG_WARN,
              "%s for %llu ms (lease %lld ms): this worker may have been replaced; "
              "all its partitions are dropped as lost until the group confirms it",
              what, (unsigned long long)stall_ms, (long long)app->stall_ms);
    app->hooks.lose(app, NULL, 0);
    confirm_later(app, 0);
}

void rill__lease_fence(rill_app_t *app, const char *why) {
    if (app->fenced || app->state != RILL_APP_RUNNING) {
        rill__log(app, RILL_LOG_DEBUG, "%s (already fenced)", why);
        return;
    }
    if (!app->confirm_ev) { /* no lease, no confirm: die hard, a restart recovers */
        rill_app_fail(app, RILL_ETIMEDOUT, "%s", why);
        return;
    }
    app->fenced = true;
    app->fence_replaced = false;
    rill__log(app, RILL_LOG_WARN,
              "%s: this worker may have been replaced; all its partitions are dropped "
              "as lost until the group confirms it",
              why);
    app->hooks.lose(app, NULL, 0);
    confirm_later(app, 0);
}

bool rill__lease_ok(rill_app_t *app) {
    if (!app->stall_ms || app->fenced) return !app->fenced;
    uint64_t now = rill_mono_ns(), gap = now - app->lease_seen_ns;
    app->lease_seen_ns = now;
    if (app->state != RILL_APP_RUNNING && app->state != RILL_APP_STOPPING) return true;
    uint64_t limit = (uint64_t)app->stall_ms * 1000000u;
    rill_watchdog_t *w = app->watchdog;
    uint64_t frozen = gap;
    if (w) {
        /* The gap the watchdog saw, or, when the loop runs first after a freeze
         * (before the watchdog thread was scheduled again), the time since its
         * last tick: a busy loop does not stop it ticking, a frozen process does. */
        uint64_t seen = atomic_exchange(&w->max_gap_ns, 0),
                 last = atomic_load(&w->last_ns);
        frozen = now > last && now - last > seen ? now - last : seen;
    }
    if (frozen > limit)
        fence(app, frozen / 1000000u, "the process was frozen");
    else if (gap > (uint64_t)app->loop_stall_ms * 1000000u)
        fence(app, gap / 1000000u, "the loop stalled");
    return !app->fenced;
}

/* Trigger a stall check when the loop has been idle (nothing else checks). */
static void on_lease_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill__lease_ok(arg);
}

rill_err_t rill__lease_start(rill_app_t *app) {
    int64_t conf = rill_conf_get_int(app->conf, "lease.stall.ms", 0);
    int64_t session = rill__tr_session_ms(app->transport);
    int64_t poll = rill__tr_poll_ms(app->transport);
    app->stall_ms = conf < 0 ? 0 : conf > 0 ? conf : session / 2;
    if (!app->stall_ms) return RILL_OK;
    /* heartbeats off the loop: the loop may stall up to the poll limit */
    app->loop_stall_ms = poll > 0 ? (conf > 0 ? conf : poll / 2) : app->stall_ms;
    app->lease_seen_ns = rill_mono_ns();
    /* An eighth of the stall: a gap is measured at most a tick longer than the
     * stall, so every stall past the limit is caught, and one up to a tick short
     * of it may be (the safe side).  At most 1 s (it was 100 ms: 20 wakeups a
     * second of an idle worker, its loop's and the watchdog's, a third of its
     * CPU on Kafka; issue 13 item 5). */
    int64_t tick = app->stall_ms / 8 > 1000 ? 1000
                   : app->stall_ms / 8 < 5  ? 5
                                            : app->stall_ms / 8;
    if (!(app->lease_ev = event_new(app->base, -1, EV_PERSIST, on_lease_tick, app)) ||
        !(app->confirm_ev = evtimer_new(app->base, on_confirm, app)))
        return RILL_ENOMEM;
    struct timeval tv = {tick / 1000, (tick % 1000) * 1000};
    event_add(app->lease_ev, &tv);
    if (poll > 0) { /* only a frozen process is told apart by a second clock */
        rill_watchdog_t *w = calloc(1, sizeof *w);
        if (!w) return RILL_ENOMEM;
        w->tick_ns = (uint64_t)tick * 1000000u;
        atomic_init(&w->stop, false);
        atomic_init(&w->max_gap_ns, 0);
        atomic_init(&w->last_ns, rill_mono_ns());
        if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
            free(w);
            return RILL_EFATAL;
        }
        app->watchdog = w;
    }
    rill__log(app, RILL_LOG_DEBUG,
              "lease: fenced after a stall of %lld ms (loop: %lld ms)",
              (long long)app->stall_ms, (long long)app->loop_stall_ms);
    return RILL_OK;
}

void rill__lease_stop(rill_app_t *app) {
    if (app->lease_ev) event_del(app->lease_ev);
    if (app->confirm_ev) event_del(app->confirm_ev);
    rill_watchdog_t *w = app->watchdog;
    if (w) {
        atomic_store(&w->stop, true);
        pthread_join(w->thread, NULL);
        free(w);
        app->watchdog = NULL;
    }
}

void rill__lease_free(rill_app_t *app) {
    rill__lease_stop(app);
    if (app->lease_ev) event_free(app->lease_ev);
    if (app->confirm_ev) event_free(app->confirm_ev);
    app->lease_ev = app->confirm_ev = NULL;
}
