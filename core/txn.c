/* processing_guarantee=exactly_once: one transaction per commit interval.
 *
 * Every send of the interval (agents' output, table changelogs, forwards) goes
 * into the open transaction, and so do the consumed offsets (txn_offsets), so
 * they become visible together on commit.  Table overlays reach the store only
 * after a commit succeeded; an abortable failure aborts the transaction, drops
 * the overlays (the tables are back at the last committed changelog) and rewinds
 * every assigned partition to its last committed offset, so the interval is
 * processed again.  A fatal error (fenced by a newer instance with the same
 * transactional.id) stops the worker. */
#include <string.h>

#include "app_int.h"
#include "table_int.h"

void rill__txn_begin(rill_app_t *app) {
    if (!app->eos || app->txn_open || app->state != RILL_APP_RUNNING) return;
    char err[512] = "";
    rill_err_t rc = app->transport->ops->txn_begin(app->transport, err, sizeof err);
    if (rc != RILL_OK) {
        rill_app_fail(app, rc, "exactly_once: cannot begin a transaction: %s", err);
        return;
    }
    app->txn_open = true;
}

static void rewind_all(rill_app_t *app) {
    size_t n = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned) continue;
            int64_t to = tp->committed;
            if (to < 0 && (!app->transport->ops->committed ||
                           app->transport->ops->committed(app->transport, app->id,
                                                          t->name, p, &to) != RILL_OK ||
                           to < 0))
                to = RILL_OFFSET_BEGINNING;
            rill__agents_drop_queued(app, tp);
            rill__acks_reset(&tp->acks);
            rill_err_t rc = app->transport->ops->seek(app->transport, t->name, p, to);
            if (rc != RILL_OK) { /* going on would skip the aborted interval */
                rill_app_fail(app, rc,
                              "exactly_once: cannot rewind %s[%d] to %lld after an "
                              "abort: %s",
                              t->name, p, (long long)to, rill_err2str(rc));
                return;
            }
            rill__log(app, RILL_LOG_INFO, "exactly_once: %s[%d] rewound to %lld", t->name,
                      p, (long long)to);
            n++;
        }
    }
    rill__log(app, RILL_LOG_WARN,
              "exactly_once: transaction aborted: tables rolled back, %zu partition(s) "
              "rewound to their last committed offsets",
              n);
}

void rill__txn_commit(rill_app_t *app) {
    if (!app->txn_open) {
        rill__txn_begin(app);
        return;
    }
    rill__app_snap_acked(app);
    const struct rill_transport_ops *ops = app->transport->ops;
    char err[512] = "";
    rill_err_t rc = RILL_OK;
    if (app->ncommit_snap)
        rc = ops->txn_offsets(app->transport, app->id, app->commit_snap,
                              app->ncommit_snap, err, sizeof err);
    if (rc == RILL_OK) rc = ops->txn_commit(app->transport, err, sizeof err);
    app->txn_open = false;
    if (rc == RILL_OK) {
        rill__app_snap_done(app);
        app->ncommit_snap = 0;
        rill__txn_begin(app); /* window expiry in the flush writes into the next one */
        app->txn_flush_ok = true;
        rill__tables_flush(app);
        app->txn_flush_ok = false;
        return;
    }
    app->ncommit_snap = 0;
    if (rc == RILL_EFATAL) {
        rill_app_fail(app, rc, "exactly_once: %s", err);
        return;
    }
    rill__log(app, RILL_LOG_WARN, "exactly_once: commit failed (%s); aborting", err);
    char aerr[512] = "";
    if (ops->txn_abort(app->transport, aerr, sizeof aerr) == RILL_EFATAL) {
        rill_app_fail(app, RILL_EFATAL, "exactly_once: abort: %s", aerr);
        return;
    }
    rill__tables_discard(app);
    rewind_all(app);
    rill__txn_begin(app);
}
