/* The consumer: the transport's handlers.  Messages are routed to the agents,
 * partitions assigned (tables recovered first), revoked (committed, or dropped as
 * lost), readers' messages routed to tables and replies.  Layer 6
 * (docs/architecture.md): calls the kernel and the features below it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "commit_int.h"
#include "consumer_int.h"
#include "forward_int.h"
#include "reply_int.h"
#include "table_int.h"
#include "workers_int.h"

static void finish_revoke(rill_app_t *app);

static rill_tpstate_t *tp_lookup(rill_app_t *app, const char *topic, int32_t partition) {
    rill_topic_t *t;
    /* The pointer alone is not proof: a transport may free a name (librdkafka's
     * partition lists do) and another topic's name may reuse the address. */
    if (topic == app->last_topic_ptr && app->last_topic &&
        !strcmp(app->last_topic->name, topic)) {
        t = app->last_topic;
    } else {
        t = rill__topic_by_name(app, topic);
        app->last_topic_ptr = topic;
        app->last_topic = t;
    }
    if (!t || !t->parts || partition < 0 || partition >= t->partitions) return NULL;
    return &t->parts[partition];
}

void rill__on_messages(rill_transport_t *tr, const rill_msg_t *msgs, size_t n,
                       void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    rill__lease_ok(app); /* a stall before this batch drops every partition first */
    rill_tpstate_t *tp = NULL;
    app->batch_clock = true;
    app->clock_ok = false;
    for (size_t i = 0; i < n; i++) {
        const rill_msg_t *m = &msgs[i];
        /* a batch usually holds one partition: within it, the same name pointer
         * is the same name (the views live as long as the batch) */
        if (!i || m->topic != msgs[i - 1].topic || m->partition != msgs[i - 1].partition)
            tp = tp_lookup(app, m->topic, m->partition);
        if (!tp || !tp->assigned || tp->revoking || tp->lost ||
            app->state != RILL_APP_RUNNING)
            continue;
        if (tp->held) {
            /* A transport may deliver before its pause took effect (librdkafka's
             * assign resumes fetchers).  Nothing may run on a table still being
             * recovered, and nothing may be lost: remember the first offset seen,
             * pause again, and seek back to it before resuming. */
            if (tp->held_from < 0 || m->offset < tp->held_from) tp->held_from = m->offset;
            if (!tp->held_rewound) {
                rill__tr_pause(app->transport, tp->topic->name, tp->partition);
                tp->held_rewound = true;
            }
            continue;
        }
        /* The rest of this partition's run the short way, where it can. */
        size_t done = rill__agents_dispatch_run(app, tp, m, n - i);
        if (done) {
            i += done - 1;
            continue;
        }
        if (!rill__agents_dispatch(app, tp, m)) break;
    }
    app->batch_clock = app->clock_ok = false;
}

/* A partition revoked with its commit refused (the group already rebalancing) and
 * handed straight back to us: nobody else owned it in between, and what we
 * processed up to resume_at is flushed and delivered, so continue from there and
 * commit it, instead of processing it all again from the group's offset. */
static void resume_where_left(rill_app_t *app, rill_tpstate_t *tp) {
    int64_t at = tp->resume_at, group = RILL_OFFSET_INVALID;
    tp->resume_at = -1;
    if (at < 0) return;
    rill_topic_t *t = tp->topic;
    if (rill__tr_committed(app->transport, app->id, t->name, tp->partition, &group) !=
            RILL_OK ||
        group >= at)
        return; /* someone committed past it meanwhile: the group's offset it is */
    rill_err_t rc = rill__tr_seek(app->transport, t->name, tp->partition, at);
    if (rc != RILL_OK) {
        rill__log(app, RILL_LOG_WARN, "%s[%d]: cannot resume at %lld (%s): from %lld",
                  t->name, tp->partition, (long long)at, rill_err2str(rc),
                  (long long)group);
        return;
    }
    tp->acks.acked = at; /* the next commit carries it */
    rill__log(app, RILL_LOG_DEBUG, "%s[%d]: resumed at %lld, past the group's %lld",
              t->name, tp->partition, (long long)at, (long long)group);
}

