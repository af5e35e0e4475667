/* Table partitions moving between workers: recovery from the store checkpoint and
 * the changelog tail before events flow, standby replicas, dropping data that
 * moved away, and loud failure instead of a silent hang.
 *
 * What Faust's tracker taught (see issue 4): recovery reads the changelog with a
 * reader outside the group, so it never waits on a full stream buffer; the
 * partitions it guards are paused from the moment they are assigned until every
 * table partition they need is current, and resume from the group's committed
 * offset (the transport positions them there at assignment), so no event is
 * processed on stale state nor skipped; a revoke in the middle closes the readers
 * and keeps what was applied (the store has the offset), so the next assignment
 * continues where this one stopped; and a recovery that makes no progress for
 * table.recovery.stall.ms ends the worker with the table, partition and offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "table_int.h"

/* Table partition p is ours when partition p of a topic it is co-partitioned
 * with is: the topics agents read that have as many partitions (user topics and
 * group_by repartition topics; not internal ones like "<app>-delayed"). */
static bool partition_needed(const rill_table_t *tb, int32_t p) {
    for (rill_topic_t *t = tb->app->topics; t; t = t->next)
        if (rill__copartitioned(t, tb->partitions) && t->parts[p].assigned &&
            !t->parts[p].revoking)
            return true;
    return false;
}

static rill_err_t open_part(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    rill_store_t *st = t->app->store;
    if (tp->sp) return RILL_OK;
    tp->st_ok = false;
    char err[256] = "";
    rill_err_t rc =
        rill__st_part_open(st, t->name, tp->partition, &tp->sp, err, sizeof err);
    if (rc != RILL_OK) {
        rill_app_fail(t->app, rc, "table '%s' partition %d: store: %s", t->name,
                      tp->partition, err);
        return rc;
    }
    int64_t off = RILL_OFFSET_INVALID;
    if ((rc = rill__st_offset(st, tp->sp, &off)) != RILL_OK) {
        rill_app_fail(t->app, rc,
                      "table '%s' partition %d: store: reading its offset: %s", t->name,
                      tp->partition, rill_err2str(rc));
        return rc;
    }
    tp->store_offset = off;
    tp->cl_next = off >= 0 ? off : -1;
    return RILL_OK;
}

static void close_reader(rill_tpart_t *tp) {
    if (!tp->reader) return;
    rill__tr_reader_close(tp->reader);
    tp->reader = NULL;
}

static const rill_reader_handlers_t changelog_reader;

/* Each partition's changelog reader is its own: it gets only that partition's
 * messages and EOFs, whoever else reads the changelog. */
static rill_err_t open_reader(rill_tpart_t *tp) {
    rill_app_t *app = tp->table->app;
    int64_t from = tp->cl_next >= 0 ? tp->cl_next : RILL_OFFSET_BEGINNING;
    rill_err_t rc =
        rill__tr_reader_open(app->transport, tp->table->changelog->name, tp->partition,
                             from, &changelog_reader, tp, &tp->reader);
    if (rc != RILL_OK) {
        rill_app_fail(app, rc,
                      "table '%s' partition %d: cannot read changelog '%s' from %lld: %s",
                      tp->table->name, tp->partition, tp->table->changelog->name,
                      (long long)from, rill_err2str(rc));
        return rc;
    }
    return RILL_OK;
}

/* Leave a partition: close it, and delete its data unless we keep a copy. */
static void release_part(rill_tpart_t *tp, bool drop) {
    rill_table_t *t = tp->table;
    rill_store_t *st = t->app->store;
    close_reader(tp);
    rill__wcache_clear(&tp->dirty);
    if (tp->sp) rill__st_part_close(st, tp->sp);
    tp->sp = NULL;
    tp->st_ok = false;
    tp->state = RILL_TP_NONE;
    tp->stream_time = INT64_MIN;
    if (drop) {
        char err[256] = "";
        if (rill__st_drop(st, t->name, tp->partition, err, sizeof err) != RILL_OK)
            rill_log(t->app->log, RILL_LOG_WARN, t->app->id,
                     "table '%s' partition %d: dropping moved data: %s", t->name,
                     tp->partition, err);
        tp->store_offset = RILL_OFFSET_INVALID;
        tp->cl_next = -1;
    }
}

