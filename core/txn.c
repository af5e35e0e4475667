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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend_int.h"
#include "commit_int.h"
#include "table_int.h"

void rill__txn_begin(rill_app_t *app) {
    if (!app->eos || app->txn_open || app->state != RILL_APP_RUNNING) return;
    char err[512] = "";
    rill_err_t rc = rill__tr_txn_begin(app->transport, err, sizeof err);
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
            if (to < 0 && (rill__tr_committed(app->transport, app->id, t->name, p, &to) !=
                               RILL_OK ||
                           to < 0))
                to = RILL_OFFSET_BEGINNING;
            rill__agents_drop_queued(app, tp);
            rill__acks_reset(&tp->acks);
            rill_err_t rc = rill__tr_seek(app->transport, t->name, p, to);
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

/* A broker may accept transactions yet drop the offsets sent with them
 * (librdkafka's mock cluster does): the group's offsets stay where they were,
 * every restart reads the input again and the tables count it twice, silently.
 * So the first transaction of the run that commits offsets is read back (one
 * partition: a broker that drops them drops them all), before anything else
 * relies on it.  A real broker may answer UNSTABLE_OFFSET_COMMIT, or the old
 * offset, until the transaction's markers are written: a short bounded retry. */
#define VERIFY_TRIES 20
#define VERIFY_PAUSE_US 100000 /* 2 s in all, once per run, on a broker that drops */

/* The partition to read back, or NULL: the snapshot's furthest offset, once it
 * is past 0 (a commit of nothing processed proves nothing), while the worker holds
 * no partition it has committed progress for: the first commit of the run that
 * carries any (and again only after a rebalance took all of those away). */
static const rill_tp_offset_t *verify_due(rill_app_t *app) {
    if (strcmp(rill_conf_get(app->conf, "exactly_once.verify_offsets"), "true") != 0)
        return NULL;
    const rill_tp_offset_t *o = NULL;
    for (size_t i = 0; i < app->ncommit_snap; i++)
        if (!o || app->commit_snap[i].offset > o->offset) o = &app->commit_snap[i];
    if (!o || o->offset <= 0) return NULL;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++)
            if (t->parts[p].assigned && t->parts[p].committed > 0) return NULL;
    }
    return o;
}

/* False (and the worker failed) when the broker did not keep offset @p o. */
static bool offsets_kept(rill_app_t *app, rill_tp_offset_t o) {
    int64_t got = RILL_OFFSET_INVALID;
    rill_err_t rc = RILL_OK;
    for (int i = 0; i < VERIFY_TRIES; i++) {
        if (i) usleep(VERIFY_PAUSE_US);
        rc = rill__tr_committed(app->transport, app->id, o.topic, o.partition, &got);
        if (rc == RILL_OK && got >= o.offset) return true;
    }
    if (rc != RILL_OK) { /* cannot tell: no reason to stop a worker that may be fine */
        rill__log(app, RILL_LOG_WARN,
                  "exactly_once: cannot read back the offsets of the first transaction "
                  "(%s[%d]): %s; they are not verified",
                  o.topic, o.partition, rill_err2str(rc));
        return true;
    }
    char was[32];
    if (got == RILL_OFFSET_INVALID)
        snprintf(was, sizeof was, "none");
    else
        snprintf(was, sizeof was, "%lld", (long long)got);
    rill_app_fail(
        app, RILL_ENOTSUP,
        "exactly_once: the broker did not keep the offsets committed with the "
        "first transaction: committed %s for %s[%d], expected %lld; this broker "
        "(librdkafka's mock cluster?) does not implement transactional offset "
        "commits, so every restart would process the input again and count it "
        "twice; use processing_guarantee=at_least_once",
        was, o.topic, o.partition, (long long)o.offset);
    return false;
}

void rill__txn_commit(rill_app_t *app) {
    if (!app->txn_open) {
        rill__txn_begin(app);
        return;
    }
    rill__commit_snap_acked(app);
    char err[512] = "";
    rill_err_t rc = RILL_OK;
    uint64_t t0 = rill_mono_ns();
    if (app->ncommit_snap)
        rc = rill__tr_txn_offsets(app->transport, app->id, app->commit_snap,
                                  app->ncommit_snap, err, sizeof err);
    if (rc == RILL_OK) rc = rill__tr_txn_commit(app->transport, err, sizeof err);
    /* fatal: fenced by a newer instance with the same transactional.id */
    rill__commit_count(app, rc, rc == RILL_EFATAL || rc == RILL_ENOTOWNER, t0);
    app->txn_open = false;
    if (rc == RILL_OK) {
        const rill_tp_offset_t *due = verify_due(app);
        rill_tp_offset_t check = due ? *due : (rill_tp_offset_t){0};
        rill__commit_snap_done(app);
        if (due && !offsets_kept(app, check)) {
            app->ncommit_snap = 0;
            return;
        }
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
    if (rill__tr_txn_abort(app->transport, aerr, sizeof aerr) == RILL_EFATAL) {
        rill_app_fail(app, RILL_EFATAL, "exactly_once: abort: %s", aerr);
        return;
    }
    rill__tables_discard(app);
    rewind_all(app);
    rill__txn_begin(app);
}