/* ---- one log line per rebalance ------------------------------------------------- */

static bool tps_have(const rill_tp_t *tps, size_t n, const char *topic, int32_t p) {
    for (size_t i = 0; i < n; i++)
        if (tps[i].partition == p && !strcmp(tps[i].topic, topic)) return true;
    return false;
}

/* A table partition that comes or goes with @p tps: owned here, and partition p of
 * a consumed topic partitioned like the table is in the list. */
static bool table_part_moves(rill_app_t *app, const rill_table_t *tb, int32_t p,
                             const rill_tp_t *tps, size_t n) {
    if (tb->parts[p].state != RILL_TP_RECOVERING && tb->parts[p].state != RILL_TP_ACTIVE)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (tps[i].partition != p) continue;
        rill_topic_t *t = rill__topic_by_name(app, tps[i].topic);
        if (t && t->nagents && t->partitions == tb->partitions) return true;
    }
    return false;
}

/* Append "name[0-3,5]" for the partitions of 0..count-1 that @p has says. */
typedef bool (*part_pred)(rill_app_t *app, const void *what, int32_t p,
                          const rill_tp_t *tps, size_t n);

static void add_ranges(char *line, size_t len, const char *name, int32_t count,
                       part_pred has, rill_app_t *app, const void *what,
                       const rill_tp_t *tps, size_t n) {
    size_t used = strlen(line);
    bool first = true;
    for (int32_t p = 0; p < count && used + 8 < len; p++) {
        if (!has(app, what, p, tps, n)) continue;
        int32_t q = p;
        while (q + 1 < count && has(app, what, q + 1, tps, n))
            q++;
        int w = first ? snprintf(line + used, len - used, "%s%s[", used ? ", " : "", name)
                      : snprintf(line + used, len - used, ",");
        if (w > 0) used += (size_t)w;
        if (used < len)
            w = q > p ? snprintf(line + used, len - used, "%d-%d", p, q)
                      : snprintf(line + used, len - used, "%d", p);
        if (w > 0) used += (size_t)w;
        first = false;
        p = q;
    }
    if (!first && used + 1 < len) {
        line[used++] = ']';
        line[used] = '\0';
    }
    if (used >= len) memcpy(line + len - 4, "...", 4);
}

static bool topic_has(rill_app_t *app, const void *what, int32_t p, const rill_tp_t *tps,
                      size_t n) {
    (void)app;
    return tps_have(tps, n, ((const rill_topic_t *)what)->name, p);
}

static bool table_has(rill_app_t *app, const void *what, int32_t p, const rill_tp_t *tps,
                      size_t n) {
    return table_part_moves(app, what, p, tps, n);
}

/* "assigned orders[0-7], counts-changelog[0-7]": one line for the partitions of a
 * rebalance (and the changelogs of the table partitions they carry).  A worker that
 * has stopped says nothing more at info. */
static void log_rebalance(rill_app_t *app, const char *verb, const rill_tp_t *tps,
                          size_t n, const char *suffix) {
    rill_log_level_t level =
        app->state == RILL_APP_STOPPED ? RILL_LOG_DEBUG : RILL_LOG_INFO;
    if (!n || !rill__log_enabled(app->log, level)) return;
    char line[1024] = "";
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (!t->channel)
            add_ranges(line, sizeof line, t->name, t->partitions, topic_has, app, t, tps,
                       n);
    for (rill_table_t *tb = app->tables; tb; tb = tb->next)
        if (tb->changelog && tb->parts)
            add_ranges(line, sizeof line, tb->changelog->name, tb->partitions, table_has,
                       app, tb, tps, n);
    if (line[0]) rill__log(app, level, "%s %s%s", verb, line, suffix);
}