static void start_recovery(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    rill_app_t *app = t->app;
    if (tp->state == RILL_TP_STANDBY) close_reader(tp); /* reopen at the store's offset */
    if (open_part(tp) != RILL_OK) return;
    tp->state = RILL_TP_RECOVERING;
    tp->rec_start = tp->cl_next;
    tp->rec_end = -1;
    tp->rec_applied = 0;
    tp->rec_t0_ns = tp->rec_progress_ns = tp->rec_logged_ns = rill_mono_ns();
    int64_t lo, hi;
    if (rill__tr_watermarks(app->transport, t->changelog->name, tp->partition, &lo, &hi,
                            5000) == RILL_OK)
        tp->rec_end = hi;
    rill_log(app->log, RILL_LOG_INFO, app->id,
             "table '%s' partition %d: recovering from changelog offset %lld%s", t->name,
             tp->partition, (long long)(tp->cl_next >= 0 ? tp->cl_next : 0),
             tp->store_offset >= 0 ? " (store checkpoint)" : "");
    open_reader(tp);
}

const rill_tpart_t *rill__tables_global_behind(const rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->opts.global && t->parts && p < t->partitions; p++) {
            const rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_ACTIVE &&
                (tp->state != RILL_TP_STANDBY || !tp->copy_current))
                return tp;
        }
    return NULL;
}

bool rill__tables_recovering(const rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].state == RILL_TP_RECOVERING) return true;
    return false;
}

/* Every partition guarded by recovery resumes once all tables are current. */
static void resume_held(rill_app_t *app) {
    if (rill__tables_recovering(app)) return;
    if (app->recovery_ev) event_del(app->recovery_ev);
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpstate_t *s = &t->parts[p];
            if (!s->held) continue;
            s->held = false;
            s->held_rewound = false;
            int64_t from = s->held_from;
            s->held_from = -1;
            if (!s->assigned) continue;
            /* events delivered while held were dropped: without the seek back they
             * would be skipped, so a failed one ends the worker */
            rill_err_t rc =
                from >= 0 ? rill__tr_seek(app->transport, t->name, p, from) : RILL_OK;
            if (rc != RILL_OK) {
                rill_app_fail(app, rc,
                              "%s[%d]: cannot seek back to %lld after recovery: %s",
                              t->name, p, (long long)from, rill_err2str(rc));
                return;
            }
            if (s->paused) continue;
            rill__tr_resume(app->transport, t->name, p);
        }
    }
}

static void finish_recovery(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    rill_app_t *app = t->app;
    close_reader(tp);
    tp->state = RILL_TP_ACTIVE;
    double secs = (double)(rill_mono_ns() - tp->rec_t0_ns) / 1e9;
    rill_log(app->log, tp->rec_applied > 10000 ? RILL_LOG_INFO : RILL_LOG_DEBUG, app->id,
             "table '%s' partition %d: recovered %llu changelog messages in %.3f s "
             "(%.0f/s), at offset %lld",
             t->name, tp->partition, (unsigned long long)tp->rec_applied, secs,
             secs > 0 ? (double)tp->rec_applied / secs : 0.0, (long long)tp->cl_next);
    resume_held(app);
    if (app->hooks.recovered) app->hooks.recovered(app);
}

static void on_recovery_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    uint64_t now = rill_mono_ns();
    int64_t stall_ms = rill_conf_get_int(app->conf, "table.recovery.stall.ms", 60000);
    for (rill_table_t *t = app->tables; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_RECOVERING) continue;
            if (now - tp->rec_progress_ns > (uint64_t)stall_ms * 1000000u) {
                rill_app_fail(
                    app, RILL_ETIMEDOUT,
                    "recovery of table '%s' partition %d made no progress for %lld "
                    "ms (table.recovery.stall.ms): at changelog '%s' offset %lld, "
                    "end %lld, %llu messages applied",
                    t->name, p, (long long)stall_ms, t->changelog->name,
                    (long long)(tp->cl_next > 0 ? tp->cl_next : 0),
                    (long long)tp->rec_end, (unsigned long long)tp->rec_applied);
                return;
            }
            if (now - tp->rec_logged_ns >= 5000000000u) {
                tp->rec_logged_ns = now;
                double secs = (double)(now - tp->rec_t0_ns) / 1e9;
                double pct = tp->rec_end > tp->rec_start && tp->rec_end > 0
                                 ? 100.0 *
                                       (double)(tp->cl_next -
                                                (tp->rec_start > 0 ? tp->rec_start : 0)) /
                                       (double)(tp->rec_end -
                                                (tp->rec_start > 0 ? tp->rec_start : 0))
                                 : 0;
                rill_log(
                    app->log, RILL_LOG_INFO, app->id,
                    "table '%s' partition %d: recovery %.1f%% (%llu messages, %.0f/s)",
                    t->name, p, pct, (unsigned long long)tp->rec_applied,
                    secs > 0 ? (double)tp->rec_applied / secs : 0.0);
            }
        }
    }
}

/* ---- standbys
 * -------------------------------------------------------------------------- */

/* Follow partition @p tp's changelog as a standby (opened).  A GlobalTable's
 * copy notes the changelog's end, which it must reach to count as current. */
