/* The commit cycle: a snapshot of every partition's acked offset, committed once
 * the sends issued before it are delivered (at-least-once for everything an event
 * produced), or through a transaction (txn.c).  Layer 6 (docs/architecture.md). */
#include <stdlib.h>

#include "backend_int.h"
#include "commit_int.h"
#include "table_int.h"

void rill__commit_count(rill_app_t *app, rill_err_t rc, bool fenced, uint64_t t0_ns) {
    rill__hist_add(&app->commit_latency, rill_mono_ns() - t0_ns);
    if (rc == RILL_OK)
        app->commits_ok++;
    else if (fenced)
        app->commits_fenced++;
    else
        app->commits_failed++;
}

static void snap_add(rill_app_t *app, const char *topic, int32_t partition, int64_t off) {
    if (app->ncommit_snap == app->capcommit_snap) {
        size_t cap = app->capcommit_snap ? app->capcommit_snap * 2 : 32;
        rill_tp_offset_t *n = realloc(app->commit_snap, cap * sizeof *n);
        if (!n) return;
        app->commit_snap = n;
        app->capcommit_snap = cap;
    }
    app->commit_snap[app->ncommit_snap++] = (rill_tp_offset_t){topic, partition, off};
}

void rill__commit_snap_acked(rill_app_t *app) {
    app->ncommit_snap = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (tp->assigned && tp->acks.acked >= 0 && tp->acks.acked > tp->committed)
#ifdef RILL_BREAK_COMMIT_AHEAD /* broken on purpose: scripts/check-broken-builds */
                snap_add(app, t->name, p, tp->acks.acked + 1);
#else
                snap_add(app, t->name, p, tp->acks.acked);
#endif
        }
    }
}

void rill__commit_snap_done(rill_app_t *app) {
    for (size_t i = 0; i < app->ncommit_snap; i++) {
        rill_topic_t *t = rill__topic_by_name(app, app->commit_snap[i].topic);
        if (t)
            t->parts[app->commit_snap[i].partition].committed =
                app->commit_snap[i].offset;
    }
}

rill_err_t rill__commit_snapshot(rill_app_t *app) {
    app->commit_pending = false;
    if (!app->ncommit_snap || !app->transport) return RILL_OK;
    if (!rill__lease_ok(app)) { /* replaced meanwhile, perhaps: not ours to commit */
        app->ncommit_snap = 0;
        app->commits_fenced++;
        return RILL_ENOTOWNER;
    }
    uint64_t t0 = rill_mono_ns();
    rill_err_t rc = rill__tr_commit(app->transport, app->commit_snap, app->ncommit_snap);
    rill__commit_count(app, rc, rc == RILL_ENOTOWNER, t0);
    if (rc != RILL_OK) {
        rill__log(app, RILL_LOG_WARN,
                  "commit of %zu partitions failed: %s (committed again next time)",
                  app->ncommit_snap, rill_err2str(rc));
        /* The snapshot marked them committed: unmark, so the next cycle commits
         * them again even when no more events come (a quiet partition). */
        for (size_t i = 0; i < app->ncommit_snap; i++) {
            rill_topic_t *t = rill__topic_by_name(app, app->commit_snap[i].topic);
            rill_tpstate_t *tp =
                t && t->parts ? &t->parts[app->commit_snap[i].partition] : NULL;
            if (tp && tp->committed == app->commit_snap[i].offset) tp->committed = -1;
        }
    } else
        for (size_t i = 0; i < app->ncommit_snap; i++)
            rill__log(app, RILL_LOG_TRACE, "committed %s[%d] at %lld",
                      app->commit_snap[i].topic, app->commit_snap[i].partition,
                      (long long)app->commit_snap[i].offset);
    app->ncommit_snap = 0;
    return rc;
}

/* Commit what is acked.  Sends issued before this point must be delivered first
 * (at-least-once for everything an event produced), so the snapshot waits for
 * the sends of its epoch unless @p force (the caller flushed already). */
rill_err_t rill__commit(rill_app_t *app, bool force) {
    /* A stall first drops every partition: nothing stale is flushed below. */
    if (!rill__lease_ok(app)) return RILL_ENOTOWNER;
    if (app->eos && app->transport) {
        rill__txn_commit(app);
        return RILL_OK;
    }
    if (!app->transport) return RILL_OK;
    if (app->state == RILL_APP_RUNNING || app->state == RILL_APP_STOPPING)
        rill__tables_flush(app);
    if (app->commit_pending && !force) return RILL_OK; /* the previous one still waits */
    rill__commit_snap_acked(app);
    rill__commit_snap_done(app); /* later snapshots start from here */
    if (!app->ncommit_snap) return RILL_OK;
    app->send_epoch++;
    app->sends_old += app->sends_new;
    app->sends_new = 0;
    if (force || app->sends_old == 0) return rill__commit_snapshot(app);
    app->commit_pending = true;
    return RILL_OK;
}

void rill__commit_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill__commit(arg, false);
}

void rill__commit_sends_done(rill_app_t *app) {
    rill__commit_snapshot(app);
}