void rill__on_assigned(rill_transport_t *tr, const rill_tp_t *tps, size_t n,
                       void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    app->rebalances++;
    rill__lease_ok(app);
    rill__lease_on_assigned(app);
    for (size_t i = 0; i < n; i++) {
        rill_tpstate_t *tp = tp_lookup(app, tps[i].topic, tps[i].partition);
        if (!tp) {
            rill__log(app, RILL_LOG_WARN, "assigned unknown partition %s[%d]",
                      tps[i].topic, tps[i].partition);
            continue;
        }
        tp->assigned = true;
        tp->revoking = tp->lost = false;
        tp->paused = false;
        tp->committed = -1;
        tp->gen++;
        rill__acks_reset(&tp->acks);
        resume_where_left(app, tp);
        rill__log(app, RILL_LOG_DEBUG, "assigned %s[%d]", tps[i].topic, tps[i].partition);
    }
    rill__tables_on_assigned(app, tps, n);
    log_rebalance(app, "assigned", tps, n, "");
    rill__workers_changed(app); /* the workers topic learns who owns what */
}

static void on_revoke_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    char where[256] = "";
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && t->parts[p].inflight && !*where)
                snprintf(where, sizeof where, "%s[%d] has %u events in flight", t->name,
                         p, t->parts[p].inflight);
    if (*where) {
        rill_app_fail(app, RILL_ETIMEDOUT,
                      "revoke timed out after %lld ms (revoke.timeout.ms): %s; a handler "
                      "never acked its event",
                      (long long)app->revoke_timeout_ms, where);
        return;
    }
    rill_app_fail(app, RILL_ETIMEDOUT,
                  "revoke timed out after %lld ms (revoke.timeout.ms): %zu sends still "
                  "wait for room in the transport's queue (is anyone consuming?)",
                  (long long)app->revoke_timeout_ms, app->sends_held);
}

/* A revoking partition still waited for: not lost (nothing of a lost one is
 * waited for: its outcome counts nowhere) with events in flight. */
static bool revoke_waits(const rill_app_t *app) {
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && !t->parts[p].lost &&
                (t->parts[p].inflight || app->sends_held))
                return true; /* held sends (backlog.c) leave before the commit */
    return false;
}

/* Forget a partition's consumer state: it is no longer ours. */
static void tp_release(rill_tpstate_t *tp) {
    tp->revoking = tp->assigned = tp->paused = tp->held = false;
    tp->gen++;
    rill__acks_reset(&tp->acks);
}

/* All revoking partitions are idle: commit them and hand them back.  Lost ones
 * are already someone else's: nothing of theirs is flushed or committed. */
static void finish_revoke(rill_app_t *app) {
    if (!app->revoke_active || revoke_waits(app)) return;
    if (app->revoke_ev) event_del(app->revoke_ev);
    bool any_kept = false;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && !t->parts[p].lost) any_kept = true;
    /* Tables of lost partitions go first, unflushed, so the flush below cannot
     * write their stale overlays. */
    if (app->state != RILL_APP_STOPPED) rill__tables_on_lost(app);
    if (any_kept && app->state != RILL_APP_STOPPED && rill__lease_ok(app)) {
        rill__tables_flush(app); /* exactly_once: only after the commit below */
        rill_err_t frc = rill__sends_flush(app, (int)app->shutdown_timeout_ms);
        /* Not all delivered: commit nothing, the next owner processes them again. */
        rill_err_t crc = frc == RILL_OK ? rill__commit(app, true) : frc;
        if (frc != RILL_OK)
            rill__log(app, RILL_LOG_ERROR,
                      "revoke: sends not delivered (%s): the revoked partitions are "
                      "handed back uncommitted, their events are processed again",
                      rill_err2str(frc));
        /* Refused (the group is rebalancing already): if the partition comes
         * straight back, continue from here (everything before is delivered). */
        if (frc == RILL_OK && crc != RILL_OK && !app->eos && rill__lease_ok(app))
            for (rill_topic_t *t = app->topics; t; t = t->next)
                for (int32_t p = 0; t->parts && p < t->partitions; p++) {
                    rill_tpstate_t *tp = &t->parts[p];
                    if (tp->revoking && !tp->lost && tp->acks.acked >= 0 &&
                        !rill__acks_pending(&tp->acks))
                        tp->resume_at = tp->acks.acked;
                }
    }
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->revoking) continue;
            if (tp->lost) tp->resume_at = -1;
            tp_release(tp);
            tp->lost = false;
        }
    }
    if (app->state != RILL_APP_STOPPED) rill__tables_on_revoked(app);
    app->revoke_active = false;
    rill__tr_revoke_answer(app->transport, app->revoke_rv);
    rill__workers_changed(app);
}