static void open_standby(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    tp->state = RILL_TP_STANDBY;
    tp->copy_current = false;
    tp->copy_end = -1;
    int64_t lo, hi;
    if (t->opts.global && rill__tr_watermarks(t->app->transport, t->changelog->name,
                                              tp->partition, &lo, &hi, 5000) == RILL_OK) {
        tp->copy_end = hi;
        tp->copy_current = tp->cl_next >= hi || hi <= lo;
    }
    open_reader(tp);
}

/* A copy applied the changelog up to @p next (exclusive). */
static void copy_progress(rill_tpart_t *tp, int64_t next) {
    if (tp->state == RILL_TP_STANDBY && !tp->copy_current && tp->copy_end >= 0 &&
        next >= tp->copy_end)
        tp->copy_current = true;
}

/* Which partitions this worker keeps warm.  The transport interface does not tell
 * a worker who the other members are or what they own (librdkafka does not expose
 * it either), and assignors move partitions between survivors on failover, so any
 * partition may land on any worker.  With table.standby_replicas >= 1 every worker
 * therefore follows the changelog of every partition it does not own: a failover
 * or a rebalance then replays only the tail, wherever the partition lands.  (The
 * count N is thus a floor, not an exact number of copies.) */
static bool is_standby(const rill_table_t *t, int32_t p, int32_t nreplicas) {
    if (t->opts.global) return !partition_needed(t, p); /* global_table.c: all held */
    if (nreplicas <= 0 || partition_needed(t, p)) return false;
    for (int32_t q = 0; q < t->partitions; q++)
        if (partition_needed(t, q)) return true; /* a member with no partitions idles */
    return false;
}

static void update_standbys(rill_app_t *app) {
    int32_t n = (int32_t)rill_conf_get_int(app->conf, "table.standby_replicas", 0);
    for (rill_table_t *t = app->tables; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            bool want = is_standby(t, p, n);
            if (tp->kept && tp->state == RILL_TP_NONE && !want &&
                !partition_needed(t, p)) {
                tp->kept = false; /* it moved away for good: drop its data */
                release_part(tp, true);
                continue;
            }
            if (tp->state != RILL_TP_NONE) tp->kept = false;
            if (want && tp->state == RILL_TP_NONE) {
                if (open_part(tp) != RILL_OK) return;
                open_standby(tp);
            } else if (!want && tp->state == RILL_TP_STANDBY) {
                release_part(tp, true);
            }
        }
    }
}

/* ---- transport events
 * -------------------------------------------------------------------- */

void rill__tables_on_assigned(rill_app_t *app, const rill_tp_t *tps, size_t n) {
    if (!app->tables) return;
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if (partition_needed(t, p) &&
                (tp->state == RILL_TP_NONE || tp->state == RILL_TP_STANDBY))
                start_recovery(tp);
        }
    if (rill__tables_recovering(app)) {
        for (size_t i = 0; i < n; i++) {
            rill_topic_t *t = rill__topic_by_name(app, tps[i].topic);
            if (!t || !t->parts || tps[i].partition >= t->partitions) continue;
            rill_tpstate_t *s = &t->parts[tps[i].partition];
            if (s->held) continue;
            s->held = true;
            s->held_from = -1;
            rill__tr_pause(app->transport, tps[i].topic, tps[i].partition);
        }
        if (!app->recovery_ev && !(app->recovery_ev = event_new(app->base, -1, EV_PERSIST,
                                                                on_recovery_tick, app))) {
            rill_app_fail(app, RILL_ENOMEM, "out of memory");
            return;
        }
        struct timeval tv = {1, 0};
        event_add(app->recovery_ev, &tv);
    }
    update_standbys(app);
}

void rill__tables_on_revoked(rill_app_t *app) {
    if (!app->tables) return;
    int32_t n = (int32_t)rill_conf_get_int(app->conf, "table.standby_replicas", 0);
    for (rill_table_t *t = app->tables; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if (partition_needed(t, p) ||
                (tp->state != RILL_TP_ACTIVE && tp->state != RILL_TP_RECOVERING))
                continue;
            if (tp->state == RILL_TP_ACTIVE) rill__tpart_flush(tp);
            /* Recovering: what was applied is in the store with its offset, so a
             * later assignment continues from there. */
            /* Data stays until the next assignment shows where the partition
             * went: an eager rebalance revokes everything and hands most of it
             * straight back, which then replays only the changelog tail. */
            bool keep = is_standby(t, p, n);
            release_part(tp, false);
            tp->kept = !keep;
            if (keep) {
                if (open_part(tp) != RILL_OK) return;
                open_standby(tp);
            }
        }
    }
    resume_held(app);
}

/* Partition p of @p tb belongs to a consumed partition given up as lost. */
static bool partition_lost(const rill_table_t *tb, int32_t p) {
    for (rill_topic_t *t = tb->app->topics; t; t = t->next)
        if (rill__copartitioned(t, tb->partitions) && t->parts[p].lost) return true;
    return false;
}

void rill__tables_on_lost(rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if ((tp->state != RILL_TP_ACTIVE && tp->state != RILL_TP_RECOVERING) ||
                !partition_lost(t, p))
                continue;
            if (tp->dirty.n)
                rill_log(app->log, RILL_LOG_WARN, app->id,
                         "table '%s' partition %d: lost: %zu unflushed writes dropped "
                         "(the new owner reprocesses them from the last commit)",
                         t->name, p, tp->dirty.n);
            rill__wcache_clear(&tp->dirty);
            tp->cl_next = tp->store_offset >= 0 ? tp->store_offset : -1;
            release_part(tp,
                         false); /* what was flushed stays: a return replays the tail */
            tp->kept = true;
        }
    }
    resume_held(app);
}

/* Write @p k changelog records ending at offset @p last to the store in one batch
 * (the one store-write path of recovery and standbys).  False: the worker dies. */
static bool apply_batch(rill_tpart_t *tp, const rill_store_op_t *ops, size_t k,
                        int64_t last) {
    rill_table_t *t = tp->table;
    tp->st_ok = false; /* the store changes (rill__table_stats_live) */
    if (rill__st_write(t->app->store, tp->sp, ops, k, last + 1) != RILL_OK) {
        rill_app_fail(t->app, RILL_ESTORE,
                      "table '%s' partition %d: store write failed "
                      "while applying the changelog at offset %lld",
                      t->name, tp->partition, (long long)last);
        return false;
    }
    tp->cl_next = tp->store_offset = last + 1;
    if (tp->state == RILL_TP_RECOVERING) {
        tp->rec_applied += k;
        t->recovered += k;
    } else {
        t->standby_applied += k;
    }
    return true;
}

/* Apply changelog messages straight to the store (recovery and standbys). */
static void apply(rill_tpart_t *tp, const rill_msg_t *msgs, size_t n) {
    rill_store_op_t ops[256];
    size_t k = 0;
    int64_t last = -1;
    for (size_t i = 0; i < n; i++) {
        const rill_msg_t *m = &msgs[i];
        if (m->offset < tp->cl_next) continue; /* already applied */
        ops[k++] =
            (rill_store_op_t){m->value ? RILL_STORE_PUT : RILL_STORE_DEL,
                              m->key ? m->key : "", m->key_len, m->value, m->value_len};
        last = m->offset;
        if (k == 256) {
            if (!apply_batch(tp, ops, k, last)) return;
            k = 0;
        }
    }
    if (k && !apply_batch(tp, ops, k, last)) return;
    tp->rec_progress_ns = rill_mono_ns();
    if (n) copy_progress(tp, msgs[n - 1].offset + 1);
}

static void on_changelog(rill_reader_t *r, const rill_msg_t *msgs, size_t n,
                         void *opaque) {
    (void)r;
    rill_tpart_t *tp = opaque;
    if ((tp->state == RILL_TP_RECOVERING || tp->state == RILL_TP_STANDBY) && tp->sp)
        apply(tp, msgs, n);
}

static void on_changelog_eof(rill_reader_t *r, int64_t end, void *opaque) {
    (void)r;
    rill_tpart_t *tp = opaque;
    rill_table_t *t = tp->table;
    rill_app_t *app = t->app;
    if (tp->state == RILL_TP_STANDBY && !tp->copy_current &&
        (tp->copy_end < 0 || end >= tp->copy_end))
        tp->copy_current = true; /* read all there was when it opened */
    if (tp->state != RILL_TP_RECOVERING) return;
    tp->rec_progress_ns = rill_mono_ns();
    /* The end of a partition only grows: an end below the one seen when the
     * recovery started is a stale report (a transport's report from before this
     * reader was positioned), and finishing on it would skip every record between,
     * the newer owners' writes. */
    if (tp->rec_end >= 0 && end < tp->rec_end) {
        rill_log(app->log, RILL_LOG_DEBUG, app->id,
                 "table '%s' partition %d: end of changelog at %lld reported, below "
                 "its end %lld when recovery started: stale, still reading",
                 t->name, tp->partition, (long long)end, (long long)tp->rec_end);
        return;
    }
    /* The reader delivered everything before end; offsets missing below it were
     * compacted away, so the partition is current at end. */
    if (end > tp->cl_next) tp->cl_next = end;
    finish_recovery(tp);
}

static const rill_reader_handlers_t changelog_reader = {on_changelog, on_changelog_eof};

void rill__tables_stop_readers(rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            close_reader(&t->parts[p]);
}