/* Give a partition up as lost: what is queued or batched for it is dropped
 * (never acked, so never committed: the new owner reprocesses it from the last
 * commit), and so is its delayed-forward hold. */
static void tp_lose(rill_app_t *app, rill_tpstate_t *tp) {
    tp->lost = true;
    tp->resume_at = -1;
    tp->gen++; /* in-flight events of it finish into nothing */
    rill__agents_drop_queued(app, tp);
    rill__take_drop(app, tp);
    rill__delayed_release(app, tp);
    rill__acks_reset(&tp->acks);
}

void rill__on_revoked(rill_transport_t *tr, const rill_tp_t *tps, size_t n, bool lost,
                      rill_revoke_t rv, void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    app->revoke_active = true;
    app->revoke_rv = rv;                   /* the answer goes to the latest revoke */
    if (!rill__lease_ok(app)) lost = true; /* we may have been replaced already */
    log_rebalance(app, "revoked", tps, n, lost ? " (lost)" : "");
    for (size_t i = 0; i < n; i++) {
        rill_tpstate_t *tp = tp_lookup(app, tps[i].topic, tps[i].partition);
        if (!tp) continue;
        rill__log(app, RILL_LOG_DEBUG, "revoked %s[%d]%s", tps[i].topic, tps[i].partition,
                  lost ? " (lost)" : "");
        tp->revoking = true;
        if (lost) {
            tp_lose(app, tp);
        } else {
            rill__agents_drop_queued(app, tp);
            rill__delayed_release(app, tp);
        }
    }
    /* Partial take() batches are delivered, not lost (may finish the revoke). */
    rill__take_flush_all(app);
    if (!app->revoke_active) return;
    if (!revoke_waits(app)) {
        finish_revoke(app);
        return;
    }
    if (!app->revoke_ev &&
        !(app->revoke_ev = evtimer_new(app->base, on_revoke_timeout, app))) {
        rill_app_fail(app, RILL_ENOMEM, "out of memory");
        return;
    }
    struct timeval tv = {app->revoke_timeout_ms / 1000,
                         (app->revoke_timeout_ms % 1000) * 1000};
    evtimer_add(app->revoke_ev, &tv);
}

void rill__partitions_lose(rill_app_t *app, const rill_tp_t *tps, size_t n) {
    size_t lost = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned || tp->lost) continue;
            if (tps && !tps_have(tps, n, t->name, p)) continue;
            tp_lose(app, tp);
            /* Not revoking: the transport still has it, and says later whether
             * it is still ours (assigned again) or not (revoked). */
            tp->assigned = tp->held = tp->paused = false;
            lost++;
        }
    }
    if (!lost) return;
    rill__tables_on_lost(app);
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (!t->parts[p].revoking) t->parts[p].lost = false;
    rill__workers_changed(app);
}

void rill__consumer_revoke_idle(rill_app_t *app) {
    finish_revoke(app);
}

/* Ready: running, not fenced, every assigned partition recovered and consumed,
 * every partition of every GlobalTable held and current (owned, or a copy that
 * read the changelog up to its end when it opened). */
bool rill_app_is_ready(const rill_app_t *app) {
    if (app->state != RILL_APP_RUNNING || app->fenced || rill__tables_recovering(app) ||
        rill__tables_global_behind(app))
        return false;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].assigned && t->parts[p].held)
                return false; /* not consuming */
    return true;
}
